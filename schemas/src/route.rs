//! Wire types of routing: `POST /v1/route`, `POST /v1/route/batch` and
//! `POST /v1/feedback`.
//!
//! Hard constraints are filters, never weights: a candidate that breaks one
//! is not returned whatever its score. The tenant a request routes for comes
//! from its API key, never from the body.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::ErrorDetail;
use crate::manifest::{CapabilityVector, DataClass, Endpoint};

/// Most candidates one route returns.
pub const MAX_K: usize = 50;
/// Most requests in one batch.
pub const MAX_BATCH: usize = 100;
/// Longest routing query, in characters.
pub const MAX_QUERY_CHARS: usize = 4_000;

/// `POST /v1/route`: exactly one of `query` and `vector`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    /// The task in words; embedded with the registry's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_QUERY_CHARS))]
    pub query: Option<String>,
    /// A query vector in a space the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<CapabilityVector>,
    /// Candidates wanted (distinct agents), 1 to 50; default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_K))]
    pub k: Option<usize>,
    #[serde(default)]
    pub constraints: Constraints,
    /// Ranking weights; omitted ones keep their defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Weights>,
    /// Sample quality by Thompson sampling instead of using its mean.
    #[serde(default)]
    pub explore: bool,
    /// Add exclusion counts and the search plan to the answer.
    #[serde(default)]
    pub explain: bool,
}

/// Hard constraints: every candidate satisfies all of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Sensitivity of the caller's data: only agents allowed to handle it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_class: Option<DataClass>,
    /// The agent must run in this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The agent must hold every one of these compliance tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<String>,
    /// Most a call may cost (the agent's effective cost per call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_cost_usd: Option<f64>,
    /// Most the agent's p95 latency may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u32>,
    /// The matched skill must carry at least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    /// Version pins, agent name → semver range (`^2`, `~1.4.0`, `=1.2.3`):
    /// a pinned agent routes only to the highest non-yanked version in its
    /// range (deprecated versions included); other agents are unaffected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, String>,
    /// Agents never to return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Candidates below this cosine similarity are dropped; when none is
    /// left the router abstains. Default: the calibrated threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1.0, max = 1.0))]
    pub min_similarity: Option<f32>,
}

/// Default weight of the lexical term (docs/benchmarks.md, "Routing").
pub const DEFAULT_LEXICAL_WEIGHT: f64 = 0.1;

/// Weights of the ranking score (see `docs/routing.md`); each ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    pub similarity: f64,
    /// BM25 of the query text on the skill's text, normalised by the best
    /// candidate's (0 for vector queries).
    pub lexical: f64,
    pub quality: f64,
    pub cost: f64,
    pub latency: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            similarity: 1.0,
            lexical: DEFAULT_LEXICAL_WEIGHT,
            quality: 0.25,
            cost: 0.05,
            latency: 0.05,
        }
    }
}

/// Answer to `POST /v1/route`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteResponse {
    /// Best first; empty when the router abstains.
    pub candidates: Vec<RouteCandidate>,
    /// Why nothing was returned, when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abstained: Option<Abstention>,
    /// With `explain`: agents left out, per first failing reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<ExclusionCounts>,
    /// With `explain`: how the search ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RoutePlan>,
}

/// One routable agent version and the skill that matched best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteCandidate {
    pub agent: String,
    pub version: String,
    /// Id of the agent's best-matching skill.
    pub skill: String,
    pub endpoint: Endpoint,
    /// Cosine similarity of the query and the skill's nearest vector.
    pub similarity: f32,
    pub quality: Quality,
    /// Cost of one call used for ranking and `max_cost_usd`.
    pub cost_usd: f64,
    pub cost_source: Source,
    /// p95 latency used for ranking and `max_latency_ms`.
    pub latency_ms: u32,
    pub latency_source: Source,
    pub score: f64,
    pub breakdown: ScoreBreakdown,
}

/// Where a cost or latency figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The manifest's budget.
    Declared,
    /// Measured from feedback, once enough calls were seen.
    Observed,
}

/// Learned quality of an (agent version, skill).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Quality {
    /// Posterior mean of the success rate, in [0, 1].
    pub mean: f64,
    /// Outcomes observed for this version and skill (decayed weight).
    pub n: f64,
    pub prior: QualityPrior,
    /// With `explore`: the Thompson sample used in the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<f64>,
}

