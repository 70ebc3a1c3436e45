//! Binding steps to agents through the router.
//!
//! A step names a capability (`role`) or pins an agent; either way it is
//! routed, under the caller's principal and hard constraints, so a pinned
//! agent the caller may not see, or one that breaks a constraint, is not
//! called. Agents whose circuit breaker refuses calls are excluded, which is
//! how an open breaker steers work to other agents.

use switchyard_schemas::manifest::Endpoint;
use switchyard_schemas::route::{MAX_K, RouteCandidate, RouteRequest};
use switchyard_schemas::workflow::parse_agent_pin;

use super::{Executor, RunContext};
use crate::MetaAgentError;

/// An agent version chosen for a step, with what routing knows of it.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub agent: String,
    pub version: String,
    pub skill: String,
    pub endpoint: Endpoint,
    /// Expected cost of one call (observed or declared).
    pub cost_usd: f64,
    /// p95 latency (observed or declared).
    pub latency_ms: u32,
}

impl From<RouteCandidate> for Binding {
    fn from(c: RouteCandidate) -> Self {
        Binding {
            agent: c.agent,
            version: c.version,
            skill: c.skill,
            endpoint: c.endpoint,
            cost_usd: c.cost_usd,
            latency_ms: c.latency_ms,
        }
    }
}

/// Up to `k` distinct agents for `role`, best first; with a `pin`
/// (`namespace/name@range`), that agent alone.
pub(crate) async fn bind(
    exec: &Executor,
    ctx: &RunContext,
    role: &str,
    pin: Option<&str>,
    k: usize,
) -> Result<Vec<Binding>, MetaAgentError> {
    let mut constraints = ctx.constraints.clone();
    constraints.exclude.extend(exec.breakers().blocked());
    let pinned = match pin {
        Some(pin) => {
            let pin = parse_agent_pin(pin).map_err(|reason| MetaAgentError::InvalidRun {
                field: "agent".into(),
                message: format!("`{pin}`: {reason}"),
            })?;
            if constraints.exclude.contains(&pin.name) {
                return Err(MetaAgentError::CircuitOpen { agent: pin.name });
            }
            constraints.agents.insert(pin.name.clone(), pin.range.to_string());
            // The pin decides the agent, so similarity must not veto it; the
            // pinned agent comes from its own search but is ranked with the
            // others, so ask for as many as a route returns.
            constraints.min_similarity = Some(-1.0);
            Some(pin.name)
        }
        None => None,
    };
    let request = RouteRequest {
        query: Some(role.to_string()),
        k: Some(if pinned.is_some() {
            MAX_K
        } else {
            k.clamp(1, MAX_K)
        }),
        constraints,
        ..RouteRequest::default()
    };
    let response = exec
        .router()
        .route(&ctx.principal, request)
        .await
        .map_err(|source| MetaAgentError::Route {
            role: role.to_string(),
            source: Box::new(source),
        })?;
    let bindings: Vec<Binding> = match &pinned {
        Some(name) => response
            .candidates
            .into_iter()
            .filter(|c| &c.agent == name)
            .take(1)
            .map(Binding::from)
            .collect(),
        None => response.candidates.into_iter().map(Binding::from).collect(),
    };
    if bindings.is_empty() {
        return Err(MetaAgentError::NoCandidates {
            role: pinned.map_or_else(|| role.to_string(), |name| format!("{name} (pinned)")),
        });
    }
    Ok(bindings)
}

/// The one agent of a single-agent step: the best, or the pinned one.
pub(crate) async fn bind_one(
    exec: &Executor,
    ctx: &RunContext,
    role: &str,
    pin: Option<&str>,
) -> Result<Binding, MetaAgentError> {
    bind(exec, ctx, role, pin, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| MetaAgentError::NoCandidates {
            role: role.to_string(),
        })
}
