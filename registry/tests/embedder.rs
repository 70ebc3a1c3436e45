//! The ONNX embedder against reference vectors computed by onnxruntime
//! (`fixtures/embeddings/make_reference.py`), plus loading and serving checks.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use switchyard_registry::embedder::{
    DEFAULT_DIMENSION, DEFAULT_SPACE_NAME, EmbedError, Embedder, EmbeddingService, MAX_TOKENS, MODEL_FILE,
    OnnxEmbedder, ServiceConfig, TOKENIZER_FILE, default_model_dir, skill_texts,
};
use switchyard_schemas::manifest::Skill;

const MIN_COSINE: f32 = 0.999;

#[derive(Deserialize)]
struct Reference {
    space: String,
    dimension: usize,
    max_tokens: usize,
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    ids: Vec<u32>,
    vector: Vec<f32>,
}

/// Loaded once per test binary: loading takes a noticeable fraction of a second.
fn embedder() -> &'static Arc<OnnxEmbedder> {
    static EMBEDDER: OnceLock<Arc<OnnxEmbedder>> = OnceLock::new();
    EMBEDDER.get_or_init(|| Arc::new(OnnxEmbedder::load_default().expect("default model loads")))
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embeddings/reference.json");
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        serde_json::from_str(&text).expect("fixture parses")
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (norm(a) * norm(b))
}

#[test]
fn fixture_matches_the_default_space() {
    let r = reference();
    assert_eq!(r.space, DEFAULT_SPACE_NAME);
    assert_eq!(r.dimension, DEFAULT_DIMENSION);
    assert_eq!(r.max_tokens, MAX_TOKENS);
    assert!(r.sentences.len() >= 20);
    assert!(
        r.sentences.iter().any(|s| s.ids.len() == MAX_TOKENS),
        "a text must be truncated"
    );
    let space = embedder().space();
    assert_eq!(
        (space.name.as_str(), space.dimension),
        (DEFAULT_SPACE_NAME, DEFAULT_DIMENSION)
    );
}

#[test]
fn token_ids_match_the_python_tokenizer() {
    for s in &reference().sentences {
        assert_eq!(embedder().token_ids(&s.text).unwrap(), s.ids, "{:?}", s.text);
    }
}

#[test]
fn single_texts_match_onnxruntime() {
    let mut min = f32::MAX;
    for s in &reference().sentences {
        let v = embedder().embed(&s.text).unwrap();
        assert_eq!(v.len(), DEFAULT_DIMENSION);
        assert!((norm(&v) - 1.0).abs() < 1e-4, "not unit length: {}", norm(&v));
        let c = cosine(&v, &s.vector);
        assert!(c >= MIN_COSINE, "cosine {c} for {:?}", s.text);
        min = min.min(c);
    }
    println!("lowest cosine to onnxruntime: {min}");
}

#[test]
fn batches_match_onnxruntime() {
    let texts: Vec<&str> = reference().sentences.iter().map(|s| s.text.as_str()).collect();
    let vectors = embedder().embed_batch(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for (v, s) in vectors.iter().zip(&reference().sentences) {
        let c = cosine(v, &s.vector);
        assert!(c >= MIN_COSINE, "cosine {c} for {:?} in a batch", s.text);
    }
}

#[test]
fn long_texts_batched_with_padding_match_their_single_vectors() {
    let long = &reference()
        .sentences
        .iter()
        .find(|s| s.ids.len() == MAX_TOKENS)
        .unwrap()
        .text;
    let words: Vec<&str> = long.split(' ').collect();
    // Longer than the concrete plans (128 tokens), so they share padded
    // batches on the symbolic plan.
    let texts: Vec<String> = [75, 82, 90, words.len()]
        .iter()
        .map(|&n| words[..n].join(" "))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let lengths: Vec<usize> = refs
        .iter()
        .map(|t| embedder().token_ids(t).unwrap().len())
        .collect();
    assert!(lengths[0] > 128 && lengths[1] > lengths[0], "{lengths:?}");
    let batched = embedder().embed_batch(&refs).unwrap();
    for (text, v) in refs.iter().zip(&batched) {
        let single = embedder().embed(text).unwrap();
        assert!(cosine(v, &single) > 0.9999, "{}", cosine(v, &single));
    }
}

#[test]
fn related_texts_are_closer_than_unrelated_ones() {
    let v = embedder()
        .embed_batch(&[
            "translate this sentence into German",
            "translate_text: Translates text between 100+ languages (translation, i18n, nlp)",
            "sql.query: Run read-only SQL against the analytics warehouse (sql, database, analytics)",
        ])
        .unwrap();
    assert!(
        dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2,
        "{} vs {}",
        dot(&v[0], &v[1]),
        dot(&v[0], &v[2])
    );
}

#[test]
fn blank_texts_are_rejected_with_their_index() {
    let err = embedder().embed_batch(&["fine", "   \n"]).unwrap_err();
    assert!(matches!(err, EmbedError::EmptyInput { index: 1 }), "{err:?}");
    assert!(matches!(
        embedder().embed("").unwrap_err(),
        EmbedError::EmptyInput { index: 0 }
    ));
}

#[test]
fn a_tampered_model_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MODEL_FILE), b"not the model").unwrap();
    std::fs::copy(
        default_model_dir().join(TOKENIZER_FILE),
        dir.path().join(TOKENIZER_FILE),
    )
    .unwrap();
    let err = OnnxEmbedder::load(dir.path()).unwrap_err();
    match &err {
        EmbedError::ChecksumMismatch {
            path,
            expected,
            actual,
        } => {
            assert!(path.ends_with(MODEL_FILE));
            assert_ne!(expected, actual);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("models/README.md"), "{err}");
    assert!(!err.is_client_error());
}

