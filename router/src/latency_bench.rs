//! The route-latency benchmark behind `switchyard bench route`: how long
//! [`Router::route`], the function the HTTP handler calls, takes at
//! catalogue scale, measured against issue 4's goals (one core: vector input
//! p99 ≤ 1 ms at 100k skills; text input p50 ≤ 5 ms including the embedding,
//! cache miss).
//!
//! # Data
//! A real registry (redb store, capability index, the committed model) with
//! synthetic agents, published through [`Catalog::publish_batch`], the
//! publish path of the HTTP handler with one durable commit per batch:
//! - skill vectors are client-supplied, clustered in the model's own space:
//!   the cluster centres are the model's embeddings of a tool catalogue
//!   (MetaTool's tools by default), a skill is its centre plus Gaussian noise,
//!   and it carries its tool's name and description, so the lexical term and
//!   text queries meet real text;
//! - policies and budgets vary as in `benches/load/publish_agents.py`: two of
//!   four data classes, one of four regions, cost per call uniform in
//!   $0.0005–0.05, p95 latency 500, 1000 or 3000 ms;
//! - ten tenants each own a namespace; 80% of agents are public, 10% private
//!   and 10% shared with one other tenant. Routes act as tenant `t00` with a
//!   route-scoped key (not an admin), so visibility is filtered too.
//!
//! The graphs of the sealed segments are built (the index's background tasks
//! are waited for) and the index snapshot persisted; the router then starts
//! from the data directory as a restarted server would, and that start is
//! timed.
//!
//! # Measurement
//! Each case routes its queries one at a time, back to back, after a few
//! untimed warm-up queries: so one core does the work of one route at a time.
//! Vector cases use fresh points of the clusters (centre plus noise, not
//! stored rows); the text case routes distinct texts (MetaTool's labelled
//! queries by default) never embedded before in the process, so every route
//! embeds its query (cache miss). The embedding alone is timed in a second
//! pass over the same texts on the raw model, which has no cache.
//!
//! Last, `vector_with_feedback` routes the unconstrained vector queries in a
//! fleet with a history: a router over the same catalog whose statistics
//! (in a temporary directory, so the data directory stays as published)
//! hold records for a tenth of the skills, at most 10,000, and the outcome
//! of each route's top candidate is reported after it (untimed), as the
//! executor does. Every skill a route scores without a record of its own
//! then needs a neighbour prior: just after the router's start these are
//! built by its background thread while the case runs;
//! `vector_with_feedback_settled` routes the same queries again once that
//! thread is idle (a server whose skills all have their lists). Both count
//! towards the vector goal.
//!
//! Wall-clock times on a shared machine include waiting for a core, so the
//! unconstrained vector queries are also routed on the calling thread
//! ([`Router::route_blocking`]) with that thread's mean on-CPU time per
//! route read from the scheduler, and so is the embedding pass: the work
//! one core does, without the waits for a core.
//!
//! # Data directory
//! With [`RouteBenchConfig::data_dir`] the registry is kept there with a
//! marker file describing its data, and the next run with the same data
//! opens it instead of republishing and rebuilding graphs (minutes at 100k
//! skills). A directory holding anything else is refused, never overwritten.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use switchyard_registry::embedder::Embedder;
use switchyard_registry::procstat::{percentile, thread_cpu_time};
use switchyard_registry::{Catalog, IndexOrigin, Principal};
use switchyard_schemas::api::Scope;
use switchyard_schemas::manifest::{
    AgentManifest, Budget, CapabilityVector, DataClass, Endpoint, LatencyBudget, Policy, Protocol, Provider,
    Skill, Visibility,
};
use switchyard_schemas::route::{
    Constraints, FeedbackRequest, MAX_QUERY_CHARS, QualityPrior, RouteRequest, RouteResponse,
};

use crate::bench::{QueryLine, ToolLine, load_embedder, open_catalog, read_jsonl, temp_dir};
use crate::error::{Result, RouterError};
use crate::stats::{Outcome, StatsKey};
use crate::{FeedbackStats, QualityConfig, Router, RouterConfig, StatsConfig};

/// Issue 4's goals, in milliseconds.
pub const VECTOR_P99_GOAL_MS: f64 = 1.0;
pub const TEXT_P50_GOAL_MS: f64 = 5.0;

