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
//! The nearest recorded skills are found through [`crate::neighbours`], which
//! compares each recorded skill with each estimated one about once, within
//! a per-route budget (beyond it, in the background: until then the skill
//! is estimated without neighbours); the neighbours' success rates are read
//! live.

use std::sync::Arc;

use rand_distr::{Beta, Distribution};
use switchyard_registry::catalog::{AgentCard, VersionCard};
use switchyard_registry::{Catalog, VersionVectors};
use switchyard_schemas::route::QualityPrior;

use crate::neighbours::{NearParams, Neighbours};
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
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            previous_version_discount: 0.5,
            optimism_bonus: 0.5,
            neighbour_k: 5,
            neighbour_min_similarity: 0.5,
            neighbour_strength: 4.0,
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
    config: QualityConfig,
    neighbours: Neighbours,
}

impl QualityModel {
    /// Blocking: reads the primary vector of every recorded skill from the
    /// store. Starts the neighbour lists' background thread.
    pub fn new(stats: Arc<FeedbackStats>, catalog: Arc<Catalog>, config: QualityConfig) -> Self {
        let params = NearParams {
            k: config.neighbour_k,
            min_similarity: config.neighbour_min_similarity,
        };
        let neighbours = Neighbours::new(params, Box::new(move |key| primary_vector(&catalog, key)));
        let mut keys = stats.keys();
        // Sorted, so rows come in the same order at every start.
        keys.sort();
        for key in &keys {
            neighbours.add(key);
        }
        if !keys.is_empty() {
            tracing::info!(
                records = keys.len(),
                with_vectors = neighbours.recorded(),
                "recorded skills indexed for neighbour priors"
            );
        }
        QualityModel {
            stats,
            config,
            neighbours,
        }
    }

    /// Makes `key`'s record available to its neighbours' priors; call once
    /// it has a record. Blocking (a store read) the first time per key.
    pub fn note_recorded(&self, key: &StatsKey) {
        self.neighbours.add(key);
    }

    /// Blocks until the neighbour lists handed to the background thread so
    /// far are built.
    pub fn settle(&self) {
        self.neighbours.wait_idle();
    }

    pub fn stats(&self) -> &Arc<FeedbackStats> {
        &self.stats
    }

    /// The posterior of `card`'s `version`'s `skill`, and its own record;
    /// a neighbour prior compares at most `budget` recorded skills (taken
    /// from it).
    pub fn estimate(
        &self,
        card: &AgentCard,
        version: &VersionCard,
        skill: &str,
        budget: &mut usize,
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
                let (alpha, beta, prior) = self.prior(card, version, &key, budget);
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
    /// its record at its first outcome. A neighbour prior compares at most
    /// `budget` recorded skills (`usize::MAX`: exact).
    pub fn prior(
        &self,
        card: &AgentCard,
        version: &VersionCard,
        key: &StatsKey,
        budget: &mut usize,
    ) -> (f64, f64, QualityPrior) {
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
        if let Some((mean, strength)) = self.neighbour_prior(key, budget) {
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
    fn neighbour_prior(&self, key: &StatsKey, budget: &mut usize) -> Option<(f64, f64)> {
        let near = self.neighbours.nearest(key, budget)?;
        let (mut weight, mut sum) = (0.0f64, 0.0f64);
        self.neighbours.for_each(&near, |sim, other| {
            if let Some((alpha, beta, n)) = self.stats.posterior(other)
                && n > 0.0
            {
                weight += f64::from(sim);
                sum += f64::from(sim) * alpha / (alpha + beta);
            }
        });
        (weight > 0.0).then(|| (sum / weight, weight.min(self.config.neighbour_strength)))
    }
}

/// A skill's first vector, from the store.
fn primary_vector(catalog: &Catalog, key: &StatsKey) -> Option<Vec<f32>> {
    catalog
        .store()
        .version_vectors(&key.agent, &key.version)
        .ok()
        .flatten()
        .and_then(|vv: VersionVectors| {
            vv.vectors
                .into_iter()
                .filter(|v| v.skill == key.skill)
                .min_by_key(|v| v.vector)
                .map(|v| v.values)
        })
}
