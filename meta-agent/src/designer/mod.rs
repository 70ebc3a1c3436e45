//! The workflow designer: per query, which workflow to run and with which
//! agents, learned from the scores of past runs.
//!
//! A design goes in four steps:
//!
//! 1. **Roles.** The task's kind gives each role a text ("debug and repair
//!    Python code that fails its tests", see [`Roles`]); the router finds
//!    the candidates for each ([`Designer::design_embedded`] routes them by
//!    vector, embedding each role text once per process).
//! 2. **Arms.** Each pattern of the library ([`Pattern`]: `single`,
//!    `vote-of-3`, `generate-test-revise`, `generate-review-revise`,
//!    `ensemble-judge`, `plan-solve-verify`, `generate-test-escalate`) is
//!    bound to agents: an arm is a pattern plus the agents of its main
//!    steps, enumerated over the top [`DesignerConfig::candidates_per_role`]
//!    candidates of their roles; single-agent and cascade arms add
//!    [`DesignerConfig::explore_generators`] generators from deeper in the
//!    router's list, chosen by the upper confidence bound of their quality,
//!    so a generator the router ranks low still gets tried (and kept, if it
//!    proves good). A cascade escalates to the best other generator of
//!    that pool by quality net of cost.
//! 3. **Choice.** Arms whose expected cost exceeds the budget are dropped;
//!    each other arm is valued by a Thompson sample of its score on queries
//!    like this one (kNN-smoothed Beta posteriors over the case memory, see
//!    `policy`) minus `λ·expected cost + μ·nodes`, and the best wins.
//!    Two rules about where exploring is paid for: on a task with tests a
//!    winning single-agent arm runs as the cascade from the same generator
//!    (the same answer whenever it passes the tests, a second generator's
//!    only when it fails, when the single answer would have scored 0); and
//!    once `EXPLORE_WHERE_TESTED_MIN` (20) cases of testing patterns are
//!    recorded near the query (or in the whole memory, while fewer than 20
//!    cases of any kind are near it: the posteriors then rest on global
//!    records too), a task without tests takes each arm's posterior mean
//!    rather than a draw: a failed exploration there is a wrong answer
//!    delivered, while tested tasks, where the cascade catches it, keep
//!    exploring.
//! 4. **Spec.** The chosen arm becomes a [`WorkflowSpec`] with its agents
//!    pinned as `name@=version`, the budget split over the steps in
//!    proportion to their expected cost; it passes [`validate_workflow`].
//!    An ensemble step stays unpinned (a node pins one agent): its agents
//!    are the router's top three for the role, which its cost assumes.
//!
//! After the run, the caller records the [`Case`] ([`Design::case`]), and
//! the single-agent cases the run's tests imply
//! ([`Design::counterfactual_cases`]): a case's score and cost are kept
//! apart, so the reward
//! `score − λ·cost − μ·nodes` ([`DesignerConfig::reward`]) can be recomputed
//! with other weights. Cases persist in `designer.redb` under the data
//! directory, the oldest evicted beyond [`DesignerConfig::capacity`].
//!
//! Everything here is synchronous CPU work (and an fsync in
//! [`Designer::record`]): call it from a blocking thread. Given the same
//! memory, candidates and seeded RNG, a design is deterministic.

mod arms;
mod cost;
mod patterns;
mod policy;
mod similarity;
mod stats;
mod store;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use rand::Rng;
use switchyard_router::Router;
use switchyard_router::registry::Principal;
use switchyard_router::registry::embedder::Embedder;
use switchyard_schemas::FieldError;
use switchyard_schemas::design::{ArmValue, DesignRequest, DesignResponse, DesignerStats, Pattern, TaskKind};
use switchyard_schemas::manifest::CapabilityVector;
use switchyard_schemas::route::{RouteCandidate, RouteRequest};
use switchyard_schemas::run::{NodeOutcome, RunTrace};
use switchyard_schemas::workflow::{MAX_NODES, Op, Until, WorkflowSpec, validate_workflow};

pub use patterns::{Role, Roles};

use crate::MetaAgentError;
use patterns::{Calls, ENSEMBLE_N};
use store::CaseStore;

/// Most role texts whose vectors are kept; beyond it the cache starts over
/// (role texts are templates, so this only bounds odd languages).
const ROLE_VECTORS_MAX: usize = 256;
/// Generators routed per explorer slot, to choose the explorers from.
const EXPLORE_DEPTH: usize = 4;
/// Longest recorded arm key: a pattern and a few pins.
const ARM_MAX: usize = 1000;
/// Cases of testing patterns near a query (or in all, while fewer cases are
/// near it) after which a task without tests is no longer explored on.
const EXPLORE_WHERE_TESTED_MIN: usize = 20;
/// Most values of a recorded query vector.
const VECTOR_MAX: usize = 4096;

