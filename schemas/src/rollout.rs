//! Wire types of recorded runs: `GET /v1/runs/{id}` and the JSONL rollouts of
//! `GET /v1/runs/export`.
//!
//! A rollout is one finished run as a training example: the query, the
//! workflow that answered it (and the design choice behind it), every step's
//! result, the score and the cost. Lines are self-contained so that offline
//! learners (for instance RL fine-tuning of an LLM meta-agent) can read the
//! export without the server.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::run::RunTrace;
use crate::workflow::WorkflowSpec;

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rollout {
    pub run_id: String,
    /// When the run finished, milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
    pub query: String,
    /// The caller's task id, when the run had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The designer's choice, when the workflow was designed rather than
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<DesignChoice>,
    pub spec: WorkflowSpec,
    /// Per-step results, the output, cost and score.
    pub trace: RunTrace,
}

/// Which pattern and arm the designer chose for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignChoice {
    pub pattern: String,
    pub arm: String,
    pub expected_cost_usd: f64,
    pub design_micros: u64,
}

/// `GET /v1/runs/{id}`: a run still going, or its rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunRecord {
    /// Accepted as a job and not finished yet.
    Running { run_id: String, started_at_ms: u64 },
    /// Finished (successfully or not); the trace says how.
    Finished(Box<Rollout>),
    /// The job stopped before producing a trace (for example the server
    /// shut down); nothing was scored.
    Aborted { run_id: String, error: String },
}

/// `POST /v1/workflows/run` in job mode: where to look for the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunAccepted {
    pub run_id: String,
    /// `/v1/runs/{run_id}`.
    pub location: String,
}
