//! The index's public vocabulary: row keys, the rows a caller inserts, the
//! filter a query carries, and the hits and plan a search returns.

use serde::{Deserialize, Serialize};
use switchyard_schemas::api::VersionStatus;
use switchyard_schemas::manifest::{Budget, DataClass, Policy, Visibility};

/// Identity of one vector: several vectors per skill are possible.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowKey {
    /// `namespace/name` of the agent.
    pub agent: String,
    pub version: String,
    /// Skill id within the manifest.
    pub skill: String,
    /// Which of the skill's vectors this is.
    pub vector: u16,
}

/// Everything the filters look at, shared by all rows of one agent version.
#[derive(Debug, Clone, PartialEq)]
pub struct RowMeta {
    /// Tenant that owns the agent; it always sees its own rows.
    pub owner_tenant: String,
    pub visibility: Visibility,
    /// Data classes the agent may handle.
    pub data_classes: Vec<DataClass>,
    pub regions: Vec<String>,
    pub compliance: Vec<String>,
    pub status: VersionStatus,
    /// Fixed cost of one call, USD.
    pub cost_usd: f32,
    /// Declared p95 latency, milliseconds.
    pub latency_p95_ms: u32,
    /// Whether this is the agent's current version (see
    /// [`super::CapabilityIndex::set_current`]); set on insert so a bulk
    /// build needs no per-agent pass.
    pub current: bool,
}

impl RowMeta {
    /// The metadata of a manifest's policy and budget.
    pub fn from_manifest(
        owner_tenant: &str,
        policy: &Policy,
        budget: &Budget,
        status: VersionStatus,
    ) -> Self {
        RowMeta {
            owner_tenant: owner_tenant.to_owned(),
            visibility: policy.visibility.clone(),
            data_classes: policy.data_classes.clone(),
            regions: policy.regions.clone(),
            compliance: policy.compliance.clone(),
            status,
            cost_usd: budget.cost_per_call_usd as f32,
            latency_p95_ms: budget.latency_ms.p95,
            current: false,
        }
    }
}

/// One vector of one skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillVector {
    pub skill: String,
    /// Index of this vector among the skill's vectors.
    pub vector: u16,
    /// Any length-`dimension` finite non-zero vector; the index normalises it.
    pub values: Vec<f32>,
}

/// All rows of one agent version: inserting it replaces any rows the
/// version already had.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRows {
    pub agent: String,
    pub version: String,
    pub meta: RowMeta,
    pub vectors: Vec<SkillVector>,
}

/// A set of version statuses, as a bitmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSet(u8);

impl StatusSet {
    /// Routable rows only: the default.
    pub const ACTIVE: StatusSet = StatusSet(1);
    /// Active and deprecated (a caller pinned a deprecated version).
    pub const ROUTABLE_WHEN_PINNED: StatusSet = StatusSet(1 | 2);
    /// Every status, yanked included (admin listings).
    pub const ALL: StatusSet = StatusSet(1 | 2 | 4);

    /// A set holding exactly `statuses`.
    pub fn of(statuses: &[VersionStatus]) -> Self {
        StatusSet(statuses.iter().fold(0, |m, s| m | status_bit(*s)))
    }

    pub fn contains(self, status: VersionStatus) -> bool {
        self.0 & status_bit(status) != 0
    }

    pub(crate) fn bits(self) -> u8 {
        self.0
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet::ACTIVE
    }
}

pub(crate) fn status_bit(s: VersionStatus) -> u8 {
    match s {
        VersionStatus::Active => 1,
        VersionStatus::Deprecated => 2,
        VersionStatus::Yanked => 4,
    }
}

/// Row flag kept beside the status bits: the row belongs to its agent's
/// current version (see [`super::CapabilityIndex::set_current`]).
pub(crate) const CURRENT_FLAG: u8 = 8;