/// Tuning of the designer.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignerConfig {
    /// λ: reward lost per US dollar spent (the published anchors' 3).
    pub lambda_per_usd: f64,
    /// μ: reward lost per workflow node, preferring the simpler of two
    /// equally good workflows.
    pub mu_per_node: f64,
    /// Router candidates per main slot: `k` of the arm enumeration.
    pub candidates_per_role: usize,
    /// Generators beyond the router's top `k` that get a single-agent arm,
    /// picked by the upper confidence bound of their quality: how a
    /// generator the router ranks low gets tried at all.
    pub explore_generators: usize,
    /// Nearest past cases per arm in its posterior.
    pub neighbours: usize,
    /// Similarity bandwidth `h` of the neighbour weights `exp((c − 1)/h)`.
    pub bandwidth: f64,
    /// Cases less similar to the query than this are no neighbours: they
    /// count only through their arm's global record.
    pub min_similarity: f64,
    /// `G`: the most observations an arm's global record adds.
    pub global_strength: f64,
    /// `A`: the most observations the router's estimate of an arm's agents
    /// adds to the arm's prior.
    pub agent_prior_strength: f64,
    /// `P`: the most observations a pattern's record (its mean score over
    /// all its cases) adds to the prior of each of its arms.
    pub pattern_prior_strength: f64,
    /// Most cases kept; the oldest are evicted.
    pub capacity: usize,
}

impl Default for DesignerConfig {
    fn default() -> Self {
        DesignerConfig {
            lambda_per_usd: 3.0,
            mu_per_node: 0.01,
            candidates_per_role: 3,
            explore_generators: 2,
            neighbours: 128,
            bandwidth: 0.35,
            min_similarity: 0.3,
            global_strength: 4.0,
            agent_prior_strength: 4.0,
            pattern_prior_strength: 4.0,
            capacity: 10_000,
        }
    }
}

impl DesignerConfig {
    /// `score − λ·cost − μ·nodes`.
    pub fn reward(&self, score: f64, cost_usd: f64, nodes: usize) -> f64 {
        score - self.lambda_per_usd * cost_usd - self.mu_per_node * nodes as f64
    }
}

/// The router's candidates for each role, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleCandidates {
    pub generate: Vec<RouteCandidate>,
    pub revise: Vec<RouteCandidate>,
    pub review: Vec<RouteCandidate>,
    pub judge: Vec<RouteCandidate>,
    pub plan: Vec<RouteCandidate>,
}

impl RoleCandidates {
    pub fn get(&self, role: Role) -> &[RouteCandidate] {
        match role {
            Role::Generate => &self.generate,
            Role::Revise => &self.revise,
            Role::Review => &self.review,
            Role::Judge => &self.judge,
            Role::Plan => &self.plan,
        }
    }

    fn set(&mut self, role: Role, candidates: Vec<RouteCandidate>) {
        match role {
            Role::Generate => self.generate = candidates,
            Role::Revise => self.revise = candidates,
            Role::Review => self.review = candidates,
            Role::Judge => self.judge = candidates,
            Role::Plan => self.plan = candidates,
        }
    }
}

/// A design from candidates the caller routed itself
/// ([`Designer::design_from`]).
#[derive(Debug, Clone, Copy)]
pub struct DesignInput<'a> {
    /// Its `constraints` are not read: they shaped the candidates.
    pub request: &'a DesignRequest,
    /// The query's embedding.
    pub query_vector: &'a [f32],
    /// For the roles of [`roles_to_route`].
    pub candidates: &'a RoleCandidates,
}

/// A designed workflow, and what recording its outcome needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    pub response: DesignResponse,
    /// The query's embedding, unit length: the context of the case.
    pub query_vector: Vec<f32>,
    /// Whether the task has tests: its cases were learnt where failures
    /// are caught.
    pub tested: bool,
}

impl Design {
    /// The case to record once the spec has run: its score in [0, 1] and
    /// what it cost.
    pub fn case(&self, score: f64, cost_usd: f64) -> Case {
        let spec = &self.response.spec;
        Case {
            query_vector: self.query_vector.clone(),
            pattern: self.response.pattern,
            arm: self.response.arm.clone(),
            agents: spec.nodes.iter().filter_map(|n| n.agent.clone()).collect(),
            nodes: spec.nodes.len() as u32,
            score,
            cost_usd,
            tested: self.tested,
        }
    }
}

