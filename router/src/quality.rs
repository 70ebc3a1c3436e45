//! Quality estimates: the Beta posterior of an (agent version, skill),
//! started from the best prior available, and Thompson samples of it.
//!
//! Priors, in order of preference, all added to the uniform `Beta(1, 1)`:
//! 1. the record of the highest earlier version of the same agent with the
//!    same skill id, its counts multiplied by
//!    [`QualityConfig::previous_version_discount`]: a new version usually
//!    behaves like the last one, but not surely;
//! 2. otherwise (a new agent) the records of the nearest skills of *other*
//!    agents, by cosine of their primary vectors: a similarity-weighted mean
//!    success rate worth at most [`QualityConfig::neighbour_strength`]
//!    pseudo-observations, plus the optimism bonus;
//! 3. otherwise the optimism bonus alone.
//!
//! The optimism bonus ([`QualityConfig::optimism_bonus`] pseudo-successes)
//! lets a newcomer with no evidence rank a little above an incumbent of
//! the same similarity and mediocre record, so it gets tried; its own
//! outcomes then quickly dominate.
//!
//! Neighbour priors cost a vector read and a scan of the recorded skills, so
//! they are cached per key and recomputed after
//! [`QualityConfig::refresh_every`] new outcomes anywhere.

use std::sync::Arc;

use dashmap::DashMap;
use rand_distr::{Beta, Distribution};
use switchyard_registry::catalog::{AgentCard, VersionCard};
use switchyard_registry::index::distance::dot;
use switchyard_registry::{Catalog, VersionVectors};
use switchyard_schemas::route::QualityPrior;

use crate::stats::{FeedbackStats, Record, StatsKey};

/// Tuning of the priors.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityConfig {
    /// Weight of a previous version's observations in a new version's prior.
    pub previous_version_discount: f64,
    /// Pseudo-successes added to priors that are not a version's own record.
    pub optimism_bonus: f64,
    /// Recorded skills averaged for a neighbour prior.
    pub neighbour_k: usize,
    /// Recorded skills less similar than this are not neighbours.
    pub neighbour_min_similarity: f32,
    /// Most pseudo-observations a neighbour prior is worth.
    pub neighbour_strength: f64,
    /// Outcomes (anywhere) after which a cached neighbour prior is redone.
    pub refresh_every: u64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            previous_version_discount: 0.5,
            optimism_bonus: 0.5,
            neighbour_k: 5,
            neighbour_min_similarity: 0.5,
            neighbour_strength: 4.0,
            refresh_every: 32,
        }
    }
}

/// A Beta posterior and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub alpha: f64,
    pub beta: f64,
    /// Decayed count of the version's own outcomes.
    pub n: f64,
    pub prior: QualityPrior,
}

impl Estimate {
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// One Thompson sample of the success rate.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> f64 {
        match Beta::new(self.alpha, self.beta) {
            Ok(d) => d.sample(rng),
            Err(_) => self.mean(),
        }
    }
}

/// Computes [`Estimate`]s from the feedback statistics and the catalog.
#[derive(Debug)]
pub struct QualityModel {
    stats: Arc<FeedbackStats>,
    catalog: Arc<Catalog>,
    config: QualityConfig,
    /// key → (epoch computed at, neighbour prior as (mean, strength)).
    neighbour_priors: DashMap<StatsKey, (u64, Option<(f64, f64)>)>,
    /// Primary vectors of skills, by key (immutable once published).
    vectors: DashMap<StatsKey, Option<Arc<[f32]>>>,
}

impl QualityModel {
    pub fn new(stats: Arc<FeedbackStats>, catalog: Arc<Catalog>, config: QualityConfig) -> Self {
        QualityModel {
            stats,
            catalog,
            config,
            neighbour_priors: DashMap::new(),
            vectors: DashMap::new(),
        }
    }

    pub fn stats(&self) -> &Arc<FeedbackStats> {
        &self.stats
    }

