//! Credit assignment: a scored run's outcome fed back to the router's
//! statistics for every agent call that made it.
//!
//! Every call that reached an agent is credited with the run's score when
//! it succeeded inside a step that succeeded, and with 0 otherwise (a failed
//! call, or an answer its step could not use), with the cost charged for it
//! and its latency. Calls refused before any attempt (budget, open circuit)
//! say nothing about the agent and are not credited.

use switchyard_router::registry::Principal;
use switchyard_schemas::route::{FeedbackRequest, MAX_QUERY_CHARS};
use switchyard_schemas::run::{NodeOutcome, RunTrace};

use super::Executor;

impl Executor {
    /// Records one outcome per credited call of `trace`, given the run's
    /// `score` in [0, 1], as `principal` (who needed the route scope to run,
    /// and can see every agent the run was routed to). `query` is stored
    /// with each outcome for audits. Returns how many were recorded; an
    /// outcome the router refuses (the agent version was deleted since) is
    /// logged and skipped. Blocking writes run on tokio's blocking pool.
    pub async fn feedback(&self, principal: &Principal, query: &str, trace: &RunTrace, score: f64) -> usize {
        let score = if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
        let requests: Vec<FeedbackRequest> = trace
            .nodes
            .iter()
            .flat_map(|node| {
                let node_ok = node.outcome == NodeOutcome::Ok;
                node.calls
                    .iter()
                    .filter(|c| c.attempts > 0)
                    .map(move |c| (node_ok, c))
            })
            .map(|(node_ok, call)| FeedbackRequest {
                agent: call.agent.clone(),
                version: call.version.clone(),
                skill: call.skill.clone(),
                outcome: if call.ok && node_ok { score } else { 0.0 },
                cost_usd: Some(call.cost_usd),
                latency_ms: Some(u32::try_from(call.latency_ms).unwrap_or(u32::MAX)),
                query: Some(query.clone()),
            })
            .collect();
        if requests.is_empty() {
            return 0;
        }
        let (router, principal) = (self.router().clone(), principal.clone());
        let recorded = tokio::task::spawn_blocking(move || {
            requests
                .iter()
                .filter(|req| match router.feedback(&principal, req) {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::warn!(agent = %req.agent, version = %req.version, %error, "feedback not recorded");
                        false
                    }
                })
                .count()
        })
        .await;
        recorded.unwrap_or_else(|error| {
            tracing::warn!(%error, "the feedback task failed");
            0
        })
    }
}
