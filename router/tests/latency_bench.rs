//! `switchyard bench route` end to end on a tiny registry: every query is
//! answered, the report's counts add up, percentiles are ordered, and a
//! second run over the kept data directory reuses it instead of publishing.
//!
//! The embedder is a stand-in that hashes each text to a unit vector: in
//! the test profile the real model's kernels are unoptimised (about a
//! second per text), and what is checked here is the benchmark, not the
//! model (`switchyard bench route` itself always uses the model).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use switchyard_registry::embedder::{EmbedError, Embedder, EmbeddingSpace};
use switchyard_router::latency_bench::{RouteBenchConfig, RouteBenchReport, run_route_bench_with};
use switchyard_router::{FeedbackStats, StatsConfig};

/// A unit vector per text, seeded by the text's hash.
#[derive(Debug)]
struct HashEmbedder(EmbeddingSpace);

impl Embedder for HashEmbedder {
    fn space(&self) -> &EmbeddingSpace {
        &self.0
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut h = DefaultHasher::new();
                t.hash(&mut h);
                let mut rng = rand::rngs::StdRng::seed_from_u64(h.finish());
                let v: Vec<f32> = (0..self.0.dimension)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect())
    }
}

fn embedder() -> Arc<dyn Embedder> {
    Arc::new(HashEmbedder(EmbeddingSpace::new("hash-384", 384)))
}

fn metatool() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/metatool")
}

/// Ten tools: with the stand-in's unrelated centres, every cluster must
/// hold skills for a query of it to have neighbours.
fn ten_tools(dir: &std::path::Path) -> PathBuf {
    let all = std::fs::read_to_string(metatool().join("tools.jsonl")).unwrap();
    let path = dir.join("tools.jsonl");
    std::fs::write(&path, all.lines().take(10).collect::<Vec<_>>().join("\n")).unwrap();
    path
}

fn config(tools: PathBuf, data_dir: PathBuf) -> RouteBenchConfig {
    RouteBenchConfig {
        skills: 300,
        skills_per_agent: 4,
        queries: 40,
        seed: 7,
        data_dir: Some(data_dir),
        tools,
        texts: metatool().join("queries.jsonl"),
    }
}

fn assert_sane(r: &RouteBenchReport) {
    assert_eq!(r.data.skills, 300);
    assert_eq!(r.agents, 75);
    assert_eq!(r.live_rows, 300);
    assert_eq!(
        r.index_origin, "snapshot",
        "the router starts from the persisted index"
    );
    let names: Vec<&str> = r.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vector",
            "vector_constrained",
            "vector_selective",
            "vector_in_thread",
            "text_cache_miss",
            "vector_with_feedback",
            "vector_with_feedback_settled"
        ]
    );
    assert_eq!(r.feedback_records, 30, "a tenth of the skills");
    for c in &r.cases {
        assert_eq!(c.queries, 40, "{}", c.name);
        assert_eq!(c.answered, 40, "{}: every query answered", c.name);
        assert!(c.abstained <= c.answered);
        assert!(c.mean_candidates <= r.k as f64);
        let l = &c.latency_ms;
        assert!(
            0.0 < l.p50 && l.p50 <= l.p99 && l.p99 <= l.max,
            "{}: {l:?}",
            c.name
        );
        assert!(l.p999.is_none(), "fewer than 1,000 samples");
    }
    // Fresh points of the clusters always have neighbours when nothing
    // but visibility filters them.
    assert_eq!(r.cases[0].abstained, 0);
    assert!(r.cases[0].sample_plan.iter().map(|s| s.rows).sum::<usize>() >= 300);
    // On-CPU time is read only where the route runs on the calling thread.
    for c in &r.cases {
        assert_eq!(
            c.cpu_mean_ms.is_some(),
            c.name == "vector_in_thread" && cfg!(target_os = "linux")
        );
    }
    assert!(r.cases[3].cpu_mean_ms.is_none_or(|ms| ms >= 0.0));
    assert_eq!(r.text_embed_cpu_mean_ms.is_some(), cfg!(target_os = "linux"));
    let e = &r.text_embed_ms;
    assert!(0.0 < e.p50 && e.p50 <= e.p99 && e.p99 <= e.max);
    let routed_vectors = [0, 1, 2, 5, 6].map(|i| r.cases[i].latency_ms.p99);
    assert_eq!(
        r.goals.vector_p99_ms,
        routed_vectors.into_iter().fold(0.0, f64::max)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_run_is_sane_and_its_data_dir_is_reused() {
    let (dir, inputs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let tools = ten_tools(inputs.path());
    let first = run_route_bench_with(&config(tools.clone(), dir.path().to_owned()), embedder())
        .await
        .unwrap();
    assert_sane(&first);
    assert!(!first.reused);
    assert_eq!(first.publish_commits, Some(10), "one commit per tenant");

    let second = run_route_bench_with(&config(tools.clone(), dir.path().to_owned()), embedder())
        .await
        .unwrap();
    assert_sane(&second);
    assert!(second.reused);
    assert_eq!(second.publish_secs, None);
    // The feedback case's records live elsewhere: the data directory's
    // statistics stay empty.
    let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
    assert!(stats.is_empty());
    drop(stats);

    // Other data in the same directory is refused, not overwritten.
    let other = RouteBenchConfig {
        skills: 200,
        ..config(tools, dir.path().to_owned())
    };
    assert!(run_route_bench_with(&other, embedder()).await.is_err());
}
