//! The meta-agent's one error type.
//!
//! Every variant carries what a caller needs to act without parsing the
//! message: the file and line of a bad data set, the run and task that were
//! asked for, the schema path of an unsupported keyword.

use std::path::PathBuf;

use switchyard_router::RouterError;
use switchyard_router::registry::embedder::EmbedError;
use switchyard_schemas::{FieldError, ManifestError};

use crate::client::CallError;

#[derive(Debug, thiserror::Error)]
pub enum MetaAgentError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data set file is malformed or inconsistent; `line` is 1-based.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Dataset {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// The data set has no run with this id.
    #[error("the data set has no run `{run}`")]
    UnknownRun { run: String },

    /// The run has no recorded answer for this task.
    #[error("run `{run}` has no task `{task_id}`")]
    UnknownTask { run: String, task_id: String },

    /// A revise run was asked to answer without the code it should revise.
    #[error("run `{run}` revises code: pass the code to revise")]
    MissingCode { run: String },

    /// The manifest built for a replayed run breaks a manifest rule.
    #[error("the manifest for run `{run}` is invalid: {source}")]
    InvalidManifest {
        run: String,
        #[source]
        source: ManifestError,
    },

    /// A scorer's regular expression does not compile.
    #[error("invalid regular expression: {source}")]
    InvalidRegex {
        #[source]
        source: regex::Error,
    },

    /// A JSON Schema is malformed or uses a keyword the validator does not
    /// implement; `path` is a JSON Pointer into the schema.
    #[error("JSON Schema at `{path}`: {message}")]
    InvalidSchema { path: String, message: String },

    /// The sandbox cannot run code here (no Python, or network isolation was
    /// required and is not available).
    #[error("the sandbox is unavailable: {reason}")]
    SandboxUnavailable { reason: String },

    /// A workflow spec breaks the workflow rules; every violation, with its
    /// field path.
    #[error("invalid workflow: {}", joined(problems))]
    InvalidWorkflow { problems: Vec<FieldError> },

    /// A run request field is unusable (a budget that is not a finite
    /// number ≥ 0, …).
    #[error("{field}: {message}")]
    InvalidRun { field: String, message: String },

    /// A call did not fit the remaining budget, so it was not made.
    #[error("budget exhausted: the call to `{agent}` needs {needed_usd} USD, {remaining_usd} USD remain")]
    Budget {
        agent: String,
        needed_usd: f64,
        remaining_usd: f64,
    },

    /// The agent's circuit breaker is open, so it was not called.
    #[error("`{agent}` is failing (circuit open)")]
    CircuitOpen { agent: String },

    /// Calling an agent failed (after any retries).
    #[error("calling `{agent}` failed after {attempts} attempt(s): {source}")]
    AgentCall {
        agent: String,
        attempts: u32,
        #[source]
        source: CallError,
    },

    /// A step got or produced something it cannot use (a `select` answer
    /// naming no candidate, a `judge` answer without a score, a `test` input
    /// that is not code).
    #[error("step `{node}`: {message}")]
    BadOutput { node: String, message: String },

    /// A `test` or `loop` step, or the tests scorer, has no tests to run.
    #[error("no tests to run: {reason}")]
    MissingTests { reason: String },

    /// A blocking task panicked or was cancelled.
    #[error("a worker task failed: {message}")]
    Worker { message: String },

    /// A sandboxed process could not be started or waited for.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    /// A design request breaks a rule: every problem, with its field path.
    #[error("{}", joined(problems))]
    InvalidDesignRequest { problems: Vec<FieldError> },

    /// Embedding the query or a role text failed.
    #[error("embedding `{text}`: {source}")]
    Embed {
        text: String,
        #[source]
        source: EmbedError,
    },

    /// Routing one of a workflow's roles failed.
    #[error("routing the role `{role}`: {source}")]
    Route {
        role: String,
        /// Boxed: the router's error is large and this path is rare.
        #[source]
        source: Box<RouterError>,
    },

    /// The router found no agent for the role every workflow needs.
    #[error("no agent can take the role `{role}`")]
    NoCandidates { role: String },

    /// No workflow is expected to fit the budget.
    #[error(
        "no workflow fits the budget of {budget_usd} USD; the cheapest is expected to cost {cheapest_usd} USD"
    )]
    OverBudget { budget_usd: f64, cheapest_usd: f64 },

    /// The designer built a spec that breaks a workflow rule (a designer bug).
    #[error("the designed workflow is invalid: {}", joined(problems))]
    InvalidDesign { problems: Vec<FieldError> },

    /// A case given to the designer to record is malformed.
    #[error("invalid case: {message}")]
    InvalidCase { message: String },

    /// The designer's case memory could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    CaseStore {
        path: PathBuf,
        /// Boxed: redb's error is large and this path is rare.
        #[source]
        source: Box<redb::Error>,
    },

    /// A stored case cannot be decoded.
    #[error("{}: case {seq} is unreadable: {message}", path.display())]
    CorruptCase {
        path: PathBuf,
        seq: u64,
        message: String,
    },
}

fn joined(problems: &[FieldError]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
