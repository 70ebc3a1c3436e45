//! MCP registry `server.json` → [`AgentManifest`].
//!
//! - name: `io.github.owner/server` is reverse DNS plus a server name; the
//!   namespace is the last label of the reverse-DNS part (`owner`), the agent
//!   the server name, both slugified.
//! - endpoint: the first entry of `remotes[]` whose URL is usable, with
//!   `{variable}` placeholders filled from `variables.*.default`. Its
//!   protocol is recorded as `switchyard-http` (Switchyard has no MCP
//!   protocol; the remote's own transport, `streamable-http` or `sse`, is kept
//!   in `metadata["mcp.transport"]`). A server with only `packages` (run
//!   locally) has no endpoint and is refused with an error naming `remotes`.
//! - skills: when the document carries a `tools` list (`name`,
//!   `description`, as some publishers add), each tool becomes a skill;
//!   otherwise one skill describes the whole server.
//! - provider: the namespace label as organization, `websiteUrl` (or
//!   `repository.url`) as URL.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    ImportError, ImportOptions, SkillIds, identifier, line, prose, skill, str_field, tags, usable_url,
    version,
};
use crate::limits::*;
use crate::manifest::{AgentManifest, Endpoint, Protocol, Provider};
use crate::validate::validate_manifest;

/// Converts an MCP `server.json` into a manifest that passes validation.
pub fn import_server_json(server: &Value, options: &ImportOptions) -> Result<AgentManifest, ImportError> {
    if !server.is_object() {
        return Err(ImportError::NotAnObject);
    }
    let full_name = str_field(server, "name").ok_or_else(|| ImportError::Missing { field: "name".into() })?;
    let (reverse_dns, server_name) = full_name.split_once('/').ok_or_else(|| ImportError::Invalid {
        field: "name".into(),
        reason: format!("`{full_name}` is not of the form reverse.dns/server"),
    })?;
    let owner = reverse_dns.rsplit('.').next().unwrap_or(reverse_dns);
    let version = version(str_field(server, "version"), "version")?;
    let (endpoint, transport) = endpoint(server)?;

    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| identifier(owner, "mcp"));
    let agent = options
        .agent
        .clone()
        .unwrap_or_else(|| identifier(server_name, "server"));

    let title = line(str_field(server, "title").unwrap_or(server_name), TITLE_MAX);
    let description = prose(
        str_field(server, "description").unwrap_or(&title),
        DESCRIPTION_MAX,
    );
    let website = str_field(server, "websiteUrl")
        .or_else(|| server.get("repository").and_then(|r| str_field(r, "url")))
        .filter(|u| usable_url(u));

    let mut ids = SkillIds::default();
    let mut skills = Vec::new();
    for tool in server
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(SKILLS_MAX)
    {
        let Some(name) = str_field(tool, "name") else {
            continue;
        };
        skills.push(skill(
            ids.next(name, "tool"),
            str_field(tool, "title").unwrap_or(name),
            str_field(tool, "description").unwrap_or(name),
            tags(&["mcp", "mcp-tool"]),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ));
    }
    if skills.is_empty() {
        skills.push(skill(
            ids.next(&agent, "server"),
            &title,
            &description,
            tags(&["mcp"]),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ));
    }

    let mut metadata = BTreeMap::new();
    metadata.insert("source".to_string(), "mcp-server-json".to_string());
    metadata.insert("mcp.name".to_string(), line(full_name, METADATA_VALUE_MAX));
    metadata.insert("mcp.transport".to_string(), line(&transport, METADATA_VALUE_MAX));

    let manifest = AgentManifest {
        name: format!("{namespace}/{agent}"),
        version,
        title,
        description,
        provider: Provider {
            organization: line(owner, ORGANIZATION_MAX),
            url: website.map(str::to_string),
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

/// The first usable remote and its transport type.
fn endpoint(server: &Value) -> Result<(Endpoint, String), ImportError> {
    let remotes = server
        .get("remotes")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ImportError::NoEndpoint {
            field: "remotes".into(),
            reason: "the server lists no remotes; local-only (packages) servers cannot be routed to".into(),
        })?;
    let mut last_problem = String::new();
    for (i, remote) in remotes.iter().enumerate() {
        let Some(template) = str_field(remote, "url") else {
            last_problem = format!("remotes[{i}].url is missing");
            continue;
        };
        let url = fill_variables(template, remote.get("variables"));
        // Braces are legal in a URL host to the parser but mean an unfilled
        // placeholder here.
        if !url.contains(['{', '}']) && usable_url(&url) {
            let transport = str_field(remote, "type").unwrap_or("streamable-http");
            return Ok((
                Endpoint {
                    url,
                    protocol: Protocol::SwitchyardHttp,
                },
                transport.to_string(),
            ));
        }
        last_problem = format!("remotes[{i}].url `{template}` is not a usable http(s) URL");
    }
    Err(ImportError::NoEndpoint {
        field: "remotes".into(),
        reason: last_problem,
    })
}

/// Replaces `{name}` with `variables.name.default`; placeholders without a
/// default stay, which makes the URL unusable.
fn fill_variables(template: &str, variables: Option<&Value>) -> String {
    let mut url = template.to_string();
    if let Some(vars) = variables.and_then(Value::as_object) {
        for (name, spec) in vars {
            if let Some(default) = str_field(spec, "default") {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_become_skills() {
        let server = json!({
            "name": "io.github.acme/files",
            "description": "File tools.",
            "version": "0.3.1",
            "remotes": [{ "type": "sse", "url": "https://mcp.acme.example.com/sse" }],
            "tools": [
                { "name": "read_file", "description": "Reads a file." },
                { "name": "write_file", "description": "Writes a file." }
            ]
        });
        let m = import_server_json(&server, &ImportOptions::default()).unwrap();
        assert_eq!(m.name, "acme/files");
        let ids: Vec<&str> = m.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["read_file", "write_file"]);
        assert_eq!(m.metadata["mcp.transport"], "sse");
    }

    #[test]
    fn unfillable_template_is_refused() {
        let server = json!({
            "name": "io.github.acme/files", "description": "d", "version": "1.0.0",
            "remotes": [{ "type": "streamable-http", "url": "https://{tenant}.example.com/mcp" }]
        });
        let err = import_server_json(&server, &ImportOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("remotes:"), "{err}");
    }

    #[test]
    fn name_must_have_a_slash() {
        let server = json!({ "name": "weather", "version": "1.0.0" });
        let err = import_server_json(&server, &ImportOptions::default()).unwrap_err();
        assert!(matches!(err, ImportError::Invalid { ref field, .. } if field == "name"));
    }
}
