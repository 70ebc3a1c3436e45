//! The workflow benchmark (`switchyard bench workflows`): does a meta-agent
//! that learns from execution feedback match or beat hand-written
//! workflows, per task, at no more cost?
//!
//! Everything is real except the models: a temporary registry (redb store,
//! capability index, the ONNX model), every run of a replay data set served
//! as an HTTP agent on loopback and published with its manifest, the
//! executor calling those agents, and every answer scored by running the
//! problem's hidden tests in the sandbox. Workflows only ever see public
//! tests, parsed from the examples in the prompt.
//!
//! Arms:
//! - **fixed** workflows an engineer would write, with agents chosen by the
//!   router's own ranking for the capability (no feedback, no test results):
//!   the best-ranked single agent, vote-of-3 over the top three, and
//!   generate → test → revise with the best-ranked generator and reviser;
//! - **meta**: the designer choosing per task, learning online from each
//!   scored run (router statistics and case memory start empty per seed),
//!   tasks in a seeded random order, for several seeds.
//!
//! References, computed by testing every recorded answer directly: every
//! single agent, the best one in hindsight, and the oracle (a task counts
//! when any run's recorded answer solves it).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::json;
use switchyard_meta_agent::client::{AgentClient, ClientConfig};
use switchyard_meta_agent::designer::{Designer, DesignerConfig, Role, Roles};
use switchyard_meta_agent::executor::{Executor, ExecutorConfig};
use switchyard_meta_agent::replay::{Problem, ReplayDataset, RunRole, normalize_code};
use switchyard_meta_agent::runs::{RunStore, now_ms};
use switchyard_meta_agent::scorers::doctest::public_tests;
use switchyard_meta_agent::scorers::sandbox::{Sandbox, SandboxConfig};
use switchyard_meta_agent::service::MetaAgent;
use switchyard_registry::embedder::{EmbeddingService, OnnxEmbedder, ServiceConfig};
use switchyard_registry::index::IndexConfig;
use switchyard_registry::{AuthMode, Catalog, Principal, Registry};
use switchyard_router::Router;
use switchyard_schemas::design::{TaskKind, TaskProfile};
use switchyard_schemas::rollout::Rollout;
use switchyard_schemas::route::{RouteCandidate, RouteRequest};
use switchyard_schemas::run::{RunRequest, ScorerSpec, TaskSpec};
use switchyard_schemas::workflow::WorkflowSpec;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::replay_agents::{ReplayOptions, ReplayServer};

