//! Criterion benchmarks of the capability index: the two dot-product
//! kernels, and filtered search latency on 10k clustered 384-d rows at 1%,
//! 5%, 20% and 100% selectivity. Afterwards the full `run_index_bench`
//! report (build, snapshot startup, p50/p99, recall@10, memory) is printed
//! as JSON for the sizes in `INDEX_BENCH_SIZES` (default `10000`; e.g.
//! `10000,100000`). `INDEX_BENCH_REPORT_ONLY=1` skips the criterion part; `INDEX_BENCH_EF_SEARCH`,
//! `INDEX_BENCH_EF_CONSTRUCTION`, `INDEX_BENCH_EXACT_MAX_ROWS` and
//! `INDEX_BENCH_QUERIES` override the report's parameters for tuning.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion};
use switchyard_registry::index::bench::{bench_dot, synthetic_versions};
use switchyard_registry::index::distance::{dot_portable, dot_simsimd};
use switchyard_registry::index::{
    CapabilityIndex, Filter, IndexBenchConfig, IndexConfig, SearchRequest, run_index_bench,
};

fn dot_kernels(c: &mut Criterion) {
    let a: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..384).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut g = c.benchmark_group("dot_384");
    g.bench_function("portable", |bench| {
        bench.iter(|| dot_portable(black_box(&a), black_box(&b)))
    });
    g.bench_function("simsimd", |bench| {
        bench.iter(|| dot_simsimd(black_box(&a), black_box(&b)))
    });
    g.finish();
}

fn search_10k(c: &mut Criterion) {
    let rows = 10_000;
    let versions = synthetic_versions(rows, 384, 200, 0.6, 42);
    let index = CapabilityIndex::new("bench", 384, IndexConfig::default());
    index.bulk_insert(&versions).expect("bench data");
    index.wait_for_background();
    let queries: Vec<Vec<f32>> = versions
        .iter()
        .step_by(97)
        .map(|v| v.vectors[0].values.clone())
        .collect();
    let mut g = c.benchmark_group("search_10k_384d_k10");
    for pct in [1usize, 5, 20, 100] {
        let names: Vec<String> = (0..pct).map(|b| format!("r{b}")).collect();
        let regions: Vec<&str> = if pct == 100 {
            vec![]
        } else {
            names.iter().map(String::as_str).collect()
        };
        let mut i = 0;
        g.bench_with_input(
            BenchmarkId::new("selectivity_pct", pct),
            &regions,
            |bench, regions| {
                bench.iter(|| {
                    i = (i + 1) % queries.len();
                    let req = SearchRequest {
                        vector: &queries[i],
                        k: 10,
                        best_per_skill: false,
                        filter: Filter {
                            regions: regions.clone(),
                            ..Filter::default()
                        },
                    };
                    black_box(index.search(&req).expect("search"))
                })
            },
        );
    }
    g.finish();
}

fn main() {
    if std::env::var_os("INDEX_BENCH_REPORT_ONLY").is_none() {
        let mut c = Criterion::default().configure_from_args();
        dot_kernels(&mut c);
        search_10k(&mut c);
        c.final_summary();
    }
    let sizes: Vec<usize> = std::env::var("INDEX_BENCH_SIZES")
        .unwrap_or_else(|_| "10000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    let mut cfg = IndexBenchConfig {
        sizes,
        ..IndexBenchConfig::default()
    };
    if let Some(ef) = env("INDEX_BENCH_EF_SEARCH") {
        cfg.hnsw.ef_search = ef;
    }
    if let Some(ef) = env("INDEX_BENCH_EF_CONSTRUCTION") {
        cfg.hnsw.ef_construction = ef;
    }
    if let Some(n) = env("INDEX_BENCH_EXACT_MAX_ROWS") {
        cfg.exact_max_rows = n;
    }
    if let Some(n) = env("INDEX_BENCH_QUERIES") {
        cfg.queries = n;
    }
    eprintln!("dot kernels: {:?}", bench_dot(cfg.dim));
    let report = run_index_bench(&cfg);
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("report serialises")
    );
}
