//! Switchyard router: answers "which agents can do this, here, for this much?".
//!
//! This crate will own constraint-aware ranking over the registry's capability
//! index (hard constraints as filters, a documented score over similarity,
//! learned quality, cost and latency), per-(agent version, skill) feedback
//! statistics with cold-start priors and Thompson-sampling exploration, and the
//! explanations returned with `explain: true`. It depends on
//! `switchyard-registry` only; HTTP lives in the `switchyard` binary.

/// Re-exported so callers of the router see the registry types it ranks.
pub use switchyard_registry as registry;
