//! Circuit breakers, one per agent, shared by every run of an executor.
//!
//! An agent that keeps failing should stop receiving calls for a while, both
//! to save the budget and time of the runs that would call it and to let it
//! recover. After [`BreakerConfig::failure_threshold`] consecutive failed
//! attempts the breaker opens: the agent is not called and is excluded from
//! routing, so steps are bound to other agents. After
//! [`BreakerConfig::cool_down`] it is half-open: one call is let through as a
//! probe; success closes the breaker, failure opens it again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// When breakers open and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open a breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting a probe through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The state of one agent's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` consecutive ones failed.
    Closed { failures: u32 },
    /// Calls are refused until `until`.
    Open { until: Instant },
    /// One probe call may go through (`probing`: it is in flight).
    HalfOpen { probing: bool },
}

/// The breakers of every agent called so far.
#[derive(Debug)]
pub struct Breakers {
    config: BreakerConfig,
    agents: DashMap<String, BreakerState>,
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Arc<Breakers> {
        Arc::new(Breakers {
            config,
            agents: DashMap::new(),
        })
    }

    /// The state of `agent`'s breaker; an open breaker whose cool-down has
    /// passed reads as half-open.
    pub fn state(&self, agent: &str) -> BreakerState {
        match self.agents.get(agent).map(|s| *s) {
            None => BreakerState::Closed { failures: 0 },
            Some(BreakerState::Open { until }) if until <= Instant::now() => {
                BreakerState::HalfOpen { probing: false }
            }
            Some(state) => state,
        }
    }

    /// Agents that would refuse a call now, for routing to avoid.
    pub fn blocked(&self) -> Vec<String> {
        let now = Instant::now();
        let mut agents: Vec<String> = self
            .agents
            .iter()
            .filter(|e| match *e.value() {
                BreakerState::Open { until } => until > now,
                BreakerState::HalfOpen { probing } => probing,
                BreakerState::Closed { .. } => false,
            })
            .map(|e| e.key().clone())
            .collect();
        agents.sort();
        agents
    }

    /// Permission to call `agent` once, or `None` while its breaker refuses.
    pub(crate) fn acquire(self: &Arc<Self>, agent: &str) -> Option<Permit> {
        let mut entry = self
            .agents
            .entry(agent.to_string())
            .or_insert(BreakerState::Closed { failures: 0 });
        let probe = match *entry {
            BreakerState::Closed { .. } => false,
            BreakerState::Open { until } if until <= Instant::now() => true,
            BreakerState::HalfOpen { probing: false } => true,
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: true } => return None,
        };
        if probe {
            *entry = BreakerState::HalfOpen { probing: true };
        }
        Some(Permit {
            breakers: self.clone(),
            agent: agent.to_string(),
            probe,
            done: false,
        })
    }

    fn record(&self, agent: &str, probe: bool, ok: bool) {
        let mut entry = self
            .agents
            .entry(agent.to_string())
            .or_insert(BreakerState::Closed { failures: 0 });
        let open = BreakerState::Open {
            until: Instant::now() + self.config.cool_down,
        };
        *entry = match (*entry, ok) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    open
                } else {
                    BreakerState::Closed { failures }
                }
            }
            (BreakerState::HalfOpen { .. }, false) if probe => open,
            // A call let through before the breaker opened failed too late
            // to matter: the breaker is already open or probing.
            (state, false) => state,
        };
    }
}

/// Permission for one call; report how it went, or drop it to abstain (an
/// abandoned probe lets the next caller probe).
#[derive(Debug)]
pub(crate) struct Permit {
    breakers: Arc<Breakers>,
    agent: String,
    probe: bool,
    done: bool,
}

impl Permit {
    pub fn success(mut self) {
        self.done = true;
        self.breakers.record(&self.agent, self.probe, true);
    }

    pub fn failure(mut self) {
        self.done = true;
        self.breakers.record(&self.agent, self.probe, false);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe && !self.done {
            self.breakers
                .agents
                .insert(self.agent.clone(), BreakerState::HalfOpen { probing: false });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers(cool_down: Duration) -> Arc<Breakers> {
        Breakers::new(BreakerConfig {
            failure_threshold: 2,
            cool_down,
        })
    }

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_a_good_probe() {
        let b = breakers(Duration::from_millis(30));
        b.acquire("a").unwrap().failure();
        b.acquire("a").unwrap().success();
        b.acquire("a").unwrap().failure();
        assert_eq!(b.state("a"), BreakerState::Closed { failures: 1 });
        b.acquire("a").unwrap().failure();
        assert!(matches!(b.state("a"), BreakerState::Open { .. }));
        assert!(b.acquire("a").is_none());
        assert_eq!(b.blocked(), ["a"]);

        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state("a"), BreakerState::HalfOpen { probing: false });
        assert!(b.blocked().is_empty());
        let probe = b.acquire("a").unwrap();
        assert!(b.acquire("a").is_none(), "one probe at a time");
        assert_eq!(b.blocked(), ["a"]);
        probe.success();
        assert_eq!(b.state("a"), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn a_failed_probe_reopens_and_an_abandoned_one_frees_the_slot() {
        let b = breakers(Duration::ZERO);
        b.acquire("a").unwrap().failure();
        b.acquire("a").unwrap().failure();
        let probe = b.acquire("a").unwrap();
        drop(probe);
        assert_eq!(b.state("a"), BreakerState::HalfOpen { probing: false });
        b.acquire("a").unwrap().failure();
        assert!(matches!(
            b.agents.get("a").map(|s| *s),
            Some(BreakerState::Open { .. })
        ));
    }
}
