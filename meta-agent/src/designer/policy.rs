//! The contextual policy: Thompson sampling over Beta posteriors smoothed
//! by the nearest past queries.
//!
//! An arm's posterior over its score on queries like this one is
//!
//! ```text
//! α = 1 + g·m       + Σᵢ wᵢ·sᵢ
//! β = 1 + g·(1 − m) + Σᵢ wᵢ·(1 − sᵢ)
//! ```
//!
//! over the `k` recorded cases of that arm nearest the query (scores `sᵢ`
//! count as fractional successes), with weights `wᵢ = exp((cᵢ − 1)/h)` of
//! their cosine similarity `cᵢ`: a near-duplicate query counts almost fully,
//! a loosely related one a little, and one below the similarity floor not
//! at all, since many unrelated cases would otherwise add up to a verdict
//! about a kind of query they never saw. The global term is the arm's mean
//! score `m` over all its `n` cases at strength `g = G·n/(n + G)`: never
//! more than `G` observations, so an arm's record carries over to queries
//! with no near neighbours without drowning the neighbours of queries that
//! have them.
//!
//! Before its own record, an arm starts from what the router learned about
//! the agent(s) whose answer it builds on (`m₀`, the agents' quality mean,
//! at strength `s₀ = min(n₀, A)` for the `n₀` outcomes behind it):
//! `α += s₀·m₀`, `β += s₀·(1 − m₀)`. Arms share agents, so one outcome
//! informs every arm built on that agent; without this, dozens of arms each
//! at the uniform prior out-sample a well-known good arm on nearly every
//! design, and the policy explores forever. An arm whose agents are unknown
//! to the router keeps the uniform prior, so it gets tried.
//!
//! Arms of one pattern also share its record: the pattern's mean score `mₚ`
//! over all its cases, at strength `sₚ = min(nₚ, P)` for its `nₚ` cases,
//! joins every arm's prior (`α += sₚ·mₚ`, `β += sₚ·(1 − mₚ)`). Arms are
//! re-bound as the router's candidates move, so a pattern that keeps
//! failing (a review step that talks good answers out of being right, a
//! judge that picks badly) would otherwise be tried afresh with each new
//! binding, each at its agents' optimistic prior.
//!
//! The defaults (`k` = 128, `h` = 0.35, floor 0.3, `G` = 4) were tuned on the
//! two-cluster simulation of `tests/designer.rs`: a large `k` lets the
//! posterior of a good arm sharpen (with `k` = 32 the best arm was chosen
//! only two times in three), and the floor keeps the record of another
//! cluster's best arm from leaking in.
//!
//! The designer samples each posterior (or takes its mean when greedy) and
//! subtracts the expected cost and complexity, as the reward does.

use rand::Rng;
use rand_distr::{Beta, Distribution};
use switchyard_schemas::design::Pattern;

use super::DesignerConfig;
use super::arms::AgentPrior;
use super::patterns;
use super::similarity::Quantized;
use super::store::Memory;

/// An arm's Beta posterior and the evidence behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Posterior {
    pub alpha: f64,
    pub beta: f64,
    /// Observations beyond the prior.
    pub evidence: f64,
}

impl Posterior {
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// A Thompson sample.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        // Both parameters are at least the prior's 1, so this cannot fail;
        // the mean is the harmless answer if it ever did.
        Beta::new(self.alpha, self.beta).map_or_else(|_| self.mean(), |b| b.sample(rng))
    }
}

