//! Switchyard meta-agent: designs, runs and learns workflows.
//!
//! This crate will own the workflow designer (a library of patterns such as
//! single agent, vote-of-k, generate→test→revise, instantiated per query and
//! chosen by a contextual policy learned from rewards), the executor (a DAG run
//! concurrently on tokio with budgets, timeouts, retries and circuit breakers),
//! the scorers (sandboxed tests, exact/regex, JSON Schema, judge) and the
//! feedback that flows back into the router's statistics. Of the Switchyard
//! crates it builds on `switchyard-router`, and on `switchyard-schemas` for
//! wire types: workflow specs and their validation live in
//! [`switchyard_schemas::workflow`], manifests in
//! [`switchyard_schemas::manifest`]. HTTP lives in the `switchyard` binary.
//!
//! # Layout
//! - [`error`]: [`MetaAgentError`], the one error type.
//! - [`designer`]: the per-query policy: a library of workflow patterns bound
//!   to routed agents, budgets split by expected cost, and a choice by
//!   kNN-smoothed Thompson sampling over a durable memory of past cases.
//! - [`scorers`]: scores in [0, 1] with a reason: [`scorers::sandbox`] runs
//!   Python against its tests in a limited child process, [`scorers::text`]
//!   matches exactly or by regular expression, and
//!   [`scorers::json_schema`](mod@scorers::json_schema) checks JSON output
//!   against a schema.
//! - [`client`]: calls agents over HTTP (`switchyard-http` and A2A
//!   JSON-RPC) with a deadline, a response cap, no redirects, and errors
//!   classed as transient or permanent.
//! - [`executor`]: runs workflow specs as concurrent DAGs with routing,
//!   budgets, timeouts, retries and circuit breakers; scores runs and feeds
//!   the scores back to the router.
//! - [`replay`]: recorded runs of real systems (the HumanEval data set
//!   format) loaded, priced, answered from and described as agent manifests,
//!   so workflows can be developed and evaluated without calling models.
//! - [`runs`]: the durable run log, per tenant, exported as JSONL rollouts.
//! - [`service`]: [`service::MetaAgent`], design → run → score → learn →
//!   record, the flow behind `POST /v1/workflows/run` and the benchmark.

pub mod client;
pub mod designer;
pub mod error;
pub mod executor;
pub mod replay;
pub mod runs;
pub mod scorers;
pub mod service;

pub use error::MetaAgentError;
pub use executor::{Executor, ExecutorConfig};

/// Re-exported so callers of the meta-agent see the router it binds steps with.
pub use switchyard_router as router;