/// What to run.
#[derive(Debug, Clone)]
pub struct WorkflowBenchConfig {
    pub dataset: PathBuf,
    /// Most one task's workflow may spend.
    pub budget_usd: f64,
    /// One online pass of the meta-agent per seed.
    pub seeds: Vec<u64>,
    /// Multiplies the replay agents' modelled latency.
    pub time_scale: f64,
    /// Use a seeded sample of at most this many tasks.
    pub limit: Option<usize>,
    /// Tasks of a fixed arm run at once.
    pub concurrency: usize,
    /// Write every run's rollout here, one JSONL file per arm (and seed).
    pub traces: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct WorkflowBenchReport {
    pub dataset: String,
    pub tasks: usize,
    /// Tasks whose prompt shows examples, from which public tests were made.
    pub tasks_with_public_tests: usize,
    pub budget_usd: f64,
    pub time_scale: f64,
    pub seeds: Vec<u64>,
    pub arms: Vec<ArmReport>,
    pub best_fixed: String,
    pub best_single_hindsight: SingleReport,
    pub oracle: OracleReport,
    pub goal: GoalReport,
    /// Every generate run as a single agent, best first.
    pub singles: Vec<SingleReport>,
    pub meta_per_seed: Vec<SeedReport>,
    /// The meta-agent's accuracy as it learns, averaged over seeds.
    pub learning_curve: Vec<CurvePoint>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    pub name: String,
    /// `fixed` or `meta`.
    pub kind: &'static str,
    /// Share of tasks whose answer passed the hidden tests (mean over seeds
    /// for `meta`).
    pub accuracy: f64,
    /// Total over all tasks (mean over seeds for `meta`).
    pub cost_usd: f64,
    pub p50_latency_ms: f64,
    /// Choosing the workflow, excluding embedding and routing (`meta` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub design_latency_us_p50: Option<f64>,
    /// What the arm ran, for fixed arms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SingleReport {
    pub agent: String,
    pub accuracy: f64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct OracleReport {
    pub accuracy: f64,
    pub solved: usize,
}

#[derive(Debug, Serialize)]
pub struct GoalReport {
    pub meta_accuracy: f64,
    pub meta_cost_usd: f64,
    pub best_fixed_accuracy: f64,
    pub best_fixed_cost_usd: f64,
    /// (meta − best fixed) / (oracle − best fixed).
    pub gap_closed: f64,
    /// Meta accuracy ≥ best fixed at ≤ its cost, and at least half the gap
    /// to the oracle closed.
    pub met: bool,
}

#[derive(Debug, Serialize)]
pub struct SeedReport {
    pub seed: u64,
    pub accuracy: f64,
    pub cost_usd: f64,
    /// Accuracy over the last quarter of the tasks, once learned.
    pub final_quarter_accuracy: f64,
    /// How often each pattern was chosen.
    pub patterns: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct CurvePoint {
    /// Tasks run so far.
    pub tasks: usize,
    /// Accuracy over every task so far.
    pub cumulative: f64,
    /// Accuracy over the last [`WINDOW`] tasks.
    pub window: f64,
}

/// Tasks per point of the learning curve's moving window.
const WINDOW: usize = 20;

/// One task as every arm runs it.
#[derive(Debug, Clone)]
struct Task {
    problem: Problem,
    public_tests: Option<String>,
}

impl Task {
    fn request(&self, budget_usd: f64) -> RunRequest {
        let p = &self.problem;
        RunRequest {
            query: p.prompt.clone(),
            task: Some(TaskSpec {
                id: p.task_id.clone(),
                context: None,
                entry_point: Some(p.entry_point.clone()),
                tests: self.public_tests.clone(),
            }),
            budget_usd: Some(budget_usd),
            scorer: Some(ScorerSpec::Tests {
                source: p.test.clone(),
                entry_point: p.entry_point.clone(),
            }),
            ..RunRequest::default()
        }
    }
}

/// What one task's run came to.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    passed: bool,
    cost_usd: f64,
    latency_ms: f64,
    design_us: Option<f64>,
}

/// The registry, agents and sandbox every arm shares.
struct Bench {
    catalog: Arc<Catalog>,
    sandbox: Sandbox,
    client: AgentClient,
    principal: Principal,
    dir: tempfile::TempDir,
}

impl Bench {
    /// A router with empty statistics of its own under `name`.
    fn router(&self, name: &str) -> anyhow::Result<Arc<Router>> {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(Arc::new(Router::open(self.catalog.clone(), &dir)?))
    }

    fn executor(&self, router: Arc<Router>) -> Executor {
        Executor::new(
            router,
            self.client.clone(),
            Some(self.sandbox.clone()),
            ExecutorConfig::default(),
        )
    }
}

pub async fn run_workflow_bench(cfg: &WorkflowBenchConfig) -> anyhow::Result<WorkflowBenchReport> {
    anyhow::ensure!(
        cfg.budget_usd.is_finite() && cfg.budget_usd > 0.0,
        "--budget-usd must be > 0"
    );
    anyhow::ensure!(!cfg.seeds.is_empty(), "give at least one seed");
    let started = std::time::Instant::now();
    let dir = cfg.dataset.clone();
    let dataset = Arc::new(
        tokio::task::spawn_blocking(move || ReplayDataset::load(&dir))
            .await?
            .with_context(|| format!("loading {}", cfg.dataset.display()))?,
    );
    let mut problems: Vec<Problem> = dataset.problems().to_vec();
    if let Some(limit) = cfg.limit.filter(|&l| l < problems.len()) {
        problems.shuffle(&mut rand::rngs::StdRng::seed_from_u64(cfg.seeds[0]));
        problems.truncate(limit);
        problems.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    }
    let tasks: Vec<Task> = problems
        .into_iter()
        .map(|problem| Task {
            public_tests: public_tests(&problem.prompt, &problem.entry_point),
            problem,
        })
        .collect();
    tracing::info!(
        tasks = tasks.len(),
        runs = dataset.runs().len(),
        "workflow benchmark"
    );

    let options = ReplayOptions {
        time_scale: cfg.time_scale,
        ..ReplayOptions::default()
    };
    let server = ReplayServer::start(dataset.clone(), "127.0.0.1:0".parse()?, options).await?;
    let bench = Arc::new(setup(&server).await?);

    let answers = test_recorded_answers(&bench, &dataset, &tasks).await?;
    let (singles, oracle) = references(&dataset, &tasks, &answers);

    let mut arms = fixed_arms(&bench, &tasks, cfg).await?;
    let (meta_arm, meta_per_seed, learning_curve) = meta_arm(&bench, &tasks, cfg).await?;

    let best_fixed = arms
        .iter()
        .max_by(|a, b| {
            a.accuracy
                .total_cmp(&b.accuracy)
                .then(b.cost_usd.total_cmp(&a.cost_usd))
        })
        .cloned()
        .context("no fixed arm ran")?;
    let gap = oracle.accuracy - best_fixed.accuracy;
    let gap_closed = if gap > 0.0 {
        (meta_arm.accuracy - best_fixed.accuracy) / gap
    } else {
        0.0
    };
    let goal = GoalReport {
        meta_accuracy: meta_arm.accuracy,
        meta_cost_usd: meta_arm.cost_usd,
        best_fixed_accuracy: best_fixed.accuracy,
        best_fixed_cost_usd: best_fixed.cost_usd,
        gap_closed,
        met: meta_arm.accuracy >= best_fixed.accuracy
            && meta_arm.cost_usd <= best_fixed.cost_usd
            && gap_closed >= 0.5,
    };
    arms.push(meta_arm);
    server.stop().await?;
    Ok(WorkflowBenchReport {
        dataset: cfg.dataset.display().to_string(),
        tasks: tasks.len(),
        tasks_with_public_tests: tasks.iter().filter(|t| t.public_tests.is_some()).count(),
        budget_usd: cfg.budget_usd,
        time_scale: cfg.time_scale,
        seeds: cfg.seeds.clone(),
        best_fixed: best_fixed.name,
        best_single_hindsight: singles[0].clone(),
        oracle,
        goal,
        singles,
        arms,
        meta_per_seed,
        learning_curve,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn setup(server: &ReplayServer) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let embedder = tokio::task::spawn_blocking(|| {
        let e = OnnxEmbedder::load_default()?;
        e.warm_up()?;
        Ok::<_, anyhow::Error>(e)
    })
    .await??;
    let service = EmbeddingService::new(Arc::new(embedder), ServiceConfig::default());
    let store = Arc::new(Registry::open(dir.path(), AuthMode::Dev)?);
    let catalog = {
        let (store, path) = (store.clone(), dir.path().to_owned());
        Arc::new(
            tokio::task::spawn_blocking(move || Catalog::open(store, service, &path, IndexConfig::default()))
                .await??,
        )
    };
    let principal = Principal::superuser("bench", "bench");
    for manifest in server.manifests("replay")? {
        catalog.publish(&principal, manifest).await?;
    }
    Ok(Bench {
        catalog,
        sandbox: Sandbox::new(SandboxConfig::default()).await?,
        client: AgentClient::new(ClientConfig::default())?,
        principal,
        dir,
    })
}

/// Whether each distinct recorded answer passes its task's hidden tests,
/// keyed by (task id, normalised code); each is run once.
async fn test_recorded_answers(
    bench: &Arc<Bench>,
    dataset: &ReplayDataset,
    tasks: &[Task],
) -> anyhow::Result<HashMap<(String, String), bool>> {
    let mut distinct: HashMap<(String, String), (String, Problem)> = HashMap::new();
    for task in tasks {
        for run in dataset.runs() {
            if let Some(t) = run.task(&task.problem.task_id) {
                distinct
                    .entry((task.problem.task_id.clone(), normalize_code(&t.completion)))
                    .or_insert_with(|| (t.completion.clone(), task.problem.clone()));
            }
        }
    }
    let limit = Arc::new(Semaphore::new(2));
    let mut jobs = JoinSet::new();
    for (key, (code, problem)) in distinct {
        let (bench, limit) = (bench.clone(), limit.clone());
        jobs.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let run = bench
                .sandbox
                .run_tests(&code, &problem.test, &problem.entry_point)
                .await?;
            Ok::<_, anyhow::Error>((key, run.passed))
        });
    }
    let mut out = HashMap::new();
    while let Some(joined) = jobs.join_next().await {
        let (key, passed) = joined??;
        out.insert(key, passed);
    }
    Ok(out)
}

/// Every generate run as a single agent (best first) and the oracle.
fn references(
    dataset: &ReplayDataset,
    tasks: &[Task],
    answers: &HashMap<(String, String), bool>,
) -> (Vec<SingleReport>, OracleReport) {
    let passes = |task_id: &str, code: &str| {
        answers
            .get(&(task_id.to_string(), normalize_code(code)))
            .copied()
            .unwrap_or(false)
    };
    let mut singles: Vec<SingleReport> = dataset
        .runs()
        .iter()
        .filter(|r| r.run.role == RunRole::Generate)
        .map(|run| {
            let (mut solved, mut cost) = (0usize, 0.0);
            for task in tasks {
                let id = &task.problem.task_id;
                if let Some(t) = run.task(id) {
                    solved += usize::from(passes(id, &t.completion));
                    cost += dataset.task_cost(run.id(), id).map_or(0.0, |c| c.usd);
                }
            }
            SingleReport {
                agent: format!("replay/{}", run.id()),
                accuracy: solved as f64 / tasks.len().max(1) as f64,
                cost_usd: cost,
            }
        })
        .collect();
    singles.sort_by(|a, b| {
        b.accuracy
            .total_cmp(&a.accuracy)
            .then(a.cost_usd.total_cmp(&b.cost_usd))
    });
    let solved = tasks
        .iter()
        .filter(|task| {
            let id = &task.problem.task_id;
            dataset
                .runs()
                .iter()
                .filter_map(|run| run.task(id))
                .any(|t| passes(id, &t.completion))
        })
        .count();
    let oracle = OracleReport {
        accuracy: solved as f64 / tasks.len().max(1) as f64,
        solved,
    };
    (singles, oracle)
}

/// The router's ranking for a role, as an engineer reading it would use it.
fn ranked(bench: &Bench, router: &Router, role_text: &str, k: usize) -> anyhow::Result<Vec<RouteCandidate>> {
    let request = RouteRequest {
        query: Some(role_text.to_string()),
        k: Some(k),
        ..RouteRequest::default()
    };
    Ok(router.route_blocking(&bench.principal, &request)?.candidates)
}

fn pin(c: &RouteCandidate) -> String {
    format!("{}@={}", c.agent, c.version)
}

async fn fixed_arms(
    bench: &Arc<Bench>,
    tasks: &[Task],
    cfg: &WorkflowBenchConfig,
) -> anyhow::Result<Vec<ArmReport>> {
    let router = bench.router("fixed")?;
    let profile = TaskProfile {
        kind: TaskKind::Code,
        language: Some("Python".into()),
        tests: true,
    };
    // Code roles are templates, the same for every task: one ranking each.
    let roles = Roles::new("", &profile);
    let (b, r, gen_text, fix_text) = (
        bench.clone(),
        router.clone(),
        roles.text(Role::Generate).to_string(),
        roles.text(Role::Revise).to_string(),
    );
    let (generators, revisers) = tokio::task::spawn_blocking(move || {
        Ok::<_, anyhow::Error>((ranked(&b, &r, &gen_text, 3)?, ranked(&b, &r, &fix_text, 1)?))
    })
    .await??;
    anyhow::ensure!(
        generators.len() >= 3 && !revisers.is_empty(),
        "the data set needs at least three generate runs and one revise run"
    );
    let gen_role = roles.text(Role::Generate);
    let fix_role = roles.text(Role::Revise);
    let spec =
        |value: serde_json::Value| -> anyhow::Result<WorkflowSpec> { Ok(serde_json::from_value(value)?) };
    let single = spec(json!({
        "nodes": [{"id": "generate", "op": "generate", "role": gen_role, "agent": pin(&generators[0])}],
        "output": "generate"
    }))?;
    // (name, agents, spec, spec for tasks without public tests): with no
    // tests there is nothing to repair against, so the engineer's
    // generate → test → revise is just its generate step there.
    let arms = vec![
        (
            "best-single (router top-1)",
            vec![generators[0].agent.clone()],
            single.clone(),
            None,
        ),
        (
            "vote-of-3 (router top-3)",
            generators.iter().map(|c| c.agent.clone()).collect(),
            spec(json!({
                "nodes": [
                    {"id": "answers", "op": "ensemble", "role": gen_role, "params": {"n": 3}},
                    {"id": "vote", "op": "vote", "role": "majority vote", "inputs": ["answers"]}
                ],
                "output": "vote"
            }))?,
            None,
        ),
        (
            "generate-test-revise (router top-1 each)",
            vec![generators[0].agent.clone(), revisers[0].agent.clone()],
            spec(json!({
                "nodes": [
                    {"id": "generate", "op": "generate", "role": gen_role, "agent": pin(&generators[0])},
                    {"id": "repair", "op": "loop", "role": fix_role, "agent": pin(&revisers[0]),
                     "inputs": ["generate"],
                     "params": {"body": "revise", "until": "tests_pass", "max_rounds": 2}}
                ],
                "output": "repair"
            }))?,
            Some(single),
        ),
    ];
    let executor = bench.executor(router);
    let mut reports = Vec::new();
    for (name, agents, spec, untested) in arms {
        let (outcomes, rollouts) = run_fixed(bench, &executor, &spec, untested.as_ref(), tasks, cfg).await?;
        if let Some(dir) = &cfg.traces {
            write_rollouts(dir, name, &rollouts)?;
        }
        let mut report = summarise(name, "fixed", &[outcomes]);
        report.agents = Some(agents);
        tracing::info!(
            arm = name,
            accuracy = report.accuracy,
            cost = report.cost_usd,
            "fixed arm done"
        );
        reports.push(report);
    }
    Ok(reports)
}

/// Runs `spec` on every task, a few at a time; no feedback, so the router
/// stays as the engineer saw it.
async fn run_fixed(
    bench: &Arc<Bench>,
    executor: &Executor,
    spec: &WorkflowSpec,
    untested: Option<&WorkflowSpec>,
    tasks: &[Task],
    cfg: &WorkflowBenchConfig,
) -> anyhow::Result<(Vec<Outcome>, Vec<Rollout>)> {
    let limit = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let mut jobs = JoinSet::new();
    for (i, task) in tasks.iter().enumerate() {
        let spec = match untested {
            Some(fallback) if task.public_tests.is_none() => fallback.clone(),
            _ => spec.clone(),
        };
        let (bench, executor, limit) = (bench.clone(), executor.clone(), limit.clone());
        let request = task.request(cfg.budget_usd);
        jobs.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let mut trace = executor.run(&bench.principal, &spec, &request).await?;
            let score = executor.score(&bench.principal, &request, &mut trace).await?;
            let outcome = Outcome {
                passed: score.is_some_and(|s| s.value >= 1.0),
                cost_usd: trace.cost_usd,
                latency_ms: trace.latency_ms as f64,
                design_us: None,
            };
            let rollout = Rollout {
                run_id: trace.run_id.clone(),
                finished_at_ms: now_ms(),
                query: request.query.clone(),
                task_id: request.task.as_ref().map(|t| t.id.clone()),
                design: None,
                spec,
                trace,
            };
            Ok::<_, anyhow::Error>((i, outcome, rollout))
        });
    }
    let mut done = vec![None; tasks.len()];
    while let Some(joined) = jobs.join_next().await {
        let (i, outcome, rollout) = joined??;
        done[i] = Some((outcome, rollout));
    }
    Ok(done.into_iter().flatten().unzip())
}