    /// The posterior of `card`'s `version`'s `skill`, and its own record.
    pub fn estimate(
        &self,
        card: &AgentCard,
        version: &VersionCard,
        skill: &str,
    ) -> (Estimate, Option<Record>) {
        let key = StatsKey {
            agent: card.name.clone(),
            version: version.version.to_string(),
            skill: skill.to_owned(),
        };
        let own = self.stats.get(&key);
        let estimate = match &own {
            Some(r) => Estimate {
                alpha: r.prior_alpha + r.successes,
                beta: r.prior_beta + r.failures,
                n: r.n,
                prior: QualityPrior::Observed,
            },
            None => {
                let (alpha, beta, prior) = self.prior(card, version, &key);
                Estimate {
                    alpha,
                    beta,
                    n: 0.0,
                    prior,
                }
            }
        };
        (estimate, own)
    }

    /// The cold-start prior of `key` as `(alpha, beta, kind)`; frozen into
    /// its record at its first outcome.
    pub fn prior(&self, card: &AgentCard, version: &VersionCard, key: &StatsKey) -> (f64, f64, QualityPrior) {
        let earlier = card
            .versions
            .iter()
            .rev()
            .filter(|v| v.version < version.version)
            .find_map(|v| {
                self.stats.get(&StatsKey {
                    agent: card.name.clone(),
                    version: v.version.to_string(),
                    skill: key.skill.clone(),
                })
            });
        if let Some(r) = earlier {
            // The earlier version's whole posterior (its own prior included)
            // carries over, its evidence discounted.
            let d = self.config.previous_version_discount;
            return (
                1.0 + d * (r.prior_alpha - 1.0 + r.successes),
                1.0 + d * (r.prior_beta - 1.0 + r.failures),
                QualityPrior::PreviousVersion,
            );
        }
        let bonus = self.config.optimism_bonus;
        if let Some((mean, strength)) = self.neighbour_prior(key) {
            return (
                1.0 + strength * mean + bonus,
                1.0 + strength * (1.0 - mean),
                QualityPrior::Neighbours,
            );
        }
        (1.0 + bonus, 1.0, QualityPrior::Uninformed)
    }

    /// Similarity-weighted mean success of the nearest recorded skills of
    /// other agents, and the pseudo-count it is worth.
    fn neighbour_prior(&self, key: &StatsKey) -> Option<(f64, f64)> {
        // Nothing to borrow from: skip the cache, which would otherwise fill
        // with an entry per skill ever routed to.
        if self.stats.is_empty() {
            return None;
        }
        let epoch = self.stats.epoch();
        if let Some(cached) = self.neighbour_priors.get(key)
            && epoch.saturating_sub(cached.0) < self.config.refresh_every
        {
            return cached.1;
        }
        let computed = self.compute_neighbour_prior(key);
        self.neighbour_priors.insert(key.clone(), (epoch, computed));
        computed
    }

    fn compute_neighbour_prior(&self, key: &StatsKey) -> Option<(f64, f64)> {
        let mine = self.primary_vector(key)?;
        let mut near: Vec<(f32, f64)> = Vec::new();
        for other in self.stats.keys() {
            if other.agent == key.agent {
                continue;
            }
            let Some(r) = self.stats.get(&other) else { continue };
            if r.n <= 0.0 {
                continue;
            }
            let Some(v) = self.primary_vector(&other) else {
                continue;
            };
            let sim = dot(&mine, &v);
            if sim >= self.config.neighbour_min_similarity {
                let (a, b) = (r.prior_alpha + r.successes, r.prior_beta + r.failures);
                near.push((sim, a / (a + b)));
            }
        }
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        near.truncate(self.config.neighbour_k);
        let weight: f64 = near.iter().map(|(s, _)| f64::from(*s)).sum();
        if weight <= 0.0 {
            return None;
        }
        let mean = near.iter().map(|(s, m)| f64::from(*s) * m).sum::<f64>() / weight;
        Some((mean, weight.min(self.config.neighbour_strength)))
    }

    fn primary_vector(&self, key: &StatsKey) -> Option<Arc<[f32]>> {
        if let Some(v) = self.vectors.get(key) {
            return v.clone();
        }
        let found = self
            .catalog
            .store()
            .version_vectors(&key.agent, &key.version)
            .ok()
            .flatten()
            .and_then(|vv: VersionVectors| {
                vv.vectors
                    .into_iter()
                    .filter(|v| v.skill == key.skill)
                    .min_by_key(|v| v.vector)
                    .map(|v| Arc::<[f32]>::from(v.values))
            });
        self.vectors.insert(key.clone(), found.clone());
        found
    }
}
