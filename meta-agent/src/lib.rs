//! Switchyard meta-agent: designs, runs and learns workflows.
//!
//! This crate will own the workflow designer (a library of patterns such as
//! single agent, vote-of-k, generate→test→revise, instantiated per query and
//! chosen by a contextual policy learned from rewards), the executor (a DAG run
//! concurrently on tokio with budgets, timeouts, retries and circuit breakers),
//! the scorers (sandboxed tests, exact/regex, JSON Schema, judge) and the
//! feedback that flows back into the router's statistics. It depends on
//! `switchyard-router` only; HTTP lives in the `switchyard` binary.

/// Re-exported so callers of the meta-agent see the router it binds steps with.
pub use switchyard_router as router;
