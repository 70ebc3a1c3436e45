//! Wire types of workflow runs: what a caller asks the meta-agent to run
//! ([`RunRequest`]) and what it gets back ([`RunTrace`]).
//!
//! A run answers one query with a workflow (given, or designed for the query),
//! within a budget; the trace records every step: which agent it was bound
//! to, what it cost, how long it took and how it ended, so that a run can be
//! audited and its score credited to the agents that produced it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::route::Constraints;
use crate::workflow::{Op, WorkflowSpec};

/// Longest run query, in characters. Only node roles are embedded for
/// routing; the query itself goes to the agents, so it may be a whole
/// problem statement.
pub const QUERY_MAX: usize = 20_000;
/// Longest task context, in characters.
pub const CONTEXT_MAX: usize = 100_000;
/// Longest test source, in characters (as a workflow's `tests`).
pub const TESTS_MAX: usize = crate::workflow::TESTS_MAX;

/// A run: answer `query` with `spec` (or a designed workflow) for at most
/// `budget_usd`, then score the answer with `scorer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The task in words, as the agents receive it.
    #[schemars(length(min = 1, max = QUERY_MAX))]
    pub query: String,
    /// The workflow to run; designed for the query when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<WorkflowSpec>,
    /// The task behind the query, for tasks that come with an id, context or
    /// tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskSpec>,
    /// Hard routing constraints every step's agent must satisfy.
    #[serde(default)]
    pub constraints: Constraints,
    /// Most the run may spend, in US dollars; the lower of this and the
    /// spec's own budget applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub budget_usd: Option<f64>,
    /// How to score the answer once the run is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer: Option<ScorerSpec>,
    /// `sync` answers with the finished run; `job` answers 202 at once with
    /// the run's id, to poll at `GET /v1/runs/{id}`.
    #[serde(default)]
    pub mode: RunMode,
}

/// Whether `POST /v1/workflows/run` waits for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Wait and answer with the run; a caller that disconnects cancels it.
    #[default]
    Sync,
    /// Run in the background; the caller polls.
    Job,
}

/// The task behind a query.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The caller's id of the task (for instance `HumanEval/0`); agents
    /// receive it.
    #[schemars(length(min = 1, max = 200))]
    pub id: String,
    /// Background the agents receive with the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = CONTEXT_MAX))]
    pub context: Option<String>,
    /// Name of the function `check(candidate)` is called with, for code
    /// tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub entry_point: Option<String>,
    /// Public Python tests defining `check(candidate)`, which `test` and
    /// `loop` steps run when their spec gives none. Hidden tests belong in
    /// the scorer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = TESTS_MAX))]
    pub tests: Option<String>,
}

/// How a run's answer is scored, in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScorerSpec {
    /// The answer is Python code; 1 when `check(entry_point)` of `source`
    /// passes in the sandbox.
    Tests {
        #[schemars(length(min = 1, max = TESTS_MAX))]
        source: String,
        #[schemars(length(min = 1, max = 200))]
        entry_point: String,
    },
    /// 1 when the answer equals `expected` (surrounding whitespace ignored).
    Exact { expected: String },
    /// 1 when `pattern` matches anywhere in the answer.
    Regex { pattern: String },
    /// 1 when the answer is JSON valid against `schema`.
    JsonSchema { schema: serde_json::Value },
    /// An agent scores the answer against `criteria`.
    Judge {
        #[schemars(length(min = 1, max = crate::workflow::INSTRUCTION_MAX))]
        criteria: String,
        /// A pinned judge, `namespace/name@range`; otherwise one is routed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
}

/// What happened in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunTrace {
    /// Random, unique per run.
    pub run_id: String,
    pub status: RunStatus,
    /// The output node's output, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// Why the run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the run spent: reported costs, and reservations of calls that
    /// failed or reported nothing. Never more than `budget_usd`.
    pub cost_usd: f64,
    /// The budget the run was held to.
    pub budget_usd: f64,
    pub latency_ms: u64,
    /// In spec order.
    pub nodes: Vec<NodeTrace>,
    /// The answer's score, once scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<RunScore>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The output node produced an output.
    Succeeded,
    /// The output node failed or was skipped.
    Failed,
}

/// A score in [0, 1] and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunScore {
    pub value: f64,
    pub reason: String,
}

/// What happened in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeTrace {
    pub id: String,
    pub op: Op,
    pub outcome: NodeOutcome,
    /// Why the step failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The agent the step was bound to (absent for steps without an agent,
    /// and for ensembles, whose agents are in `calls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// HTTP attempts over all the step's calls, retries included.
    pub attempts: u32,
    pub latency_ms: u64,
    pub cost_usd: f64,
    /// Size of the step's inputs as JSON.
    pub input_bytes: u64,
    /// Size of the step's output as JSON (0 without output).
    pub output_bytes: u64,
    /// The latest test report of a `test` or `loop` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestReport>,
    /// Every agent call of the step, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallTrace>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeOutcome {
    Ok,
    Failed,
    /// Not run, because an input failed or was skipped.
    Skipped,
}

/// One agent call, with its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallTrace {
    pub agent: String,
    pub version: String,
    pub skill: String,
    /// HTTP attempts, 0 when the call was refused before any (budget, open
    /// circuit).
    pub attempts: u32,
    pub latency_ms: u64,
    /// What was charged to the budget.
    pub cost_usd: f64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The agent reported more than was reserved for it; only the
    /// reservation was charged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_reservation: bool,
}

/// Result of running tests on an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestReport {
    pub passed: bool,
    /// `tests passed`, or the failure in a few words.
    pub reason: String,
}

/// Body of a call to an agent speaking `switchyard-http` (see
/// `docs/agent-protocol.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentRequest {
    pub task: AgentTask,
    /// Outputs of the steps this one reads, by step id, in the order the
    /// step reads them.
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

/// The task as an agent receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentTask {
    /// The caller's task id, or the run id when the caller gave none.
    pub id: String,
    /// The query.
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// What the step asks of the agent.
    pub op: Op,
    /// The step's request in words: what to do with `input` and `inputs`.
    pub instruction: String,
}

/// Answer of an agent speaking `switchyard-http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentResponse {
    /// Any JSON other than null, usually a string.
    pub output: serde_json::Value,
    #[serde(default)]
    pub usage: AgentUsage,
}

/// What a call used, as the agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AgentUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
}
