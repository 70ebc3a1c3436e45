//! Switchyard registry: the durable store of agent manifests and everything
//! derived from them.
//!
//! # Layout
//! - [`catalog`]: the store, embedder and index kept in step; routing cards.
//! - [`store`]: the durable redb store of versions, lifecycle, change log, namespaces and keys.
//! - [`versions`]: semver ordering, `latest` and range resolution.
//! - [`auth`]: API keys and principals.
//! - [`error`]: the crate's error type.
//! - [`embedder`]: local ONNX text embedder that turns skills into capability vectors.
//! - [`index`]: segmented, filtered HNSW capability index over those vectors.
//! - [`lexical`]: skill-text term statistics for BM25, fused with the dense score.
//! - [`procstat`]: resident memory, thread CPU time and percentiles, for the benchmarks.
//!
//! Everything here is synchronous: callers on an async runtime run these calls
//! on blocking threads.

pub mod auth;
pub mod catalog;
pub mod embedder;
pub mod error;
pub mod index;
pub mod lexical;
pub mod procstat;
pub mod store;
pub mod versions;

pub use auth::Principal;
pub use catalog::{AgentCard, Catalog, IndexOrigin, SkillCard, VersionCard};
pub use error::RegistryError;
pub use store::{AuthMode, ListQuery, Registry, RegistryStats, StoredEntry, VersionVectors};
