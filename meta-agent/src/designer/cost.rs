//! Expected cost of a step and the split of a budget over a workflow's
//! steps.
//!
//! A step's expected cost is what its agent calls are expected to charge,
//! at the per-call cost the router ranked the agent with (observed when
//! enough feedback was seen, declared otherwise). A budget is split in
//! proportion to expected cost, so every step gets at least what it is
//! expected to spend when the workflow fits, and any slack goes where money
//! is spent.

use super::patterns::{Calls, failure};

/// Expected cost of a step's calls, in US dollars.
pub fn expected(calls: &Calls<'_>) -> f64 {
    match *calls {
        Calls::None => 0.0,
        Calls::One(agent) => agent.cost_usd,
        Calls::Each(agents) => agents.iter().map(|a| a.cost_usd).sum(),
        Calls::Rounds {
            agent,
            max_rounds,
            need,
        } => {
            // Round i runs when the answer failed and each repair before it
            // failed too.
            let still_failing = failure(agent);
            let mut chance = need;
            let mut rounds = 0.0;
            for _ in 0..max_rounds {
                rounds += chance;
                chance *= still_failing;
            }
            agent.cost_usd * rounds
        }
    }
}

/// Each step's share of `budget_usd`: proportional to `costs` for the steps
/// that call agents (`calls_agent`), `None` for the others, which spend
/// nothing. When no agent is expected to charge anything, the agent steps
/// share equally. The shares add up to `budget_usd` up to rounding.
pub fn split(budget_usd: f64, costs: &[f64], calls_agent: &[bool]) -> Vec<Option<f64>> {
    let total: f64 = costs.iter().sum();
    let agents = calls_agent.iter().filter(|&&a| a).count().max(1) as f64;
    costs
        .iter()
        .zip(calls_agent)
        .map(|(&cost, &agent)| {
            agent.then(|| {
                if total > 0.0 {
                    budget_usd * (cost / total)
                } else {
                    budget_usd / agents
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::designer::testing::candidate;

    #[test]
    fn rounds_are_weighted_by_the_chance_they_are_needed() {
        let generator = candidate("acme/gen", 0.01, 0.6);
        let repairer = candidate("acme/fix", 0.1, 0.5);
        let calls = Calls::Rounds {
            agent: &repairer,
            max_rounds: 2,
            need: failure(&generator),
        };
        // 0.4 to need the first round, 0.4 · 0.5 the second.
        assert!((expected(&calls) - 0.1 * (0.4 + 0.2)).abs() < 1e-12);
        let all = [generator.clone(), repairer.clone()];
        assert!((expected(&Calls::Each(&all)) - 0.11).abs() < 1e-12);
        assert_eq!(expected(&Calls::None), 0.0);
    }

    #[test]
    fn the_split_is_proportional_and_adds_up() {
        let shares = split(1.0, &[0.1, 0.0, 0.3], &[true, false, true]);
        assert_eq!(shares[1], None);
        assert!((shares[0].unwrap() - 0.25).abs() < 1e-12);
        assert!((shares[2].unwrap() - 0.75).abs() < 1e-12);
        let free = split(0.5, &[0.0, 0.0, 0.0], &[true, false, true]);
        assert_eq!(free, [Some(0.25), None, Some(0.25)]);
    }
}
