//! Replay agents over real HTTP: the fixture data set served on loopback,
//! its manifests published to the real server and routed to, and each kind
//! of run answering as it was recorded.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{ADMIN_TOKEN, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard::replay_agents::{ReplayOptions, ReplayServer};
use switchyard_meta_agent::replay::{ReplayDataset, same_code};

fn fixture() -> Arc<ReplayDataset> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("meta-agent/tests/fixtures/humaneval");
    Arc::new(ReplayDataset::load(dir).expect("the fixture data set loads"))
}

async fn start(dataset: Arc<ReplayDataset>) -> ReplayServer {
    let options = ReplayOptions {
        time_scale: 0.0,
        ..ReplayOptions::default()
    };
    ReplayServer::start(dataset, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .expect("replay server starts")
}

async fn ask(url: &str, body: &Value) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("replay agent answers");
    let status = resp.status();
    (status, resp.json().await.expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_and_revise_agents_answer_as_recorded() {
    let dataset = fixture();
    let server = start(dataset.clone()).await;
    let problem = &dataset.problems()[0];
    let task_id = problem.task_id.clone();

    // A generate run answers with its recorded completion and reports its
    // recorded cost, whether the task comes by id or only by its prompt.
    let recorded = dataset.run("gpt35-0613-direct").unwrap().task(&task_id).unwrap();
    for task in [
        json!({"id": task_id, "input": "anything"}),
        json!({"id": "run-7", "input": format!("Solve this:\n{}", problem.prompt)}),
    ] {
        let (status, out) = ask(
            &server.url("gpt35-0613-direct"),
            &json!({"task": task, "inputs": {}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["output"], recorded.completion.as_str());
        let cost = dataset.task_cost("gpt35-0613-direct", &task_id).unwrap();
        assert_eq!(out["usage"]["cost_usd"].as_f64().unwrap(), cost.usd);
    }

    // The revise run repairs its seed's code, and only that code.
    let repaired = dataset.run("gpt35-0613-ldb").unwrap().task(&task_id).unwrap();
    let body = json!({
        "task": {"id": task_id, "input": problem.prompt},
        "inputs": {"generate": recorded.completion, "test": {"passed": false}}
    });
    let (status, out) = ask(&server.url("gpt35-0613-ldb"), &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(same_code(out["output"].as_str().unwrap(), &repaired.completion));
    let other = "def f():\n    return 42\n";
    let body = json!({
        "task": {"id": task_id, "input": problem.prompt},
        "inputs": {"generate": other}
    });
    let (_, out) = ask(&server.url("gpt35-0613-ldb"), &body).await;
    assert_eq!(out["output"], other);

    // Unknown runs, unknown tasks and malformed bodies are clear errors.
    let (status, out) = ask(&server.url("no-such-run"), &json!({"task": {}})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{out}");
    let (status, out) = ask(
        &server.url("gpt35-0613-direct"),
        &json!({"task": {"id": "x", "input": "no prompt here"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
    assert_eq!(out["error"]["code"], "unknown_task");
    let (status, _) = ask(&server.url("gpt35-0613-direct"), &json!({"inputs": 3})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_manifests_publish_and_route() {
    let dataset = fixture();
    let server = start(dataset.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path()).await;
    let manifests = server.manifests("replay").unwrap();
    assert_eq!(manifests.len(), dataset.runs().len());
    for m in &manifests {
        let (status, body) = app
            .post("/v1/agents", ADMIN_TOKEN, &serde_json::to_value(m).unwrap())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {body}", m.name);
    }
    let (status, out) = app
        .post(
            "/v1/route",
            ADMIN_TOKEN,
            &json!({"query": "debug and repair a Python function that fails its tests", "k": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["candidates"][0]["agent"], "replay/gpt35-0613-ldb", "{out}");
    // The routed endpoint is the live replay agent.
    let url = out["candidates"][0]["endpoint"]["url"].as_str().unwrap();
    assert_eq!(url, server.url("gpt35-0613-ldb"));
    app.stop().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_data_set_loads_and_every_run_is_a_valid_agent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/humaneval");
    let dataset = Arc::new(ReplayDataset::load(dir).expect("datasets/humaneval loads"));
    assert_eq!(dataset.problems().len(), 164);
    let server = start(dataset.clone()).await;
    let manifests = server
        .manifests("replay")
        .expect("every run has a valid manifest");
    assert_eq!(manifests.len(), dataset.runs().len());
    assert!(manifests.iter().all(|m| m.budget.cost_per_call_usd > 0.0));
    server.stop().await.unwrap();
}
