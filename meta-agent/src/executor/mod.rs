//! The executor: runs a workflow spec as a concurrent DAG of agent calls
//! within a budget, and records a trace of every step.
//!
//! Each step starts as soon as the steps it reads have finished; a step whose
//! input failed or was skipped is skipped. Steps run as tasks of a
//! [`JoinSet`] owned by the run's future, with no detached tasks: dropping
//! the future (a caller that disconnects) aborts every step, and with it
//! every call in flight; reservations of abandoned calls are charged in
//! full, so the budget stays accounted for.
//!
//! What a step does per op is in `node` (with the pure parts in `ops`); how
//! it finds its agent in `bind`, how it calls it in [`retry`], what a call
//! may spend in [`budget`], when an agent is left alone in [`breaker`], and
//! what is recorded in `trace`. After a run, [`Executor::score`] scores the
//! answer (`score`) and [`Executor::feedback`] credits the agents that
//! produced it (`feedback`).

pub mod breaker;
pub mod budget;
pub mod retry;

mod bind;
mod feedback;
mod node;
mod ops;
mod score;
mod trace;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_router::Router;
use switchyard_router::registry::Principal;
use switchyard_schemas::route::Constraints;
use switchyard_schemas::run::{QUERY_MAX, RunRequest, RunStatus, RunTrace, TaskSpec};
use switchyard_schemas::workflow::{WorkflowSpec, validate_workflow};
use tokio::task::JoinSet;

pub use breaker::{BreakerConfig, BreakerState, Breakers};
pub use budget::Ledger;
pub use node::LOOP_TESTS_KEY;
pub use retry::{RetryConfig, TimeoutConfig};
pub use score::JUDGE_ROLE;

use crate::MetaAgentError;
use crate::client::AgentClient;
use crate::scorers::sandbox::Sandbox;

/// How runs are executed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    pub retry: RetryConfig,
    pub timeout: TimeoutConfig,
    pub breaker: BreakerConfig,
    /// A call reserves the agent's expected cost times this (at least 1):
    /// headroom for calls that cost more than usual.
    pub reserve_factor: f64,
    /// Budget of a run when neither the request nor the spec states one.
    pub default_budget_usd: f64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            retry: RetryConfig::default(),
            timeout: TimeoutConfig::default(),
            breaker: BreakerConfig::default(),
            reserve_factor: 1.5,
            default_budget_usd: 1.0,
        }
    }
}

/// Runs workflows. Cheap to clone; clones share the circuit breakers.
#[derive(Debug, Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    router: Arc<Router>,
    client: AgentClient,
    breakers: Arc<Breakers>,
    sandbox: Option<Sandbox>,
    config: ExecutorConfig,
}

/// What every step of one run shares.
#[derive(Debug)]
pub(crate) struct RunContext {
    pub principal: Principal,
    pub query: String,
    pub task: Option<TaskSpec>,
    /// The task id agents receive: the caller's, or the run id.
    pub task_id: String,
    pub constraints: Constraints,
    pub ledger: Arc<Ledger>,
}

