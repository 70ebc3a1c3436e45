//! One step of a run, op by op.
//!
//! - `generate`, `review`, `revise`: one routed agent answers, critiques, or
//!   rewrites its first input using the others as feedback.
//! - `ensemble`: `n` distinct agents answer in parallel (or, pinned, the
//!   pinned agent `n` times); the output is the list of their answers, those
//!   that failed left out.
//! - `vote`: the most common input candidate, no agent.
//! - `select`, `judge`: an agent picks a candidate, or scores the inputs.
//! - `test`: runs Python tests on the one input in the sandbox; the output is
//!   the report `{passed, reason}`.
//! - `loop`: repeats its body op on the latest answer, with the latest test
//!   report as feedback under the input key `#tests` (never a step id), and
//!   stops once `until` holds. A round whose call fails ends the loop with
//!   the answer so far: a loop improves an answer, and an unimproved one is
//!   still an answer.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use switchyard_schemas::run::{AgentRequest, AgentTask, CallTrace, NodeOutcome, NodeTrace, TestReport};
use switchyard_schemas::workflow::{Node, Op, Until};
use tokio::task::JoinSet;

use super::bind::{Binding, bind, bind_one};
use super::budget::Ledger;
use super::{Executor, RunContext, ops, retry, trace};
use crate::MetaAgentError;

/// The input key a loop's body reads the latest test report from.
pub const LOOP_TESTS_KEY: &str = "#tests";

/// A finished step: its trace, and its output when it succeeded.
#[derive(Debug)]
pub(crate) struct Finished {
    pub trace: NodeTrace,
    pub output: Option<Value>,
}

impl Finished {
    pub fn skipped(node: &Node, reason: String) -> Finished {
        Finished {
            trace: trace::empty(node, NodeOutcome::Skipped, reason),
            output: None,
        }
    }

    pub fn failed(node: &Node, reason: String) -> Finished {
        Finished {
            trace: trace::empty(node, NodeOutcome::Failed, reason),
            output: None,
        }
    }
}

/// What a step did besides its output.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// The agent of a single-agent step.
    pub bound: Option<Binding>,
    pub calls: Vec<CallTrace>,
    pub tests: Option<TestReport>,
}

/// Runs one step whose inputs are all done.
pub(crate) async fn run(
    exec: Executor,
    ctx: Arc<RunContext>,
    node: Node,
    inputs: Vec<(String, Value)>,
) -> Finished {
    let started = Instant::now();
    let mut step = Step {
        exec: &exec,
        ctx: &ctx,
        node: &node,
        ledger: match node.budget_usd {
            Some(budget) => ctx.ledger.child(budget),
            None => ctx.ledger.clone(),
        },
        record: Record::default(),
    };
    let result = step.op(&inputs).await;
    let record = step.record;
    let trace = trace::node(&node, started.elapsed(), &inputs, &result, record);
    Finished {
        trace,
        output: result.ok(),
    }
}

struct Step<'a> {
    exec: &'a Executor,
    ctx: &'a Arc<RunContext>,
    node: &'a Node,
    /// The step's budget: its own within the run's, or the run's.
    ledger: Arc<Ledger>,
    record: Record,
}