#[test]
fn a_missing_model_directory_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = OnnxEmbedder::load(&dir.path().join("nowhere")).unwrap_err();
    match &err {
        EmbedError::Io { path, .. } => assert!(path.ends_with(MODEL_FILE)),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn skill_texts_embed_to_one_vector_each() {
    let skill: Skill = serde_json::from_value(serde_json::json!({
        "id": "translate",
        "name": "Translate",
        "description": "Translates text between languages.",
        "tags": ["nlp", "i18n"],
        "examples": ["Say hello in French", "How do you write 'thank you' in Japanese?"]
    }))
    .unwrap();
    let texts = skill_texts(&skill);
    assert_eq!(
        texts[0],
        "Translate: Translates text between languages. (nlp, i18n)"
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder().embed_batch(&refs).unwrap();
    assert_eq!(vectors.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_returns_the_embedder_vectors() {
    let service = EmbeddingService::new(embedder().clone(), ServiceConfig::default());
    assert_eq!(service.space().name, DEFAULT_SPACE_NAME);
    let s = &reference().sentences[4];
    let direct = embedder().embed(&s.text).unwrap();
    let first = service.embed_query(&s.text).await.unwrap();
    let cached = service.embed_query(&s.text).await.unwrap();
    assert!(cosine(&first, &direct) > 0.99999);
    assert_eq!(first, cached);
    assert_eq!(service.cached(), 1);
    let batch = service
        .embed_batch(vec![s.text.clone(), "another text".into()])
        .await
        .unwrap();
    assert!(cosine(&batch[0], &s.vector) >= MIN_COSINE);
}

/// Latency probe for tuning: `cargo test -p switchyard-registry --test embedder
/// -- --ignored --nocapture timing`. The criterion bench is the reference.
#[test]
#[ignore]
fn timing() {
    use std::time::Instant;
    fn rss() -> String {
        switchyard_registry::procstat::rss_bytes()
            .map(|b| format!("VmRSS: {} kB", b / 1024))
            .unwrap_or_default()
    }
    fn p50(e: &OnnxEmbedder, texts: &[&str], n: usize) -> std::time::Duration {
        let started = Instant::now();
        e.embed_batch(texts).unwrap();
        let first = started.elapsed();
        let mut times = vec![];
        for _ in 0..n {
            let started = Instant::now();
            e.embed_batch(texts).unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "  first {first:?} p50 {:?} min {:?}  {}",
            times[n / 2],
            times[0],
            rss()
        );
        times[n / 2]
    }
    println!("{}", rss());
    let started = Instant::now();
    let e = OnnxEmbedder::load_default().unwrap();
    println!("load: {:?} {}", started.elapsed(), rss());
    let base = "find an agent that can translate my product manual from english into german please";
    for words in [2usize, 6, 14, 30, 60] {
        let q: String = base.split(' ').cycle().take(words).collect::<Vec<_>>().join(" ");
        println!("query of {} tokens", e.token_ids(&q).unwrap().len());
        p50(&e, &[&q], 30);
    }
    let texts: Vec<&str> = reference()
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .take(19)
        .collect();
    println!("batch of 19 short");
    p50(&e, &texts, 5);
    let texts: Vec<&str> = reference().sentences.iter().map(|s| s.text.as_str()).collect();
    println!("batch of 20");
    p50(&e, &texts, 3);
}
