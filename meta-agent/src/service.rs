//! The meta-agent as a service: design → run → score → learn → record, the
//! one flow behind `POST /v1/workflows/run` and the workflow benchmark.
//!
//! [`MetaAgent::run`] takes a run request: the caller's spec or, without
//! one, a spec designed for the query; the executor runs it; the scorer the
//! request names scores the answer; the score is credited to every agent
//! that worked on it (router statistics) and, for designed workflows, to the
//! designer's case memory; the rollout is appended to the run log. Each
//! learning step happens only once the run is scored, so an unscored run
//! teaches nothing and a caller's own spec never skews the designer.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use switchyard_router::registry::Principal;
use switchyard_schemas::design::{DesignRequest, TaskKind, TaskProfile};
use switchyard_schemas::rollout::{DesignChoice, Rollout};
use switchyard_schemas::run::RunRequest;

use crate::MetaAgentError;
use crate::designer::{Design, Designer};
use crate::executor::{Executor, new_run_id};
use crate::runs::{RunStore, now_ms};

/// The designer, the executor and the run log, working together.
#[derive(Debug)]
pub struct MetaAgent {
    executor: Executor,
    designer: Arc<Designer>,
    runs: Arc<RunStore>,
    /// Thompson sampling's randomness; a seed makes designs repeatable.
    rng: Mutex<StdRng>,
}

impl MetaAgent {
    pub fn new(executor: Executor, designer: Arc<Designer>, runs: Arc<RunStore>, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
        MetaAgent {
            executor,
            designer,
            runs,
            rng: Mutex::new(rng),
        }
    }

    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    pub fn designer(&self) -> &Arc<Designer> {
        &self.designer
    }

    pub fn runs(&self) -> &Arc<RunStore> {
        &self.runs
    }

    /// Designs a workflow for `request`: the query is embedded through the
    /// embedding service (its cache and its bound on concurrent
    /// inferences), then routing each role and choosing an arm run on a
    /// blocking thread.
    pub async fn design(
        &self,
        principal: &Principal,
        request: DesignRequest,
    ) -> Result<Design, MetaAgentError> {
        let router = self.executor.router().clone();
        let started = Instant::now();
        let vector = router
            .catalog()
            .embedder()
            .embed_query(&request.query)
            .await
            .map_err(|source| MetaAgentError::Embed {
                text: request.query.chars().take(80).collect(),
                source,
            })?;
        let embed_micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let designer = self.designer.clone();
        let principal = principal.clone();
        // Each design draws a fresh seed, so the shared RNG is never held
        // across the blocking call.
        let mut rng = StdRng::seed_from_u64(rand::Rng::random(&mut *self.lock_rng()));
        let mut design = tokio::task::spawn_blocking(move || {
            designer.design_embedded(&router, &principal, &request, vector, &mut rng)
        })
        .await
        .map_err(|e| MetaAgentError::Worker {
            message: e.to_string(),
        })??;
        design.response.embed_micros += embed_micros;
        Ok(design)
    }

    fn lock_rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The design request implied by a run request without a spec: the
    /// task's kind from whether it names an entry point, tests from whether
    /// it brings public tests.
    pub fn design_request(&self, request: &RunRequest) -> DesignRequest {
        let task = request.task.as_ref().map(|t| TaskProfile {
            kind: if t.entry_point.is_some() {
                TaskKind::Code
            } else {
                TaskKind::Text
            },
            language: t.entry_point.as_ref().map(|_| "Python".to_string()),
            tests: t.tests.is_some() && t.entry_point.is_some(),
        });
        DesignRequest {
            query: request.query.clone(),
            constraints: request.constraints.clone(),
            budget_usd: request
                .budget_usd
                .unwrap_or(self.executor.config().default_budget_usd),
            task,
            greedy: false,
        }
    }

    /// Runs `request` as `principal` under `run_id` (see the module docs)
    /// and returns the durable rollout. Errors are for requests that cannot
    /// run (bad spec, nothing to route to, budget too small for any
    /// workflow) and for a run log that cannot be written; a run that fails
    /// midway is a rollout with a failed trace.
    pub async fn run(
        &self,
        principal: &Principal,
        request: &RunRequest,
        run_id: Option<String>,
    ) -> Result<Rollout, MetaAgentError> {
        let run_id = run_id.unwrap_or_else(new_run_id);
        let (spec, design) = match &request.spec {
            Some(spec) => (spec.clone(), None),
            None => {
                let design = self.design(principal, self.design_request(request)).await?;
                (design.response.spec.clone(), Some(design))
            }
        };
        let mut trace = self
            .executor
            .run_as(run_id.clone(), principal, &spec, request)
            .await?;
        let score = self.executor.score(principal, request, &mut trace).await?;
        if let Some(score) = &score {
            self.executor
                .feedback(principal, &request.query, &spec, &trace, score.value)
                .await;
            if let Some(design) = &design {
                let mut cases = vec![design.case(score.value, trace.cost_usd)];
                cases.extend(design.counterfactual_cases(&trace, score.value));
                let designer = self.designer.clone();
                tokio::task::spawn_blocking(move || designer.record_all(&cases))
                    .await
                    .map_err(|e| MetaAgentError::Worker {
                        message: e.to_string(),
                    })??;
            }
        }
        let rollout = Rollout {
            run_id,
            finished_at_ms: now_ms(),
            query: request.query.clone(),
            task_id: request.task.as_ref().map(|t| t.id.clone()),
            design: design.map(|d| DesignChoice {
                pattern: d.response.pattern.as_str().to_string(),
                arm: d.response.arm,
                expected_cost_usd: d.response.expected_cost_usd,
                design_micros: d.response.design_micros,
            }),
            spec,
            trace,
        };
        let (runs, tenant, line) = (self.runs.clone(), principal.tenant.clone(), rollout.clone());
        tokio::task::spawn_blocking(move || runs.finish(&tenant, &line))
            .await
            .map_err(|e| MetaAgentError::Worker {
                message: e.to_string(),
            })??;
        Ok(rollout)
    }
}