const TENANTS: usize = 10;
const REGIONS: [&str; 4] = ["eu-west", "us-east", "ap-south", "eu-central"];
const DATA_CLASSES: [DataClass; 4] = [
    DataClass::Public,
    DataClass::Internal,
    DataClass::Confidential,
    DataClass::Pii,
];
const P95_MS: [u32; 3] = [500, 1000, 3000];
/// Noise of a skill (and of a vector query) around its unit-length centre,
/// as a norm: the skill's cosine to its centre is about 1/√(1 + 0.6²) ≈ 0.86.
const NOISE: f32 = 0.6;
/// Agents generated per step; each tenant's share is one durable commit.
const AGENTS_PER_STEP: usize = 1_000;
/// Candidates asked for, the router's default.
const K: usize = 5;
/// Version of the data a marker describes; bump when the generator changes.
const DATA_FORMAT: u32 = 1;
const MARKER: &str = "bench-route.json";
/// Most feedback records of the `vector_with_feedback` case.
const FEEDBACK_RECORDS: usize = 10_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct RouteBenchConfig {
    pub skills: usize,
    pub skills_per_agent: usize,
    /// Timed queries per case.
    pub queries: usize,
    pub seed: u64,
    /// Keep the registry here and reuse it; `None`: a temporary directory.
    pub data_dir: Option<PathBuf>,
    /// Tool catalogue (`{name, description}` lines): the cluster centres.
    pub tools: PathBuf,
    /// Labelled queries (`{query, tools[]}` lines): the texts of the text case.
    pub texts: PathBuf,
}

/// What the data in a directory was generated from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    pub format: u32,
    pub skills: usize,
    pub skills_per_agent: usize,
    pub seed: u64,
    /// Cluster centres: tools of the catalogue.
    pub clusters: usize,
}

/// Latency percentiles of one case, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p99: f64,
    /// Only with at least 1,000 samples.
    pub p999: Option<f64>,
    pub max: f64,
    pub mean: f64,
}

/// How one segment was searched in a case's sample query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSample {
    pub rows: usize,
    pub allowed: usize,
    pub strategy: String,
    pub micros: u64,
}

/// One case's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteCase {
    pub name: String,
    /// `vector` or `text`.
    pub input: String,
    /// `Router::route` (as the HTTP handler) or `Router::route_blocking`
    /// (on the calling thread, no hand-off to tokio's blocking pool).
    pub entry: String,
    pub constraints: Constraints,
    pub queries: usize,
    /// Routes that returned a response (an abstention is an answer).
    pub answered: usize,
    pub abstained: usize,
    pub mean_candidates: f64,
    pub latency_ms: LatencySummary,
    /// Mean on-CPU time of the routing thread per query (Linux schedstat),
    /// for the case that routes on the calling thread: the route's own work
    /// without the time spent waiting for a core on a shared machine.
    pub cpu_mean_ms: Option<f64>,
    /// The index plan of the first query, routed again with `explain`
    /// after the timed run.
    pub sample_plan: Vec<SegmentSample>,
}

/// Whether the goals were met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goals {
    pub vector_p99_goal_ms: f64,
    /// The worst p99 of the `Router::route` vector cases.
    pub vector_p99_ms: f64,
    pub vector_p99_met: bool,
    pub text_p50_goal_ms: f64,
    pub text_p50_ms: f64,
    pub text_p50_met: bool,
}