impl Design {
    /// What the run of this design says about arms that did not run: the
    /// single-agent arm of a generator whose answer a loop then tested.
    /// A loop that stops once the tests pass and ran no round means the
    /// generator's answer alone scored the run's `score`; one that ran a
    /// round means the answer failed the tests, so alone it would have
    /// scored 0. Both are what `single(generator)` would have recorded on
    /// this query, so cascades and repair loops teach the policy about
    /// single agents too, which is all a task without tests can use.
    pub fn counterfactual_cases(&self, trace: &RunTrace, score: f64) -> Vec<Case> {
        let spec = &self.response.spec;
        let ran = |id: &str| trace.nodes.iter().find(|n| n.id == id);
        let mut cases = Vec::new();
        for generate in spec
            .nodes
            .iter()
            .filter(|n| n.op == Op::Generate && n.inputs.is_empty())
        {
            let Some(pin) = &generate.agent else { continue };
            let arm = arms::key(Pattern::Single, std::slice::from_ref(pin));
            if arm == self.response.arm {
                continue;
            }
            let Some(first) = ran(&generate.id).filter(|n| n.outcome == NodeOutcome::Ok) else {
                continue;
            };
            let tested_by = spec.nodes.iter().find(|n| {
                n.op == Op::Loop
                    && n.params.until == Some(Until::TestsPass)
                    && n.inputs == [generate.id.clone()]
            });
            let Some(check) = tested_by.and_then(|n| ran(&n.id)) else {
                continue;
            };
            if check.outcome != NodeOutcome::Ok {
                continue;
            }
            cases.push(Case {
                query_vector: self.query_vector.clone(),
                pattern: Pattern::Single,
                arm,
                agents: vec![pin.clone()],
                nodes: 1,
                score: if check.calls.is_empty() { score } else { 0.0 },
                cost_usd: first.cost_usd,
                tested: true,
            });
        }
        cases
    }
}

/// One recorded outcome: the query's context, what ran, how well, at what
/// cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub query_vector: Vec<f32>,
    pub pattern: Pattern,
    /// The arm key of [`DesignResponse::arm`].
    pub arm: String,
    /// Every pinned agent of the spec, for inspection.
    pub agents: Vec<String>,
    /// Nodes of the spec: its complexity in the reward.
    pub nodes: u32,
    /// In [0, 1].
    pub score: f64,
    pub cost_usd: f64,
    /// Whether the task had tests (cases of testing patterns always do):
    /// see `EXPLORE_WHERE_TESTED_MIN`.
    pub tested: bool,
}

/// The roles worth routing for a task: those some pattern it allows uses.
pub fn roles_to_route(tests: bool) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|&role| {
            Pattern::ALL.into_iter().any(|p| {
                (tests || !patterns::needs_tests(p))
                    && ((role == Role::Generate && patterns::has_ensemble(p))
                        || patterns::slots(p).iter().any(|s| s.role == role))
            })
        })
        .collect()
}

/// The designer: its configuration and case memory.
#[derive(Debug)]
pub struct Designer {
    config: DesignerConfig,
    store: CaseStore,
    /// Role text → its vector, per embedding space.
    role_vectors: Mutex<HashMap<(String, String), Vec<f32>>>,
}

