//! Switchyard router: answers "which agents can do this, here, for this
//! much?" over the registry's capability index.
//!
//! # Layout
//! - [`route`]: constraints to filters, searches, best skill per agent,
//!   the score, abstention and explanations (the score is documented there).
//! - [`quality`]: Beta posteriors with cold-start priors, Thompson samples;
//!   `neighbours` finds the recorded skills a new agent's prior borrows from.
//! - [`stats`]: durable per-(agent version, skill) feedback statistics.
//! - [`bench`]: the routing-accuracy benchmark (`switchyard bench routing`).
//! - [`latency_bench`]: route latency at catalogue scale against the
//!   performance goals (`switchyard bench route`).
//! - [`error`]: the crate's error type.
//!
//! [`Router`] ties them together; HTTP lives in the `switchyard` binary.
//! Searches and scoring are CPU work: the async entry points run them on
//! tokio's blocking pool.

pub mod bench;
pub mod error;
pub mod latency_bench;
mod neighbours;
pub mod quality;
pub mod route;
pub mod stats;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use switchyard_registry::embedder::EmbedError;
use switchyard_registry::{Catalog, Principal};
use switchyard_schemas::api::Scope;
use switchyard_schemas::route::{FeedbackRequest, FeedbackResponse, RouteRequest, RouteResponse};

pub use error::RouterError;
pub use quality::{QualityConfig, QualityModel};
pub use route::{DEFAULT_K, DEFAULT_MIN_SIMILARITY, RouterConfig};
pub use stats::{FeedbackStats, Outcome, StatsConfig, StatsKey};

/// Re-exported so callers of the router see the registry types it ranks.
pub use switchyard_registry as registry;

use error::Result;
use route::QueryInput;

/// The router: the catalog, the feedback statistics and the ranking rules.
#[derive(Debug)]
pub struct Router {
    catalog: Arc<Catalog>,
    quality: QualityModel,
    config: RouterConfig,
}

impl Router {
    pub fn new(
        catalog: Arc<Catalog>,
        stats: Arc<FeedbackStats>,
        config: RouterConfig,
        quality: QualityConfig,
    ) -> Self {
        Router {
            quality: QualityModel::new(stats, catalog.clone(), quality),
            catalog,
            config,
        }
    }

    /// The router with default ranking and quality settings, its feedback
    /// statistics opened (or created) under `data_dir`. Blocking: it reads
    /// the statistics file.
    pub fn open(catalog: Arc<Catalog>, data_dir: &Path) -> Result<Self> {
        let stats = Arc::new(FeedbackStats::open(data_dir, StatsConfig::default())?);
        Ok(Router::new(
            catalog,
            stats,
            RouterConfig::default(),
            QualityConfig::default(),
        ))
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn stats(&self) -> &Arc<FeedbackStats> {
        self.quality.stats()
    }

    /// Blocks until the cold-start neighbour lists handed to the background
    /// thread so far are built (benchmarks and tests: routes never wait).
    pub fn settle_priors(&self) {
        self.quality.settle();
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Routes one request: the query is embedded on the embedder's bounded
    /// pool, the search and ranking run on a blocking thread.
    pub async fn route(self: &Arc<Self>, principal: &Principal, req: RouteRequest) -> Result<RouteResponse> {
        principal.require(Scope::Route)?;
        let prepared = route::prepare(&self.catalog, principal, &req, &self.config)?;
        let (this, principal) = (self.clone(), principal.clone());
        match route::query_input(&self.catalog, &req)? {
            QueryInput::Vector(vector) => tokio::task::spawn_blocking(move || {
                route::route_vector(&this, &principal, &req, &prepared, &vector, 0)
            })
            .await
            .map_err(|e| RouterError::Worker(e.to_string()))?,
            // Embedded and routed on one blocking thread.
            QueryInput::Text(text) => self
                .catalog
                .embedder()
                .embed_query_then(&text, move |vector, embed_micros| {
                    route::route_vector(&this, &principal, &req, &prepared, &vector, embed_micros)
                })
                .await
                .map_err(query_embed_error)?,
        }
    }

    /// Routes a request on the calling thread, embedding synchronously
    /// (benchmarks and other blocking callers).
    pub fn route_blocking(&self, principal: &Principal, req: &RouteRequest) -> Result<RouteResponse> {
        principal.require(Scope::Route)?;
        let prepared = route::prepare(&self.catalog, principal, req, &self.config)?;
        let (vector, embed_micros) = match route::query_input(&self.catalog, req)? {
            QueryInput::Vector(v) => (v, 0),
            QueryInput::Text(text) => {
                let start = Instant::now();
                let v = self
                    .catalog
                    .embedder()
                    .embedder()
                    .embed(&text)
                    .map_err(query_embed_error)?;
                (v, start.elapsed().as_micros() as u64)
            }
        };
        route::route_vector(self, principal, req, &prepared, &vector, embed_micros)
    }

    /// Records the outcome of one call durably (blocking: fsync). The agent
    /// version and skill must exist and be visible to the caller.
    pub fn feedback(&self, principal: &Principal, req: &FeedbackRequest) -> Result<FeedbackResponse> {
        principal.require(Scope::Route)?;
        if !req.outcome.is_finite() || !(0.0..=1.0).contains(&req.outcome) {
            return Err(RouterError::invalid("outcome", "must be between 0 and 1"));
        }
        if let Some(c) = req.cost_usd
            && (!c.is_finite() || c < 0.0)
        {
            return Err(RouterError::invalid("cost_usd", "must be a finite number ≥ 0"));
        }
        let version = semver::Version::parse(req.version.trim())
            .map_err(|e| RouterError::invalid("version", format!("not a semver version: {e}")))?
            .to_string();
        let not_found = || RouterError::SkillNotFound {
            agent: req.agent.clone(),
            version: version.clone(),
            skill: req.skill.clone(),
        };
        let card = self.catalog.card(&req.agent).ok_or_else(not_found)?;
        let v = card
            .version(&version)
            .filter(|v| principal.can_see(&card.owner, &v.policy.visibility))
            .ok_or_else(not_found)?;
        if !v.skills.iter().any(|s| s.id == req.skill) {
            return Err(not_found());
        }
        let key = StatsKey {
            agent: req.agent.clone(),
            version: version.clone(),
            skill: req.skill.clone(),
        };
        let outcome = Outcome {
            score: req.outcome,
            cost_usd: req.cost_usd,
            latency_ms: req.latency_ms,
        };
        // The prior is frozen into the record: no budget, the exact one.
        let mut exact = usize::MAX;
        let record = self
            .quality
            .stats()
            .record(&key, outcome, || self.quality.prior(&card, v, &key, &mut exact))?;
        self.quality.note_recorded(&key);
        Ok(FeedbackResponse {
            agent: key.agent,
            version: key.version,
            skill: key.skill,
            stats: record.to_wire(),
        })
    }
}

fn query_embed_error(e: EmbedError) -> RouterError {
    if e.is_client_error() {
        RouterError::invalid("query", e.to_string())
    } else {
        RouterError::Embed(e)
    }
}