/// The report; `--out` writes it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteBenchReport {
    pub data: DataSpec,
    pub agents: usize,
    pub k: usize,
    pub data_dir: Option<PathBuf>,
    /// The registry was found in the data directory (nothing published).
    pub reused: bool,
    /// Loading and warming up the model (not part of any start below).
    pub embedder_load_secs: f64,
    /// Publishing every agent (batched commits, index updated in each).
    pub publish_secs: Option<f64>,
    /// Durable commits the publish took.
    pub publish_commits: Option<usize>,
    /// Waiting, after the publish, for the sealed segments' graphs.
    pub graph_wait_secs: Option<f64>,
    pub persist_secs: Option<f64>,
    /// Store, catalog (index snapshot) and router opened from the data
    /// directory, as a restarted server does (model load excluded).
    pub startup_secs: f64,
    /// How the index came up at that start (`snapshot` or `rebuilt`).
    pub index_origin: String,
    /// Graph builds still owed after the start, waited for before timing.
    pub startup_graph_wait_secs: f64,
    pub segments: usize,
    pub graphs_ready: usize,
    pub live_rows: usize,
    pub cases: Vec<RouteCase>,
    /// The embedding alone of the text case's texts (raw model, no cache).
    pub text_embed_ms: LatencySummary,
    /// The same embeddings' mean on-CPU time (the model runs on the
    /// calling thread); `None` off Linux.
    pub text_embed_cpu_mean_ms: Option<f64>,
    /// Feedback records of the `vector_with_feedback` case.
    pub feedback_records: usize,
    /// Seconds the router took at start to index those records' vectors
    /// for neighbour priors.
    pub feedback_index_secs: f64,
    /// Seconds the background thread still needed, after the first pass of
    /// the feedback case, to build the neighbour lists handed to it.
    pub feedback_settle_secs: f64,
    pub goals: Goals,
}

/// Runs the benchmark with the committed model, loaded and warmed up as the
/// server does. CPU-heavy steps run on blocking threads; the timed routes go
/// through [`Router::route`] one at a time.
pub async fn run_route_bench(cfg: &RouteBenchConfig) -> Result<RouteBenchReport> {
    let start = Instant::now();
    let embedder = load_embedder().await?;
    {
        let e = embedder.clone();
        blocking(move || Ok(e.warm_up()?)).await?;
    }
    let embedder_load_secs = start.elapsed().as_secs_f64();
    let mut report = run_route_bench_with(cfg, embedder).await?;
    report.embedder_load_secs = embedder_load_secs;
    Ok(report)
}