/// The posterior of each arm, `arm_ids[i]` being arm `i`'s interned key in
/// `memory` (`None`: never recorded), `agent_priors[i]` and `patterns[i]`
/// its agents' record and its pattern (missing ones add nothing). `query`
/// is unit length; cases whose vectors have another dimension count only
/// globally.
pub fn posteriors(
    memory: &Memory,
    query: &[f32],
    arm_ids: &[Option<u32>],
    agent_priors: &[AgentPrior],
    patterns: &[Pattern],
    config: &DesignerConfig,
) -> Vec<Posterior> {
    let mut slot_of = vec![None; memory.arm_count()];
    for (i, id) in arm_ids.iter().enumerate() {
        if let Some(id) = id {
            slot_of[*id as usize] = Some(i);
        }
    }
    let query = Quantized::new(query);
    let mut near: Vec<Vec<(f32, f64)>> = vec![Vec::new(); arm_ids.len()];
    let mut global = vec![(0.0f64, 0.0f64); arm_ids.len()];
    // (cases, score sum) per pattern, indexed by discriminant.
    let mut by_pattern = [(0.0f64, 0.0f64); Pattern::ALL.len()];
    for entry in memory.entries() {
        let record = &mut by_pattern[entry.pattern as usize];
        record.0 += 1.0;
        record.1 += entry.score;
        let Some(i) = slot_of.get(entry.arm as usize).copied().flatten() else {
            continue;
        };
        global[i].0 += 1.0;
        global[i].1 += entry.score;
        if entry.vector.dimension() == query.dimension() {
            let similarity = query.dot(&entry.vector);
            if f64::from(similarity) >= config.min_similarity {
                near[i].push((similarity, entry.score));
            }
        }
    }

    let k = config.neighbours.max(1);
    let h = config.bandwidth.max(1e-6);
    let strength = config.global_strength.max(0.0);
    let pattern_strength = config.pattern_prior_strength.max(0.0);
    near.iter_mut()
        .zip(global)
        .zip(
            agent_priors
                .iter()
                .copied()
                .chain(std::iter::repeat(AgentPrior::default())),
        )
        .zip(patterns.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(((near, (n, sum)), agent), pattern)| {
            if near.len() > k {
                near.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
                near.truncate(k);
            }
            let (mut successes, mut failures) = (0.0, 0.0);
            for &(similarity, score) in near.iter() {
                let w = ((f64::from(similarity) - 1.0) / h).exp();
                successes += w * score;
                failures += w * (1.0 - score);
            }
            if n > 0.0 {
                let g = strength * n / (n + strength);
                let m = sum / n;
                successes += g * m;
                failures += g * (1.0 - m);
            }
            let evidence = successes + failures;
            let s0 = agent.n.min(config.agent_prior_strength).max(0.0);
            if s0 > 0.0 && agent.mean.is_finite() {
                let m0 = agent.mean.clamp(0.0, 1.0);
                successes += s0 * m0;
                failures += s0 * (1.0 - m0);
            }
            if let Some(&pattern) = pattern {
                let (np, sum) = by_pattern[pattern as usize];
                let sp = np.min(pattern_strength);
                if sp > 0.0 {
                    successes += sp * sum / np;
                    failures += sp * (1.0 - sum / np);
                }
            }
            Posterior {
                alpha: 1.0 + successes,
                beta: 1.0 + failures,
                evidence,
            }
        })
        .collect()
}