pub(crate) fn status_from_bit(bit: u8) -> VersionStatus {
    match bit & !CURRENT_FLAG {
        1 => VersionStatus::Active,
        2 => VersionStatus::Deprecated,
        _ => VersionStatus::Yanked,
    }
}

/// Which rows a query may see; every condition must hold.
///
/// A row that fails any condition is never returned, whatever plan runs.
#[derive(Default)]
pub struct Filter<'a> {
    /// Tenant asking. `None` (anonymous) sees public rows only.
    pub tenant: Option<&'a str>,
    /// Admin view: ignore visibility (the other conditions still apply).
    pub see_all: bool,
    /// The row must be allowed to handle every one of these classes.
    pub data_classes: Vec<DataClass>,
    /// The row must run in at least one of these regions (empty: anywhere).
    pub regions: Vec<&'a str>,
    /// The row must hold every one of these compliance tags.
    pub compliance: Vec<&'a str>,
    /// Statuses allowed (default: active only).
    pub statuses: StatusSet,
    /// Only rows of their agent's current version, as last set with
    /// [`super::CapabilityIndex::set_current`]: the one version per agent
    /// that unpinned routing may use.
    pub current_only: bool,
    pub max_cost_usd: Option<f32>,
    pub max_latency_p95_ms: Option<u32>,
    /// Caller's test on the row key (pins, excludes, exact versions).
    pub key_predicate: Option<&'a dyn Fn(&RowKey) -> bool>,
}

impl std::fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("tenant", &self.tenant)
            .field("see_all", &self.see_all)
            .field("data_classes", &self.data_classes)
            .field("regions", &self.regions)
            .field("compliance", &self.compliance)
            .field("statuses", &self.statuses)
            .field("current_only", &self.current_only)
            .field("max_cost_usd", &self.max_cost_usd)
            .field("max_latency_p95_ms", &self.max_latency_p95_ms)
            .field("key_predicate", &self.key_predicate.is_some())
            .finish()
    }
}

/// One search.
#[derive(Debug)]
pub struct SearchRequest<'a> {
    /// Query vector of the index's dimension (normalised by the index).
    pub vector: &'a [f32],
    pub k: usize,
    /// Keep only the best row per (agent, version, skill), so skills with
    /// several vectors do not crowd out others.
    pub best_per_skill: bool,
    pub filter: Filter<'a>,
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub key: RowKey,
    /// Cosine similarity with the query, in [-1, 1].
    pub similarity: f32,
    pub status: VersionStatus,
    pub owner_tenant: String,
    pub cost_usd: f32,
    pub latency_p95_ms: u32,
}

/// How one segment was searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// No row passed the filter: no vector was touched.
    Skipped,
    /// Every allowed row was scored.
    Exact,
    /// A walk of the HNSW graph that admits only allowed rows to its results.
    Hnsw,
    /// The graph walk found fewer than k allowed rows (the filter cut the
    /// graph apart), so the allowed rows were scanned (by their int8 codes
    /// when there are more than the exact-scan limit).
    HnswThenExact,
    /// Too many allowed rows for an f32 scan, too small a share of the
    /// segment for a graph walk: the allowed rows' int8 codes were scanned
    /// and the best re-scored in f32.
    QuantizedScan,
}

/// Plan and cost of one segment's part of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentPlan {
    pub segment: u64,
    /// Rows stored, live or not.
    pub rows: usize,
    /// Rows neither deleted nor superseded.
    pub live: usize,
    /// Live rows the filter allows (counted exactly).
    pub allowed: usize,
    /// Whether the segment had a usable HNSW graph.
    pub has_graph: bool,
    pub strategy: Strategy,
    /// Candidates this segment contributed.
    pub returned: usize,
    pub micros: u64,
}

/// Plan of a whole search, for `explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryPlan {
    pub space: String,
    pub k: usize,
    pub best_per_skill: bool,
    pub segments: Vec<SegmentPlan>,
    pub micros: u64,
}

/// Hits (best first) and the plan that found them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    pub plan: QueryPlan,
}
