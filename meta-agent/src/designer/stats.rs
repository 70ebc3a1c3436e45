//! The designer's statistics (`GET /v1/designer/stats`): recorded outcomes
//! per pattern and per arm.
//!
//! Rewards are recomputed from each case's score, cost and size with the
//! current λ and μ, so changing them changes the statistics and the policy
//! alike, never the record.

use std::collections::BTreeMap;

use switchyard_schemas::design::{ArmStats, DesignerStats, Pattern, PatternStats};

use super::DesignerConfig;
use super::store::Memory;

#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    cases: usize,
    reward: f64,
    score: f64,
    cost: f64,
}

impl Sums {
    fn add(&mut self, reward: f64, score: f64, cost: f64) {
        self.cases += 1;
        self.reward += reward;
        self.score += score;
        self.cost += cost;
    }

    /// Means of reward, score and cost.
    fn means(&self) -> (f64, f64, f64) {
        let n = self.cases.max(1) as f64;
        (self.reward / n, self.score / n, self.cost / n)
    }
}

pub fn compute(memory: &Memory, config: &DesignerConfig, capacity: usize) -> DesignerStats {
    let mut patterns: BTreeMap<Pattern, Sums> = BTreeMap::new();
    let mut arms: BTreeMap<&str, (Pattern, Sums)> = BTreeMap::new();
    for e in memory.entries() {
        let reward = config.reward(e.score, e.cost_usd, e.nodes as usize);
        patterns
            .entry(e.pattern)
            .or_default()
            .add(reward, e.score, e.cost_usd);
        arms.entry(memory.arm_key(e.arm))
            .or_insert((e.pattern, Sums::default()))
            .1
            .add(reward, e.score, e.cost_usd);
    }
    let patterns = patterns
        .into_iter()
        .map(|(pattern, sums)| {
            let (mean_reward, mean_score, mean_cost_usd) = sums.means();
            PatternStats {
                pattern,
                cases: sums.cases,
                mean_reward,
                mean_score,
                mean_cost_usd,
            }
        })
        .collect();
    let mut arms: Vec<ArmStats> = arms
        .into_iter()
        .map(|(arm, (pattern, sums))| {
            let (mean_reward, mean_score, mean_cost_usd) = sums.means();
            ArmStats {
                arm: arm.to_string(),
                pattern,
                cases: sums.cases,
                mean_reward,
                mean_score,
                mean_cost_usd,
            }
        })
        .collect();
    // Stable: equal counts stay in key order.
    arms.sort_by_key(|a| std::cmp::Reverse(a.cases));
    DesignerStats {
        cases: memory.len(),
        capacity,
        lambda_per_usd: config.lambda_per_usd,
        mu_per_node: config.mu_per_node,
        patterns,
        arms,
    }
}
