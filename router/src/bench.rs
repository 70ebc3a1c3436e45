//! The routing-accuracy benchmark behind `switchyard bench routing`.
//!
//! Input is a tool catalogue and labelled queries in the MetaTool format
//! (`tools.jsonl` lines `{name, description}`, `queries.jsonl` lines
//! `{query, tools[]}`); any data set in that format works. Every tool
//! becomes an agent with one skill in a temporary registry (real store,
//! real index, real model), and every query is routed through
//! [`Router::route_blocking`] exactly as the server would route it.
//!
//! Two passes over the same registry:
//! 1. **Accuracy**: every tool routable; top-1, top-5, recall@5 and MRR over
//!    all queries (an abstention counts as a miss).
//! 2. **Abstention**: a seeded `holdout` share of the tools is excluded
//!    (`constraints.exclude`), so queries whose labelled tools are all held
//!    out have no right answer; abstention precision is the share of
//!    abstentions that were on such queries, recall the share of such
//!    queries abstained on.
//!
//! Latency is the whole route of a text query on one thread (embedding
//! cache miss, search, ranking), p50 and p99.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use switchyard_registry::embedder::{Embedder, EmbeddingService, OnnxEmbedder, ServiceConfig};
use switchyard_registry::index::IndexConfig;
use switchyard_registry::procstat::percentile;
use switchyard_registry::{AuthMode, Catalog, Principal, Registry};
use switchyard_schemas::manifest::{
    AgentManifest, Budget, Endpoint, LatencyBudget, Policy, Protocol, Provider, Skill, Visibility,
};
use switchyard_schemas::route::{Constraints, RouteRequest, Weights};

use crate::error::{Result, RouterError};
use crate::{FeedbackStats, QualityConfig, Router, RouterConfig, StatsConfig};

/// What to run.
#[derive(Debug, Clone)]
pub struct RoutingBenchConfig {
    pub tools: PathBuf,
    pub queries: PathBuf,
    /// Route at most this many queries (a seeded sample); None: all.
    pub limit: Option<usize>,
    /// Share of tools held out for the abstention pass.
    pub holdout: f64,
    pub seed: u64,
    /// Override of the router's `min_similarity`.
    pub min_similarity: Option<f32>,
    /// Override of the default lexical weight (for ablations).
    pub lexical_weight: Option<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p99: f64,
}

/// The report; `--out` writes it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingBenchReport {
    pub top1: f64,
    pub top5: f64,
    pub recall5: f64,
    pub mrr: f64,
    pub abstain_precision: f64,
    pub abstain_recall: f64,
    pub latency_ms: LatencyMs,
    pub tools: usize,
    pub queries: usize,
    /// Queries the accuracy pass abstained on (all had a right answer).
    pub abstained_in_accuracy_pass: usize,
    pub held_out_tools: usize,
    /// Queries of the abstention pass with no routable right answer.
    pub unanswerable: usize,
    pub min_similarity: f32,
    pub lexical_weight: f64,
    pub seed: u64,
    /// Seconds to register every tool (embedding included).
    pub register_secs: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolLine {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct QueryLine {
    pub query: String,
    pub tools: Vec<String>,
}

pub(crate) fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(|source| RouterError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| RouterError::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| RouterError::invalid(format!("{}:{}", path.display(), i + 1), e.to_string()))?,
        );
    }
    Ok(out)
}

/// A temporary directory for a benchmark's registry.
pub(crate) fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|source| RouterError::Io {
        path: std::env::temp_dir(),
        source,
    })
}

/// Loads the committed model on a blocking thread (it takes a second).
pub(crate) async fn load_embedder() -> Result<Arc<OnnxEmbedder>> {
    Ok(Arc::new(
        tokio::task::spawn_blocking(OnnxEmbedder::load_default)
            .await
            .map_err(|e| RouterError::Worker(e.to_string()))??,
    ))
}

