//! Embedder latency: one 16-token query and a batch of 32 skill texts.
//!
//! Run: `cargo bench -p switchyard-registry --bench embedder`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_registry::embedder::{Embedder, OnnxEmbedder};

/// 14 words + `[CLS]`/`[SEP]` = 16 tokens (checked below).
const QUERY: &str = "please find an agent that can translate my product manual from english into german";

fn bench(c: &mut Criterion) {
    let started = std::time::Instant::now();
    let embedder = OnnxEmbedder::load_default().expect("model loads");
    eprintln!("model load: {:?}", started.elapsed());
    let started = std::time::Instant::now();
    embedder.warm_up().expect("plans optimise");
    eprintln!("warm-up (all plans): {:?}", started.elapsed());
    let tokens = embedder.token_ids(QUERY).expect("tokenises").len();
    assert_eq!(tokens, 16, "the query must be 16 tokens long");

    let skills: Vec<String> = (0..32).map(skill_text).collect();
    let skills: Vec<&str> = skills.iter().map(String::as_str).collect();

    let mut group = c.benchmark_group("embedder");
    group
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("query_16_tokens", |b| b.iter(|| embedder.embed(black_box(QUERY))));
    group.sample_size(20);
    group.bench_function("batch_32_skill_texts", |b| {
        b.iter(|| embedder.embed_batch(black_box(&skills)))
    });
    group.finish();
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
