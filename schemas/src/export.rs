//! [`AgentManifest`] → A2A v1.0 AgentCard, so A2A clients can discover
//! agents registered in Switchyard.
//!
//! The card carries what A2A has words for: name (the manifest's title),
//! description, version, provider, one interface, skills and default modes.
//! Switchyard's policy, budget and namespace have no A2A counterpart and are
//! left out. An `a2a-jsonrpc` endpoint is announced with binding `JSONRPC`,
//! a `switchyard-http` one with `HTTP+JSON`; the importer maps both back.

use serde_json::{Map, Value, json};

use crate::manifest::{AgentManifest, Protocol};

/// Default modes when no skill declares any.
const DEFAULT_MODE: &str = "text/plain";

/// The A2A v1.0 AgentCard describing `manifest`.
pub fn to_a2a_card(manifest: &AgentManifest) -> Value {
    let binding = match manifest.endpoint.protocol {
        Protocol::A2aJsonRpc => "JSONRPC",
        Protocol::SwitchyardHttp => "HTTP+JSON",
    };
    let skills: Vec<Value> = manifest
        .skills
        .iter()
        .map(|s| {
            let mut skill = Map::new();
            skill.insert("id".into(), json!(s.id));
            skill.insert("name".into(), json!(s.name));
            skill.insert("description".into(), json!(s.description));
            // A2A requires `tags`; the other lists are optional there.
            skill.insert("tags".into(), json!(s.tags));
            if !s.examples.is_empty() {
                skill.insert("examples".into(), json!(s.examples));
            }
            if !s.input_modes.is_empty() {
                skill.insert("inputModes".into(), json!(s.input_modes));
            }
            if !s.output_modes.is_empty() {
                skill.insert("outputModes".into(), json!(s.output_modes));
            }
            Value::Object(skill)
        })
        .collect();

    let mut provider = Map::new();
    provider.insert("organization".into(), json!(manifest.provider.organization));
    if let Some(url) = &manifest.provider.url {
        provider.insert("url".into(), json!(url));
    }

    json!({
        "name": manifest.title,
        "description": manifest.description,
        "version": manifest.version,
        "provider": provider,
        "supportedInterfaces": [
            {
                "url": manifest.endpoint.url,
                "protocolBinding": binding,
                "protocolVersion": "1.0"
            }
        ],
        "capabilities": { "streaming": false, "pushNotifications": false },
        "defaultInputModes": default_modes(manifest, |s| &s.input_modes),
        "defaultOutputModes": default_modes(manifest, |s| &s.output_modes),
        "skills": skills
    })
}

/// Modes shared by the whole card: those every skill without its own list
/// would need, i.e. the union over skills in first-seen order.
fn default_modes(
    manifest: &AgentManifest,
    modes: fn(&crate::manifest::Skill) -> &Vec<String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for mode in manifest.skills.iter().flat_map(|s| modes(s).iter()) {
        if !out.contains(mode) {
            out.push(mode.clone());
        }
    }
    if out.is_empty() {
        out.push(DEFAULT_MODE.to_string());
    }
    out
}
