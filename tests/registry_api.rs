//! End-to-end tests of the registry API: the real server on port 0, a real
//! temporary store, real HTTP.

mod common;

use common::{ADMIN_TOKEN, manifest, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn versions_of(body: &Value) -> Vec<(String, String)> {
    body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn publish_read_lifecycle_and_everything_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let token = app.key("acme", &["publish", "route"]).await;

    // Publish out of order; listing is in semver order.
    for v in ["1.10.0", "1.2.0", "2.0.0-rc.1", "1.2.1", "0.9.0"] {
        let (status, body) = app
            .post(
                "/v1/agents",
                &token,
                &manifest("acme/sql-writer", v, json!("public")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}: {body}");
        assert_eq!(body["created"], true);
        assert_eq!(body["version"], v);
    }
    let (status, body) = app.get("/v1/agents/acme/sql-writer/versions", &token).await;
    assert_eq!(status, StatusCode::OK);
    let order: Vec<String> = versions_of(&body).into_iter().map(|(v, _)| v).collect();
    assert_eq!(order, ["0.9.0", "1.2.0", "1.2.1", "1.10.0", "2.0.0-rc.1"]);

    // Idempotent republish; conflicting republish.
    let same = manifest("acme/sql-writer", "1.2.0", json!("public"));
    let (status, body) = app.post("/v1/agents", &token, &same).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
    let mut changed = same.clone();
    changed["description"] = json!("Something else entirely.");
    let (status, body) = app.post("/v1/agents", &token, &changed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "version_conflict");

    // latest ignores the prerelease.
    let (status, body) = app
        .get("/v1/agents/acme/sql-writer/versions/latest", &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], "1.10.0");
    assert_eq!(body["manifest"]["name"], "acme/sql-writer");

    // Lifecycle: deprecate 1.10.0, yank 1.2.1.
    let (status, body) = app
        .call(
            Method::PATCH,
            "/v1/agents/acme/sql-writer/versions/1.10.0",
            Some(&token),
            Some(&json!({"status": "deprecated"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "deprecated");
    let (status, _) = app
        .call(
            Method::PATCH,
            "/v1/agents/acme/sql-writer/versions/1.2.1",
            Some(&token),
            Some(&json!({"status": "yanked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app
        .get("/v1/agents/acme/sql-writer/versions/latest", &token)
        .await;
    assert_eq!(
        body["version"], "1.2.0",
        "deprecated and yanked versions are not latest"
    );

    // Resolution: deprecated matches a range, yanked never does.
    for (range, expected) in [
        ("^1.2", Some("1.10.0")),
        ("~1.2.0", Some("1.2.0")),
        (">=2.0.0-rc.0, <3", Some("2.0.0-rc.1")),
        ("^3", None),
    ] {
        let path = format!("/v1/agents/acme/sql-writer/resolve?range={}", urlencode(range));
        let (status, body) = app.get(&path, &token).await;
        match expected {
            Some(v) => {
                assert_eq!(status, StatusCode::OK, "{range}: {body}");
                assert_eq!(body["version"], v, "{range}");
            }
            None => {
                assert_eq!(status, StatusCode::NOT_FOUND, "{range}");
                assert_eq!(body["error"]["code"], "no_matching_version");
            }
        }
    }
    let (status, body) = app
        .get("/v1/agents/acme/sql-writer/resolve?range=%5E%5E1", &token)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "range");

    // Delete one version; it cannot come back.
    let (status, body) = app
        .call(
            Method::DELETE,
            "/v1/agents/acme/sql-writer/versions/0.9.0",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/v1/agents",
            &token,
            &manifest("acme/sql-writer", "0.9.0", json!("public")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "version_deleted");
    let (status, _) = app.get("/v1/agents/acme/sql-writer/versions/0.9.0", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A second agent, then delete it whole.
    let (status, _) = app
        .post(
            "/v1/agents",
            &token,
            &manifest("acme/doomed", "1.0.0", json!("public")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .call(Method::DELETE, "/v1/agents/acme/doomed", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/v1/agents/acme/doomed", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "agent_not_found");

    let (_, before_versions) = app.get("/v1/agents/acme/sql-writer/versions", &token).await;
    let (_, before_changes) = app.get("/v1/changes?since=0&limit=1000", ADMIN_TOKEN).await;

    // Restart on the same data dir: every acknowledged write is there, keys too.
    app.stop().await;
    let app = spawn_app(dir.path()).await;
    let (status, after_versions) = app.get("/v1/agents/acme/sql-writer/versions", &token).await;
    assert_eq!(status, StatusCode::OK, "the key survived the restart");
    assert_eq!(versions_of(&after_versions), versions_of(&before_versions));
    assert_eq!(
        versions_of(&after_versions),
        [
            ("1.2.0".into(), "active".into()),
            ("1.2.1".into(), "yanked".into()),
            ("1.10.0".into(), "deprecated".into()),
            ("2.0.0-rc.1".into(), "active".into())
        ]
    );
    let (_, after_changes) = app.get("/v1/changes?since=0&limit=1000", ADMIN_TOKEN).await;
    assert_eq!(after_changes, before_changes);
    let (status, _) = app.get("/v1/agents/acme/doomed", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn change_log_is_ordered_with_tombstones_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let token = app.key("acme", &["publish"]).await;
    app.post(
        "/v1/agents",
        &token,
        &manifest("acme/a1", "1.0.0", json!("public")),
    )
    .await;
    app.post(
        "/v1/agents",
        &token,
        &manifest("acme/a1", "1.1.0", json!("public")),
    )
    .await;
    app.call(
        Method::PATCH,
        "/v1/agents/acme/a1/versions/1.0.0",
        Some(&token),
        Some(&json!({"status": "yanked"})),
    )
    .await;
    app.call(
        Method::DELETE,
        "/v1/agents/acme/a1/versions/1.0.0",
        Some(&token),
        None,
    )
    .await;
    app.call(Method::DELETE, "/v1/agents/acme/a1", Some(&token), None)
        .await;

    let (status, page) = app.get("/v1/changes", &token).await;
    assert_eq!(status, StatusCode::OK);
    let changes = page["changes"].as_array().unwrap();
    let kinds: Vec<&str> = changes.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "published",
            "published",
            "status_changed",
            "version_deleted",
            "agent_deleted"
        ]
    );
    let seqs: Vec<u64> = changes.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(page["next_since"], seqs[4]);

    // Paging with since/limit walks the same entries.
    let mut walked = Vec::new();
    let mut since = 0;
    loop {
        let (_, page) = app
            .get(&format!("/v1/changes?since={since}&limit=2"), &token)
            .await;
        let batch = page["changes"].as_array().unwrap().clone();
        if batch.is_empty() {
            break;
        }
        walked.extend(batch.iter().map(|c| c["seq"].as_u64().unwrap()));
        since = page["next_since"].as_u64().unwrap();
    }
    assert_eq!(walked, seqs);

    let (status, body) = app.get("/v1/changes?since=abc", &token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "since");
    let (status, body) = app.get("/v1/changes?limit=0", &token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "limit");
    app.stop().await;
}

#[tokio::test]
async fn list_pages_with_cursor_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let token = app.key("acme", &["publish", "route"]).await;
    for i in 0..7 {
        let mut m = manifest(&format!("acme/agent-{i:02}"), "1.0.0", json!("public"));
        if i % 2 == 0 {
            m["skills"][0]["tags"] = json!(["even", "sql"]);
        }
        app.post("/v1/agents", &token, &m).await;
    }
    let other = app.key("globex", &["publish"]).await;
    let mut m = manifest("globex/translator", "1.0.0", json!("public"));
    m["title"] = json!("French Translator");
    app.post("/v1/agents", &other, &m).await;
    app.call(
        Method::PATCH,
        "/v1/agents/acme/agent-03/versions/1.0.0",
        Some(&token),
        Some(&json!({"status": "yanked"})),
    )
    .await;

    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/agents?limit=3&cursor={c}"),
            None => "/v1/agents?limit=3".to_string(),
        };
        let (status, page) = app.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        names.extend(
            page["agents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = (0..7).map(|i| format!("acme/agent-{i:02}")).collect();
    expected.push("globex/translator".into());
    assert_eq!(names, expected);

    let names_of = |v: &Value| -> Vec<String> {
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, page) = app.get("/v1/agents?namespace=globex", &token).await;
    assert_eq!(names_of(&page), ["globex/translator"]);
    let (_, page) = app.get("/v1/agents?tag=even", &token).await;
    assert_eq!(
        names_of(&page),
        ["acme/agent-00", "acme/agent-02", "acme/agent-04", "acme/agent-06"]
    );
    let (_, page) = app.get("/v1/agents?status=yanked", &token).await;
    assert_eq!(names_of(&page), ["acme/agent-03"]);
    let (_, page) = app.get("/v1/agents?text=french", &token).await;
    assert_eq!(names_of(&page), ["globex/translator"]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("status=gone", "status"),
        ("cursor=%25%25", "cursor"),
        ("colour=red", ""),
    ] {
        let (status, body) = app.get(&format!("/v1/agents?{query}"), &token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        if !field.is_empty() {
            assert_eq!(body["error"]["field"], field, "{query}: {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let acme = app.key("acme", &["publish", "route"]).await;
    let globex = app.key("globex", &["publish", "route"]).await;
    let initech = app.key("initech", &["route"]).await;

    let (status, _) = app
        .post(
            "/v1/agents",
            &acme,
            &manifest("acme/secret", "1.0.0", json!("private")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(
            "/v1/agents",
            &acme,
            &manifest("acme/shared", "1.0.0", json!(["initech"])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(
            "/v1/agents",
            &acme,
            &manifest("acme/open", "1.0.0", json!("public")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The owner sees everything.
    let (_, list) = app.get("/v1/agents", &acme).await;
    assert_eq!(list["agents"].as_array().unwrap().len(), 3);

    // Another tenant: 404 everywhere for the private agent, absent from lists.
    for path in [
        "/v1/agents/acme/secret",
        "/v1/agents/acme/secret/versions",
        "/v1/agents/acme/secret/versions/1.0.0",
        "/v1/agents/acme/secret/versions/latest",
        "/v1/agents/acme/secret/resolve?range=%5E1",
        "/v1/agents/acme/shared",
    ] {
        let (status, body) = app.get(path, &globex).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "agent_not_found", "{path}");
    }
    let (_, list) = app.get("/v1/agents", &globex).await;
    let names: Vec<&str> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme/open"]);
    let (_, list) = app.get("/v1/agents?namespace=acme&limit=1", &globex).await;
    assert!(
        list.get("next_cursor").is_none(),
        "private agents are not counted: {list}"
    );
    // Modifying an invisible agent is a 404 too, not a 403.
    let (status, _) = app
        .call(
            Method::PATCH,
            "/v1/agents/acme/secret/versions/1.0.0",
            Some(&globex),
            Some(&json!({"status": "yanked"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(Method::DELETE, "/v1/agents/acme/secret", Some(&globex), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A visible agent of another tenant can be read but not changed.
    let (status, body) = app
        .call(
            Method::PATCH,
            "/v1/agents/acme/open/versions/1.0.0",
            Some(&globex),
            Some(&json!({"status": "yanked"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "not_owner");

    // A listed tenant sees the shared agent, not the private one.
    let (status, _) = app.get("/v1/agents/acme/shared", &initech).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/agents/acme/secret", &initech).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The change log hides what a tenant may not see.
    let (_, page) = app.get("/v1/changes", &globex).await;
    let names: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme/open"]);
    assert_eq!(
        page["next_since"], 3,
        "followers still advance past hidden entries"
    );

    // The namespace belongs to acme.
    let (status, body) = app
        .post(
            "/v1/agents",
            &globex,
            &manifest("acme/hijack", "1.0.0", json!("public")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "namespace_owned");
    // Scopes: a route-only key cannot publish.
    let (status, body) = app
        .post(
            "/v1/agents",
            &initech,
            &manifest("initech/x1", "1.0.0", json!("public")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "missing_scope");
    app.stop().await;
}

#[tokio::test]
async fn authentication_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let (status, body) = app.call(Method::GET, "/v1/agents", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, _) = app.get("/v1/agents", "sy_not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app
        .http
        .get(app.url("/v1/agents"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");

    let publisher = app.key("acme", &["publish"]).await;
    let (status, body) = app
        .post(
            "/v1/keys",
            &publisher,
            &json!({"tenant": "acme", "scopes": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins create keys: {body}");
    for (body, field) in [
        (json!({"tenant": "Bad Tenant", "scopes": ["route"]}), "tenant"),
        (json!({"tenant": "acme", "scopes": []}), "scopes"),
        (json!({"tenant": "acme", "scopes": ["root"]}), "scopes[0]"),
        (json!({"tenant": "acme"}), ""),
    ] {
        let (status, answer) = app.post("/v1/keys", ADMIN_TOKEN, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    let (status, created) = app
        .post(
            "/v1/keys",
            ADMIN_TOKEN,
            &json!({"tenant": "acme", "scopes": ["route", "publish", "route"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["scopes"], json!(["publish", "route"]));
    assert!(created["token"].as_str().unwrap().starts_with("sy_"));
    // The token itself is never stored.
    let db = std::fs::read(dir.path().join("registry.redb")).unwrap();
    let token = created["token"].as_str().unwrap().as_bytes();
    assert!(
        !db.windows(token.len()).any(|w| w == token),
        "token found in the store"
    );
    app.stop().await;
}

#[tokio::test]
async fn http_edges_answer_with_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let token = app.key("acme", &["publish", "route"]).await;

    let (status, body) = app.get("/v1/nowhere", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "route_not_found");
    let (status, body) = app.call(Method::PUT, "/v1/agents", Some(&token), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");

    let mut big = manifest("acme/big", "1.0.0", json!("public"));
    big["description"] = json!("x".repeat(70_000));
    let (status, body) = app.post("/v1/agents", &token, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let mut huge = manifest("acme/big", "1.0.0", json!("public"));
    huge["description"] = json!("x".repeat(1_000_000));
    let (status, body) = app.post("/v1/agents", &token, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");

    let resp = app
        .http
        .post(app.url("/v1/agents"))
        .bearer_auth(&token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = app
        .call(
            Method::PATCH,
            "/v1/agents/acme/none/versions/1.0.0",
            Some(&token),
            Some(&json!({"status": "yanked"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.post(
        "/v1/agents",
        &token,
        &manifest("acme/real", "1.0.0", json!("public")),
    )
    .await;
    let (status, body) = app
        .call(
            Method::PATCH,
            "/v1/agents/acme/real/versions/1.0.0",
            Some(&token),
            Some(&json!({"status": "gone"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "status");
    let (status, body) = app.get("/v1/agents/acme/real/versions/one", &token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "version");

    // Operational endpoints and metrics per route template and status.
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["agents"], 1);
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"switchyard_http_requests_total{method="PATCH",route="/v1/agents/{namespace}/{agent}/versions/{version}",status="422"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"status="413""#), "{text}");
    assert!(text.contains("switchyard_registry_agents 1"), "{text}");
    assert!(
        text.contains("switchyard_http_request_duration_seconds_bucket"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn dev_mode_needs_loopback_and_acts_as_dev_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), None);
    settings.server.listen = "0.0.0.0:0".parse().unwrap();
    let err = switchyard::startup::Application::build(&settings)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");

    let app = common::spawn_with(common::settings(dir.path(), None)).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/agents",
            None,
            Some(&manifest("dev/tool", "1.0.0", json!("private"))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.call(Method::GET, "/v1/agents/dev/tool", None, None).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let spec = switchyard_schemas::generate::openapi_document();
    for (method, template) in switchyard_schemas::generate::ROUTES {
        assert!(
            spec["paths"][*template][method.to_lowercase()].is_object(),
            "{method} {template} not in openapi.json"
        );
        let path = template
            .replace("{namespace}", "acme")
            .replace("{agent}", "missing")
            .replace("{version}", "1.0.0");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = app
            .call(method.clone(), &path, Some(ADMIN_TOKEN), Some(&json!({})))
            .await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(body["error"]["code"], "route_not_found", "{method} {path}");
    }
    app.stop().await;
}
