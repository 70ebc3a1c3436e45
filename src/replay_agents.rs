//! Replay agents over real HTTP: every run of a replay data set served as a
//! `switchyard-http` agent on loopback (`switchyard agents replay`, and the
//! workflow benchmark).
//!
//! Each run answers at `POST /agents/{run id}` exactly as the meta-agent's
//! replay rules say (`switchyard_meta_agent::replay`): a generate run with its
//! recorded completion, a revise run with its recorded repair when given the
//! code it was recorded repairing, and that code unchanged otherwise. The
//! task is found by `task.id` when it names a problem of the data set, or
//! else by the problem prompt the task input contains, so a caller that
//! knows nothing of the data set still gets answers. Usage reports the run's recorded (or estimated) tokens at
//! list price, and the reply waits the modelled latency times `time_scale`,
//! so a workflow's cost and timing behave as the recorded systems' did.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_meta_agent::MetaAgentError;
use switchyard_meta_agent::replay::{LatencyModel, ReplayDataset, RunRole, manifest_for_run};
use switchyard_schemas::AgentManifest;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How replayed agents behave.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Multiplies the modelled latency of each answer: 1 waits as long as the
    /// recorded system would have, 0 answers at once.
    pub time_scale: f64,
    pub latency: LatencyModel,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            time_scale: 1.0,
            latency: LatencyModel::default(),
        }
    }
}

/// A running replay server; dropping it without [`ReplayServer::stop`]
/// leaves the task serving until the runtime ends.
#[derive(Debug)]
pub struct ReplayServer {
    addr: SocketAddr,
    dataset: Arc<ReplayDataset>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

#[derive(Debug)]
struct Replay {
    dataset: Arc<ReplayDataset>,
    options: ReplayOptions,
}

impl ReplayServer {
    /// Binds `listen` (port 0 picks one) and serves every run of `dataset`.
    pub async fn start(
        dataset: Arc<ReplayDataset>,
        listen: SocketAddr,
        options: ReplayOptions,
    ) -> std::io::Result<ReplayServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Replay {
            dataset: dataset.clone(),
            options,
        });
        let app = axum::Router::new()
            .route("/agents/{run}", post(answer))
            .with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(ReplayServer {
            addr,
            dataset,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint of one run's agent.
    pub fn url(&self, run_id: &str) -> String {
        format!("http://{}/agents/{run_id}", self.addr)
    }

    /// A manifest per run, named `namespace/<run id>`, pointing at this
    /// server.
    pub fn manifests(&self, namespace: &str) -> Result<Vec<AgentManifest>, MetaAgentError> {
        self.dataset
            .runs()
            .iter()
            .map(|run| manifest_for_run(run, &self.dataset, namespace, &self.url(run.id())))
            .collect()
    }

    /// Stops accepting, finishes in-flight answers, and waits.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// The parts of a `switchyard-http` request a replay agent reads; anything
/// else is accepted and ignored, as a real agent would.
#[derive(Debug, Deserialize)]
struct AgentRequest {
    task: Task,
    #[serde(default)]
    inputs: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct Task {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    input: Value,
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

async fn answer(
    State(replay): State<Arc<Replay>>,
    Path(run_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let request: AgentRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
    };
    let dataset = &replay.dataset;
    let Some(run) = dataset.run(&run_id) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_agent",
            format!("no replayed run `{run_id}`"),
        );
    };
    let input_text = request.task.input.as_str().unwrap_or_default();
    let named = request
        .task
        .id
        .as_str()
        .filter(|id| dataset.problem(id).is_some());
    let task_id = match named {
        Some(id) => id.to_string(),
        None => match dataset
            .problems()
            .iter()
            .find(|p| !p.prompt.trim().is_empty() && input_text.contains(p.prompt.trim()))
        {
            Some(p) => p.task_id.clone(),
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_task",
                    "`task.id` names no problem, and the input contains no known problem prompt".into(),
                );
            }
        },
    };
    let code = match run.run.role {
        RunRole::Generate => None,
        RunRole::Revise => Some(code_to_revise(dataset, run.id(), &task_id, &request)),
    };
    let answer = match dataset.answer(run.id(), &task_id, code.as_deref()) {
        Ok(a) => a.code.to_string(),
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_task", e.to_string()),
    };
    let cost = match dataset.task_cost(run.id(), &task_id) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_task", e.to_string()),
    };
    let wait = replay.options.latency.millis(&cost) * replay.options.time_scale;
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait / 1e3)).await;
    }
    Json(json!({
        "output": answer,
        "usage": {
            "cost_usd": cost.usd,
            "input_tokens": cost.prompt_tokens,
            "output_tokens": cost.completion_tokens,
        }
    }))
    .into_response()
}

/// The code a revise agent is asked to repair: the input that is its seed
/// run's recorded completion when one is, else the first text input, else
/// the task input. Inputs may also carry test reports and reviews; those
/// are not code and are skipped when they are JSON objects.
fn code_to_revise(dataset: &ReplayDataset, run_id: &str, task_id: &str, request: &AgentRequest) -> String {
    let texts: Vec<&str> = request
        .inputs
        .values()
        .filter_map(Value::as_str)
        .chain(request.task.input.as_str())
        .collect();
    let seed = dataset
        .run(run_id)
        .and_then(|run| dataset.seed_of(run))
        .and_then(|seed| seed.task(task_id))
        .map(|t| t.completion.as_str());
    seed.and_then(|seed| {
        texts
            .iter()
            .find(|t| switchyard_meta_agent::replay::same_code(t, seed))
    })
    .or_else(|| texts.first())
    .map(|t| t.to_string())
    .unwrap_or_default()
}
