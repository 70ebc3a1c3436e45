//! Local text embedder: turns skills and queries into capability vectors.
//!
//! # Model
//! The default embedder is [`OnnxEmbedder`]: all-MiniLM-L6-v2 (384 dimensions)
//! as a weight-only int8 ONNX file, run in-process with `tract-onnx` and
//! tokenised with the pure-Rust `tokenizers` crate. Nothing is downloaded at run
//! time: the model and tokenizer files are committed under
//! `models/all-minilm-l6-v2/` (provenance, checksums and licence in
//! `models/README.md`), and their sha256 is checked on load
//! ([`EmbedError::ChecksumMismatch`]), so a vector can never silently come from
//! a different file than the one its space name promises.
//!
//! [`OnnxEmbedder::load_default`] looks for the model directory in
//! `$SWITCHYARD_MODEL_DIR` (the directory holding `model.onnx` and
//! `tokenizer.json`) and otherwise in `models/all-minilm-l6-v2` at the
//! workspace root (found from this crate's `CARGO_MANIFEST_DIR`, which is right
//! for tests, benches and `cargo run`; a deployed binary sets the variable).
//!
//! The pipeline is sentence-transformers' for this model: WordPiece tokens
//! truncated at [`MAX_TOKENS`] (256), `token_type_ids` all zero, mean pooling of
//! `last_hidden_state` over the attention mask, then L2 normalisation. Vectors
//! match onnxruntime's to cosine ≥ 0.999 (0.9999995 at worst on the reference
//! fixture that `tests/embedder.rs` checks), although the matmuls run on the
//! int8 weights with integer kernels (see `int8.rs`).
//!
//! # Embedding spaces
//! Every vector is tagged with the [`EmbeddingSpace`] it lives in: vectors from
//! different models (or from the same model at another precision) are not
//! comparable, so the index keeps one space per segment and refuses mixes. The
//! default space is [`DEFAULT_SPACE_NAME`] (`minilm-l6-v2-int8`), 384-d.
//! Clients may send their own vectors for a skill; [`check_client_vector`]
//! accepts them only for a space the server knows, with the right dimension,
//! finite values and a non-zero norm, and returns them L2-normalised so that
//! cosine similarity is a dot product everywhere.
//!
//! # What text represents a skill
//! See [`skill_texts`]: one *primary* text `"name: description (tag, tag)"`
//! plus one text per example request. The primary text carries what the skill
//! *is*; the examples carry how users *ask* for it, which is what a routed
//! query looks like, so matching a query against the nearest of a skill's
//! vectors (max-sim) catches phrasings the description does not use. Tags are
//! folded into the primary text rather than embedded alone: a bare tag such as
//! `nlp` is too short to embed meaningfully. Input and output media types are
//! left out: they are exact-match filters, not semantics. The router benchmark
//! measures this choice against the alternatives (primary only, one
//! concatenated text).
//!
//! # Serving
//! Inference is CPU-bound (milliseconds per call) and must never run on an
//! async worker thread. [`EmbeddingService`] wraps any `Arc<dyn Embedder>`,
//! runs it on tokio's blocking pool behind a semaphore sized to the cores the
//! embedder may use, and keeps an LRU cache of query vectors.

mod attention;
mod int8;
mod onnx;
mod service;
mod skill;
mod space;
#[cfg(target_arch = "x86_64")]
mod vnni;

use std::path::PathBuf;

pub use onnx::{
    MAX_BATCH, MAX_TOKENS, MODEL_DIR_ENV, MODEL_FILE, MODEL_SHA256, OnnxEmbedder, TOKENIZER_FILE,
    TOKENIZER_SHA256, default_model_dir,
};
pub use service::{EmbeddingService, ServiceConfig};
pub use skill::{humanize_identifier, skill_text, skill_texts};
pub use space::{DEFAULT_DIMENSION, DEFAULT_SPACE_NAME, EmbeddingSpace, check_client_vector};

/// A text embedder producing L2-normalised vectors in one [`EmbeddingSpace`].
///
/// Implementations are synchronous and CPU-bound; async code goes through
/// [`EmbeddingService`], which moves the work off the async workers.
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The space every vector of this embedder lives in.
    fn space(&self) -> &EmbeddingSpace;

    /// Embeds `texts`, returning one unit vector per text, in order.
    ///
    /// Fails with [`EmbedError::EmptyInput`] if any text is empty or only
    /// whitespace (nothing is embedded then).
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Embeds one text.
    fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.embed_batch(&[text])?;
        vectors.pop().ok_or_else(|| EmbedError::Inference {
            message: "the embedder returned no vector for one text".to_owned(),
        })
    }
}

/// Everything that can go wrong while loading the model, embedding text or
/// checking a client-supplied vector.
///
/// The client-facing variants ([`EmptyInput`](Self::EmptyInput),
/// [`UnknownSpace`](Self::UnknownSpace),
/// [`WrongDimension`](Self::WrongDimension), [`NonFinite`](Self::NonFinite),
/// [`ZeroNorm`](Self::ZeroNorm)) carry what the HTTP layer needs to build a
/// 422 with the field path; [`is_client_error`](Self::is_client_error) tells
/// them apart from server faults.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// Text `index` of the request is empty or only whitespace.
    #[error("text {index} is empty or only whitespace")]
    EmptyInput { index: usize },

    /// A client vector names a space the server does not know.
    #[error("unknown embedding space {got:?}; the server accepts {expected:?}")]
    UnknownSpace { got: String, expected: String },

    /// A client vector has the wrong number of values for its space.
    #[error("vector has {got} values; its space has dimension {expected}")]
    WrongDimension { expected: usize, got: usize },

    /// A client vector holds NaN or an infinity at `index`.
    #[error("vector value {index} is not finite")]
    NonFinite { index: usize },

    /// A client vector is all zeros, so it has no direction.
    #[error("vector has zero norm")]
    ZeroNorm,

    /// A model file could not be read.
    #[error("cannot read model file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model file is not the one this build was written for.
    #[error(
        "model file {} has sha256 {actual}, expected {expected}; restore it from the repository \
         (see models/README.md)",
        path.display()
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: &'static str,
        actual: String,
    },

    /// The tokenizer file could not be parsed or a text could not be tokenised.
    #[error("tokenizer: {message}")]
    Tokenizer { message: String },

    /// tract could not load, optimise or run the model.
    #[error("model {stage}: {message}")]
    Model { stage: &'static str, message: String },

    /// The inference produced something other than what the pipeline expects.
    #[error("inference: {message}")]
    Inference { message: String },

    /// The blocking task running the embedder panicked or was cancelled.
    #[error("embedding worker failed: {message}")]
    Worker { message: String },
}

impl EmbedError {
    /// Whether the error is the caller's fault (HTTP 422) rather than the
    /// server's (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::EmptyInput { .. }
                | Self::UnknownSpace { .. }
                | Self::WrongDimension { .. }
                | Self::NonFinite { .. }
                | Self::ZeroNorm
        )
    }
}

/// Rejects a batch holding an empty or whitespace-only text, naming the first.
///
/// Such a text would tokenise to `[CLS] [SEP]` and embed to a vector that is
/// close to everything, which is worse than an error.
pub fn check_texts(texts: &[&str]) -> Result<(), EmbedError> {
    match texts.iter().position(|t| t.trim().is_empty()) {
        Some(index) => Err(EmbedError::EmptyInput { index }),
        None => Ok(()),
    }
}

/// Scales `v` to unit length in place, returning the original norm (computed
/// in f64 so that large f32 values cannot overflow it).
pub(crate) fn l2_normalize(v: &mut [f32]) -> f64 {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    norm
}