/// Whether tested tasks like `query` (unit length) have taught the policy:
/// at least `enough` cases of tasks with tests among the cases near it (at
/// or above the similarity floor) when at least `enough` cases of any kind
/// are near it; otherwise, as the posteriors then rest on the arms' global
/// records, at least `enough` in the whole memory.
pub fn taught_by_tests(memory: &Memory, query: &[f32], config: &DesignerConfig, enough: usize) -> bool {
    let query = Quantized::new(query);
    let (mut near, mut near_tested, mut tested) = (0usize, 0usize, 0usize);
    for e in memory.entries() {
        let with_tests = usize::from(e.tested || patterns::needs_tests(e.pattern));
        tested += with_tests;
        if e.vector.dimension() == query.dimension()
            && f64::from(query.dot(&e.vector)) >= config.min_similarity
        {
            near += 1;
            near_tested += with_tests;
        }
    }
    if near >= enough {
        near_tested >= enough
    } else {
        tested >= enough
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::designer::store::CaseStore;
    use crate::designer::testing::case_at;

    fn config() -> DesignerConfig {
        DesignerConfig {
            neighbours: 2,
            bandwidth: 0.25,
            global_strength: 4.0,
            agent_prior_strength: 4.0,
            pattern_prior_strength: 4.0,
            ..DesignerConfig::default()
        }
    }

    #[test]
    fn an_unrecorded_arm_keeps_the_uniform_prior() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path(), 10).unwrap();
        let p = posteriors(&store.read(), &[1.0, 0.0], &[None], &[], &[], &config());
        assert_eq!(
            p,
            [Posterior {
                alpha: 1.0,
                beta: 1.0,
                evidence: 0.0
            }]
        );
    }

    #[test]
    fn an_unrecorded_arm_starts_from_its_agents_record_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path(), 10).unwrap();
        let known = AgentPrior { mean: 0.9, n: 50.0 };
        let fresh = AgentPrior { mean: 0.5, n: 0.0 };
        let p = posteriors(
            &store.read(),
            &[1.0, 0.0],
            &[None, None],
            &[known, fresh],
            &[],
            &config(),
        );
        // At most A = 4 observations, at the agent's mean; no evidence of
        // the arm's own.
        assert!((p[0].alpha - (1.0 + 4.0 * 0.9)).abs() < 1e-9, "{:?}", p[0]);
        assert!((p[0].beta - (1.0 + 4.0 * 0.1)).abs() < 1e-9, "{:?}", p[0]);
        assert_eq!(p[0].evidence, 0.0);
        assert_eq!((p[1].alpha, p[1].beta), (1.0, 1.0));
    }

    #[test]
    fn a_new_arm_starts_from_its_patterns_record_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path(), 20).unwrap();
        // Six cases of review arms, one success; two cascade successes.
        for score in [1.0, 0.0, 0.0, 0.0, 0.0, 0.0] {
            let mut c = case_at("generate-review-revise(a, r)", &[1.0, 0.0], score);
            c.pattern = Pattern::GenerateReviewRevise;
            store.record(&c).unwrap();
        }
        for _ in 0..2 {
            let mut c = case_at("generate-test-escalate(a, b)", &[1.0, 0.0], 1.0);
            c.pattern = Pattern::GenerateTestEscalate;
            store.record(&c).unwrap();
        }
        let agents = AgentPrior { mean: 0.8, n: 10.0 };
        let p = posteriors(
            &store.read(),
            &[0.0, 1.0],
            &[None, None, None],
            &[agents; 3],
            &[
                Pattern::GenerateReviewRevise,
                Pattern::GenerateTestEscalate,
                Pattern::Single,
            ],
            &config(),
        );
        // Agents: 4 observations at 0.8. Review: min(6, P = 4) at 1/6;
        // cascade: 2 at 1; single: no record, nothing added.
        assert!((p[0].alpha - (1.0 + 3.2 + 4.0 / 6.0)).abs() < 1e-9, "{:?}", p[0]);
        assert!(
            (p[0].beta - (1.0 + 0.8 + 4.0 * 5.0 / 6.0)).abs() < 1e-9,
            "{:?}",
            p[0]
        );
        assert!((p[1].alpha - (1.0 + 3.2 + 2.0)).abs() < 1e-9, "{:?}", p[1]);
        assert!((p[1].beta - (1.0 + 0.8)).abs() < 1e-9, "{:?}", p[1]);
        assert!((p[2].alpha - (1.0 + 3.2)).abs() < 1e-9, "{:?}", p[2]);
        assert!(p[0].mean() < p[2].mean() && p[2].mean() < p[1].mean());
        // A prior, not evidence of the arm's own.
        assert!(p.iter().all(|q| q.evidence == 0.0));
    }

    #[test]
    fn near_cases_weigh_fully_far_ones_hardly_and_only_the_k_nearest_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path(), 10).unwrap();
        // Two successes right at the query, one failure orthogonal to it,
        // and a third success just as close (beyond k = 2).
        store.record(&case_at("a", &[1.0, 0.0], 1.0)).unwrap();
        store.record(&case_at("a", &[1.0, 0.0], 1.0)).unwrap();
        store.record(&case_at("a", &[0.0, 1.0], 0.0)).unwrap();
        store.record(&case_at("a", &[1.0, 0.0], 1.0)).unwrap();
        let memory = store.read();
        let id = memory.arm_id("a");
        let [p] = posteriors(&memory, &[1.0, 0.0], &[id], &[], &[], &config())[..] else {
            panic!("one arm")
        };
        // Local: the 2 nearest (both successes, w = 1). Global: m = 3/4 at
        // g = 4·4/8 = 2.
        assert!((p.alpha - (1.0 + 2.0 + 1.5)).abs() < 1e-9, "{p:?}");
        assert!((p.beta - (1.0 + 0.5)).abs() < 1e-9, "{p:?}");
        assert!((p.evidence - 4.0).abs() < 1e-9);
        // From the orthogonal side the successes are far (w = e⁻⁴).
        let q = posteriors(&memory, &[0.0, 1.0], &[id], &[], &[], &config())[0];
        assert!(q.mean() < p.mean());
    }

    #[test]
    fn greedy_is_the_mean_and_samples_scatter_around_it() {
        let p = Posterior {
            alpha: 30.0,
            beta: 10.0,
            evidence: 38.0,
        };
        let mut rng = StdRng::seed_from_u64(1);
        let draws: Vec<f64> = (0..2000).map(|_| p.draw(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - p.mean()).abs() < 0.01, "{mean}");
        assert!(draws.iter().any(|&d| d > 0.8) && draws.iter().any(|&d| d < 0.7));
    }
}
