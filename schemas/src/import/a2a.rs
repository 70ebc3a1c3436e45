//! A2A AgentCard → [`AgentManifest`].
//!
//! Accepts both generations of the card:
//!
//! - v0.3 and earlier: a top-level `url` speaking `preferredTransport`
//!   (JSON-RPC when absent) plus `additionalInterfaces[] {url, transport}`;
//! - v1.0: `supportedInterfaces[] {url, protocolBinding}` (some publishers
//!   still write `transport` there; both are read).
//!
//! The endpoint is the first JSON-RPC interface (protocol `a2a-jsonrpc`),
//! else the first `HTTP+JSON`/REST one (protocol `switchyard-http`, the
//! closest Switchyard has); gRPC-only cards cannot be imported.
//!
//! Skills keep their ids (slugified and made unique), names, descriptions,
//! tags and examples; a skill without its own `inputModes`/`outputModes` gets
//! the card's `defaultInputModes`/`defaultOutputModes`. A card without skills
//! gets one skill describing the whole agent.

use serde_json::Value;

use super::{
    ImportError, ImportOptions, SkillIds, examples, identifier, line, modes, prose, skill, str_field,
    str_list, tags, usable_url, version,
};
use crate::limits::*;
use crate::manifest::{AgentManifest, Endpoint, Protocol, Provider};
use crate::validate::validate_manifest;

/// Converts an A2A AgentCard into a manifest that passes validation.
pub fn import_agent_card(card: &Value, options: &ImportOptions) -> Result<AgentManifest, ImportError> {
    if !card.is_object() {
        return Err(ImportError::NotAnObject);
    }
    let card_name = str_field(card, "name").ok_or_else(|| ImportError::Missing { field: "name".into() })?;
    let version = version(str_field(card, "version"), "version")?;
    let endpoint = endpoint(card)?;

    let provider_value = card.get("provider").unwrap_or(&Value::Null);
    let organization = str_field(provider_value, "organization");
    let provider_url = str_field(provider_value, "url").filter(|u| usable_url(u));

    let namespace = match &options.namespace {
        Some(ns) => ns.clone(),
        None => organization
            .map(|org| identifier(org, ""))
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| namespace_from_url(&endpoint.url)),
    };
    let agent = match &options.agent {
        Some(agent) => agent.clone(),
        None => identifier(card_name, "agent"),
    };

    let title = line(card_name, TITLE_MAX);
    let description = str_field(card, "description")
        .map(|d| prose(d, DESCRIPTION_MAX))
        .unwrap_or_else(|| title.clone());

    let default_in = str_list(card, "defaultInputModes").unwrap_or_default();
    let default_out = str_list(card, "defaultOutputModes").unwrap_or_default();
    let mut ids = SkillIds::default();
    let mut skills = Vec::new();
    for raw in card
        .get("skills")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(SKILLS_MAX)
    {
        let name = str_field(raw, "name").unwrap_or_default();
        let id = ids.next(str_field(raw, "id").unwrap_or_default(), name);
        let inputs = str_list(raw, "inputModes").unwrap_or_else(|| default_in.clone());
        let outputs = str_list(raw, "outputModes").unwrap_or_else(|| default_out.clone());
        skills.push(skill(
            id,
            name,
            str_field(raw, "description").unwrap_or(name),
            tags(&str_list(raw, "tags").unwrap_or_default()),
            examples(&str_list(raw, "examples").unwrap_or_default()),
            modes(&inputs),
            modes(&outputs),
        ));
    }
    if skills.is_empty() {
        skills.push(skill(
            ids.next(&agent, "default"),
            &title,
            &description,
            Vec::new(),
            Vec::new(),
            modes(&default_in),
            modes(&default_out),
        ));
    }

    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("source".to_string(), "a2a-agent-card".to_string());
    if let Some(pv) = str_field(card, "protocolVersion") {
        metadata.insert("a2a.protocol_version".into(), line(pv, METADATA_VALUE_MAX));
    }

    let manifest = AgentManifest {
        name: format!("{namespace}/{agent}"),
        version,
        title,
        description,
        provider: Provider {
            organization: line(organization.unwrap_or(&namespace), ORGANIZATION_MAX),
            url: provider_url.map(str::to_string),
        },
        endpoint,
        skills,
        policy: options.policy.clone(),
        budget: options.budget.clone(),
        metadata,
    };
    validate_manifest(&manifest)?;
    Ok(manifest)
}

/// One interface the card offers: where it was found, its URL and binding.
struct Interface<'a> {
    field: String,
    url: &'a str,
    binding: String,
}

/// The interfaces of the card in order of preference: v1.0 list, then the
/// v0.3 main URL, then v0.3 additional interfaces.
fn interfaces(card: &Value) -> Vec<Interface<'_>> {
    let mut out = Vec::new();
    let list = |key: &'static str| {
        card.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(move |(i, item)| {
                Some(Interface {
                    field: format!("{key}[{i}].url"),
                    url: str_field(item, "url")?,
                    binding: str_field(item, "protocolBinding")
                        .or_else(|| str_field(item, "transport"))
                        .unwrap_or("JSONRPC")
                        .to_ascii_uppercase(),
                })
            })
    };
    out.extend(list("supportedInterfaces"));
    if let Some(url) = str_field(card, "url") {
        out.push(Interface {
            field: "url".into(),
            url,
            binding: str_field(card, "preferredTransport")
                .unwrap_or("JSONRPC")
                .to_ascii_uppercase(),
        });
    }
    out.extend(list("additionalInterfaces"));
    out
}

