//! Switchyard: the switchboard of an agent fleet. This crate is the server and
//! the command-line client; the domain lives in the member crates.
//!
//! # Layout
//! - [`config`]: typed, layered settings (defaults → file → env → flags).
//! - [`startup`]: [`startup::Application`] builds the server and runs it until stopped.
//! - [`http`]: the `/v1` API: routes, thin handlers, `ApiError`, metrics.
//! - [`cli`]: the `switchyard` command line (`serve` and the client commands).
//! - [`replay_agents`]: replay data sets served as real HTTP agents.
//! - [`workflow_bench`]: the workflow benchmark, fixed workflows against the
//!   learning meta-agent on replayed agents.
//! - [`telemetry`]: logging setup.
//!
//! Member crates, dependencies one way: `switchyard-schemas` (wire types) →
//! `switchyard-registry` (store, embedder, index) → `switchyard-router` →
//! `switchyard-meta-agent`.

pub mod cli;
pub mod config;
pub mod http;
pub mod replay_agents;
pub mod startup;
pub mod telemetry;
pub mod workflow_bench;