impl Executor {
    /// Without a sandbox, `test` and `loop … until tests_pass` steps and the
    /// tests scorer fail with [`MetaAgentError::SandboxUnavailable`].
    pub fn new(
        router: Arc<Router>,
        client: AgentClient,
        sandbox: Option<Sandbox>,
        config: ExecutorConfig,
    ) -> Executor {
        Executor {
            inner: Arc::new(Inner {
                router,
                client,
                breakers: Breakers::new(config.breaker.clone()),
                sandbox,
                config,
            }),
        }
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.inner.router
    }

    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.inner.breakers
    }

    pub fn config(&self) -> &ExecutorConfig {
        &self.inner.config
    }

    pub(crate) fn client(&self) -> &AgentClient {
        &self.inner.client
    }

    pub(crate) fn sandbox(&self) -> Result<&Sandbox, MetaAgentError> {
        self.inner
            .sandbox
            .as_ref()
            .ok_or_else(|| MetaAgentError::SandboxUnavailable {
                reason: "the executor was built without a sandbox".into(),
            })
    }

    /// Runs `spec` for `request` as `principal`: routes every step under the
    /// caller's visibility and `request.constraints`, within the lower of
    /// `request.budget_usd` and `spec.budget_usd` (else
    /// [`ExecutorConfig::default_budget_usd`]). `request.spec` and
    /// `request.scorer` are not read: the caller designs and scores.
    ///
    /// Errors only for a spec or request that cannot run; everything that
    /// goes wrong while running is in the trace.
    pub async fn run(
        &self,
        principal: &Principal,
        spec: &WorkflowSpec,
        request: &RunRequest,
    ) -> Result<RunTrace, MetaAgentError> {
        self.run_as(new_run_id(), principal, spec, request).await
    }

    /// As [`Executor::run`], under a run id the caller chose (a job's, known
    /// before the run starts).
    pub async fn run_as(
        &self,
        run_id: String,
        principal: &Principal,
        spec: &WorkflowSpec,
        request: &RunRequest,
    ) -> Result<RunTrace, MetaAgentError> {
        let limit = self.budget_of(spec, request)?;
        Ok(self
            .execute(run_id, principal, spec, request, Ledger::new(limit))
            .await)
    }

    /// As [`Executor::run`], with the run's budget drawn from `parent` too
    /// (a tenant's or a benchmark's total): the run stops spending when
    /// either is exhausted.
    pub async fn run_within(
        &self,
        principal: &Principal,
        spec: &WorkflowSpec,
        request: &RunRequest,
        parent: &Arc<Ledger>,
    ) -> Result<RunTrace, MetaAgentError> {
        let limit = self.budget_of(spec, request)?;
        Ok(self
            .execute(new_run_id(), principal, spec, request, parent.child(limit))
            .await)
    }

    fn budget_of(&self, spec: &WorkflowSpec, request: &RunRequest) -> Result<f64, MetaAgentError> {
        validate_workflow(spec).map_err(|problems| MetaAgentError::InvalidWorkflow { problems })?;
        if request.query.trim().is_empty() || request.query.chars().count() > QUERY_MAX {
            return Err(MetaAgentError::InvalidRun {
                field: "query".into(),
                message: format!("must be 1 to {QUERY_MAX} characters and not blank"),
            });
        }
        if let Some(b) = request.budget_usd
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(MetaAgentError::InvalidRun {
                field: "budget_usd".into(),
                message: "must be a finite number ≥ 0".into(),
            });
        }
        Ok(match (request.budget_usd, spec.budget_usd) {
            (Some(a), Some(b)) => a.min(b),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => self.inner.config.default_budget_usd,
        })
    }

    async fn execute(
        &self,
        run_id: String,
        principal: &Principal,
        spec: &WorkflowSpec,
        request: &RunRequest,
        ledger: Arc<Ledger>,
    ) -> RunTrace {
        let started = Instant::now();
        let ctx = Arc::new(RunContext {
            principal: principal.clone(),
            query: request.query.clone(),
            task_id: request
                .task
                .as_ref()
                .map_or_else(|| run_id.clone(), |t| t.id.clone()),
            task: request.task.clone(),
            constraints: request.constraints.clone(),
            ledger: ledger.clone(),
        });
        let results = self.schedule(spec, &ctx).await;
        let output_node = spec.index_of(&spec.output).and_then(|i| results.get(i));
        let (status, output, error) = match output_node {
            Some(node::Finished {
                output: Some(output), ..
            }) => (RunStatus::Succeeded, Some(output.clone()), None),
            Some(finished) => (
                RunStatus::Failed,
                None,
                Some(format!(
                    "the output step `{}` has no output: {}",
                    spec.output,
                    finished.trace.error.as_deref().unwrap_or("unknown error")
                )),
            ),
            None => (
                RunStatus::Failed,
                None,
                Some("the output step did not run".into()),
            ),
        };
        RunTrace {
            run_id,
            status,
            output,
            error,
            cost_usd: ledger.spent_usd(),
            budget_usd: ledger.limit_usd(),
            latency_ms: millis(started.elapsed()),
            nodes: results.into_iter().map(|f| f.trace).collect(),
            score: None,
        }
    }

    /// Runs every step as soon as its inputs are done; returns them in spec
    /// order.
    async fn schedule(&self, spec: &WorkflowSpec, ctx: &Arc<RunContext>) -> Vec<node::Finished> {
        let n = spec.nodes.len();
        let index: HashMap<&str, usize> = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        let reads: Vec<Vec<usize>> = spec
            .nodes
            .iter()
            .map(|node| {
                node.inputs
                    .iter()
                    .filter_map(|id| index.get(id.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, inputs) in reads.iter().enumerate() {
            for &j in inputs {
                readers[j].push(i);
            }
        }
        let mut waiting: Vec<usize> = reads.iter().map(Vec::len).collect();
        let mut done: Vec<Option<node::Finished>> = (0..n).map(|_| None).collect();
        let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut tasks = JoinSet::new();
        let mut task_node = HashMap::new();
        loop {
            while let Some(i) = ready.pop_front() {
                let node = &spec.nodes[i];
                let failed_input = reads[i]
                    .iter()
                    .find(|&&j| done[j].as_ref().is_none_or(|f| f.output.is_none()));
                if let Some(&j) = failed_input {
                    let reason = format!("input `{}` has no output", spec.nodes[j].id);
                    done[i] = Some(node::Finished::skipped(node, reason));
                    release(&readers[i], &mut waiting, &mut ready);
                    continue;
                }
                let inputs: Vec<(String, Value)> = reads[i]
                    .iter()
                    .filter_map(|&j| Some((spec.nodes[j].id.clone(), done[j].as_ref()?.output.clone()?)))
                    .collect();
                let handle = tasks.spawn(node::run(self.clone(), ctx.clone(), node.clone(), inputs));
                task_node.insert(handle.id(), i);
            }
            let Some(joined) = tasks.join_next_with_id().await else {
                break;
            };
            let (id, finished) = match joined {
                Ok((id, finished)) => (id, Ok(finished)),
                Err(e) => (e.id(), Err(e)),
            };
            let Some(i) = task_node.remove(&id) else {
                continue;
            };
            done[i] = Some(finished.unwrap_or_else(|e| {
                node::Finished::failed(&spec.nodes[i], format!("the step's task ended abnormally: {e}"))
            }));
            release(&readers[i], &mut waiting, &mut ready);
        }
        // A validated spec is acyclic, so every step finished; the fallback
        // only guards the invariant.
        done.into_iter()
            .zip(&spec.nodes)
            .map(|(f, node)| f.unwrap_or_else(|| node::Finished::skipped(node, "never became ready".into())))
            .collect()
    }
}

/// A random run id: 32 hex digits.
pub fn new_run_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A step finished: its readers wait for one input less.
fn release(readers: &[usize], waiting: &mut [usize], ready: &mut VecDeque<usize>) {
    for &r in readers {
        waiting[r] -= 1;
        if waiting[r] == 0 {
            ready.push_back(r);
        }
    }
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
