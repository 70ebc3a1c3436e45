//! The `switchyard bench index` workload: clustered synthetic vectors,
//! build, snapshot, reload, and filtered searches at several selectivities
//! measured against brute force.
//!
//! Selectivity is controlled through the region filter: every agent version
//! gets one of 100 regions, and a query asking for `s × 100` of them allows
//! exactly that share of rows, so recall is measured on the same filter path
//! the router uses.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use switchyard_schemas::api::VersionStatus;
use switchyard_schemas::manifest::Visibility;

use crate::procstat::{percentile, rss_bytes};

use super::distance::{dot_i8_portable, dot_i8_simsimd, dot_portable, dot_simsimd};
use super::{
    CapabilityIndex, Filter, HnswParams, IndexConfig, RowMeta, SearchRequest, SkillVector, VersionRows,
};

const REGION_BUCKETS: usize = 100;
const SKILLS_PER_VERSION: usize = 4;

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct IndexBenchConfig {
    /// Row counts to test, e.g. `[10_000, 100_000]`.
    pub sizes: Vec<usize>,
    pub dim: usize,
    /// Number of synthetic clusters (topics).
    pub clusters: usize,
    /// Spread of rows around their cluster centre, per dimension (the
    /// centre has unit variance per dimension).
    pub noise: f32,
    pub queries: usize,
    pub k: usize,
    /// Shares of rows the filter allows.
    pub selectivities: Vec<f32>,
    /// Seed of the synthetic data and queries.
    pub seed: u64,
    pub hnsw: HnswParams,
    pub exact_max_rows: usize,
    pub hnsw_min_selectivity: f32,
    /// Snapshots of each size are kept under `<dir>/rows-<n>` and loaded
    /// instead of rebuilt on the next run with the same settings (the 100k
    /// graph build takes minutes); `None` builds every time.
    pub snapshot_dir: Option<PathBuf>,
}

impl Default for IndexBenchConfig {
    fn default() -> Self {
        IndexBenchConfig {
            sizes: vec![10_000, 100_000],
            dim: 384,
            clusters: 200,
            noise: 0.6,
            queries: 200,
            k: 10,
            selectivities: vec![0.01, 0.05, 0.1, 0.2, 1.0],
            seed: 42,
            hnsw: HnswParams::default(),
            exact_max_rows: super::DEFAULT_EXACT_MAX_ROWS,
            hnsw_min_selectivity: super::DEFAULT_HNSW_MIN_SELECTIVITY,
            snapshot_dir: None,
        }
    }
}

/// Results of one run.
#[derive(Debug, Clone, Serialize)]
pub struct IndexBenchReport {
    pub config: IndexBenchConfig,
    pub dot: DotKernelReport,
    pub cases: Vec<IndexBenchCase>,
}

/// Nanoseconds per `dim`-length dot product of each kernel.
#[derive(Debug, Clone, Serialize)]
pub struct DotKernelReport {
    pub dim: usize,
    pub portable_ns: f64,
    pub simsimd_ns: f64,
    pub i8_portable_ns: f64,
    pub i8_simsimd_ns: f64,
}

/// One data size.
#[derive(Debug, Clone, Serialize)]
pub struct IndexBenchCase {
    pub rows: usize,
    /// Bulk insert plus graph build (one build thread); `None` when the
    /// index was loaded from a kept snapshot.
    pub build_secs: Option<f64>,
    pub persist_secs: f64,
    pub snapshot_bytes: u64,
    /// `CapabilityIndex::load` of the snapshot, graphs included.
    pub startup_secs: f64,
    /// Whether the reloaded index answered the probe queries identically.
    pub reload_identical: bool,
    pub vector_and_graph_bytes: usize,
    /// Resident set size after the case (Linux only).
    pub rss_bytes: Option<u64>,
    /// Exact scan cost per row, from unfiltered scans of a flat copy.
    pub exact_ns_per_row: f64,
    /// Rows an exact scan covers in the time of one unfiltered HNSW search:
    /// where the planner's exact/HNSW switch pays off.
    pub crossover_rows: f64,
    pub selectivities: Vec<SelectivityResult>,
}

