//! The arms of one design: every pattern the task allows, bound to the
//! router's candidates.
//!
//! An arm is a pattern plus the agents of its main slots, each enumerated
//! over the top candidates of its role (other slots take the top one), so a
//! query has at most `2k² + 3k + 1` arms for `k` candidates per role (28
//! for k = 3), plus two per explorer generator (a single arm and a cascade):
//! small enough to value every arm on every design, and each arm names
//! exactly what the policy learns about ("this generator with this
//! repairer").

use switchyard_schemas::design::Pattern;
use switchyard_schemas::route::RouteCandidate;

use super::RoleCandidates;
use super::cost;
use switchyard_schemas::workflow::Op;

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
    /// the mean over an ensemble with the least evidence among them. A
    /// later loop asking another agent for a fresh answer (an escalation)
    /// adds that agent's chance to succeed where the first failed, as if
    /// the tests caught every failure: optimistic, and corrected by the
    /// arm's own record.
    fn of(steps: &[Step<'_>]) -> AgentPrior {
        let first = steps.iter().find_map(|s| match s.calls {
            Calls::One(a) | Calls::Rounds { agent: a, .. } => Some(std::slice::from_ref(a)),
            Calls::Each(all) if !all.is_empty() => Some(all),
            _ => None,
        });
        let mut prior = first.map_or_else(AgentPrior::default, |agents| AgentPrior {
            mean: agents.iter().map(|a| a.quality.mean).sum::<f64>() / agents.len() as f64,
            n: agents.iter().map(|a| a.quality.n).fold(f64::INFINITY, f64::min),
        });
        for step in steps {
            if let (Calls::Rounds { agent, .. }, Some(Op::Generate)) = (step.calls, step.params.body) {
                prior.mean += (1.0 - prior.mean) * agent.quality.mean;
                prior.n = prior.n.min(agent.quality.n);
            }
        }
        prior
    }
}

/// An arm's key: the pattern and its main agents' pins, e.g.
/// `single(acme/a@=1.0.0)`.
pub fn key(pattern: Pattern, mains: &[String]) -> String {
    if mains.is_empty() {
        pattern.as_str().to_string()
    } else {
        format!("{}({})", pattern.as_str(), mains.join(", "))
    }
}