/// Where the quality estimate started from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QualityPrior {
    /// Its own observations (over a uniform prior).
    Observed,
    /// A previous version's record, discounted.
    PreviousVersion,
    /// Records of the nearest skills of other agents, plus an optimism bonus.
    Neighbours,
    /// Nothing known: the uniform prior plus an optimism bonus.
    Uninformed,
}

/// Weighted terms of the score:
/// `score = similarity + lexical + quality − cost − latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScoreBreakdown {
    pub similarity: f64,
    pub lexical: f64,
    pub quality: f64,
    pub cost: f64,
    pub latency: f64,
}

/// An explicit empty answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Abstention {
    /// `no_eligible_agent` (constraints left nothing) or `below_threshold`.
    pub reason: String,
    pub min_similarity: f32,
    /// Similarity of the best eligible skill, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_similarity: Option<f32>,
}

/// Agents visible to the caller that were left out, by the first rule they
/// failed (in this order). Agents the caller cannot see are never counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExclusionCounts {
    /// No version routable: nothing active (unpinned), or everything yanked.
    pub status: usize,
    /// The pinned range matches no routable version.
    pub pin: usize,
    /// Listed in `exclude`.
    pub excluded: usize,
    /// Data class, region or compliance.
    pub policy: usize,
    /// Cost or latency over the limit.
    pub budget: usize,
    /// No skill carries any of `tags_any`.
    pub tags: usize,
    /// Eligible, but its best skill is below `min_similarity`.
    pub below_threshold: usize,
    /// Agents that passed every constraint.
    pub eligible: usize,
}

/// How a route was computed, with timings in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoutePlan {
    pub space: String,
    /// Time to embed the query text (0 for a vector or a cache hit).
    pub embed_micros: u64,
    pub searches: Vec<SearchPlan>,
    pub total_micros: u64,
}

/// One index search of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchPlan {
    /// `current` (unpinned agents) or `pinned`.
    pub purpose: String,
    /// Skill rows asked for.
    pub fetch: usize,
    pub segments: Vec<SegmentSearch>,
    pub micros: u64,
}

/// How one index segment was searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentSearch {
    pub segment: u64,
    pub rows: usize,
    pub live: usize,
    /// Rows the filter allowed, counted exactly.
    pub allowed: usize,
    /// `skipped`, `exact`, `hnsw`, `hnsw_then_exact` or `quantized_scan`.
    pub strategy: String,
    pub returned: usize,
    pub micros: u64,
}

/// `POST /v1/route/batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBatchRequest {
    /// 1 to 100 route requests, answered in order.
    #[schemars(length(min = 1, max = MAX_BATCH))]
    pub requests: Vec<RouteRequest>,
}

/// Answer to `POST /v1/route/batch`: one item per request, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteBatchResponse {
    pub results: Vec<RouteBatchItem>,
}

/// A route answer, or the error that request alone ran into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RouteBatchItem {
    Ok(RouteResponse),
    Err { error: ErrorDetail },
}

/// `POST /v1/feedback`: the outcome of one call of a routed agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub agent: String,
    pub version: String,
    pub skill: String,
    /// Success of the call, 0 (failure) to 1 (full success).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub outcome: f64,
    /// What the call cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cost_usd: Option<f64>,
    /// How long the call took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// The task routed, for audits (not stored in the statistics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_QUERY_CHARS))]
    pub query: Option<String>,
}

/// Answer to `POST /v1/feedback`: the statistics after the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedbackResponse {
    pub agent: String,
    pub version: String,
    pub skill: String,
    pub stats: SkillStats,
}

/// Durable statistics of one (agent version, skill).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkillStats {
    /// Beta posterior parameters (uniform prior, decayed observations).
    pub alpha: f64,
    pub beta: f64,
    /// Decayed number of outcomes.
    pub n: f64,
    /// Outcomes ever recorded (not decayed).
    pub calls: u64,
    /// Mean observed cost per call, when any was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd_mean: Option<f64>,
    /// p95 of the recent reported latencies, when any was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms_p95: Option<u32>,
    /// Latencies reported (the window p95 is computed over).
    pub latency_samples: u64,
}