/// Writes rollouts as JSONL to `dir/name.jsonl`.
fn write_rollouts(dir: &Path, name: &str, rollouts: &[Rollout]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{slug}.jsonl")))?);
    for r in rollouts {
        serde_json::to_writer(&mut out, r)?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}

async fn meta_arm(
    bench: &Arc<Bench>,
    tasks: &[Task],
    cfg: &WorkflowBenchConfig,
) -> anyhow::Result<(ArmReport, Vec<SeedReport>, Vec<CurvePoint>)> {
    let mut jobs = JoinSet::new();
    for &seed in &cfg.seeds {
        let (bench, tasks, budget, traces) =
            (bench.clone(), tasks.to_vec(), cfg.budget_usd, cfg.traces.clone());
        jobs.spawn(async move { one_seed(&bench, tasks, budget, seed, traces.as_deref()).await });
    }
    let mut per_seed = Vec::new();
    while let Some(joined) = jobs.join_next().await {
        per_seed.push(joined??);
    }
    per_seed.sort_by_key(|(report, _): &(SeedReport, Vec<Outcome>)| report.seed);
    let runs: Vec<Vec<Outcome>> = per_seed.iter().map(|(_, o)| o.clone()).collect();
    let arm = summarise("meta-agent (online)", "meta", &runs);
    let n = tasks.len();
    let learning_curve = (1..=n)
        .filter(|t| t % 4 == 0 || *t == n)
        .map(|t| {
            let mean = |from: usize| {
                runs.iter()
                    .map(|o| o[from..t].iter().filter(|x| x.passed).count() as f64 / (t - from) as f64)
                    .sum::<f64>()
                    / runs.len() as f64
            };
            CurvePoint {
                tasks: t,
                cumulative: mean(0),
                window: mean(t.saturating_sub(WINDOW)),
            }
        })
        .collect();
    Ok((
        arm,
        per_seed.into_iter().map(|(r, _)| r).collect(),
        learning_curve,
    ))
}

/// One online pass: fresh statistics and case memory, tasks in the seed's
/// order, each run designed, executed, scored, and learned from.
async fn one_seed(
    bench: &Arc<Bench>,
    mut tasks: Vec<Task>,
    budget_usd: f64,
    seed: u64,
    traces: Option<&Path>,
) -> anyhow::Result<(SeedReport, Vec<Outcome>)> {
    let name = format!("meta-{seed}");
    let router = bench.router(&name)?;
    let dir = bench.dir.path().join(&name);
    let designer = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || Designer::open(&dir, DesignerConfig::default())).await??
    };
    let runs = Arc::new(RunStore::open(&dir)?);
    let meta = MetaAgent::new(
        bench.executor(router),
        Arc::new(designer),
        runs.clone(),
        Some(seed),
    );
    tasks.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut outcomes = Vec::with_capacity(tasks.len());
    let mut patterns: BTreeMap<String, usize> = BTreeMap::new();
    for task in &tasks {
        let rollout = meta
            .run(&bench.principal, &task.request(budget_usd), None)
            .await
            .with_context(|| format!("seed {seed}, {}", task.problem.task_id))?;
        if let Some(d) = &rollout.design {
            *patterns.entry(d.pattern.clone()).or_default() += 1;
        }
        outcomes.push(Outcome {
            passed: rollout.trace.score.as_ref().is_some_and(|s| s.value >= 1.0),
            cost_usd: rollout.trace.cost_usd,
            latency_ms: rollout.trace.latency_ms as f64,
            design_us: rollout.design.as_ref().map(|d| d.design_micros as f64),
        });
    }
    let n = outcomes.len().max(1);
    let last = &outcomes[outcomes.len() - outcomes.len() / 4..];
    let report = SeedReport {
        seed,
        accuracy: outcomes.iter().filter(|o| o.passed).count() as f64 / n as f64,
        cost_usd: outcomes.iter().map(|o| o.cost_usd).sum(),
        final_quarter_accuracy: last.iter().filter(|o| o.passed).count() as f64 / last.len().max(1) as f64,
        patterns,
    };
    if let Some(traces) = traces {
        std::fs::create_dir_all(traces)?;
        let file = std::fs::File::create(traces.join(format!("meta-seed-{seed}.jsonl")))?;
        runs.export(None, &mut std::io::BufWriter::new(file))?;
    }
    tracing::info!(
        seed,
        accuracy = report.accuracy,
        cost = report.cost_usd,
        "meta-agent pass done"
    );
    Ok((report, outcomes))
}