/// The generator a cascade escalates to after `first`: of the pool's
/// others, the one with the best expected gain when asked, its quality
/// estimate less `lambda` times its cost (the reward's price of a dollar).
fn escalation<'a>(
    pool: &[&'a RouteCandidate],
    first: &RouteCandidate,
    lambda: f64,
) -> Option<&'a RouteCandidate> {
    let gain = |c: &RouteCandidate| c.quality.mean - lambda * c.cost_usd;
    pool.iter()
        .copied()
        .filter(|c| !(c.agent == first.agent && c.version == first.version))
        // `max_by` keeps the last of equals; the router's order breaks ties.
        .rev()
        .max_by(|a, b| gain(a).total_cmp(&gain(b)))
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
/// the router's order (single and cascade arms draw their first generator
/// from [`single_pool`], explorers included; a cascade escalates to the
/// pool's best other generator by [`escalation`], priced at `lambda` per
/// dollar). Patterns missing an agent for a role (or, when `tests` is
/// false, testing patterns) have no arm.
pub fn enumerate(
    candidates: &RoleCandidates,
    tests: bool,
    top_k: usize,
    explore: usize,
    lambda: f64,
) -> Vec<Arm<'_>> {
    let generators = candidates.get(patterns::Role::Generate);
    let pool = single_pool(generators, top_k.max(1), explore);
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
                if patterns::generator_pool(pattern) && slot.main {
                    pool.clone()
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
                if pattern == Pattern::GenerateTestEscalate
                    && let Some(second) = escalation(&pool, choice[i], lambda)
                {
                    binding.escalate_to(second);
                    mains.push(patterns::pin(second));
                }
            }
            if let Some(steps) = patterns::steps(pattern, &binding) {
                let costs: Vec<f64> = steps.iter().map(|s| cost::expected(&s.calls)).collect();
                let key = key(pattern, &mains);
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
        let arms = enumerate(&candidates, true, 3, 0, 3.0);
        let count = |p: Pattern| arms.iter().filter(|a| a.pattern == p).count();
        assert_eq!(count(Pattern::Single), 3);
        assert_eq!(count(Pattern::VoteOf3), 1);
        // The fleet has two repairers.
        assert_eq!(count(Pattern::GenerateTestRevise), 6);
        assert_eq!(count(Pattern::GenerateReviewRevise), 6);
        assert_eq!(count(Pattern::EnsembleJudge), 1);
        assert_eq!(count(Pattern::PlanSolveVerify), 3);
        assert_eq!(count(Pattern::GenerateTestEscalate), 3);
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
        let arms = enumerate(&candidates, true, 2, 2, 3.0);
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
        // Cascades start from the same pool; other patterns keep to the top k.
        let cascades = arms
            .iter()
            .filter(|a| a.pattern == Pattern::GenerateTestEscalate)
            .count();
        assert_eq!(cascades, singles.len());
        assert!(
            arms.iter()
                .filter(|a| !patterns::generator_pool(a.pattern))
                .all(|a| !a.key.contains("gen-d") && !a.key.contains("gen-e") && !a.key.contains("gen-c"))
        );
    }

    #[test]
    fn cascades_escalate_to_the_best_other_generator_net_of_cost() {
        let candidates = fleet();
        let keys = |lambda: f64| -> Vec<String> {
            enumerate(&candidates, true, 3, 0, lambda)
                .into_iter()
                .filter(|a| a.pattern == Pattern::GenerateTestEscalate)
                .map(|a| a.key)
                .collect()
        };
        // Gains at λ = 3: gen-a 0.694, gen-b 0.77, gen-c 0.76.
        assert_eq!(
            keys(3.0),
            [
                "generate-test-escalate(acme/gen-a@=1.0.0, acme/gen-b@=1.0.0)",
                "generate-test-escalate(acme/gen-b@=1.0.0, acme/gen-c@=1.0.0)",
                "generate-test-escalate(acme/gen-c@=1.0.0, acme/gen-b@=1.0.0)",
            ]
        );
        // At λ = 10 gen-c's price outweighs its quality.
        assert_eq!(
            keys(10.0)[1],
            "generate-test-escalate(acme/gen-b@=1.0.0, acme/gen-a@=1.0.0)"
        );
        let arms = enumerate(&candidates, true, 3, 0, 3.0);
        let cascade = arms
            .iter()
            .find(|a| a.pattern == Pattern::GenerateTestEscalate)
            .unwrap();
        // gen-a answers (0.7); gen-b is asked only when that fails (0.3).
        assert!((cascade.agent_prior.mean - (0.7 + 0.3 * 0.8)).abs() < 1e-12);
        assert!((cascade.expected_cost - (0.002 + 0.3 * 0.01)).abs() < 1e-12);
        let loop_step = &cascade.steps[1];
        assert_eq!(loop_step.op, Op::Loop);
        assert_eq!(loop_step.params.body, Some(Op::Generate));
        assert_eq!(loop_step.calls.pinned().unwrap().agent, "acme/gen-b");
    }

    #[test]
    fn patterns_without_tests_or_agents_have_no_arms() {
        let mut candidates = fleet();
        let arms = enumerate(&candidates, false, 2, 0, 3.0);
        assert!(arms.iter().all(|a| !patterns::needs_tests(a.pattern)));
        candidates.judge.clear();
        candidates.generate.truncate(2);
        let arms = enumerate(&candidates, true, 2, 0, 3.0);
        assert!(
            arms.iter()
                .all(|a| !patterns::has_ensemble(a.pattern) && a.pattern != Pattern::EnsembleJudge)
        );
        assert_eq!(arms.iter().filter(|a| a.pattern == Pattern::Single).count(), 2);
    }

    #[test]
    fn expected_costs_follow_the_calls() {
        let candidates = fleet();
        let arms = enumerate(&candidates, true, 3, 0, 3.0);
        let vote = arms.iter().find(|a| a.pattern == Pattern::VoteOf3).unwrap();
        let top3: f64 = candidates.generate[..3].iter().map(|c| c.cost_usd).sum();
        assert!((vote.expected_cost - top3).abs() < 1e-12);
        for arm in &arms {
            assert!((arm.costs.iter().sum::<f64>() - arm.expected_cost).abs() < 1e-12);
        }
    }
}