/// Opens (or creates) a dev-mode registry and its catalog under `dir`, as
/// the server does at start (default index settings), the blocking work
/// off the async threads.
pub(crate) async fn open_catalog(dir: &Path, embedder: Arc<dyn Embedder>) -> Result<Arc<Catalog>> {
    let service = EmbeddingService::new(embedder, ServiceConfig::default());
    let path = dir.to_owned();
    let catalog = tokio::task::spawn_blocking(move || {
        let store = Arc::new(Registry::open(&path, AuthMode::Dev)?);
        Catalog::open(store, service, &path, IndexConfig::default())
    })
    .await
    .map_err(|e| RouterError::Worker(e.to_string()))??;
    Ok(Arc::new(catalog))
}

/// A valid agent name for a tool id: `bench/<slug>`, made unique.
fn agent_name(tool: &str, taken: &mut HashSet<String>) -> String {
    let mut slug: String = tool
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(56)
        .collect();
    while slug.len() < 2 {
        slug.push('x');
    }
    let mut name = format!("bench/{slug}");
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("bench/{slug}-{n}");
        n += 1;
    }
    name
}

fn manifest(name: &str, tool: &ToolLine) -> AgentManifest {
    AgentManifest {
        name: name.to_owned(),
        version: "1.0.0".to_owned(),
        title: tool.name.clone(),
        description: tool.description.clone(),
        provider: Provider {
            organization: "benchmark".to_owned(),
            url: None,
        },
        endpoint: Endpoint {
            url: "http://127.0.0.1:9/agent".to_owned(),
            protocol: Protocol::SwitchyardHttp,
        },
        skills: vec![Skill {
            id: "main".to_owned(),
            name: tool.name.clone(),
            description: tool.description.clone(),
            tags: vec![],
            examples: vec![],
            input_modes: vec![],
            output_modes: vec![],
            vector: None,
        }],
        policy: Policy {
            visibility: Visibility::PUBLIC,
            data_classes: vec![],
            regions: vec![],
            compliance: vec![],
        },
        budget: Budget {
            cost_per_call_usd: 0.001,
            cost_per_1k_tokens_usd: None,
            latency_ms: LatencyBudget { p50: 200, p95: 500 },
            max_concurrency: None,
        },
        metadata: Default::default(),
    }
}

/// Runs the benchmark in a temporary data directory.
pub async fn run_routing_bench(cfg: &RoutingBenchConfig) -> Result<RoutingBenchReport> {
    let tools: Vec<ToolLine> = read_jsonl(&cfg.tools)?;
    let mut queries: Vec<QueryLine> = read_jsonl(&cfg.queries)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    if let Some(limit) = cfg.limit
        && limit < queries.len()
    {
        queries.shuffle(&mut rng);
        queries.truncate(limit);
    }
    let dir = temp_dir()?;
    let catalog = open_catalog(dir.path(), load_embedder().await?).await?;
    let principal = Principal::superuser("bench", "bench");
    let mut taken = HashSet::new();
    let mut agent_of: HashMap<String, String> = HashMap::new();
    let start = Instant::now();
    for tool in &tools {
        let name = agent_name(&tool.name, &mut taken);
        catalog.publish(&principal, manifest(&name, tool)).await?;
        agent_of.insert(tool.name.clone(), name);
    }
    let register_secs = start.elapsed().as_secs_f64();
    let stats = Arc::new(FeedbackStats::open(dir.path(), StatsConfig::default())?);
    let mut config = RouterConfig::default();
    if let Some(m) = cfg.min_similarity {
        config.min_similarity = m;
    }
    let min_similarity = config.min_similarity;
    let router = Arc::new(Router::new(
        catalog.clone(),
        stats,
        config,
        QualityConfig::default(),
    ));

    let mut held: Vec<&String> = agent_of.values().collect();
    held.sort();
    held.shuffle(&mut rng);
    let held: HashSet<String> = held
        .into_iter()
        .take((tools.len() as f64 * cfg.holdout).round() as usize)
        .cloned()
        .collect();

    let (seed, lexical_weight) = (cfg.seed, cfg.lexical_weight);
    tokio::task::spawn_blocking(move || {
        let weights = lexical_weight.map(|lexical| Weights {
            lexical,
            ..Weights::default()
        });
        let mut report = evaluate(&router, &principal, &queries, &agent_of, &held, weights)?;
        report.lexical_weight = weights.unwrap_or_default().lexical;
        report.tools = tools.len();
        report.min_similarity = min_similarity;
        report.seed = seed;
        report.register_secs = register_secs;
        Ok(report)
    })
    .await
    .map_err(|e| RouterError::Worker(e.to_string()))?
}