/// Latency and recall at one selectivity.
#[derive(Debug, Clone, Serialize)]
pub struct SelectivityResult {
    pub selectivity: f32,
    pub allowed_rows: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub recall_at_k: f64,
    /// How often each plan strategy ran (over all segments and queries).
    pub strategies: BTreeMap<String, usize>,
}

/// A unit vector with standard normal components (Box–Muller).
pub(crate) fn gaussian(rng: &mut StdRng, dim: usize, scale: f32, out: &mut Vec<f32>) {
    out.clear();
    while out.len() < dim {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * scale;
        let t = std::f32::consts::TAU * u2;
        out.push(r * t.cos());
        if out.len() < dim {
            out.push(r * t.sin());
        }
    }
}

/// Clustered synthetic data: `rows` vectors, four skills per version, every
/// version in one of 100 region buckets.
pub fn synthetic_versions(
    rows: usize,
    dim: usize,
    clusters: usize,
    noise: f32,
    seed: u64,
) -> Vec<VersionRows> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centres = Vec::with_capacity(clusters);
    let mut buf = Vec::new();
    for _ in 0..clusters.max(1) {
        gaussian(&mut rng, dim, 1.0, &mut buf);
        centres.push(buf.clone());
    }
    let mut out = Vec::with_capacity(rows / SKILLS_PER_VERSION + 1);
    let mut made = 0;
    let mut v = 0usize;
    while made < rows {
        let n = SKILLS_PER_VERSION.min(rows - made);
        let bucket = rng.random_range(0..REGION_BUCKETS);
        let vectors = (0..n)
            .map(|s| {
                let c = &centres[rng.random_range(0..centres.len())];
                gaussian(&mut rng, dim, noise, &mut buf);
                SkillVector {
                    skill: format!("skill-{s}"),
                    vector: 0,
                    values: c.iter().zip(&buf).map(|(a, b)| a + b).collect(),
                }
            })
            .collect();
        out.push(VersionRows {
            agent: format!("bench/agent-{v}"),
            version: "1.0.0".to_owned(),
            meta: RowMeta {
                owner_tenant: format!("tenant-{}", v % 7),
                visibility: Visibility::PUBLIC,
                data_classes: Vec::new(),
                regions: vec![format!("r{bucket}")],
                compliance: Vec::new(),
                status: VersionStatus::Active,
                cost_usd: 0.001,
                latency_p95_ms: 500,
                current: false,
            },
            vectors,
        });
        made += n;
        v += 1;
    }
    out
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Measures both dot kernels on `dim`-length vectors.
pub fn bench_dot(dim: usize) -> DotKernelReport {
    let mut rng = StdRng::seed_from_u64(7);
    let mut a = Vec::new();
    let mut b = Vec::new();
    gaussian(&mut rng, dim, 1.0, &mut a);
    // A few thousand rows so the loop streams memory like a scan does.
    let rows = 4096;
    let mut data = Vec::with_capacity(rows * dim);
    for _ in 0..rows {
        gaussian(&mut rng, dim, 1.0, &mut b);
        data.extend_from_slice(&b);
    }
    let time = |f: &dyn Fn(&[f32], &[f32]) -> f32| {
        let reps = 50;
        let start = Instant::now();
        let mut acc = 0.0f32;
        for _ in 0..reps {
            for r in data.chunks_exact(dim) {
                acc += f(&a, r);
            }
        }
        std::hint::black_box(acc);
        start.elapsed().as_nanos() as f64 / (reps * rows) as f64
    };
    let codes: Vec<i8> = data
        .iter()
        .map(|x| (x * 40.0).clamp(-127.0, 127.0) as i8)
        .collect();
    let qcodes: Vec<i8> = a.iter().map(|x| (x * 40.0).clamp(-127.0, 127.0) as i8).collect();
    let time_i8 = |f: &dyn Fn(&[i8], &[i8]) -> f32| {
        let reps = 50;
        let start = Instant::now();
        let mut acc = 0.0f32;
        for _ in 0..reps {
            for r in codes.chunks_exact(dim) {
                acc += f(&qcodes, r);
            }
        }
        std::hint::black_box(acc);
        start.elapsed().as_nanos() as f64 / (reps * rows) as f64
    };
    DotKernelReport {
        dim,
        portable_ns: time(&dot_portable),
        simsimd_ns: time(&dot_simsimd),
        i8_portable_ns: time_i8(&dot_i8_portable),
        i8_simsimd_ns: time_i8(&dot_i8_simsimd),
    }
}

