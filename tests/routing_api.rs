//! End-to-end routing over real HTTP: the real server on port 0, a real
//! store, the real embedding model and index.

mod common;

use common::{ADMIN_TOKEN, TestApp, example_manifests, manifest, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn publish_examples(app: &TestApp) {
    for (file, m) in example_manifests() {
        let (status, body) = app.post("/v1/agents", ADMIN_TOKEN, &m).await;
        assert_eq!(status, StatusCode::CREATED, "{file}: {body}");
    }
}

async fn route(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, out) = app.post("/v1/route", token, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    out
}

fn agents(out: &Value) -> Vec<String> {
    out["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agent"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_routes_at_once_and_yank_removes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    publish_examples(&app).await;
    let q = json!({"query": "translate this product manual from English into German", "k": 3});
    let out = route(&app, ADMIN_TOKEN, q.clone()).await;
    let first = &out["candidates"][0];
    assert_eq!(first["agent"], "globex/translator", "{out}");
    assert_eq!(first["skill"], "translate-text");
    assert_eq!(first["version"], "4.2.0");
    assert_eq!(first["endpoint"]["protocol"], "a2a-jsonrpc");
    assert!(first["similarity"].as_f64().unwrap() > 0.4);

    let (status, _) = app
        .call(
            Method::PATCH,
            "/v1/agents/globex/translator/versions/4.2.0",
            Some(ADMIN_TOKEN),
            Some(&json!({"status": "yanked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let out = route(&app, ADMIN_TOKEN, q).await;
    assert!(!agents(&out).contains(&"globex/translator".to_owned()), "{out}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_and_visibility_filter_and_explain_counts_only_visible_agents() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    publish_examples(&app).await;
    let initech = app.key("initech", &["route"]).await;
    let umbrella = app.key("umbrella", &["route"]).await;
    let q = "remove personal data such as names and phone numbers from this text";

    let out = route(&app, &initech, json!({"query": q, "explain": true})).await;
    assert_eq!(out["candidates"][0]["agent"], "initech/pii-redactor", "{out}");

    // umbrella cannot see the redactor: never returned, never counted.
    let out = route(
        &app,
        &umbrella,
        json!({"query": q, "k": 10, "explain": true, "constraints": {"min_similarity": -1.0}}),
    )
    .await;
    assert!(!agents(&out).contains(&"initech/pii-redactor".to_owned()));
    let ex = &out["excluded"];
    let counted: u64 = [
        "status", "pin", "excluded", "policy", "budget", "tags", "eligible",
    ]
    .iter()
    .map(|k| ex[k].as_u64().unwrap())
    .sum();
    // Six public example agents; everything else is private or listed for others.
    assert_eq!(counted, 6, "{ex}");
    assert_eq!(ex["eligible"].as_u64().unwrap() as usize, agents(&out).len());

    // Hard constraints: phi data only goes to agents allowed to handle it.
    let out = route(
        &app,
        &initech,
        json!({"query": q, "k": 10, "explain": true,
               "constraints": {"data_class": "phi", "region": "eu-west", "max_cost_usd": 0.01, "min_similarity": -1.0}}),
    )
    .await;
    assert_eq!(agents(&out), vec!["initech/pii-redactor".to_owned()], "{out}");
    assert_eq!(out["excluded"]["eligible"], 1);
    assert!(out["excluded"]["policy"].as_u64().unwrap() >= 5, "{out}");
    assert!(out["plan"]["searches"][0]["segments"].as_array().is_some());

    // Budget: nothing under a tenth of a cent except the translator.
    let out = route(
        &app,
        &umbrella,
        json!({"query": "summarize this meeting", "k": 10, "constraints": {"max_cost_usd": 0.0009, "min_similarity": -1.0}}),
    )
    .await;
    assert_eq!(agents(&out), vec!["globex/translator".to_owned()], "{out}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_deprecated_and_yanked_versions() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    for v in ["1.0.0", "2.0.0"] {
        let (s, b) = app
            .post(
                "/v1/agents",
                ADMIN_TOKEN,
                &manifest("acme/sql", v, json!("public")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let q = json!({"query": "write a postgres query for last week's orders"});
    let version = |out: &Value| out["candidates"][0]["version"].as_str().unwrap().to_owned();
    assert_eq!(version(&route(&app, ADMIN_TOKEN, q.clone()).await), "2.0.0");

    let patch = |v: &str, s: &str| {
        let path = format!("/v1/agents/acme/sql/versions/{v}");
        let body = json!({"status": s});
        let app = &app;
        async move {
            let (status, b) = app
                .call(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(&body))
                .await;
            assert_eq!(status, StatusCode::OK, "{b}");
        }
    };
    patch("2.0.0", "deprecated").await;
    assert_eq!(version(&route(&app, ADMIN_TOKEN, q.clone()).await), "1.0.0");
    let pinned = json!({"query": q["query"], "constraints": {"agents": {"acme/sql": "^2"}}});
    assert_eq!(version(&route(&app, ADMIN_TOKEN, pinned.clone()).await), "2.0.0");

    patch("2.0.0", "yanked").await;
    let mut explain = pinned.clone();
    explain["explain"] = json!(true);
    let out = route(&app, ADMIN_TOKEN, explain).await;
    assert!(out["candidates"].as_array().unwrap().is_empty(), "{out}");
    assert_eq!(out["excluded"]["pin"], 1);
    assert_eq!(out["abstained"]["reason"], "no_eligible_agent");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abstains_below_threshold_and_rejects_bad_requests_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    publish_examples(&app).await;
    let out = route(
        &app,
        ADMIN_TOKEN,
        json!({"query": "bake a chocolate cake for my grandmother", "constraints": {"min_similarity": 0.6}}),
    )
    .await;
    assert!(out["candidates"].as_array().unwrap().is_empty());
    assert_eq!(out["abstained"]["reason"], "below_threshold", "{out}");
    assert!(out["abstained"]["best_similarity"].as_f64().unwrap() < 0.6);

    for (body, field) in [
        (
            json!({"query": "x", "vector": {"space": "minilm-l6-v2-int8", "values": [1.0]}}),
            "query",
        ),
        (json!({}), "query"),
        (json!({"query": "x", "k": 0}), "k"),
        (json!({"query": "x", "weights": {"cost": -1.0}}), "weights.cost"),
        (
            json!({"query": "x", "constraints": {"agents": {"acme/a": "not a range"}}}),
            "constraints.agents.acme/a",
        ),
        (
            json!({"vector": {"space": "minilm-l6-v2-int8", "values": [1.0, 2.0]}}),
            "vector.values",
        ),
        (
            json!({"vector": {"space": "other-space", "values": [1.0]}}),
            "vector.space",
        ),
        (
            json!({"query": "x", "constraints": {"data_class": "secret"}}),
            "constraints.data_class",
        ),
    ] {
        let (status, out) = app.post("/v1/route", ADMIN_TOKEN, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {out}");
        assert_eq!(out["error"]["field"], field, "{body}: {out}");
    }

    let (status, out) = app
        .post(
            "/v1/route/batch",
            ADMIN_TOKEN,
            &json!({"requests": [{"query": "translate to French"}, {"query": "x", "k": 99}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["results"][0]["candidates"][0]["agent"], "globex/translator");
    assert_eq!(out["results"][1]["error"]["field"], "requests[1].k", "{out}");

    // Routing needs the route scope.
    let publisher = app.key("acme", &["publish"]).await;
    let (status, _) = app.post("/v1/route", &publisher, &json!({"query": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_moves_rankings_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    for name in ["acme/sql-a", "acme/sql-b"] {
        let (s, b) = app
            .post(
                "/v1/agents",
                ADMIN_TOKEN,
                &manifest(name, "1.0.0", json!("public")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let q = json!({"query": "write a postgres query for last week's orders", "k": 2});
    let out = route(&app, ADMIN_TOKEN, q.clone()).await;
    assert_eq!(agents(&out).len(), 2);
    let (first, second) = (agents(&out)[0].clone(), agents(&out)[1].clone());
    for (agent, outcome) in [(&first, 0.0), (&second, 1.0)] {
        for _ in 0..8 {
            let (s, b) = app
                .post(
                    "/v1/feedback",
                    ADMIN_TOKEN,
                    &json!({"agent": agent, "version": "1.0.0", "skill": "write-sql", "outcome": outcome,
                            "latency_ms": 900, "cost_usd": 0.002}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    }
    let out = route(&app, ADMIN_TOKEN, q.clone()).await;
    assert_eq!(agents(&out), vec![second.clone(), first.clone()], "{out}");
    assert_eq!(out["candidates"][0]["quality"]["prior"], "observed");

    let (s, b) = app
        .post(
            "/v1/feedback",
            ADMIN_TOKEN,
            &json!({"agent": first, "version": "1.0.0", "skill": "nope", "outcome": 1.0}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = app
        .post(
            "/v1/feedback",
            ADMIN_TOKEN,
            &json!({"agent": first, "version": "1.0.0", "skill": "write-sql", "outcome": 1.5}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["field"], "outcome");

    let before = route(&app, ADMIN_TOKEN, q.clone()).await;
    app.stop().await;
    let app = spawn_app(dir.path()).await;
    let after = route(&app, ADMIN_TOKEN, q.clone()).await;
    assert_eq!(agents(&after), agents(&before));
    assert_eq!(
        after["candidates"][0]["quality"],
        before["candidates"][0]["quality"]
    );

    // Exploration only ever proposes eligible agents.
    let mut explore = q.clone();
    explore["explore"] = json!(true);
    explore["constraints"] = json!({"exclude": [second]});
    for _ in 0..10 {
        let out = route(&app, ADMIN_TOKEN, explore.clone()).await;
        assert_eq!(agents(&out), vec![first.clone()], "{out}");
        assert!(out["candidates"][0]["quality"]["sampled"].is_number());
    }
    app.stop().await;
}

type Answer = Vec<Vec<(Value, Value, Value)>>;

/// (agent, skill, similarity) of the candidates of each query.
async fn answer(app: &TestApp, queries: &[&str]) -> Answer {
    let mut out = Vec::new();
    for q in queries {
        let r = route(
            app,
            ADMIN_TOKEN,
            json!({"query": q, "k": 5, "constraints": {"min_similarity": -1.0}}),
        )
        .await;
        out.push(
            r["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["agent"].clone(), c["skill"].clone(), c["similarity"].clone()))
                .collect(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_after_restart_and_after_rebuild_answers_like_before() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    publish_examples(&app).await;
    let queries = [
        "translate a contract to Spanish",
        "find security issues in this diff",
        "caption a photo",
        "which clauses in this NDA are risky",
        "search the news about chip exports",
    ];
    let before = answer(&app, &queries).await;
    // A change made after a restart must survive the next one.
    app.stop().await;
    let app = spawn_app(dir.path()).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            "/v1/agents/hooli/web-search",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let without = answer(&app, &queries).await;
    assert_ne!(without, before);
    app.stop().await;
    let app = spawn_app(dir.path()).await;
    assert_eq!(
        answer(&app, &queries).await,
        without,
        "restored from the snapshot"
    );
    app.stop().await;
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let app = spawn_app(dir.path()).await;
    assert_eq!(answer(&app, &queries).await, without, "rebuilt from the store");
    app.stop().await;
}
