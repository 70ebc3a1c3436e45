//! The arms of one design: every pattern the task allows, bound to the
//! router's candidates.
//!
//! An arm is a pattern plus the agents of its main slots, each enumerated
//! over the top candidates of its role (other slots take the top one), so a
//! query has at most `2k² + 3k + 1` arms for `k` candidates per role (28
//! for k = 3): small enough to value every arm on every design, and each
//! arm names exactly what the policy learns about ("this generator with
//! this repairer").

use switchyard_schemas::design::Pattern;
use switchyard_schemas::route::RouteCandidate;

use super::RoleCandidates;
use super::cost;
use super::patterns::{self, Binding, Calls, ENSEMBLE_N, Step};

/// One arm, instantiated.
#[derive(Debug, Clone)]
pub struct Arm<'a> {
    pub pattern: Pattern,
    /// The pattern and its main agents' pins, e.g. `single(acme/a@=1.0.0)`.
    pub key: String,
    /// Output last.
    pub steps: Vec<Step<'a>>,
    /// Per step.
    pub costs: Vec<f64>,
    pub expected_cost: f64,
    /// What the router has learned of the agents whose answers the arm
    /// starts from: the policy's prior for an arm with little record.
    pub agent_prior: AgentPrior,
}

/// The router's quality estimate of an arm's first answering agent(s): mean
/// success and observations behind it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AgentPrior {
    pub mean: f64,
    pub n: f64,
}

impl AgentPrior {
    /// The first step that calls agents decides: one agent's estimate, or
    /// the mean over an ensemble with the least evidence among them.
    fn of(steps: &[Step<'_>]) -> AgentPrior {
        let first = steps.iter().find_map(|s| match s.calls {
            Calls::One(a) | Calls::Rounds { agent: a, .. } => Some(std::slice::from_ref(a)),
            Calls::Each(all) if !all.is_empty() => Some(all),
            _ => None,
        });
        first.map_or_else(AgentPrior::default, |agents| AgentPrior {
            mean: agents.iter().map(|a| a.quality.mean).sum::<f64>() / agents.len() as f64,
            n: agents.iter().map(|a| a.quality.n).fold(f64::INFINITY, f64::min),
        })
    }
}

/// The single-agent arms' generators: the router's top `top_k`, then the
/// `explore` candidates ranked below them with the highest upper confidence
/// bound on their quality (`mean + 1/√(n + 1)`).
///
/// The router ranks by fit, cost and quality together, so a generator that
/// is a little less similar to the role text but much better at it can sit
/// below the top `k` for good, and then no arm would ever try it. Single
/// arms cost one call, so they are where new generators are tried; an
/// untried one has the widest bound, a tried one keeps its place only while
/// its record is good.
fn single_pool(all: &[RouteCandidate], top_k: usize, explore: usize) -> Vec<&RouteCandidate> {
    let top = top_k.min(all.len());
    let mut pool: Vec<&RouteCandidate> = all[..top].iter().collect();
    let mut rest: Vec<&RouteCandidate> = all[top..].iter().collect();
    let bound = |c: &RouteCandidate| c.quality.mean + 1.0 / (c.quality.n.max(0.0) + 1.0).sqrt();
    rest.sort_by(|a, b| bound(b).total_cmp(&bound(a)));
    pool.extend(rest.into_iter().take(explore));
    pool
}

/// Every arm for the candidates, patterns in library order, main agents in
/// the router's order (single arms add [`single_pool`]'s explorers).
/// Patterns missing an agent for a role (or, when `tests` is false, testing
/// patterns) have no arm.
pub fn enumerate(candidates: &RoleCandidates, tests: bool, top_k: usize, explore: usize) -> Vec<Arm<'_>> {
    let mut arms = Vec::new();
    for pattern in Pattern::ALL {
        if patterns::needs_tests(pattern) && !tests {
            continue;
        }
        let mut base = Binding::default();
        if patterns::has_ensemble(pattern) {
            let generators = candidates.get(patterns::Role::Generate);
            if generators.len() < ENSEMBLE_N {
                continue;
            }
            base.ensemble(generators);
        }
        let slots = patterns::slots(pattern);
        let choices: Vec<Vec<&RouteCandidate>> = slots
            .iter()
            .map(|slot| {
                let all = candidates.get(slot.role);
                if pattern == Pattern::Single && slot.main {
                    single_pool(all, top_k.max(1), explore)
                } else {
                    all.iter()
                        .take(if slot.main { top_k.max(1) } else { 1 })
                        .collect()
                }
            })
            .collect();
        if choices.iter().any(|c| c.is_empty()) {
            continue;
        }
        // An odometer over the slots' choices (secondary slots have one).
        let mut picks = vec![0usize; slots.len()];
        loop {
            let mut binding = base;
            let mut mains = Vec::new();
            for ((slot, choice), &i) in slots.iter().zip(&choices).zip(&picks) {
                binding.pin(slot.role, choice[i]);
                if slot.main {
                    mains.push(patterns::pin(choice[i]));
                }
            }
            if let Some(steps) = patterns::steps(pattern, &binding) {
                let costs: Vec<f64> = steps.iter().map(|s| cost::expected(&s.calls)).collect();
                let key = if mains.is_empty() {
                    pattern.as_str().to_string()
                } else {
                    format!("{}({})", pattern.as_str(), mains.join(", "))
                };
                arms.push(Arm {
                    pattern,
                    key,
                    expected_cost: costs.iter().sum(),
                    agent_prior: AgentPrior::of(&steps),
                    steps,
                    costs,
                });
            }
            let Some(slot) = (0..picks.len()).rev().find(|&s| picks[s] + 1 < choices[s].len()) else {
                break;
            };
            picks[slot] += 1;
            picks[slot + 1..].iter_mut().for_each(|p| *p = 0);
        }
    }
    arms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::designer::testing::fleet;