/// Accuracy and cost averaged over runs, latencies pooled.
fn summarise(name: &str, kind: &'static str, runs: &[Vec<Outcome>]) -> ArmReport {
    let per_run =
        |f: &dyn Fn(&[Outcome]) -> f64| runs.iter().map(|o| f(o)).sum::<f64>() / runs.len().max(1) as f64;
    let accuracy = per_run(&|o| o.iter().filter(|x| x.passed).count() as f64 / o.len().max(1) as f64);
    let cost_usd = per_run(&|o| o.iter().map(|x| x.cost_usd).sum());
    let pooled = |f: &dyn Fn(&Outcome) -> Option<f64>| {
        let mut v: Vec<f64> = runs.iter().flatten().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    ArmReport {
        name: name.to_string(),
        kind,
        accuracy,
        cost_usd,
        p50_latency_ms: pooled(&|o| Some(o.latency_ms)).unwrap_or(0.0),
        design_latency_us_p50: pooled(&|o| o.design_us),
        agents: None,
    }
}

/// Writes the two plots of a report as one SVG: accuracy against cost, and
/// the meta-agent's learning curve against the fixed arms.
pub fn write_plot(report: &WorkflowBenchReport, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);

    let max_cost = report
        .arms
        .iter()
        .map(|a| a.cost_usd)
        .chain(report.singles.iter().map(|s| s.cost_usd))
        .fold(0.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption("Accuracy against cost", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_cost.max(1e-6), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc(format!("total cost, USD ({} tasks)", report.tasks))
        .y_desc("accuracy (hidden tests)")
        .draw()?;
    chart
        .draw_series(
            report
                .singles
                .iter()
                .map(|s| Circle::new((s.cost_usd, s.accuracy), 3, BLACK.mix(0.35).filled())),
        )?
        .label("single agents (hindsight)")
        .legend(|(x, y)| Circle::new((x, y), 3, BLACK.mix(0.35).filled()));
    for arm in &report.arms {
        let color = if arm.kind == "meta" { RED } else { BLUE };
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                (arm.cost_usd, arm.accuracy),
                7,
                color.filled(),
            )))?
            .label(arm.name.clone())
            .legend(move |(x, y)| TriangleMarker::new((x, y), 5, color.filled()));
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, report.oracle.accuracy), (max_cost, report.oracle.accuracy)],
            GREEN,
        )))?
        .label("oracle")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], GREEN));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let mut curve = ChartBuilder::on(&right)
        .caption("Meta-agent learning online", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0usize..report.tasks.max(1), 0.0..1.0)?;
    curve
        .configure_mesh()
        .x_desc("tasks run")
        .y_desc("accuracy")
        .draw()?;
    curve
        .draw_series(LineSeries::new(
            report.learning_curve.iter().map(|p| (p.tasks, p.window)),
            RED,
        ))?
        .label(format!("meta, last {WINDOW} tasks (mean of seeds)"))
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], RED));
    curve
        .draw_series(LineSeries::new(
            report.learning_curve.iter().map(|p| (p.tasks, p.cumulative)),
            RED.mix(0.4),
        ))?
        .label("meta, cumulative")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], RED.mix(0.4)));
    let best = report.goal.best_fixed_accuracy;
    curve
        .draw_series(std::iter::once(PathElement::new(
            vec![(0, best), (report.tasks, best)],
            BLUE,
        )))?
        .label(format!("best fixed: {}", report.best_fixed))
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLUE));
    curve
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
