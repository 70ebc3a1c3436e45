//! One agent call as a step makes it: a deadline from the agent's latency,
//! retries with jittered exponential backoff for transient failures, the
//! agent's circuit breaker, and a budget reservation before every attempt.
//!
//! Retries are bounded three ways: [`RetryConfig::max_attempts`], the call's
//! deadline (no attempt or backoff starts past it; a later attempt only gets
//! what is left), and the budget (each attempt reserves again, and a failed
//! attempt keeps its reservation as spent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;
use switchyard_schemas::run::{AgentRequest, CallTrace};

use super::bind::Binding;
use super::budget::Ledger;
use super::{Executor, millis};
use crate::MetaAgentError;
use crate::client::CallError;

/// How often and how patiently failed calls are tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for each later one.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryConfig {
    /// The wait after `failed` failed attempts: the exponential delay with
    /// "equal jitter", uniform in its upper half, so concurrent callers of
    /// a recovering agent spread out but still back off.
    fn backoff(&self, failed: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// How long a call may take, from the bound agent's p95 latency.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeoutConfig {
    /// Times the p95 a call may take.
    pub p95_multiplier: f64,
    /// Least time a call gets, however fast the agent claims to be.
    pub floor: Duration,
    /// Most time a call gets, however slow the agent claims to be.
    pub cap: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            p95_multiplier: 3.0,
            floor: Duration::from_secs(2),
            cap: Duration::from_secs(120),
        }
    }
}

impl TimeoutConfig {
    /// `max(multiplier × p95, floor)`, capped.
    pub fn for_latency(&self, p95_ms: u32) -> Duration {
        let secs = f64::from(p95_ms) / 1000.0 * self.p95_multiplier;
        // A multiplier that is not a finite number ≥ 0 is a configuration
        // mistake; give the call all the time allowed rather than none.
        let scaled = Duration::try_from_secs_f64(secs).unwrap_or(self.cap);
        scaled.max(self.floor).min(self.cap)
    }
}

/// Calls `binding` with `request`, charging `ledger`; returns the call's
/// trace and the agent's output.
pub(crate) async fn call(
    exec: &Executor,
    ledger: &Arc<Ledger>,
    binding: &Binding,
    request: &AgentRequest,
) -> (CallTrace, Result<Value, MetaAgentError>) {
    let config = exec.config();
    let started = Instant::now();
    let deadline = started + config.timeout.for_latency(binding.latency_ms);
    let reserve = binding.cost_usd * config.reserve_factor.max(1.0);
    let mut trace = CallTrace {
        agent: binding.agent.clone(),
        version: binding.version.clone(),
        skill: binding.skill.clone(),
        attempts: 0,
        latency_ms: 0,
        cost_usd: 0.0,
        ok: false,
        error: None,
        over_reservation: false,
    };
    let failed = |attempts: u32, source: CallError| MetaAgentError::AgentCall {
        agent: binding.agent.clone(),
        attempts,
        source,
    };
    let result = loop {
        let Some(hold) = ledger.reserve(reserve) else {
            break Err(MetaAgentError::Budget {
                agent: binding.agent.clone(),
                needed_usd: reserve,
                remaining_usd: ledger.available_usd(),
            });
        };
        let Some(permit) = exec.breakers().acquire(&binding.agent) else {
            hold.settle(0.0); // never called
            break Err(MetaAgentError::CircuitOpen {
                agent: binding.agent.clone(),
            });
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        trace.attempts += 1;
        match exec.client().call(&binding.endpoint, request, remaining).await {
            Ok(reply) => {
                permit.success();
                // An agent that reports no cost is charged what routing
                // expected of it.
                let charge = hold.settle(reply.usage.cost_usd.unwrap_or(binding.cost_usd));
                trace.cost_usd += charge.usd;
                trace.over_reservation |= charge.capped;
                break Ok(reply.output);
            }
            Err(error) => {
                permit.failure();
                trace.cost_usd += hold.forfeit().usd;
                if !error.is_transient() || trace.attempts >= config.retry.max_attempts.max(1) {
                    break Err(failed(trace.attempts, error));
                }
                let delay = config.retry.backoff(trace.attempts);
                if Instant::now() + delay >= deadline {
                    break Err(failed(trace.attempts, error));
                }
                tracing::debug!(agent = %binding.agent, attempt = trace.attempts, %error, ?delay, "retrying");
                tokio::time::sleep(delay).await;
            }
        }
    };
    trace.latency_ms = millis(started.elapsed());
    trace.ok = result.is_ok();
    trace.error = result.as_ref().err().map(ToString::to_string);
    (trace, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let c = RetryConfig {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        for _ in 0..100 {
            let first = c.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let second = c.backoff(2);
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&second));
            assert!(c.backoff(30) <= Duration::from_millis(350));
        }
    }

    #[test]
    fn timeouts_follow_the_latency_within_bounds() {
        let t = TimeoutConfig {
            p95_multiplier: 3.0,
            floor: Duration::from_millis(500),
            cap: Duration::from_secs(10),
        };
        assert_eq!(t.for_latency(1000), Duration::from_secs(3));
        assert_eq!(t.for_latency(10), Duration::from_millis(500));
        assert_eq!(t.for_latency(60_000), Duration::from_secs(10));
    }
}
