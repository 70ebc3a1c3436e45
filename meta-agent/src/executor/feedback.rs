//! Credit assignment: a scored run's outcome fed back to the router's
//! statistics for every agent call that made it.
//!
//! Every call that reached an agent is credited with the run's score when
//! it succeeded inside a step that succeeded, and with 0 otherwise (a failed
//! call, or an answer its step could not use), with the cost charged for it
//! and its latency. Calls refused before any attempt (budget, open circuit)
//! say nothing about the agent and are not credited.
//!
//! An answer a test inside the run saw fail is credited 0 too, whatever
//! the run scored: a generator whose answer a loop had to repair, or a
//! cascade had to ask another agent about, did not earn the repaired
//! answer's score, and crediting it would teach the router that it is
//! better than it is. That covers the answer a `test` step failed, the
//! input of a `loop` that stops once the tests pass and had to run a round,
//! and each round of such a loop that the next round had to redo.

use std::collections::HashSet;

use switchyard_router::registry::Principal;
use switchyard_schemas::route::{FeedbackRequest, MAX_QUERY_CHARS};
use switchyard_schemas::run::{NodeOutcome, NodeTrace, RunTrace};
use switchyard_schemas::workflow::{Op, Until, WorkflowSpec};

use super::Executor;

impl Executor {
    /// Records one outcome per credited call of `trace`, the run of `spec`,
    /// given the run's `score` in [0, 1], as `principal` (who needed the
    /// route scope to run, and can see every agent the run was routed to).
    /// `query` is stored with each outcome for audits. Returns how many
    /// were recorded; an outcome the router refuses (the agent version was
    /// deleted since) is logged and skipped. Blocking writes run on tokio's
    /// blocking pool.
    pub async fn feedback(
        &self,
        principal: &Principal,
        query: &str,
        spec: &WorkflowSpec,
        trace: &RunTrace,
        score: f64,
    ) -> usize {
        let score = if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
        let failed = failed_tests(spec, trace);
        let requests: Vec<FeedbackRequest> = trace
            .nodes
            .iter()
            .flat_map(|node| {
                let node_ok = node.outcome == NodeOutcome::Ok;
                let redone = redone_rounds(spec, node);
                let node_failed = failed.contains(node.id.as_str());
                node.calls
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.attempts > 0)
                    .map(move |(i, c)| (node_ok && !node_failed && i >= redone, c))
            })
            .map(|(earned, call)| FeedbackRequest {
                agent: call.agent.clone(),
                version: call.version.clone(),
                skill: call.skill.clone(),
                outcome: if call.ok && earned { score } else { 0.0 },
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

/// Whether a spec node is a loop that stops once the tests pass.
fn loops_until_pass(spec: &WorkflowSpec, id: &str) -> bool {
    spec.nodes
        .iter()
        .any(|n| n.id == id && n.op == Op::Loop && n.params.until == Some(Until::TestsPass))
}

/// Ids of the steps whose output a test in the run saw fail: the input of
/// a `test` step that failed, the input of a loop that stops once the
/// tests pass and ran a round (it runs one only when the answer fails), and
/// such a loop whose last answer still failed.
fn failed_tests<'s>(spec: &'s WorkflowSpec, trace: &RunTrace) -> HashSet<&'s str> {
    let mut failed = HashSet::new();
    for node in &spec.nodes {
        let Some(ran) = trace.nodes.iter().find(|t| t.id == node.id) else {
            continue;
        };
        let input = node.inputs.first().map(String::as_str);
        let tests_failed = ran.tests.as_ref().is_some_and(|t| !t.passed);
        match node.op {
            Op::Test if tests_failed => failed.extend(input),
            Op::Loop if node.params.until == Some(Until::TestsPass) => {
                if !ran.calls.is_empty() {
                    failed.extend(input);
                }
                if tests_failed {
                    failed.insert(node.id.as_str());
                }
            }
            _ => {}
        }
    }
    failed
}

/// Calls of a step that a later round had to redo: all but the last of a
/// loop that stops once the tests pass (it went on because each failed).
fn redone_rounds(spec: &WorkflowSpec, node: &NodeTrace) -> usize {
    if loops_until_pass(spec, &node.id) {
        node.calls.len().saturating_sub(1)
    } else {
        0
    }
}