/// [`run_route_bench`] with any embedder (`embedder_load_secs` left 0).
/// Tests pass a cheap one: in the unoptimised test profile the model's own
/// kernels take up to about a second per text.
pub async fn run_route_bench_with(
    cfg: &RouteBenchConfig,
    embedder: Arc<dyn Embedder>,
) -> Result<RouteBenchReport> {
    if cfg.skills == 0 || cfg.skills_per_agent == 0 || cfg.queries == 0 {
        return Err(RouterError::invalid(
            "skills",
            "skills, skills per agent and queries must be at least 1",
        ));
    }
    let tools: Vec<ToolLine> = read_jsonl(&cfg.tools)?;
    if tools.is_empty() {
        return Err(RouterError::invalid("tools", "the tool catalogue is empty"));
    }
    let warm = (cfg.queries / 10).clamp(1, 50);
    let texts = distinct_texts(&cfg.texts, warm + cfg.queries, cfg.seed)?;

    let centres = {
        let (e, tools) = (embedder.clone(), tools_texts(&tools));
        blocking(move || {
            let refs: Vec<&str> = tools.iter().map(String::as_str).collect();
            let mut out = Vec::with_capacity(refs.len());
            for chunk in refs.chunks(32) {
                out.extend(e.embed_batch(chunk)?);
            }
            Ok(out)
        })
        .await?
    };

    let spec = DataSpec {
        format: DATA_FORMAT,
        skills: cfg.skills,
        skills_per_agent: cfg.skills_per_agent,
        seed: cfg.seed,
        clusters: centres.len(),
    };
    // `_temp` keeps a temporary directory alive until the run ends.
    let (dir, _temp) = match &cfg.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = temp_dir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    let reused = check_marker(&dir, &spec)?;
    let agents = cfg.skills.div_ceil(cfg.skills_per_agent);
    let (mut publish_secs, mut publish_commits, mut graph_wait_secs, mut persist_secs) =
        (None, None, None, None);
    if !reused {
        let catalog = open_catalog(&dir, embedder.clone()).await?;
        let start = Instant::now();
        publish_commits = Some(publish_all(&catalog, &spec, &tools, &centres).await?);
        publish_secs = Some(start.elapsed().as_secs_f64());
        let c = catalog.clone();
        let start = Instant::now();
        blocking(move || {
            c.index().wait_for_background();
            Ok(())
        })
        .await?;
        graph_wait_secs = Some(start.elapsed().as_secs_f64());
        let c = catalog.clone();
        let start = Instant::now();
        blocking(move || Ok(c.persist()?)).await?;
        persist_secs = Some(start.elapsed().as_secs_f64());
        write_marker(&dir, &spec)?;
        // The store must be closed before it is opened again below.
        drop(catalog);
    }

    let start = Instant::now();
    let catalog = open_catalog(&dir, embedder.clone()).await?;
    let router = {
        let (c, d) = (catalog.clone(), dir.clone());
        Arc::new(blocking(move || Router::open(c, &d)).await?)
    };
    let startup_secs = start.elapsed().as_secs_f64();
    let index_origin = match catalog.origin() {
        IndexOrigin::Snapshot { .. } => "snapshot",
        IndexOrigin::Rebuilt { .. } => "rebuilt",
    }
    .to_owned();
    let start = Instant::now();
    {
        let c = catalog.clone();
        blocking(move || {
            c.index().wait_for_background();
            Ok(())
        })
        .await?;
    }
    let startup_graph_wait_secs = start.elapsed().as_secs_f64();
    let stats = catalog.index().stats();
    if stats.live_rows != cfg.skills {
        return Err(RouterError::Corrupt {
            what: "benchmark registry",
            detail: format!("{} live rows, expected {}", stats.live_rows, cfg.skills),
        });
    }

    let principal = Principal {
        tenant: tenant(0),
        scopes: [Scope::Route].into(),
        key_id: "bench-route".to_owned(),
    };
    let space = catalog.embedder().space().name.clone();
    let mut rng = StdRng::seed_from_u64(cfg.seed.wrapping_add(1));
    let vectors: Vec<Vec<f32>> = (0..warm + cfg.queries)
        .map(|_| noisy(centres.choose(&mut rng).expect("centres are not empty"), &mut rng))
        .collect();
    let vector_request = |v: &Vec<f32>, constraints: &Constraints| RouteRequest {
        vector: Some(CapabilityVector {
            space: space.clone(),
            values: v.clone(),
        }),
        k: Some(K),
        constraints: constraints.clone(),
        ..Default::default()
    };
    let constrained = Constraints {
        data_class: Some(DataClass::Internal),
        region: Some("eu-west".to_owned()),
        max_cost_usd: Some(0.04),
        ..Default::default()
    };
    let selective = Constraints {
        data_class: Some(DataClass::Pii),
        region: Some("ap-south".to_owned()),
        max_cost_usd: Some(0.005),
        max_latency_ms: Some(1000),
        ..Default::default()
    };

    // The unconstrained queries: the `vector` case, on the calling thread,
    // and in a fleet with a history.
    let unconstrained: Arc<[RouteRequest]> = vectors
        .iter()
        .map(|v| vector_request(v, &Constraints::default()))
        .collect();
    let mut cases = Vec::new();
    for (name, constraints) in [
        ("vector", Constraints::default()),
        ("vector_constrained", constrained),
        ("vector_selective", selective),
    ] {
        let requests: Vec<RouteRequest> = vectors.iter().map(|v| vector_request(v, &constraints)).collect();
        cases.push(run_case(&router, &principal, name, "vector", constraints, &requests, warm).await?);
    }
    // The same unconstrained queries on the calling thread: what the
    // hand-off to tokio's blocking pool adds, and the route's on-CPU time.
    {
        let (r, p, requests) = (router.clone(), principal.clone(), unconstrained.clone());
        let case = blocking(move || run_case_blocking(&r, &p, "vector_in_thread", &requests, warm)).await?;
        cases.push(case);
    }
    let text_requests: Vec<RouteRequest> = texts
        .iter()
        .map(|t| RouteRequest {
            query: Some(t.clone()),
            k: Some(K),
            ..Default::default()
        })
        .collect();
    cases.push(
        run_case(
            &router,
            &principal,
            "text_cache_miss",
            "text",
            Constraints::default(),
            &text_requests,
            warm,
        )
        .await?,
    );
    let (text_embed_ms, text_embed_cpu_mean_ms) = {
        let (e, timed) = (embedder.clone(), texts[warm..].to_vec());
        blocking(move || embed_latencies(e.as_ref(), &timed)).await?
    };

    let feedback =
        run_cases_with_feedback(&catalog, &principal, &spec, &unconstrained, warm, cfg.seed).await?;
    cases.push(feedback.after_start);
    cases.push(feedback.settled);

    let vector_p99_ms = cases
        .iter()
        .filter(|c| c.input == "vector" && c.entry == "Router::route")
        .map(|c| c.latency_ms.p99)
        .fold(0.0, f64::max);
    let text_p50_ms = cases
        .iter()
        .find(|c| c.input == "text")
        .map_or(f64::NAN, |c| c.latency_ms.p50);
    let stats = catalog.index().stats();
    Ok(RouteBenchReport {
        data: spec,
        agents,
        k: K,
        data_dir: cfg.data_dir.clone(),
        reused,
        embedder_load_secs: 0.0,
        publish_secs,
        publish_commits,
        graph_wait_secs,
        persist_secs,
        startup_secs,
        index_origin,
        startup_graph_wait_secs,
        segments: stats.segments,
        graphs_ready: stats.graphs_ready,
        live_rows: stats.live_rows,
        cases,
        text_embed_ms,
        text_embed_cpu_mean_ms,
        feedback_records: feedback.records,
        feedback_index_secs: feedback.index_secs,
        feedback_settle_secs: feedback.settle_secs,
        goals: Goals {
            vector_p99_goal_ms: VECTOR_P99_GOAL_MS,
            vector_p99_ms,
            vector_p99_met: vector_p99_ms <= VECTOR_P99_GOAL_MS,
            text_p50_goal_ms: TEXT_P50_GOAL_MS,
            text_p50_ms,
            text_p50_met: text_p50_ms <= TEXT_P50_GOAL_MS,
        },
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RouterError::Worker(e.to_string()))?
}

fn tenant(i: usize) -> String {
    format!("t{i:02}")
}

/// The text a tool's centre is the embedding of, as the routing benchmark
/// writes a skill: `name: description`.
fn tools_texts(tools: &[ToolLine]) -> Vec<String> {
    tools
        .iter()
        .map(|t| format!("{}: {}", t.name, t.description))
        .collect()
}

/// `n` distinct query texts, in a seeded order.
fn distinct_texts(path: &Path, n: usize, seed: u64) -> Result<Vec<String>> {
    let lines: Vec<QueryLine> = read_jsonl(path)?;
    let mut seen = HashSet::new();
    let mut texts: Vec<String> = lines
        .into_iter()
        .map(|l| l.query.trim().to_owned())
        .filter(|q| !q.is_empty() && q.chars().count() <= MAX_QUERY_CHARS && seen.insert(q.clone()))
        .collect();
    if texts.len() < n {
        return Err(RouterError::invalid(
            "texts",
            format!(
                "{} has {} distinct query texts; {n} are needed",
                path.display(),
                texts.len()
            ),
        ));
    }
    texts.shuffle(&mut StdRng::seed_from_u64(seed));
    texts.truncate(n);
    Ok(texts)
}

/// A unit vector: `centre` plus Gaussian noise of norm about [`NOISE`].
fn noisy(centre: &[f32], rng: &mut StdRng) -> Vec<f32> {
    let sd = NOISE / (centre.len() as f32).sqrt();
    let normal = Normal::new(0.0f32, sd).expect("a finite, positive deviation");
    let mut v: Vec<f32> = centre.iter().map(|c| c + normal.sample(rng)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Whether `dir` already holds this data; an error when it holds other data
/// or an unfinished run (no marker beside a store).
fn check_marker(dir: &Path, spec: &DataSpec) -> Result<bool> {
    let marker = dir.join(MARKER);
    match std::fs::read(&marker) {
        Ok(raw) => {
            let found: DataSpec = serde_json::from_slice(&raw).map_err(|e| RouterError::Corrupt {
                what: "benchmark marker",
                detail: format!("{}: {e}", marker.display()),
            })?;
            if &found != spec {
                return Err(RouterError::invalid(
                    "data_dir",
                    format!(
                        "{} holds other data ({found:?}, wanted {spec:?}); use another directory",
                        dir.display()
                    ),
                ));
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
            if !empty {
                return Err(RouterError::invalid(
                    "data_dir",
                    format!(
                        "{} is not empty and has no {MARKER} (an interrupted run?); remove it or use another directory",
                        dir.display()
                    ),
                ));
            }
            Ok(false)
        }
        Err(source) => Err(RouterError::Io { path: marker, source }),
    }
}

/// Written last, so only a complete registry is ever reused.
fn write_marker(dir: &Path, spec: &DataSpec) -> Result<()> {
    let path = dir.join(MARKER);
    let body = serde_json::to_vec_pretty(spec).expect("the spec serialises");
    std::fs::write(&path, body).map_err(|source| RouterError::Io { path, source })
}

/// Generates and publishes every agent, each tenant's agents of a step in
/// one batch; returns the number of commits.
async fn publish_all(
    catalog: &Arc<Catalog>,
    spec: &DataSpec,
    tools: &[ToolLine],
    centres: &[Vec<f32>],
) -> Result<usize> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let space = catalog.embedder().space().name.clone();
    let agents = spec.skills.div_ceil(spec.skills_per_agent);
    let mut commits = 0;
    let mut first = 0;
    while first < agents {
        let last = (first + AGENTS_PER_STEP).min(agents);
        let mut by_tenant: BTreeMap<usize, Vec<AgentManifest>> = BTreeMap::new();
        for i in first..last {
            let skills = spec.skills_per_agent.min(spec.skills - i * spec.skills_per_agent);
            let manifest = synthetic_agent(i, skills, &space, tools, centres, &mut rng);
            switchyard_schemas::validate_manifest(&manifest)
                .map_err(|e| RouterError::invalid("manifest", e.to_string()))?;
            by_tenant.entry(i % TENANTS).or_default().push(manifest);
        }
        for (t, manifests) in by_tenant {
            let owner = Principal {
                tenant: tenant(t),
                scopes: [Scope::Publish].into(),
                key_id: "bench-route".to_owned(),
            };
            catalog.publish_batch(&owner, manifests).await?;
            commits += 1;
        }
        tracing::info!(agents = last, of = agents, "bench route: published");
        first = last;
    }
    Ok(commits)
}

/// Synthetic agent `i`'s name, in its owner's (tenant `i % 10`) namespace.
fn agent_name(i: usize) -> String {
    format!("{}/agent-{i:06}", tenant(i % TENANTS))
}

/// The id of a synthetic agent's `j`th skill.
fn skill_id(j: usize) -> String {
    format!("skill-{j}")
}

/// Agent `i`: owned by tenant `i % 10`, `skills` skills on random tools.
fn synthetic_agent(
    i: usize,
    skills: usize,
    space: &str,
    tools: &[ToolLine],
    centres: &[Vec<f32>],
    rng: &mut StdRng,
) -> AgentManifest {
    let owner = i % TENANTS;
    let visibility = match rng.random_range(0..10) {
        0 => Visibility::PRIVATE,
        1 => Visibility::Tenants(vec![tenant(
            (owner + 1 + rng.random_range(0..TENANTS - 1)) % TENANTS,
        )]),
        _ => Visibility::PUBLIC,
    };
    let skills = (0..skills)
        .map(|j| {
            let c = rng.random_range(0..tools.len());
            Skill {
                id: skill_id(j),
                name: tools[c].name.clone(),
                description: tools[c].description.clone(),
                tags: vec![],
                examples: vec![],
                input_modes: vec![],
                output_modes: vec![],
                vector: Some(CapabilityVector {
                    space: space.to_owned(),
                    values: noisy(&centres[c], rng),
                }),
            }
        })
        .collect();
    AgentManifest {
        name: agent_name(i),
        version: "1.0.0".to_owned(),
        title: format!("Synthetic agent {i}"),
        description: "Synthetic agent of the route-latency benchmark.".to_owned(),
        provider: Provider {
            organization: "benchmark".to_owned(),
            url: None,
        },
        endpoint: Endpoint {
            url: format!("https://agents.example.com/{i}"),
            protocol: Protocol::SwitchyardHttp,
        },
        skills,
        policy: Policy {
            visibility,
            data_classes: DATA_CLASSES.choose_multiple(rng, 2).copied().collect(),
            regions: vec![(*REGIONS.choose(rng).expect("regions are not empty")).to_owned()],
            compliance: vec![],
        },
        budget: Budget {
            cost_per_call_usd: (rng.random_range(0.0005..0.05f64) * 1e4).round() / 1e4,
            cost_per_1k_tokens_usd: None,
            latency_ms: LatencyBudget {
                p50: 300,
                p95: *P95_MS.choose(rng).expect("latencies are not empty"),
            },
            max_concurrency: None,
        },
        metadata: Default::default(),
    }
}

/// The `vector` case on a router whose statistics hold records for a tenth
/// of the skills (at most [`FEEDBACK_RECORDS`], random outcomes), with the
/// outcome of each route's top candidate reported after it, as the
/// executor does (not timed): first just after the router started, while
/// its background thread builds the neighbour lists of the skills routed
/// to; then, once that thread is idle, the same queries again.
async fn run_cases_with_feedback(
    catalog: &Arc<Catalog>,
    principal: &Principal,
    spec: &DataSpec,
    requests: &[RouteRequest],
    warm: usize,
    seed: u64,
) -> Result<FeedbackCases> {
    let dir = temp_dir()?;
    let records = (spec.skills / 10).clamp(1, FEEDBACK_RECORDS);
    let (catalog_, path, spec_) = (catalog.clone(), dir.path().to_owned(), spec.clone());
    let (router, index_secs) = blocking(move || {
        let stats = Arc::new(FeedbackStats::open(&path, StatsConfig::default())?);
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(2));
        let outcomes: Vec<(StatsKey, Outcome)> = rand::seq::index::sample(&mut rng, spec_.skills, records)
            .iter()
            .map(|row| {
                let (i, j) = (row / spec_.skills_per_agent, row % spec_.skills_per_agent);
                let key = StatsKey {
                    agent: agent_name(i),
                    version: "1.0.0".to_owned(),
                    skill: skill_id(j),
                };
                let score = if rng.random_bool(0.7) { 1.0 } else { 0.0 };
                (
                    key,
                    Outcome {
                        score,
                        cost_usd: None,
                        latency_ms: None,
                    },
                )
            })
            .collect();
        stats.record_batch(&outcomes, |_| (1.0, 1.0, QualityPrior::Uninformed))?;
        let start = Instant::now();
        let router = Router::new(catalog_, stats, RouterConfig::default(), QualityConfig::default());
        Ok((Arc::new(router), start.elapsed().as_secs_f64()))
    })
    .await?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(3));
    let after_start = route_and_report(&router, principal, requests, warm, &mut rng).await?;
    let start = Instant::now();
    let r = router.clone();
    blocking(move || {
        r.settle_priors();
        Ok(())
    })
    .await?;
    let settle_secs = start.elapsed().as_secs_f64();
    let settled = route_and_report(&router, principal, requests, warm, &mut rng).await?;
    let finish = |tally: Tally, name: &str| {
        tally.finish(name, "vector", "Router::route", Constraints::default(), None)
    };
    Ok(FeedbackCases {
        after_start: finish(after_start, "vector_with_feedback"),
        settled: finish(settled, "vector_with_feedback_settled"),
        records,
        index_secs,
        settle_secs,
    })
}

/// The two feedback cases and how their router was prepared.
struct FeedbackCases {
    after_start: RouteCase,
    settled: RouteCase,
    records: usize,
    index_secs: f64,
    settle_secs: f64,
}

/// Routes `requests` one by one, timing all but the first `warm`, and
/// reports a random outcome for each answer's top candidate (untimed).
async fn route_and_report(
    router: &Arc<Router>,
    principal: &Principal,
    requests: &[RouteRequest],
    warm: usize,
    rng: &mut StdRng,
) -> Result<Tally> {
    let mut tally = Tally::default();
    for (i, req) in requests.iter().enumerate() {
        let start = Instant::now();
        let answer = router.route(principal, req.clone()).await?;
        if i >= warm {
            tally.add(start.elapsed().as_secs_f64() * 1e3, &answer);
        }
        if let Some(top) = answer.candidates.first() {
            let feedback = FeedbackRequest {
                agent: top.agent.clone(),
                version: top.version.clone(),
                skill: top.skill.clone(),
                outcome: if rng.random_bool(0.7) { 1.0 } else { 0.0 },
                cost_usd: None,
                latency_ms: None,
                query: None,
            };
            let (r, p) = (router.clone(), principal.clone());
            blocking(move || r.feedback(&p, &feedback)).await?;
        }
    }
    Ok(tally)
}

/// Counts of one case's answers.
#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    /// Mean on-CPU milliseconds per query, when measured.
    cpu_mean_ms: Option<f64>,
    answered: usize,
    abstained: usize,
    candidates: usize,
}