impl Step<'_> {
    async fn op(&mut self, inputs: &[(String, Value)]) -> Result<Value, MetaAgentError> {
        let node = self.node;
        match node.op {
            Op::Generate | Op::Review | Op::Revise => {
                let binding = self.bind_one().await?;
                self.call(&binding, node.op, inputs).await
            }
            Op::Ensemble => self.ensemble(inputs).await,
            Op::Vote => {
                ops::vote(&ops::candidates(inputs)).ok_or_else(|| self.bad("no candidates to vote on"))
            }
            Op::Select => {
                let candidates = ops::candidates(inputs);
                let binding = self.bind_one().await?;
                let answer = self.call(&binding, Op::Select, inputs).await?;
                ops::choice(&answer, &candidates).ok_or_else(|| {
                    self.bad(&format!(
                        "the answer `{}` names none of the {} candidates",
                        crate::scorers::clip(&ops::text(&answer), 80),
                        candidates.len()
                    ))
                })
            }
            Op::Judge => {
                let binding = self.bind_one().await?;
                let answer = self.call(&binding, Op::Judge, inputs).await?;
                let score = ops::score(&answer).ok_or_else(|| {
                    self.bad(&format!(
                        "the answer `{}` is not a score from 0 to 1",
                        crate::scorers::clip(&ops::text(&answer), 80)
                    ))
                })?;
                Ok(json!(score))
            }
            Op::Test => {
                let (_, answer) = self.only_input(inputs)?;
                let report = self.test(answer).await?;
                let output = json!(report);
                self.record.tests = Some(report);
                Ok(output)
            }
            Op::Loop => self.repeat(inputs).await,
        }
    }

    async fn bind_one(&mut self) -> Result<Binding, MetaAgentError> {
        let binding = bind_one(self.exec, self.ctx, &self.node.role, self.node.agent.as_deref()).await?;
        self.record.bound = Some(binding.clone());
        Ok(binding)
    }

    /// One agent call of this step, recorded.
    async fn call(
        &mut self,
        binding: &Binding,
        op: Op,
        inputs: &[(String, Value)],
    ) -> Result<Value, MetaAgentError> {
        let request = request(self.ctx, self.node, op, inputs);
        let (trace, result) = retry::call(self.exec, &self.ledger, binding, &request).await;
        self.record.calls.push(trace);
        result
    }

    async fn ensemble(&mut self, inputs: &[(String, Value)]) -> Result<Value, MetaAgentError> {
        let n = self.node.params.n.unwrap_or(2) as usize;
        let (role, pin) = (&self.node.role, self.node.agent.as_deref());
        let bindings = match pin {
            Some(_) => vec![bind_one(self.exec, self.ctx, role, pin).await?; n],
            None => bind(self.exec, self.ctx, role, None, n).await?,
        };
        // Each member generates an answer of its own.
        let request = Arc::new(request(self.ctx, self.node, Op::Generate, inputs));
        // Owned by this step's task, so aborting the step aborts its calls.
        let mut calls = JoinSet::new();
        for (i, binding) in bindings.into_iter().enumerate() {
            let (exec, ledger, request) = (self.exec.clone(), self.ledger.clone(), request.clone());
            calls.spawn(async move { (i, retry::call(&exec, &ledger, &binding, &request).await) });
        }
        let mut results = Vec::new();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(e) => return Err(self.bad(&format!("an ensemble call ended abnormally: {e}"))),
            }
        }
        results.sort_by_key(|(i, _)| *i);
        let mut answers = Vec::new();
        let mut first_error = None;
        for (_, (trace, result)) in results {
            self.record.calls.push(trace);
            match result {
                Ok(answer) => answers.push(answer),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if answers.is_empty() => Err(e),
            _ => Ok(Value::Array(answers)),
        }
    }

    async fn repeat(&mut self, inputs: &[(String, Value)]) -> Result<Value, MetaAgentError> {
        let node = self.node;
        let params = &node.params;
        let body = params.body.unwrap_or(Op::Generate);
        let rounds = params.max_rounds.unwrap_or(1);
        let until_pass = params.until == Some(Until::TestsPass);
        let (input_id, first) = self.only_input(inputs)?;
        let (input_id, mut answer) = (input_id.to_string(), first.clone());
        let binding = self.bind_one().await?;
        let mut report = if until_pass {
            Some(self.test(&answer).await?)
        } else {
            None
        };
        for _ in 0..rounds {
            if report.as_ref().is_some_and(|r| r.passed) {
                break;
            }
            let mut round_inputs = vec![(input_id.clone(), answer.clone())];
            if let Some(report) = &report {
                round_inputs.push((LOOP_TESTS_KEY.to_string(), json!(report)));
            }
            match self.call(&binding, body, &round_inputs).await {
                Ok(next) => answer = next,
                Err(_) => break, // recorded in the call's trace
            }
            if until_pass {
                report = Some(self.test(&answer).await?);
            }
        }
        self.record.tests = report;
        Ok(answer)
    }

    /// Runs the step's tests (its own, or the task's) on the code in
    /// `answer`.
    async fn test(&self, answer: &Value) -> Result<TestReport, MetaAgentError> {
        let code = ops::code(answer).ok_or_else(|| self.bad("the answer to test is not text"))?;
        let source = self
            .node
            .params
            .tests
            .as_deref()
            .or_else(|| self.ctx.task.as_ref()?.tests.as_deref())
            .ok_or_else(|| MetaAgentError::MissingTests {
                reason: format!(
                    "step `{}` has no `tests` and the run's task has none",
                    self.node.id
                ),
            })?;
        let entry_point = self
            .ctx
            .task
            .as_ref()
            .and_then(|t| t.entry_point.as_deref())
            .ok_or_else(|| MetaAgentError::MissingTests {
                reason: "the run's task names no `entry_point` to call `check` with".into(),
            })?;
        let run = self.exec.sandbox()?.run_tests(&code, source, entry_point).await?;
        Ok(TestReport {
            passed: run.passed,
            reason: run.score().reason,
        })
    }

    fn only_input<'i>(&self, inputs: &'i [(String, Value)]) -> Result<(&'i str, &'i Value), MetaAgentError> {
        match inputs {
            [(id, value)] => Ok((id, value)),
            _ => Err(self.bad(&format!("reads exactly one input, got {}", inputs.len()))),
        }
    }

    fn bad(&self, message: &str) -> MetaAgentError {
        MetaAgentError::BadOutput {
            node: self.node.id.clone(),
            message: message.to_string(),
        }
    }
}

/// The protocol request of a call.
fn request(ctx: &RunContext, node: &Node, op: Op, inputs: &[(String, Value)]) -> AgentRequest {
    AgentRequest {
        task: AgentTask {
            id: ctx.task_id.clone(),
            input: ctx.query.clone(),
            context: ctx.task.as_ref().and_then(|t| t.context.clone()),
            op,
            instruction: ops::instruction(op, &node.params, !inputs.is_empty()),
        },
        inputs: inputs.iter().cloned().collect(),
    }
}
