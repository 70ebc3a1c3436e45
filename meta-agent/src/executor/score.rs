//! Scoring a run's answer with the scorer its request names.

use serde_json::Value;
use switchyard_router::registry::Principal;
use switchyard_schemas::run::{AgentRequest, AgentTask, RunRequest, RunScore, RunTrace, ScorerSpec};
use switchyard_schemas::workflow::{NodeParams, Op};

use super::budget::Ledger;
use super::{Executor, RunContext, bind, ops, retry};
use crate::MetaAgentError;
use crate::scorers::{self, Score};

/// What a judge scorer routes for when it pins no agent.
pub const JUDGE_ROLE: &str = "Judge how well an answer meets the given criteria and score it from 0 to 1.";

impl Executor {
    /// Scores `trace`'s answer with `request.scorer` and records the score
    /// in the trace; `None` when the request names no scorer. A run without
    /// an answer scores 0.
    ///
    /// A judge is routed and called like a step, as `principal` under
    /// `request.constraints`, from what the run left of its budget; its cost
    /// is added to the trace's. Errors are for scorers that cannot score (a
    /// bad pattern or schema, no sandbox, a judge that cannot be reached or
    /// answers with no score), not for answers that score 0.
    pub async fn score(
        &self,
        principal: &Principal,
        request: &RunRequest,
        trace: &mut RunTrace,
    ) -> Result<Option<Score>, MetaAgentError> {
        let Some(scorer) = &request.scorer else {
            return Ok(None);
        };
        let score = match &trace.output {
            None => Score::fail("the run produced no answer"),
            Some(answer) => match scorer {
                ScorerSpec::Tests { source, entry_point } => match ops::code(answer) {
                    None => Score::fail("the answer is not text"),
                    Some(code) => self
                        .sandbox()?
                        .run_tests(&code, source, entry_point)
                        .await?
                        .score(),
                },
                ScorerSpec::Exact { expected } => scorers::exact(expected, &ops::text(answer)),
                ScorerSpec::Regex { pattern } => scorers::regex(pattern, &ops::text(answer))?,
                ScorerSpec::JsonSchema { schema } => scorers::json_schema(schema, &ops::text(answer))?,
                ScorerSpec::Judge { criteria, agent } => {
                    let remaining = (trace.budget_usd - trace.cost_usd).max(0.0);
                    let (cost, score) = self
                        .judge(principal, request, answer, criteria, agent.as_deref(), remaining)
                        .await;
                    trace.cost_usd += cost;
                    score?
                }
            },
        };
        trace.score = Some(RunScore {
            value: score.value,
            reason: score.reason.clone(),
        });
        Ok(Some(score))
    }

    /// Asks a judge agent; returns what that cost, and the score.
    async fn judge(
        &self,
        principal: &Principal,
        request: &RunRequest,
        answer: &Value,
        criteria: &str,
        pin: Option<&str>,
        budget_usd: f64,
    ) -> (f64, Result<Score, MetaAgentError>) {
        let ctx = RunContext {
            principal: principal.clone(),
            query: request.query.clone(),
            task: request.task.clone(),
            task_id: request.task.as_ref().map_or_else(String::new, |t| t.id.clone()),
            constraints: request.constraints.clone(),
            ledger: Ledger::new(budget_usd),
        };
        let binding = match bind::bind_one(self, &ctx, JUDGE_ROLE, pin).await {
            Ok(binding) => binding,
            Err(e) => return (0.0, Err(e)),
        };
        let params = NodeParams {
            criteria: Some(criteria.to_string()),
            ..NodeParams::default()
        };
        let call = AgentRequest {
            task: AgentTask {
                id: ctx.task_id.clone(),
                input: ctx.query.clone(),
                context: ctx.task.as_ref().and_then(|t| t.context.clone()),
                op: Op::Judge,
                instruction: ops::instruction(Op::Judge, &params, true),
            },
            inputs: [("answer".to_string(), answer.clone())].into_iter().collect(),
        };
        let (trace, result) = retry::call(self, &ctx.ledger, &binding, &call).await;
        let score = result.and_then(|verdict| {
            let value = ops::score(&verdict).ok_or_else(|| MetaAgentError::BadOutput {
                node: "scorer".into(),
                message: format!(
                    "the judge `{}` answered `{}`, not a score from 0 to 1",
                    binding.agent,
                    scorers::clip(&ops::text(&verdict), 80)
                ),
            })?;
            Ok(Score {
                value,
                reason: format!("judged {value} by {}@{}", binding.agent, binding.version),
            })
        });
        (trace.cost_usd, score)
    }
}