impl Tally {
    fn add(&mut self, ms: f64, answer: &RouteResponse) {
        self.latencies.push(ms);
        self.answered += 1;
        self.abstained += usize::from(answer.candidates.is_empty());
        self.candidates += answer.candidates.len();
    }

    fn finish(
        mut self,
        name: &str,
        input: &str,
        entry: &str,
        constraints: Constraints,
        sample: Option<RouteResponse>,
    ) -> RouteCase {
        self.latencies.sort_by(f64::total_cmp);
        let n = self.latencies.len();
        RouteCase {
            name: name.to_owned(),
            input: input.to_owned(),
            entry: entry.to_owned(),
            constraints,
            queries: n,
            answered: self.answered,
            abstained: self.abstained,
            mean_candidates: self.candidates as f64 / n.max(1) as f64,
            latency_ms: summarise(&self.latencies),
            cpu_mean_ms: self.cpu_mean_ms,
            sample_plan: sample
                .and_then(|r| r.plan)
                .map(|p| {
                    p.searches
                        .iter()
                        .flat_map(|s| &s.segments)
                        .map(|s| SegmentSample {
                            rows: s.rows,
                            allowed: s.allowed,
                            strategy: s.strategy.clone(),
                            micros: s.micros,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

fn summarise(sorted: &[f64]) -> LatencySummary {
    LatencySummary {
        p50: percentile(sorted, 0.50),
        p99: percentile(sorted, 0.99),
        p999: (sorted.len() >= 1000).then(|| percentile(sorted, 0.999)),
        max: sorted.last().copied().unwrap_or(0.0),
        mean: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
    }
}

/// The first `warm` requests untimed, the rest timed one by one through
/// [`Router::route`]; then the first timed request again with `explain`.
async fn run_case(
    router: &Arc<Router>,
    principal: &Principal,
    name: &str,
    input: &str,
    constraints: Constraints,
    requests: &[RouteRequest],
    warm: usize,
) -> Result<RouteCase> {
    for req in &requests[..warm] {
        router.route(principal, req.clone()).await?;
    }
    let mut tally = Tally::default();
    for req in &requests[warm..] {
        let req = req.clone();
        let start = Instant::now();
        let answer = router.route(principal, req).await?;
        tally.add(start.elapsed().as_secs_f64() * 1e3, &answer);
    }
    let sample = router
        .route(
            principal,
            RouteRequest {
                explain: true,
                ..requests[warm].clone()
            },
        )
        .await?;
    Ok(tally.finish(name, input, "Router::route", constraints, Some(sample)))
}

/// [`run_case`] on the calling thread through [`Router::route_blocking`].
fn run_case_blocking(
    router: &Router,
    principal: &Principal,
    name: &str,
    requests: &[RouteRequest],
    warm: usize,
) -> Result<RouteCase> {
    for req in &requests[..warm] {
        router.route_blocking(principal, req)?;
    }
    let mut tally = Tally::default();
    let cpu = thread_cpu_time();
    for req in &requests[warm..] {
        let start = Instant::now();
        let answer = router.route_blocking(principal, req)?;
        tally.add(start.elapsed().as_secs_f64() * 1e3, &answer);
    }
    tally.cpu_mean_ms = cpu_mean_ms(cpu, requests.len() - warm);
    let constraints = requests[warm].constraints.clone();
    Ok(tally.finish(name, "vector", "Router::route_blocking", constraints, None))
}

/// The model's time per text alone, one text at a time, and its mean
/// on-CPU time where the platform tells it.
fn embed_latencies(embedder: &dyn Embedder, texts: &[String]) -> Result<(LatencySummary, Option<f64>)> {
    let mut ms = Vec::with_capacity(texts.len());
    let cpu = thread_cpu_time();
    for t in texts {
        let start = Instant::now();
        embedder.embed(t)?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let cpu_mean = cpu_mean_ms(cpu, texts.len());
    ms.sort_by(f64::total_cmp);
    Ok((summarise(&ms), cpu_mean))
}

/// Mean on-CPU milliseconds of `n` operations since `start` (from
/// [`thread_cpu_time`] on the same thread).
fn cpu_mean_ms(start: Option<Duration>, n: usize) -> Option<f64> {
    let (a, b) = (start?, thread_cpu_time()?);
    Some(b.saturating_sub(a).as_secs_f64() * 1e3 / n.max(1) as f64)
}