/// Runs the whole benchmark; prints nothing (the caller renders the report).
pub fn run_index_bench(cfg: &IndexBenchConfig) -> IndexBenchReport {
    let dot = bench_dot(cfg.dim);
    let cases = cfg.sizes.iter().map(|&rows| run_case(cfg, rows)).collect();
    IndexBenchReport {
        config: cfg.clone(),
        dot,
        cases,
    }
}

fn run_case(cfg: &IndexBenchConfig, rows: usize) -> IndexBenchCase {
    let versions = synthetic_versions(rows, cfg.dim, cfg.clusters, cfg.noise, cfg.seed ^ rows as u64);
    let config = IndexConfig {
        hnsw: cfg.hnsw,
        exact_max_rows: cfg.exact_max_rows,
        hnsw_min_selectivity: cfg.hnsw_min_selectivity,
        hnsw_min_rows: 10_000.min(rows),
        ..IndexConfig::default()
    };
    let space = "bench";
    // The snapshot is only reused for the same data and graph settings.
    let kept = cfg.snapshot_dir.as_ref().map(|d| {
        d.join(format!(
            "rows-{rows}-dim-{}-seed-{}-ef-{}-{}",
            cfg.dim, cfg.seed, cfg.hnsw.ef_construction, cfg.hnsw.ef_search
        ))
    });
    let start = Instant::now();
    let (index, build_secs) = match kept
        .as_ref()
        .and_then(|d| CapabilityIndex::load(d, space, cfg.dim, config.clone()).ok())
    {
        Some(loaded) => (loaded.index, None),
        None => {
            let index = CapabilityIndex::new(space, cfg.dim, config.clone());
            index
                .bulk_insert(&versions)
                .unwrap_or_else(|e| panic!("bench data rejected: {e}"));
            index.wait_for_background();
            let secs = start.elapsed().as_secs_f64();
            if let Some(d) = &kept {
                let _ = std::fs::remove_dir_all(d);
                let _ = index.persist(d, 1);
            }
            (index, Some(secs))
        }
    };

    // Brute-force ground truth needs the normalised vectors and buckets.
    let mut flat: Vec<(usize, Vec<f32>)> = Vec::with_capacity(rows);
    for v in &versions {
        let bucket: usize = v.meta.regions[0][1..].parse().unwrap_or(0);
        for sv in &v.vectors {
            let mut x = sv.values.clone();
            let _ = super::distance::normalize(space, cfg.dim, &mut x, String::new);
            flat.push((bucket, x));
        }
    }

    let mut qrng = StdRng::seed_from_u64(cfg.seed.wrapping_add(1));
    let mut buf = Vec::new();
    let queries: Vec<Vec<f32>> = (0..cfg.queries)
        .map(|_| {
            let base = &flat[qrng.random_range(0..flat.len())].1;
            gaussian(&mut qrng, cfg.dim, cfg.noise / (cfg.dim as f32).sqrt(), &mut buf);
            base.iter().zip(&buf).map(|(a, b)| a + b).collect()
        })
        .collect();

    let mut selectivities = Vec::new();
    let mut hnsw_full_us = f64::NAN;
    for &sel in &cfg.selectivities {
        let buckets = ((sel * REGION_BUCKETS as f32).round() as usize).clamp(1, REGION_BUCKETS);
        let names: Vec<String> = (0..buckets).map(|b| format!("r{b}")).collect();
        let regions: Vec<&str> = if buckets == REGION_BUCKETS {
            Vec::new()
        } else {
            names.iter().map(String::as_str).collect()
        };
        let allowed_rows = flat.iter().filter(|(b, _)| *b < buckets).count();
        let mut lat = Vec::with_capacity(queries.len());
        let mut recall_sum = 0.0;
        let mut strategies = BTreeMap::new();
        // Searches run back to back, as on a busy router; the brute-force
        // truth is computed afterwards so its 150 MB sweep per query does not
        // evict the index from the caches between timed searches.
        let mut answers = Vec::with_capacity(queries.len());
        for q in &queries {
            let req = SearchRequest {
                vector: q,
                k: cfg.k,
                best_per_skill: false,
                filter: Filter {
                    regions: regions.clone(),
                    ..Filter::default()
                },
            };
            let t = Instant::now();
            let res = index
                .search(&req)
                .unwrap_or_else(|e| panic!("bench query failed: {e}"));
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            answers.push(res);
        }
        for (q, res) in queries.iter().zip(&answers) {
            for p in &res.plan.segments {
                *strategies.entry(format!("{:?}", p.strategy)).or_insert(0) += 1;
            }
            let mut qn = q.clone();
            let _ = super::distance::normalize(space, cfg.dim, &mut qn, String::new);
            let mut truth: Vec<f32> = flat
                .iter()
                .filter(|(b, _)| *b < buckets)
                .map(|(_, x)| super::distance::dot(&qn, x))
                .collect();
            truth.sort_by(|a, b| b.total_cmp(a));
            truth.truncate(cfg.k);
            // Compare by similarity: rows are anonymous here, and a hit
            // whose score reaches the k-th true score is a true neighbour.
            let kth = truth.last().copied().unwrap_or(f32::NEG_INFINITY);
            let found = res.hits.iter().filter(|h| h.similarity >= kth - 1e-6).count();
            recall_sum += found as f64 / truth.len().max(1) as f64;
        }
        lat.sort_by(f64::total_cmp);
        let mean = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
        if buckets == REGION_BUCKETS {
            hnsw_full_us = percentile(&lat, 0.5);
        }
        selectivities.push(SelectivityResult {
            selectivity: sel,
            allowed_rows,
            p50_us: percentile(&lat, 0.5),
            p99_us: percentile(&lat, 0.99),
            mean_us: mean,
            recall_at_k: recall_sum / queries.len().max(1) as f64,
            strategies,
        });
    }

    // Exact-scan cost per row: the same rows in a flat-only index.
    let flat_index = CapabilityIndex::new(
        space,
        cfg.dim,
        IndexConfig {
            hnsw_min_rows: usize::MAX,
            ..config.clone()
        },
    );
    let _ = flat_index.bulk_insert(&versions);
    let probes = queries.len().min(20);
    let t = Instant::now();
    for q in &queries[..probes] {
        let _ = flat_index.search(&SearchRequest {
            vector: q,
            k: cfg.k,
            best_per_skill: false,
            filter: Filter::default(),
        });
    }
    let exact_ns_per_row = t.elapsed().as_nanos() as f64 / (probes * rows).max(1) as f64;
    drop(flat_index);

    let dir = std::env::temp_dir().join(format!("switchyard-index-bench-{}-{rows}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    let persisted = index.persist(&dir, 1).is_ok();
    let persist_secs = t.elapsed().as_secs_f64();
    let snapshot_bytes = dir_bytes(&dir);
    let t = Instant::now();
    let loaded = CapabilityIndex::load(&dir, space, cfg.dim, config);
    let startup_secs = t.elapsed().as_secs_f64();
    let reload_identical = persisted
        && loaded.as_ref().is_ok_and(|l| {
            queries.iter().take(20).all(|q| {
                let req = SearchRequest {
                    vector: q,
                    k: cfg.k,
                    best_per_skill: false,
                    filter: Filter::default(),
                };
                let a = index.search(&req).map(|r| r.hits);
                let b = l.index.search(&req).map(|r| r.hits);
                matches!((a, b), (Ok(a), Ok(b)) if a == b)
            })
        });
    drop(loaded);
    let _ = std::fs::remove_dir_all(&dir);
    let stats = index.stats();
    IndexBenchCase {
        rows,
        build_secs,
        persist_secs,
        snapshot_bytes,
        startup_secs,
        reload_identical,
        vector_and_graph_bytes: stats.vector_and_graph_bytes,
        rss_bytes: rss_bytes(),
        exact_ns_per_row,
        crossover_rows: hnsw_full_us * 1000.0 / exact_ns_per_row,
        selectivities,
    }
}
