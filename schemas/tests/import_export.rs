//! Importing the real A2A cards and MCP `server.json` files under
//! `tests/fixtures/`, and the export/import round trip.

mod common;

use serde_json::Value;
use switchyard_schemas::export::to_a2a_card;
use switchyard_schemas::import::{ImportError, ImportOptions, a2a, mcp};
use switchyard_schemas::manifest::Protocol;
use switchyard_schemas::{parse_manifest, validate_manifest};

fn fixture(path: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn every_a2a_fixture_imports_to_a_valid_manifest() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/a2a");
    let files = common::json_files(&dir);
    assert!(files.len() >= 2);
    for path in files {
        let card: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let m = a2a::import_agent_card(&card, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        validate_manifest(&m).unwrap();
        // The card's skills survive one for one.
        let card_skills = card["skills"].as_array().unwrap();
        assert_eq!(m.skills.len(), card_skills.len(), "{}", path.display());
    }
}

#[test]
fn v03_card_uses_the_top_level_url() {
    let m = a2a::import_agent_card(&fixture("a2a/facts_agent.json"), &ImportOptions::default()).unwrap();
    assert_eq!(m.name, "localhost/facts_agent");
    assert_eq!(m.endpoint.url, "http://localhost:8001/a2a/facts_agent");
    assert_eq!(m.endpoint.protocol, Protocol::A2aJsonRpc);
    assert_eq!(m.skills[0].id, "give_facts");
    assert_eq!(m.skills[0].input_modes, ["text/plain"]);
    assert_eq!(m.version, "1.0.0");
}

#[test]
fn v10_card_uses_supported_interfaces_and_provider() {
    let m =
        a2a::import_agent_card(&fixture("a2a/weather_agent_card.json"), &ImportOptions::default()).unwrap();
    assert_eq!(m.name, "weathernow/weather-agent");
    assert_eq!(m.endpoint.url, "https://api.weathernow.io/a2a");
    assert_eq!(m.provider.organization, "WeatherNow");
    assert_eq!(m.provider.url.as_deref(), Some("https://weathernow.io"));
    let ids: Vec<&str> = m.skills.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["current-weather", "weather-forecast"]);
    assert_eq!(m.skills[0].input_modes, ["text/plain", "application/json"]);
    assert_eq!(m.metadata["a2a.protocol_version"], "1.0");
}

#[test]
fn v10_card_with_transport_key_and_skill_modes() {
    let m =
        a2a::import_agent_card(&fixture("a2a/recipe_agent_full.json"), &ImportOptions::default()).unwrap();
    assert_eq!(m.name, "example-corp/recipe-agent");
    assert_eq!(m.endpoint.url, "https://recipes.example.com/a2a");
    assert_eq!(m.skills[0].input_modes, ["text/plain"]);
    assert_eq!(m.skills[0].output_modes, ["application/json"]);
    assert_eq!(m.skills[1].input_modes, ["text/plain", "application/json"]);
}

#[test]
fn options_override_namespace_agent_policy_and_budget() {
    let mut options = ImportOptions {
        namespace: Some("acme".into()),
        agent: Some("weather".into()),
        ..ImportOptions::default()
    };
    options.budget.cost_per_call_usd = 0.25;
    options.policy.visibility = switchyard_schemas::manifest::Visibility::PRIVATE;
    let m = a2a::import_agent_card(&fixture("a2a/weather_agent_card.json"), &options).unwrap();
    assert_eq!(m.name, "acme/weather");
    assert_eq!(m.budget.cost_per_call_usd, 0.25);
    assert_eq!(
        m.policy.visibility,
        switchyard_schemas::manifest::Visibility::PRIVATE
    );

    let bad = ImportOptions {
        namespace: Some("A".into()),
        ..ImportOptions::default()
    };
    let err = a2a::import_agent_card(&fixture("a2a/weather_agent_card.json"), &bad).unwrap_err();
    assert!(matches!(err, ImportError::Manifest(_)), "{err}");
}

#[test]
fn mcp_servers_with_remotes_import() {
    let m = mcp::import_server_json(&fixture("mcp/with-remote.json"), &ImportOptions::default()).unwrap();
    assert_eq!(m.name, "user/remote-weather");
    assert_eq!(m.title, "Remote Weather");
    assert_eq!(m.version, "2.1.0");
    assert_eq!(m.endpoint.url, "https://api.example.com/mcp");
    assert_eq!(m.endpoint.protocol, Protocol::SwitchyardHttp);
    assert_eq!(
        m.provider.url.as_deref(),
        Some("https://modelcontextprotocol.io/examples")
    );
    assert_eq!(m.skills.len(), 1);
    assert_eq!(m.metadata["mcp.transport"], "streamable-http");

    let m = mcp::import_server_json(&fixture("mcp/decisionrules.json"), &ImportOptions::default()).unwrap();
    assert_eq!(m.name, "decisionrules/mcp-server");
    assert_eq!(m.endpoint.url, "https://api.decisionrules.io/mcp");
    assert_eq!(m.metadata["mcp.transport"], "sse");
    validate_manifest(&m).unwrap();
}

#[test]
fn mcp_server_without_remotes_is_refused_naming_remotes() {
    let err = mcp::import_server_json(&fixture("mcp/minimal.json"), &ImportOptions::default()).unwrap_err();
    match err {
        ImportError::NoEndpoint { field, .. } => assert_eq!(field, "remotes"),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn export_then_import_keeps_skills_ids_and_version() {
    let root = common::repo_root().join("examples/manifests");
    for path in common::json_files(&root) {
        let original = parse_manifest(&std::fs::read(&path).unwrap()).unwrap();
        let card = to_a2a_card(&original);
        assert!(card["supportedInterfaces"][0]["protocolBinding"].is_string());
        let (ns, agent) = original.name.split_once('/').unwrap();
        let options = ImportOptions {
            namespace: Some(ns.into()),
            agent: Some(agent.into()),
            ..ImportOptions::default()
        };
        let back =
            a2a::import_agent_card(&card, &options).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(back.name, original.name);
        assert_eq!(back.version, original.version);
        assert_eq!(back.title, original.title);
        assert_eq!(back.description, original.description);
        assert_eq!(back.endpoint, original.endpoint);
        assert_eq!(back.provider, original.provider);
        assert_eq!(back.skills, original.skills, "{}", path.display());
    }
}
