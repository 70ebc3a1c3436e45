//! End to end over real HTTP: the real server, replay agents on loopback, a
//! designed workflow, tests run in the sandbox, and the score visible
//! afterwards in the router's statistics, the run log and the designer.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_TOKEN, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard::replay_agents::{ReplayOptions, ReplayServer};
use switchyard_meta_agent::replay::ReplayDataset;
use switchyard_meta_agent::scorers::doctest::public_tests;

fn fixture() -> Arc<ReplayDataset> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("meta-agent/tests/fixtures/humaneval");
    Arc::new(ReplayDataset::load(dir).expect("the fixture data set loads"))
}

/// The server with every replayed run published as an agent.
async fn setup(dir: &Path) -> (TestApp, ReplayServer, Arc<ReplayDataset>) {
    let dataset = fixture();
    let options = ReplayOptions {
        time_scale: 0.0,
        ..ReplayOptions::default()
    };
    let server = ReplayServer::start(dataset.clone(), "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    let app = spawn_app(dir).await;
    for m in server.manifests("replay").unwrap() {
        let (status, body) = app
            .post("/v1/agents", ADMIN_TOKEN, &serde_json::to_value(&m).unwrap())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    (app, server, dataset)
}

/// A run request for fixture problem `i`: public tests from its docstring
/// for the workflow, the hidden tests for the score.
fn run_request(dataset: &ReplayDataset, i: usize) -> Value {
    let p = &dataset.problems()[i];
    let mut task = json!({"id": p.task_id, "entry_point": p.entry_point});
    if let Some(tests) = public_tests(&p.prompt, &p.entry_point) {
        task["tests"] = json!(tests);
    }
    json!({
        "query": p.prompt,
        "task": task,
        "budget_usd": 0.5,
        "scorer": {"kind": "tests", "source": p.test, "entry_point": p.entry_point}
    })
}

/// Outcomes recorded for `agent` when routing its skill.
async fn observations(app: &TestApp, agent: &str, skill_query: &str) -> f64 {
    let (status, out) = app
        .post(
            "/v1/route",
            ADMIN_TOKEN,
            &json!({"query": skill_query, "k": 50, "constraints": {"min_similarity": -1.0}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    out["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["agent"] == agent)
        .map_or(0.0, |c| c["quality"]["n"].as_f64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designed_workflow_runs_scores_and_feeds_back() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server, dataset) = setup(dir.path()).await;

    // Design alone: a valid spec whose agents are published replay agents.
    let p = &dataset.problems()[0];
    let (status, design) = app
        .post(
            "/v1/workflows/design",
            ADMIN_TOKEN,
            &json!({"query": p.prompt, "budget_usd": 0.5,
                    "task": {"kind": "code", "language": "Python", "tests": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{design}");
    assert!(design["expected_cost_usd"].as_f64().unwrap() <= 0.5);
    for node in design["spec"]["nodes"].as_array().unwrap() {
        if let Some(pin) = node["agent"].as_str() {
            assert!(pin.starts_with("replay/"), "{pin}");
        }
    }

    // Design, run, score, learn.
    let (status, rollout) = app
        .post("/v1/workflows/run", ADMIN_TOKEN, &run_request(&dataset, 0))
        .await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    let trace = &rollout["trace"];
    assert_eq!(trace["status"], "succeeded", "{rollout}");
    let score = trace["score"]["value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score));
    assert!(trace["cost_usd"].as_f64().unwrap() <= trace["budget_usd"].as_f64().unwrap());
    assert!(rollout["design"]["pattern"].is_string(), "{rollout}");
    let called: Vec<String> = trace["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["calls"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["attempts"].as_u64().unwrap() > 0)
        .map(|c| c["agent"].as_str().unwrap().to_string())
        .collect();
    assert!(!called.is_empty(), "{rollout}");

    // The agents that worked on it now have outcomes in routing.
    let generate_role = "Generate Python code from a function signature and docstring";
    let debug_role = "Debug and repair Python code";
    let mut seen = 0.0;
    for agent in &called {
        seen += observations(&app, agent, generate_role)
            .await
            .max(observations(&app, agent, debug_role).await);
    }
    assert!(seen >= 1.0, "no outcome recorded for {called:?}");

    // The run is in the log, private to its tenant, and exported.
    let run_id = rollout["run_id"].as_str().unwrap();
    let (status, record) = app.get(&format!("/v1/runs/{run_id}"), ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["state"], "finished");
    assert_eq!(record["trace"]["score"], trace["score"]);
    let other = app.key("globex", &["route"]).await;
    let (status, _) = app.get(&format!("/v1/runs/{run_id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A job: accepted at once, then polled to the end.
    let mut job = run_request(&dataset, 1);
    job["mode"] = json!("job");
    let (status, accepted) = app.post("/v1/workflows/run", ADMIN_TOKEN, &job).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let location = accepted["location"].as_str().unwrap().to_string();
    let mut finished = Value::Null;
    for _ in 0..200 {
        let (status, record) = app.get(&location, ADMIN_TOKEN).await;
        assert_eq!(status, StatusCode::OK, "{record}");
        if record["state"] == "finished" {
            finished = record;
            break;
        }
        assert_eq!(record["state"], "running", "{record}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(finished["trace"]["score"]["value"].is_number(), "{finished}");

    let resp = app
        .http
        .get(app.url("/v1/runs/export"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["spec"]["nodes"].is_array() && l["trace"]["cost_usd"].is_number())
    );
    let (status, empty) = app.call(Method::GET, "/v1/runs/export", Some(&other), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, Value::Null, "another tenant exports nothing");

    // The designer learned from both designed runs, and from each answer a
    // loop tested, what its generator alone would have scored.
    let tested_answers = lines
        .iter()
        .flat_map(|l| l["spec"]["nodes"].as_array().unwrap())
        .filter(|n| {
            n["op"] == "loop" && n["params"]["until"] == "tests_pass" && n["inputs"] == json!(["generate"])
        })
        .count();
    let (status, stats) = app.get("/v1/designer/stats", ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["cases"], 2 + tested_answers, "{stats}");
    let singles = stats["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pattern"] == "single")
        .map(|p| p["cases"].as_u64().unwrap())
        .sum::<u64>();
    assert!(singles as usize >= tested_answers, "{stats}");

    app.stop().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_spec_runs_and_bad_requests_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server, dataset) = setup(dir.path()).await;
    let mut request = run_request(&dataset, 2);
    request["spec"] = json!({
        "nodes": [
            {"id": "gen", "op": "generate", "role": "write Python code", "agent": "replay/gpt4t-mapcoder@*"},
            {"id": "check", "op": "test", "role": "run the tests", "inputs": ["gen"]}
        ],
        "output": "gen"
    });
    let (status, rollout) = app.post("/v1/workflows/run", ADMIN_TOKEN, &request).await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    assert!(rollout.get("design").is_none(), "a given spec is not designed");
    let generated = &rollout["trace"]["nodes"][0];
    assert_eq!(generated["agent"], "replay/gpt4t-mapcoder");
    let recorded = dataset
        .run("gpt4t-mapcoder")
        .unwrap()
        .task(&dataset.problems()[2].task_id)
        .unwrap();
    assert_eq!(rollout["trace"]["output"], recorded.completion.as_str());
    let (status, stats) = app.get("/v1/designer/stats", ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["cases"], 0, "a given spec teaches the designer nothing");

    // A cyclic spec, a missing field, a budget nothing fits.
    request["spec"]["nodes"][0]["inputs"] = json!(["check"]);
    let (status, err) = app.post("/v1/workflows/run", ADMIN_TOKEN, &request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "invalid_workflow");
    assert!(
        err["error"]["field"].as_str().unwrap().starts_with("spec."),
        "{err}"
    );
    let (status, err) = app
        .post("/v1/workflows/run", ADMIN_TOKEN, &json!({"budget_usd": 1.0}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["field"], "query");
    let mut poor = run_request(&dataset, 0);
    poor["budget_usd"] = json!(0.0);
    let (status, err) = app.post("/v1/workflows/run", ADMIN_TOKEN, &poor).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "over_budget");
    let (status, err) = app.get("/v1/runs/nope", ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    app.stop().await;
    server.stop().await.unwrap();
}