impl Designer {
    /// Opens (or creates) the case memory in `data_dir/designer.redb`.
    pub fn open(data_dir: &Path, config: DesignerConfig) -> Result<Designer, MetaAgentError> {
        Ok(Designer {
            store: CaseStore::open(data_dir, config.capacity)?,
            config,
            role_vectors: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &DesignerConfig {
        &self.config
    }

    /// Embeds the query with the router's embedder, then
    /// [`design_embedded`](Self::design_embedded). Blocking.
    pub fn design<R: Rng + ?Sized>(
        &self,
        router: &Router,
        principal: &Principal,
        request: &DesignRequest,
        rng: &mut R,
    ) -> Result<Design, MetaAgentError> {
        validate(request)?;
        let start = Instant::now();
        let embedder = router.catalog().embedder().embedder();
        let vector = embedder
            .embed(&request.query)
            .map_err(|source| MetaAgentError::Embed {
                text: clip(&request.query),
                source,
            })?;
        let embed_micros = micros(start);
        let mut design = self.design_embedded(router, principal, request, vector, rng)?;
        design.response.embed_micros += embed_micros;
        Ok(design)
    }

    /// Routes each role of [`roles_to_route`] under the request's
    /// constraints (the generate role of a prose task by `query_vector`, the
    /// query's embedding in the router's space), then
    /// [`design_from`](Self::design_from). Blocking.
    pub fn design_embedded<R: Rng + ?Sized>(
        &self,
        router: &Router,
        principal: &Principal,
        request: &DesignRequest,
        query_vector: Vec<f32>,
        rng: &mut R,
    ) -> Result<Design, MetaAgentError> {
        validate(request)?;
        let task = request.task.clone().unwrap_or_default();
        let roles = Roles::new(&request.query, &task);
        let embedder = router.catalog().embedder().embedder();
        let space = embedder.space().name.clone();
        let k = self.config.candidates_per_role.max(ENSEMBLE_N);
        // The explorers of `arms::single_pool` come from deeper in the list.
        let generate_k = k + self.config.explore_generators * EXPLORE_DEPTH;
        let start = Instant::now();
        let mut embed_micros = 0;
        let mut candidates = RoleCandidates::default();
        for role in roles_to_route(task.tests) {
            let text = roles.text(role);
            let values = if role == Role::Generate && task.kind == TaskKind::Text {
                query_vector.clone()
            } else {
                let (vector, micros) = self.role_vector(embedder.as_ref(), text)?;
                embed_micros += micros;
                vector
            };
            let route = RouteRequest {
                vector: Some(CapabilityVector {
                    space: space.clone(),
                    values,
                }),
                k: Some(if role == Role::Generate { generate_k } else { k }),
                constraints: request.constraints.clone(),
                ..RouteRequest::default()
            };
            let found = router
                .route_blocking(principal, &route)
                .map_err(|source| MetaAgentError::Route {
                    role: text.to_string(),
                    source: Box::new(source),
                })?;
            candidates.set(role, found.candidates);
        }
        let route_micros = micros(start).saturating_sub(embed_micros);
        let input = DesignInput {
            request,
            query_vector: &query_vector,
            candidates: &candidates,
        };
        let mut design = self.design_from(&input, rng)?;
        design.response.route_micros = route_micros;
        design.response.embed_micros = embed_micros;
        Ok(design)
    }

    /// Chooses an arm for routed candidates and instantiates it: no
    /// embedding, no routing (its `design_micros` is all of it).
    ///
    /// Fails when the generate role has no candidate
    /// ([`MetaAgentError::NoCandidates`]) or no arm's expected cost fits the
    /// budget ([`MetaAgentError::OverBudget`]).
    pub fn design_from<R: Rng + ?Sized>(
        &self,
        input: &DesignInput<'_>,
        rng: &mut R,
    ) -> Result<Design, MetaAgentError> {
        let start = Instant::now();
        let request = input.request;
        validate(request)?;
        let query = unit(input.query_vector).ok_or_else(|| MetaAgentError::InvalidDesignRequest {
            problems: vec![FieldError::new(
                "query",
                "its embedding is empty, not finite or zero",
            )],
        })?;
        let task = request.task.clone().unwrap_or_default();
        let roles = Roles::new(&request.query, &task);
        if input.candidates.generate.is_empty() {
            return Err(MetaAgentError::NoCandidates {
                role: roles.text(Role::Generate).to_string(),
            });
        }

        let arms = arms::enumerate(
            input.candidates,
            task.tests,
            self.config.candidates_per_role,
            self.config.explore_generators,
            self.config.lambda_per_usd,
        );
        let (posteriors, taught) = {
            let memory = self.store.read();
            let taught = !task.tests
                && policy::taught_by_tests(&memory, &query, &self.config, EXPLORE_WHERE_TESTED_MIN);
            let ids: Vec<Option<u32>> = arms.iter().map(|a| memory.arm_id(&a.key)).collect();
            let priors: Vec<_> = arms.iter().map(|a| a.agent_prior).collect();
            let patterns: Vec<Pattern> = arms.iter().map(|a| a.pattern).collect();
            let posteriors = policy::posteriors(&memory, &query, &ids, &priors, &patterns, &self.config);
            (posteriors, taught)
        };
        // Exploring costs failed tasks. Where tests catch a failing answer
        // (a cascade escalates it) that cost is small; where nothing does, it
        // is a wrong answer delivered. So once tested tasks like this one
        // have taught the policy, a task without tests gets the best-known
        // arm, not a draw.
        let greedy = request.greedy || taught;
        let budget = request.budget_usd;
        let mut best: Option<(usize, f64)> = None;
        let mut alternatives: Vec<ArmValue> = Vec::with_capacity(arms.len());
        for (i, (arm, posterior)) in arms.iter().zip(&posteriors).enumerate() {
            let fits_budget = arm.expected_cost <= budget;
            let (success, value) = if fits_budget {
                let success = if greedy {
                    posterior.mean()
                } else {
                    posterior.draw(rng)
                };
                let value = self.config.reward(success, arm.expected_cost, arm.steps.len());
                if best.is_none_or(|(_, v)| value > v) {
                    best = Some((i, value));
                }
                (Some(success), Some(value))
            } else {
                (None, None)
            };
            alternatives.push(ArmValue {
                arm: arm.key.clone(),
                pattern: arm.pattern,
                expected_cost_usd: arm.expected_cost,
                fits_budget,
                success,
                value,
                evidence: posterior.evidence,
            });
        }
        let Some((chosen, _)) = best else {
            return Err(MetaAgentError::OverBudget {
                budget_usd: budget,
                cheapest_usd: arms.iter().map(|a| a.expected_cost).fold(f64::INFINITY, f64::min),
            });
        };
        alternatives.sort_by(|a, b| {
            b.fits_budget
                .cmp(&a.fits_budget)
                .then_with(|| match (a.value, b.value) {
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    _ => a.expected_cost_usd.total_cmp(&b.expected_cost_usd),
                })
        });

        let chosen = if task.tests {
            checked_single(&arms, chosen, budget)
        } else {
            chosen
        };
        let arm = &arms[chosen];
        let calls_agent: Vec<bool> = arm
            .steps
            .iter()
            .map(|s| !matches!(s.calls, Calls::None))
            .collect();
        let shares = cost::split(budget, &arm.costs, &calls_agent);
        let spec = WorkflowSpec {
            nodes: arm
                .steps
                .iter()
                .zip(shares)
                .map(|(step, share)| step.node(&roles, share))
                .collect(),
            output: arm.steps.last().map_or("", |s| s.id).to_string(),
            budget_usd: Some(budget),
        };
        validate_workflow(&spec).map_err(|problems| MetaAgentError::InvalidDesign { problems })?;
        Ok(Design {
            response: DesignResponse {
                spec,
                pattern: arm.pattern,
                arm: arm.key.clone(),
                expected_cost_usd: arm.expected_cost,
                design_micros: micros(start),
                route_micros: 0,
                embed_micros: 0,
                alternatives,
            },
            query_vector: query,
            tested: task.tests,
        })
    }

    /// Records the outcome of a designed workflow durably (fsync).
    pub fn record(&self, case: &Case) -> Result<(), MetaAgentError> {
        self.record_all(std::slice::from_ref(case))
    }

    /// Records several cases of one run (its own and its counterfactuals)
    /// durably in one transaction: all or none, one fsync.
    pub fn record_all(&self, cases: &[Case]) -> Result<(), MetaAgentError> {
        let checked = cases.iter().map(checked).collect::<Result<Vec<Case>, _>>()?;
        self.store.record_all(&checked)
    }

    /// Counts and means per pattern and per arm.
    pub fn stats(&self) -> DesignerStats {
        stats::compute(&self.store.read(), &self.config, self.store.capacity())
    }

    /// The vector of a role text, cached, and the microseconds spent
    /// embedding it (0 when cached).
    fn role_vector(&self, embedder: &dyn Embedder, text: &str) -> Result<(Vec<f32>, u64), MetaAgentError> {
        let key = (embedder.space().name.clone(), text.to_string());
        let cached = self
            .role_vectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(vector) = cached {
            return Ok((vector, 0));
        }
        let start = Instant::now();
        let vector = embedder.embed(text).map_err(|source| MetaAgentError::Embed {
            text: text.to_string(),
            source,
        })?;
        let spent = micros(start);
        let mut cache = self.role_vectors.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= ROLE_VECTORS_MAX {
            cache.clear();
        }
        cache.insert(key, vector.clone());
        Ok((vector, spent))
    }
}

/// With tests, the arm to run in place of arm `chosen` when that is a
/// single agent: the cascade from the same generator, if it fits the
/// budget. It returns the same answer whenever that answer passes the
/// tests, at the same cost, and asks a second generator only when it
/// fails, when the single arm would almost surely have scored 0.
fn checked_single(arms: &[arms::Arm<'_>], chosen: usize, budget: f64) -> usize {
    fn first<'a>(arm: &arms::Arm<'a>) -> Option<&'a RouteCandidate> {
        arm.steps.first().and_then(|s| s.calls.pinned())
    }
    let arm = &arms[chosen];
    let (Pattern::Single, Some(generator)) = (arm.pattern, first(arm)) else {
        return chosen;
    };
    arms.iter()
        .position(|a| {
            a.pattern == Pattern::GenerateTestEscalate
                && a.expected_cost <= budget
                && first(a).is_some_and(|g| g.agent == generator.agent && g.version == generator.version)
        })
        .unwrap_or(chosen)
}

/// `case` with its vector scaled to unit length, if every field is in
/// range.
fn checked(case: &Case) -> Result<Case, MetaAgentError> {
    let invalid = |message: &str| MetaAgentError::InvalidCase {
        message: message.to_string(),
    };
    if !(case.score.is_finite() && (0.0..=1.0).contains(&case.score)) {
        return Err(invalid("score must be between 0 and 1"));
    }
    if !(case.cost_usd.is_finite() && case.cost_usd >= 0.0) {
        return Err(invalid("cost_usd must be a finite number ≥ 0"));
    }
    if case.arm.is_empty() || case.arm.chars().count() > ARM_MAX {
        return Err(invalid("arm must be 1 to 1000 characters"));
    }
    if case.nodes == 0 || case.nodes as usize > MAX_NODES || case.agents.len() > MAX_NODES {
        return Err(invalid("nodes and agents must fit a workflow (1 to 32 nodes)"));
    }
    if case.query_vector.len() > VECTOR_MAX {
        return Err(invalid("query_vector has more than 4096 values"));
    }
    let query_vector =
        unit(&case.query_vector).ok_or_else(|| invalid("query_vector is empty, not finite or zero"))?;
    Ok(Case {
        query_vector,
        ..case.clone()
    })
}

fn validate(request: &DesignRequest) -> Result<(), MetaAgentError> {
    switchyard_schemas::design::validate_design_request(request)
        .map_err(|problems| MetaAgentError::InvalidDesignRequest { problems })
}

/// `v` scaled to unit length; `None` if empty, not finite or zero.
fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

/// The start of a long text, for error messages.
fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use switchyard_schemas::design::TaskProfile;

    use super::testing::{fleet, request};
    use super::*;

    fn designer(dir: &Path) -> Designer {
        Designer::open(dir, DesignerConfig::default()).unwrap()
    }

    fn design(designer: &Designer, request: &DesignRequest, seed: u64) -> Result<Design, MetaAgentError> {
        let candidates = fleet();
        let input = DesignInput {
            request,
            query_vector: &[0.6, 0.8],
            candidates: &candidates,
        };
        designer.design_from(&input, &mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn every_arm_of_every_pattern_is_a_valid_spec_within_budget() {
        let candidates = fleet();
        let task = request(1.0).task.unwrap();
        let roles = Roles::new("q", &task);
        let arms = arms::enumerate(&candidates, true, 3, 0, 3.0);
        for p in Pattern::ALL {
            assert!(arms.iter().any(|a| a.pattern == p), "{p:?} has an arm");
        }
        for arm in &arms {
            for budget in [arm.expected_cost, 1.0] {
                let agent: Vec<bool> = arm
                    .steps
                    .iter()
                    .map(|s| !matches!(s.calls, Calls::None))
                    .collect();
                let shares = cost::split(budget, &arm.costs, &agent);
                let sum: f64 = shares.iter().flatten().sum();
                assert!(sum <= budget * (1.0 + 1e-9), "{}: {sum} > {budget}", arm.key);
                for (share, cost) in shares.iter().zip(&arm.costs) {
                    assert!(share.is_none_or(|s| s >= cost * (1.0 - 1e-9)), "{}", arm.key);
                }
                let spec = WorkflowSpec {
                    nodes: arm
                        .steps
                        .iter()
                        .zip(shares)
                        .map(|(s, b)| s.node(&roles, b))
                        .collect(),
                    output: arm.steps.last().unwrap().id.into(),
                    budget_usd: Some(budget),
                };
                assert_eq!(validate_workflow(&spec), Ok(()), "{}", arm.key);
            }
        }
    }

    #[test]
    fn prose_tasks_get_no_testing_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        let mut req = request(1.0);
        req.task = Some(TaskProfile {
            kind: TaskKind::Text,
            language: None,
            tests: false,
        });
        let d = design(&designer, &req, 1).unwrap();
        assert!(
            d.response
                .alternatives
                .iter()
                .all(|a| !patterns::needs_tests(a.pattern))
        );
        assert_eq!(
            roles_to_route(false),
            [Role::Generate, Role::Revise, Role::Review, Role::Judge]
        );
        assert_eq!(roles_to_route(true), Role::ALL);
    }

    #[test]
    fn arms_over_budget_are_never_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        // Only gen-a (0.002) alone, or with the cheapest helpers, fits.
        let budget = 0.0045;
        for seed in 0..200 {
            let d = design(&designer, &request(budget), seed).unwrap();
            let r = &d.response;
            assert!(r.expected_cost_usd <= budget);
            let sum: f64 = r.spec.nodes.iter().filter_map(|n| n.budget_usd).sum();
            assert!(sum <= budget * (1.0 + 1e-9));
            assert_eq!(r.spec.budget_usd, Some(budget));
            let chosen = r.alternatives.iter().find(|a| a.arm == r.arm).unwrap();
            assert!(chosen.fits_budget);
            assert!(
                r.alternatives
                    .iter()
                    .filter(|a| a.fits_budget)
                    .all(|a| a.value <= chosen.value)
            );
        }
    }

    #[test]
    fn nothing_within_budget_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        let err = design(&designer, &request(0.001), 1).unwrap_err();
        let MetaAgentError::OverBudget {
            budget_usd,
            cheapest_usd,
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(budget_usd, 0.001);
        assert!((cheapest_usd - 0.002).abs() < 1e-12);
        let mut none = fleet();
        none.generate.clear();
        let req = request(1.0);
        let input = DesignInput {
            request: &req,
            query_vector: &[1.0],
            candidates: &none,
        };
        let err = designer
            .design_from(&input, &mut StdRng::seed_from_u64(1))
            .unwrap_err();
        assert!(matches!(err, MetaAgentError::NoCandidates { .. }), "{err}");
        let mut bad = request(-1.0);
        bad.query = String::new();
        let err = design(&designer, &bad, 1).unwrap_err();
        let MetaAgentError::InvalidDesignRequest { problems } = err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn designs_are_deterministic_given_the_seed_and_greedy_ignores_it() {
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        let a = design(&designer, &request(1.0), 7).unwrap();
        let b = design(&designer, &request(1.0), 7).unwrap();
        assert_eq!(a.response.arm, b.response.arm);
        assert_eq!(a.response.alternatives, b.response.alternatives);
        let mut greedy = request(1.0);
        greedy.greedy = true;
        let arms: std::collections::HashSet<String> = (0..20)
            .map(|seed| design(&designer, &greedy, seed).unwrap().response.arm)
            .collect();
        assert_eq!(arms.len(), 1);
    }

    #[test]
    fn with_tests_a_chosen_single_agent_runs_as_its_cascade() {
        use super::testing::case;
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        // gen-b alone has a long perfect record: the policy picks its arm.
        for _ in 0..40 {
            designer.record(&case("single(acme/gen-b@=1.0.0)", 1.0)).unwrap();
        }
        let mut req = request(1.0);
        req.greedy = true;
        let best_value = |d: &Design| {
            d.response
                .alternatives
                .iter()
                .filter_map(|a| a.value.map(|v| (v, a.arm.clone())))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap()
                .1
        };
        let tested = design(&designer, &req, 1).unwrap();
        assert_eq!(best_value(&tested), "single(acme/gen-b@=1.0.0)");
        assert_eq!(tested.response.pattern, Pattern::GenerateTestEscalate);
        assert!(
            tested
                .response
                .arm
                .starts_with("generate-test-escalate(acme/gen-b@=1.0.0, "),
            "{}",
            tested.response.arm
        );
        let first = &tested.response.spec.nodes[0];
        assert_eq!(first.agent.as_deref(), Some("acme/gen-b@=1.0.0"));

        // Without tests the single arm runs as it is; and within a budget
        // only the single fits, it runs alone too.
        req.task.as_mut().unwrap().tests = false;
        let untested = design(&designer, &req, 1).unwrap();
        assert_eq!(untested.response.arm, "single(acme/gen-b@=1.0.0)");
        let mut tight = request(0.0105);
        tight.greedy = true;
        let alone = design(&designer, &tight, 1).unwrap();
        assert_eq!(alone.response.arm, "single(acme/gen-b@=1.0.0)");
    }

    #[test]
    fn tasks_without_tests_exploit_once_tested_tasks_have_taught_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        let mut untested = request(1.0);
        untested.task.as_mut().unwrap().tests = false;
        let draws = |designer: &Designer, req: &DesignRequest| -> std::collections::HashSet<String> {
            (0..20)
                .map(|seed| design(designer, req, seed).unwrap().response.arm)
                .collect()
        };
        // Nothing learnt from tested tasks yet: a draw per design.
        assert!(draws(&designer, &untested).len() > 1);
        let mut cascade = super::testing::case(
            "generate-test-escalate(acme/gen-a@=1.0.0, acme/gen-b@=1.0.0)",
            1.0,
        );
        cascade.pattern = Pattern::GenerateTestEscalate;
        let mut far = cascade.clone();
        far.query_vector = vec![0.8, -0.6];

        // With nothing near the query the posteriors rest on global
        // records, and so does this: tested tasks anywhere teach it.
        let other = tempfile::tempdir().unwrap();
        let fresh = Designer::open(other.path(), DesignerConfig::default()).unwrap();
        for _ in 0..EXPLORE_WHERE_TESTED_MIN {
            fresh.record(&far).unwrap();
        }
        assert_eq!(draws(&fresh, &untested).len(), 1);

        // With a neighbourhood of its own (untested cases near it), only the
        // tested cases near it count.
        for _ in 0..EXPLORE_WHERE_TESTED_MIN {
            designer
                .record(&super::testing::case("single(acme/gen-c@=1.0.0)", 0.5))
                .unwrap();
            designer.record(&far).unwrap();
        }
        assert!(draws(&designer, &untested).len() > 1);
        for _ in 0..EXPLORE_WHERE_TESTED_MIN - 1 {
            designer.record(&cascade).unwrap();
        }
        assert!(draws(&designer, &untested).len() > 1);
        designer.record(&cascade).unwrap();
        // Now the best-known arm, whatever the seed; tested tasks still draw.
        assert_eq!(draws(&designer, &untested).len(), 1);
        assert!(draws(&designer, &request(1.0)).len() > 1);

        // Single-agent cases learnt on tasks with tests (what cascades
        // record of their first generator) count too, and survive a reopen.
        let third = tempfile::tempdir().unwrap();
        {
            let learnt = Designer::open(third.path(), DesignerConfig::default()).unwrap();
            let mut single = super::testing::case("single(acme/gen-c@=1.0.0)", 0.5);
            for _ in 0..EXPLORE_WHERE_TESTED_MIN {
                learnt.record(&single).unwrap();
            }
            assert!(draws(&learnt, &untested).len() > 1);
            single.tested = true;
            for _ in 0..EXPLORE_WHERE_TESTED_MIN {
                learnt.record(&single).unwrap();
            }
        }
        let reopened = Designer::open(third.path(), DesignerConfig::default()).unwrap();
        assert_eq!(draws(&reopened, &untested).len(), 1);
    }

    #[test]
    fn a_tested_generators_answer_records_what_its_single_arm_would_have_scored() {
        use switchyard_schemas::run::{CallTrace, NodeTrace, RunStatus};
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        let mut d = design(&designer, &request(1.0), 1).unwrap();
        let candidates = fleet();
        let arms = arms::enumerate(&candidates, true, 3, 0, 3.0);
        let cascade = arms
            .iter()
            .find(|a| a.pattern == Pattern::GenerateTestEscalate)
            .unwrap();
        let roles = Roles::new("q", &request(1.0).task.unwrap());
        d.response.arm = cascade.key.clone();
        d.response.pattern = cascade.pattern;
        d.response.spec.nodes = cascade.steps.iter().map(|s| s.node(&roles, None)).collect();
        let node = |id: &str, op: Op, calls: usize| NodeTrace {
            id: id.into(),
            op,
            outcome: NodeOutcome::Ok,
            error: None,
            agent: None,
            version: None,
            skill: None,
            attempts: calls as u32,
            latency_ms: 1,
            cost_usd: 0.002,
            input_bytes: 2,
            output_bytes: 2,
            tests: None,
            calls: (0..calls)
                .map(|_| CallTrace {
                    agent: "acme/gen-b".into(),
                    version: "1.0.0".into(),
                    skill: "skill".into(),
                    attempts: 1,
                    latency_ms: 1,
                    cost_usd: 0.01,
                    ok: true,
                    error: None,
                    over_reservation: false,
                })
                .collect(),
        };
        let trace = |escalated: usize| RunTrace {
            run_id: "r".into(),
            status: RunStatus::Succeeded,
            output: None,
            error: None,
            cost_usd: 0.002,
            budget_usd: 1.0,
            latency_ms: 2,
            nodes: vec![
                node("generate", Op::Generate, 1),
                node("escalate", Op::Loop, escalated),
            ],
            score: None,
        };
        // Not escalated: the first answer alone scored the run's 0.9.
        let cases = d.counterfactual_cases(&trace(0), 0.9);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].arm, "single(acme/gen-a@=1.0.0)");
        assert_eq!(
            (cases[0].pattern, cases[0].score, cases[0].nodes),
            (Pattern::Single, 0.9, 1)
        );
        // Escalated: the first answer failed the tests.
        let cases = d.counterfactual_cases(&trace(1), 1.0);
        assert_eq!(cases[0].score, 0.0);
        // A single arm's own run teaches nothing more.
        let single = arms.iter().find(|a| a.pattern == Pattern::Single).unwrap();
        d.response.arm = single.key.clone();
        d.response.spec.nodes = single.steps.iter().map(|s| s.node(&roles, None)).collect();
        assert!(d.counterfactual_cases(&trace(0), 1.0).is_empty());
    }

    #[test]
    fn the_reward_subtracts_cost_and_complexity() {
        let config = DesignerConfig::default();
        assert!((config.reward(0.9, 0.05, 3) - (0.9 - 0.15 - 0.03)).abs() < 1e-12);
        let stricter = DesignerConfig {
            lambda_per_usd: 10.0,
            mu_per_node: 0.0,
            ..config
        };
        assert!((stricter.reward(1.0, 0.01, 5) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn cases_are_checked_and_normalised_and_stats_recompute_rewards() {
        let dir = tempfile::tempdir().unwrap();
        let designer = designer(dir.path());
        let d = design(&designer, &request(1.0), 3).unwrap();
        let mut case = d.case(0.8, 0.02);
        assert_eq!(case.nodes as usize, d.response.spec.nodes.len());
        case.query_vector = vec![3.0, 4.0];
        designer.record(&case).unwrap();
        for bad in [
            Case {
                score: 1.5,
                ..case.clone()
            },
            Case {
                cost_usd: f64::NAN,
                ..case.clone()
            },
            Case {
                query_vector: vec![0.0, 0.0],
                ..case.clone()
            },
            Case {
                arm: String::new(),
                ..case.clone()
            },
        ] {
            assert!(matches!(
                designer.record(&bad),
                Err(MetaAgentError::InvalidCase { .. })
            ));
        }
        // A batch with one bad case writes none of it.
        let bad = Case {
            score: -0.1,
            ..case.clone()
        };
        assert!(matches!(
            designer.record_all(&[case.clone(), bad]),
            Err(MetaAgentError::InvalidCase { .. })
        ));
        let stats = designer.stats();
        assert_eq!(stats.cases, 1);
        assert_eq!(stats.arms[0].arm, d.response.arm);
        let expected = designer.config().reward(0.8, 0.02, case.nodes as usize);
        assert!((stats.arms[0].mean_reward - expected).abs() < 1e-12);
        assert_eq!(stats.patterns.len(), 1);
        assert_eq!(stats.patterns[0].pattern, d.response.pattern);
        let memory = designer.store.read();
        let stored = &memory.entries().next().unwrap().vector;
        assert!((stored.dot(stored) - 1.0).abs() < 0.01, "stored as a unit vector");
    }
}