fn endpoint(card: &Value) -> Result<Endpoint, ImportError> {
    let all = interfaces(card);
    if all.is_empty() {
        return Err(ImportError::Missing {
            field: "supportedInterfaces".into(),
        });
    }
    let pick = |wanted: &[&str]| all.iter().find(|i| wanted.contains(&i.binding.as_str()));
    let (chosen, protocol) = match pick(&["JSONRPC", "JSON-RPC"]) {
        Some(i) => (i, Protocol::A2aJsonRpc),
        None => match pick(&["HTTP+JSON", "REST", "HTTP"]) {
            Some(i) => (i, Protocol::SwitchyardHttp),
            None => {
                let found: Vec<&str> = all.iter().map(|i| i.binding.as_str()).collect();
                return Err(ImportError::NoEndpoint {
                    field: "supportedInterfaces".into(),
                    reason: format!("no JSONRPC or HTTP+JSON interface, only {}", found.join(", ")),
                });
            }
        },
    };
    if !usable_url(chosen.url) {
        return Err(ImportError::Invalid {
            field: chosen.field.clone(),
            reason: format!("`{}` is not an http(s) URL", chosen.url),
        });
    }
    Ok(Endpoint {
        url: chosen.url.to_string(),
        protocol,
    })
}

/// A namespace from an endpoint URL: the label before the top-level domain
/// (`api.weathernow.io` → `weathernow`), else the whole host.
fn namespace_from_url(url: &str) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let pick = if !is_ip && labels.len() >= 2 {
        labels[labels.len() - 2]
    } else {
        host.as_str()
    };
    identifier(pick, "imported")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v03_card_with_preferred_transport_and_additional_interfaces() {
        let card = json!({
            "protocolVersion": "0.3.0",
            "name": "Route Planner",
            "description": "Plans routes.",
            "url": "https://planner.example.com/grpc",
            "preferredTransport": "GRPC",
            "additionalInterfaces": [
                { "url": "https://planner.example.com/grpc", "transport": "GRPC" },
                { "url": "https://planner.example.com/a2a/v1", "transport": "JSONRPC" }
            ],
            "version": "1.2",
            "skills": [
                { "id": "route", "name": "Plan", "description": "Plans a route.", "tags": ["Maps", "maps", "routing!"] },
                { "id": "route", "name": "Plan again", "description": "Same id." }
            ],
            "defaultInputModes": ["text"],
            "defaultOutputModes": ["application/json", "not a type"]
        });
        let m = import_agent_card(&card, &ImportOptions::default()).unwrap();
        assert_eq!(m.name, "example/route-planner");
        assert_eq!(m.version, "1.2.0");
        assert_eq!(m.endpoint.url, "https://planner.example.com/a2a/v1");
        assert_eq!(m.endpoint.protocol, Protocol::A2aJsonRpc);
        assert_eq!(m.skills[0].id, "route");
        assert_eq!(m.skills[1].id, "route-2");
        assert_eq!(m.skills[0].tags, ["maps", "routing"]);
        assert_eq!(m.skills[0].input_modes, ["text/plain"]);
        assert_eq!(m.skills[0].output_modes, ["application/json"]);
        assert_eq!(m.metadata["a2a.protocol_version"], "0.3.0");
    }

    #[test]
    fn grpc_only_card_is_refused() {
        let card = json!({
            "name": "g", "version": "1.0.0",
            "supportedInterfaces": [{ "url": "https://g.example.com", "protocolBinding": "GRPC" }]
        });
        let err = import_agent_card(&card, &ImportOptions::default()).unwrap_err();
        assert!(matches!(err, ImportError::NoEndpoint { .. }), "{err}");
        assert!(err.to_string().starts_with("supportedInterfaces:"));
    }

    #[test]
    fn missing_url_names_the_field() {
        let card = json!({ "name": "x", "version": "1.0.0" });
        let err = import_agent_card(&card, &ImportOptions::default()).unwrap_err();
        assert_eq!(
            err,
            ImportError::Missing {
                field: "supportedInterfaces".into()
            }
        );
    }

    #[test]
    fn long_texts_are_truncated_not_refused() {
        let card = json!({
            "name": "N".repeat(300), "version": "1.0.0",
            "description": "d".repeat(5000),
            "url": "https://x.example.com/a2a",
            "skills": [{ "id": "s", "name": "S", "description": "e".repeat(3000),
                         "examples": ["x".repeat(2000)] }]
        });
        let m = import_agent_card(&card, &ImportOptions::default()).unwrap();
        assert_eq!(m.title.chars().count(), TITLE_MAX);
        assert_eq!(m.description.chars().count(), DESCRIPTION_MAX);
        assert_eq!(m.skills[0].examples[0].chars().count(), EXAMPLE_MAX);
    }
}