    #[test]
    fn arms_enumerate_main_slots_over_the_top_candidates() {
        let candidates = fleet();
        let arms = enumerate(&candidates, true, 3, 0);
        let count = |p: Pattern| arms.iter().filter(|a| a.pattern == p).count();
        assert_eq!(count(Pattern::Single), 3);
        assert_eq!(count(Pattern::VoteOf3), 1);
        // The fleet has two repairers.
        assert_eq!(count(Pattern::GenerateTestRevise), 6);
        assert_eq!(count(Pattern::GenerateReviewRevise), 6);
        assert_eq!(count(Pattern::EnsembleJudge), 1);
        assert_eq!(count(Pattern::PlanSolveVerify), 3);
        let keys: std::collections::HashSet<&str> = arms.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys.len(), arms.len(), "arm keys are unique");
        assert_eq!(arms[0].key, "single(acme/gen-a@=1.0.0)");
        assert!(
            arms.iter()
                .any(|a| a.key == "generate-test-revise(acme/gen-b@=1.0.0, acme/fix-b@=1.0.0)")
        );
    }

    #[test]
    fn single_arms_add_explorers_by_upper_bound_below_the_top_k() {
        let mut candidates = fleet();
        // Below the top 2: gen-c tried often and poor, gen-d never tried,
        // gen-e tried a little and good.
        candidates.generate[2].quality.n = 40.0;
        candidates.generate[2].quality.mean = 0.3;
        let mut e = candidates.generate[3].clone();
        e.agent = "acme/gen-e".into();
        e.quality.n = 3.0;
        e.quality.mean = 0.9;
        candidates.generate.push(e);
        let arms = enumerate(&candidates, true, 2, 2);
        let singles: Vec<&str> = arms
            .iter()
            .filter(|a| a.pattern == Pattern::Single)
            .map(|a| a.key.as_str())
            .collect();
        assert_eq!(
            singles,
            [
                "single(acme/gen-a@=1.0.0)",
                "single(acme/gen-b@=1.0.0)",
                "single(acme/gen-d@=1.0.0)",
                "single(acme/gen-e@=1.0.0)",
            ]
        );
        // Other patterns keep to the top k.
        assert!(
            arms.iter()
                .filter(|a| a.pattern != Pattern::Single)
                .all(|a| !a.key.contains("gen-d") && !a.key.contains("gen-e") && !a.key.contains("gen-c"))
        );
    }

    #[test]
    fn patterns_without_tests_or_agents_have_no_arms() {
        let mut candidates = fleet();
        let arms = enumerate(&candidates, false, 2, 0);
        assert!(arms.iter().all(|a| !patterns::needs_tests(a.pattern)));
        candidates.judge.clear();
        candidates.generate.truncate(2);
        let arms = enumerate(&candidates, true, 2, 0);
        assert!(
            arms.iter()
                .all(|a| !patterns::has_ensemble(a.pattern) && a.pattern != Pattern::EnsembleJudge)
        );
        assert_eq!(arms.iter().filter(|a| a.pattern == Pattern::Single).count(), 2);
    }

    #[test]
    fn expected_costs_follow_the_calls() {
        let candidates = fleet();
        let arms = enumerate(&candidates, true, 3, 0);
        let vote = arms.iter().find(|a| a.pattern == Pattern::VoteOf3).unwrap();
        let top3: f64 = candidates.generate[..3].iter().map(|c| c.cost_usd).sum();
        assert!((vote.expected_cost - top3).abs() < 1e-12);
        for arm in &arms {
            assert!((arm.costs.iter().sum::<f64>() - arm.expected_cost).abs() < 1e-12);
        }
    }
}
