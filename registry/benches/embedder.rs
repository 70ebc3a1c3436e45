//! Embedder latency: a 16-token and a 26-token query (the length of a typical
//! MetaTool query), and a batch of 32 skill texts.
//!
//! Run: `cargo bench -p switchyard-registry --bench embedder`.
//!
//! With `EMBEDDER_BENCH_QUERIES=path/to/queries.jsonl` (lines with a `query`
//! field, e.g. MetaTool's `datasets/metatool/queries.jsonl`) it first embeds
//! up to 1,000 of those queries (every n-th line of the file), each timed on
//! its own (cache miss: the embedder has no cache), three passes in turn, and
//! prints overall and per token length (8-token bands) the wall-clock p50 and
//! the mean on-CPU time of the bench thread (`/proc/thread-self/schedstat`,
//! which waiting for a core on a loaded machine does not inflate).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_registry::embedder::{Embedder, OnnxEmbedder};
use switchyard_registry::procstat;

/// 14 words + `[CLS]`/`[SEP]` = 16 tokens (checked below).
const QUERY: &str = "please find an agent that can translate my product manual from english into german";
/// 26 tokens with `[CLS]`/`[SEP]` (checked below): the median MetaTool query
/// is 20–30 tokens.
const QUERY_26: &str = "Can you find an agent that translates our product manual from English into German \
     and then checks the terminology against our glossary?";

fn bench(c: &mut Criterion) {
    let started = std::time::Instant::now();
    let embedder = OnnxEmbedder::load_default().expect("model loads");
    eprintln!("model load: {:?}", started.elapsed());
    let started = std::time::Instant::now();
    embedder.warm_up().expect("plans optimise");
    eprintln!("warm-up (all plans): {:?}", started.elapsed());
    let tokens = embedder.token_ids(QUERY).expect("tokenises").len();
    assert_eq!(tokens, 16, "the query must be 16 tokens long");
    let tokens = embedder.token_ids(QUERY_26).expect("tokenises").len();
    assert_eq!(tokens, 26, "the long query must be 26 tokens long");
    if let Some(path) = std::env::var_os("EMBEDDER_BENCH_QUERIES") {
        real_queries(&embedder, std::path::Path::new(&path));
    }

    let skills: Vec<String> = (0..32).map(skill_text).collect();
    let skills: Vec<&str> = skills.iter().map(String::as_str).collect();

    let mut group = c.benchmark_group("embedder");
    group
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("query_16_tokens", |b| b.iter(|| embedder.embed(black_box(QUERY))));
    group.bench_function("query_26_tokens", |b| {
        b.iter(|| embedder.embed(black_box(QUERY_26)))
    });
    group.sample_size(20);
    group.bench_function("batch_32_skill_texts", |b| {
        b.iter(|| embedder.embed_batch(black_box(&skills)))
    });
    group.finish();
}

/// Per-query latency over real queries, by token length.
fn real_queries(embedder: &OnnxEmbedder, path: &std::path::Path) {
    #[derive(serde::Deserialize)]
    struct Line {
        query: String,
    }
    let text = std::fs::read_to_string(path).expect("queries readable");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let queries: Vec<(String, usize)> = lines
        .iter()
        .step_by(lines.len().div_ceil(1000).max(1))
        .map(|l| {
            let query = serde_json::from_str::<Line>(l).expect("a {query} line").query;
            let tokens = embedder.token_ids(&query).expect("tokenises").len();
            (query, tokens)
        })
        .collect();
    // (tokens, wall, on-CPU)
    let mut times: Vec<(usize, Duration, Duration)> = vec![];
    for _ in 0..3 {
        for (query, tokens) in &queries {
            let cpu = on_cpu();
            let started = std::time::Instant::now();
            black_box(embedder.embed(black_box(query)).expect("embeds"));
            let wall = started.elapsed();
            times.push((*tokens, wall, on_cpu().saturating_sub(cpu)));
        }
    }
    // The kernel may account on-CPU time in scheduler ticks (4 ms here), so
    // only its mean over many queries means something.
    let p50 = |t: &[(usize, Duration, Duration)]| {
        let mut wall: Vec<Duration> = t.iter().map(|t| t.1).collect();
        wall.sort();
        let cpu: Duration = t.iter().map(|t| t.2).sum();
        format!(
            "p50 {:.2?} wall, mean {:.2?} on-CPU",
            wall[wall.len() / 2],
            cpu / t.len() as u32
        )
    };
    let mut lengths: Vec<usize> = queries.iter().map(|q| q.1).collect();
    lengths.sort_unstable();
    eprintln!(
        "{} queries from {}: tokens p10 {} p50 {} p90 {} max {}; embed {} (3 passes)",
        queries.len(),
        path.display(),
        lengths[lengths.len() / 10],
        lengths[lengths.len() / 2],
        lengths[lengths.len() * 9 / 10],
        lengths[lengths.len() - 1],
        p50(&times)
    );
    for band in (0..=lengths[lengths.len() - 1] / 8).map(|b| b * 8) {
        let band_times: Vec<_> = times
            .iter()
            .filter(|t| (band + 1..=band + 8).contains(&t.0))
            .copied()
            .collect();
        if !band_times.is_empty() {
            eprintln!(
                "  {:>3}-{:<3} tokens: {:>4} timings, {}",
                band + 1,
                band + 8,
                band_times.len(),
                p50(&band_times)
            );
        }
    }
}

/// Time this thread has spent on a CPU (zero where the platform does not
/// tell).
fn on_cpu() -> Duration {
    procstat::thread_cpu_time().unwrap_or_default()
}

/// Varied skill-like texts of 15 to 40 tokens, like the primary texts of
/// `skill_texts`.
fn skill_text(i: usize) -> String {
    const VERBS: [&str; 8] = [
        "Translate",
        "Summarise",
        "Classify",
        "Extract",
        "Schedule",
        "Monitor",
        "Generate",
        "Review",
    ];
    const OBJECTS: [&str; 8] = [
        "legal contracts",
        "customer support tickets",
        "meeting notes",
        "invoices and receipts",
        "pull requests",
        "server logs",
        "marketing copy",
        "calendar events",
    ];
    let verb = VERBS[i % VERBS.len()];
    let object = OBJECTS[(i / VERBS.len() + i) % OBJECTS.len()];
    let detail = " with citations, confidence scores and a short rationale for every decision";
    format!(
        "skill-{i}: {verb} {object} for enterprise teams{} (tag-{}, {}, productivity)",
        &detail[..detail.len() * (i % 4) / 4],
        i % 5,
        verb.to_lowercase()
    )
}

criterion_group!(benches, bench);
criterion_main!(benches);
