//! Switchyard wire types: agent manifests, HTTP bodies, validation, and the
//! generated JSON Schema and OpenAPI documents.
//!
//! # Layout
//! - [`manifest`]: the agent manifest an agent publishes per version.
//! - [`api`]: request and response bodies of the `/v1` HTTP API.
//! - [`route`]: routing and feedback bodies (`/v1/route`, `/v1/feedback`).
//! - [`validate`]: parsing with field paths and every rule on a manifest.
//! - [`limits`]: every numeric limit the rules enforce.
//! - [`generate`]: JSON Schema and OpenAPI documents, and the route list.
//! - [`import`]: A2A AgentCards and MCP `server.json` files to manifests.
//! - [`export`]: manifests to A2A AgentCards.
//! - [`workflow`]: workflow specs the meta-agent designs and runs, and their rules.
//! - [`design`]: workflow design requests and answers, and the designer's statistics.
//! - [`run`]: run requests (query, workflow, task, budget, scorer) and run traces.
//! - [`rollout`]: recorded runs (`/v1/runs/{id}`) and the JSONL rollout export.
//!
//! This crate has no I/O and no HTTP framework: the registry, the router and
//! the binary all build on it.

pub mod api;
pub mod design;
pub mod export;
pub mod generate;
pub mod import;
pub mod limits;
pub mod manifest;
pub mod rollout;
pub mod route;
pub mod run;
pub mod validate;
pub mod workflow;

pub use manifest::AgentManifest;
pub use validate::{FieldError, ManifestError, parse_manifest, validate_manifest};