/// Both passes; fills every field but the setup ones.
fn evaluate(
    router: &Router,
    principal: &Principal,
    queries: &[QueryLine],
    agent_of: &HashMap<String, String>,
    held: &HashSet<String>,
    weights: Option<Weights>,
) -> Result<RoutingBenchReport> {
    let (mut top1, mut top5, mut recall5, mut mrr) = (0.0, 0.0, 0.0, 0.0);
    let mut abstained_in_accuracy_pass = 0;
    let mut latencies = Vec::with_capacity(queries.len());
    let (mut abstained, mut abstained_right, mut unanswerable) = (0usize, 0usize, 0usize);
    let exclude: Vec<String> = held.iter().cloned().collect();
    for q in queries {
        let labels: HashSet<&str> = q
            .tools
            .iter()
            .filter_map(|t| agent_of.get(t).map(String::as_str))
            .collect();
        // Timed as the server routes a text query on a cache miss.
        let request = |constraints: Constraints| RouteRequest {
            query: Some(q.query.clone()),
            k: Some(5),
            constraints,
            weights,
            ..Default::default()
        };
        let start = Instant::now();
        let answer = router.route_blocking(principal, &request(Constraints::default()))?;
        latencies.push(start.elapsed().as_secs_f64() * 1e3);
        let ranked: Vec<&str> = answer.candidates.iter().map(|c| c.agent.as_str()).collect();
        if ranked.is_empty() {
            abstained_in_accuracy_pass += 1;
        }
        if ranked.first().is_some_and(|a| labels.contains(a)) {
            top1 += 1.0;
        }
        if ranked.iter().any(|a| labels.contains(a)) {
            top5 += 1.0;
        }
        if !labels.is_empty() {
            recall5 += ranked.iter().filter(|a| labels.contains(*a)).count() as f64 / labels.len() as f64;
        }
        if let Some(pos) = ranked.iter().position(|a| labels.contains(a)) {
            mrr += 1.0 / (pos + 1) as f64;
        }

        // Abstention pass: same query vector, held-out tools excluded.
        let answer = router.route_blocking(
            principal,
            &request(Constraints {
                exclude: exclude.clone(),
                ..Default::default()
            }),
        )?;
        let no_answer = labels.iter().all(|l| held.contains(*l));
        unanswerable += usize::from(no_answer);
        if answer.candidates.is_empty() {
            abstained += 1;
            abstained_right += usize::from(no_answer);
        }
    }
    let n = queries.len().max(1) as f64;
    latencies.sort_by(f64::total_cmp);
    Ok(RoutingBenchReport {
        top1: top1 / n,
        top5: top5 / n,
        recall5: recall5 / n,
        mrr: mrr / n,
        abstain_precision: if abstained == 0 {
            0.0
        } else {
            abstained_right as f64 / abstained as f64
        },
        abstain_recall: if unanswerable == 0 {
            0.0
        } else {
            abstained_right as f64 / unanswerable as f64
        },
        latency_ms: LatencyMs {
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
        },
        tools: 0,
        queries: queries.len(),
        abstained_in_accuracy_pass,
        held_out_tools: held.len(),
        unanswerable,
        min_similarity: 0.0,
        lexical_weight: 0.0,
        seed: 0,
        register_secs: 0.0,
    })
}
