//! Each layer's self-attention as one op, [`Attention`].
//!
//! # Why
//! After import and decluttering, the attention of one BERT layer is a
//! subgraph of some 60 nodes once tract has optimised it: the head split of
//! the query, key and value projections (reshapes and axis moves), the two
//! scalings by `d^-1/4`, the `Q·Kᵀ` and `P·V` matmuls with their packing, the
//! mask `Add` and the `Softmax`. On a 26-token query they cost ~18 % of the
//! call, mostly in per-node overhead and in packing tiny matrices (26 × 32
//! per head) for kernels built for large ones. [`Attention`] reads the
//! projections where the int8 matmuls wrote them, `[B, S, heads · d]`, and
//! writes the context straight in the `[B, S, heads · d]` layout of the
//! output projection's input.
//!
//! The two matmuls are register-tiled ([`matmul`]) in safe Rust that the
//! compiler vectorises for the baseline x86-64 target (SSE2). A variant
//! compiled for AVX-512 (through `vnni.rs`) was no faster measurably on the
//! shared bench box: at these sizes the op is bound by the head's transpose,
//! the softmax and the short loops as much as by the multiply-adds.
//! Used for texts up to 40 tokens (`FUSED_MAX_SEQ` in `onnx.rs`). A/B on
//! that box (A B A B, load 1.1–1.5): 26-token query p50 4.22, 4.33 → 3.85,
//! 3.90 ms; MetaTool queries mean on-CPU 5.07, 4.98 → 4.32, 4.31 ms.
//!
//! # How the subgraph is found
//! [`fuse_attention`] starts at each `P·V` einsum whose `P` is a softmax over
//! the last axis of `Q·Kᵀ + mask`, and walks back from `Q`, `K` and `V`
//! through layout ops ([`AxisOp`]) and multiplications by a scalar constant
//! to rank-3 `[B, S, C]` tensors. The layout ops are replayed on symbolic
//! axes ([`Layout`]) to prove that `Q` and `V` arrive as `[B, S, H, D]` and
//! `K` as `[B, H, D, S]`, with `C` split row-major into `H · D`. Anything
//! else is left alone: the model then runs on tract's ops as before.
//!
//! # Accuracy
//! f32 throughout, like tract's ops; the two scalings become one (`c²` on
//! the scores instead of `c` on each operand), and the exponential is a
//! polynomial ([`exp`]) accurate to ~2 ulp. The mask is the model's own
//! tensor, added unchanged, so masked keys get the exporter's `-f32::MAX`.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};

/// f32 `Q`, `K`, `V` `[B, S, H·D]` and an additive mask broadcastable to
/// `[B, H, S, S]` → f32 `[B, S, H·D]`: for each batch row and head,
/// `softmax(Q·Kᵀ · scale + mask) · V`.
#[derive(Debug, Clone)]
pub(super) struct Attention {
    pub heads: usize,
    pub scale: f32,
}

impl PartialEq for Attention {
    fn eq(&self, other: &Self) -> bool {
        self.heads == other.heads && self.scale.to_bits() == other.scale.to_bits()
    }
}

/// By the scale's bits, so that equality is reflexive.
impl Eq for Attention {}

impl Op for Attention {
    fn name(&self) -> StaticName {
        "Attention".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("heads: {}, scale: {}", self.heads, self.scale)])
    }

    op_as_typed_op!();
}

impl EvalOp for Attention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (q, k, v, mask) = args_4!(inputs);
        let &[b, s, c] = q.shape() else {
            bail!("Attention expects [B, S, C], got {:?}", q.shape());
        };
        ensure!(k.shape() == q.shape() && v.shape() == q.shape());
        let h = self.heads;
        ensure!(
            h > 0 && c.is_multiple_of(h) && (c / h).is_multiple_of(NR),
            "{c} channels for {h} heads"
        );
        let d = c / h;
        let &[mb, mh, mm, mn] = mask.shape() else {
            bail!("Attention expects a rank-4 mask, got {:?}", mask.shape());
        };
        // Broadcast dimensions get stride 0.
        let stride = |dim: usize, full: usize, step: usize| -> TractResult<usize> {
            ensure!(
                dim == full || dim == 1,
                "mask {:?} for [{b}, {h}, {s}, {s}]",
                mask.shape()
            );
            Ok(if dim == 1 { 0 } else { step })
        };
        ensure!(mn == s, "mask {:?} for [{b}, {h}, {s}, {s}]", mask.shape());
        let mask_row = stride(mm, s, s)?;
        let mask_head = stride(mh, h, mm * s)?;
        let mask_batch = stride(mb, b, mh * mm * s)?;
        let (q, k, v, mask) = (
            q.try_as_plain_ram()?,
            k.try_as_plain_ram()?,
            v.try_as_plain_ram()?,
            mask.try_as_plain_ram()?,
        );
        let (q, k, v, mask) = (
            q.as_slice::<f32>()?,
            k.as_slice::<f32>()?,
            v.as_slice::<f32>()?,
            mask.as_slice::<f32>()?,
        );
        let problem = Problem {
            q,
            k,
            v,
            mask,
            shape: [b, s, h, d],
            mask_strides: [mask_batch, mask_head, mask_row],
            scale: self.scale,
        };
        let mut y = Tensor::zero::<f32>(&[b, s, c])?;
        {
            let mut y = y.try_as_plain_ram_mut()?;
            let y = y.as_slice_mut::<f32>()?;
            attend(&problem, y);
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

/// The checked inputs of one [`Attention`] call.
struct Problem<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    mask: &'a [f32],
    /// `[B, S, H, D]`.
    shape: [usize; 4],
    /// Of the mask's batch, head and row axes (0 where broadcast).
    mask_strides: [usize; 3],
    scale: f32,
}

/// The attention of `problem` into `y` (`[B, S, H·D]`).
fn attend(problem: &Problem, y: &mut [f32]) {
    let &Problem {
        q,
        k,
        v,
        mask,
        shape: [b, s, h, d],
        mask_strides: [mask_batch, mask_head, mask_row],
        scale,
    } = problem;
    let c = h * d;
    // Keys padded to whole register tiles; the padding scores are never
    // read.
    let sp = s.div_ceil(NR) * NR;
    // Kᵀ of one head, `[D, S]`: the scores are then a matmul over contiguous
    // rows of keys, like the context over rows of values.
    let mut kt = vec![0f32; d * sp];
    let mut p = vec![0f32; s * sp];
    let block = s * c;
    for batch in 0..b {
        let rows = batch * block..(batch + 1) * block;
        let (q, k, v, y) = (&q[rows.clone()], &k[rows.clone()], &v[rows.clone()], &mut y[rows]);
        for head in 0..h {
            let col = head * d;
            // Row by row of Kᵀ: strided loads, but contiguous stores (the
            // other way round, every store lands on another cache line).
            for (i, row) in kt.chunks_exact_mut(sp).enumerate() {
                for (n, x) in row[..s].iter_mut().enumerate() {
                    *x = k[n * c + col + i];
                }
            }
            let q = Mat {
                data: &q[col..],
                ld: c,
            };
            let kt = Mat { data: &kt, ld: sp };
            matmul(q, kt, MatMut { data: &mut p, ld: sp }, [s, d, sp]);
            let mask = &mask[batch * mask_batch + head * mask_head..];
            for (m, scores) in p.chunks_exact_mut(sp).enumerate() {
                softmax(&mut scores[..s], scale, &mask[m * mask_row..m * mask_row + s]);
            }
            let p = Mat { data: &p, ld: sp };
            let v = Mat {
                data: &v[col..],
                ld: c,
            };
            matmul(
                p,
                v,
                MatMut {
                    data: &mut y[col..],
                    ld: c,
                },
                [s, s, d],
            );
        }
    }
}

impl TypedOp for Attention {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let q = inputs[0];
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        ensure!(q.rank() == 3 && inputs[1].shape == q.shape && inputs[2].shape == q.shape);
        ensure!(inputs[3].rank() == 4);
        Ok(tvec!(q.without_value()))
    }

    as_op!();
}

/// Columns of a register tile: two SSE registers (the baseline x86-64
/// target), one AVX one. Head dimensions must be multiples of it.
const NR: usize = 8;
/// Rows of a register tile: 4 × 2 accumulator registers, plus the two of a
/// row of the right operand and a broadcast, fit the 16 SSE registers.
const MR: usize = 4;

/// A row-major matrix in a slice, rows `ld` apart.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    ld: usize,
}

struct MatMut<'a> {
    data: &'a mut [f32],
    ld: usize,
}

/// `c = a · b` for `a` `[m, k]`, `b` `[k, n]` with `n` a multiple of
/// [`NR`], in register tiles of [`MR`] × [`NR`]: each element of `a` and
/// row of `b` loaded once per tile, where a row-by-row `y += a · x` would
/// load and store the whole output row for every `k`.
fn matmul(a: Mat, b: Mat, c: MatMut, [m, k, n]: [usize; 3]) {
    let mut row = 0;
    while row < m {
        let rows = (m - row).min(MR);
        let a = Mat {
            data: &a.data[row * a.ld..],
            ld: a.ld,
        };
        let c_rows = &mut c.data[row * c.ld..];
        for col in (0..n).step_by(NR) {
            let b = Mat {
                data: &b.data[col..],
                ld: b.ld,
            };
            let c = MatMut {
                data: &mut c_rows[col..],
                ld: c.ld,
            };
            match rows {
                4 => tile::<4>(a, b, c, k),
                3 => tile::<3>(a, b, c, k),
                2 => tile::<2>(a, b, c, k),
                _ => tile::<1>(a, b, c, k),
            }
        }
        row += rows;
    }
}

/// One `R` × [`NR`] tile of `c = a · b`, accumulated in registers.
#[inline(always)]
fn tile<const R: usize>(a: Mat, b: Mat, c: MatMut, k: usize) {
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a.data[r * a.ld..r * a.ld + k]);
    let mut acc = [[0f32; NR]; R];
    for p in 0..k {
        let b = &b.data[p * b.ld..p * b.ld + NR];
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let x = row[p];
            for (acc, &y) in acc.iter_mut().zip(b) {
                *acc += x * y;
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        c.data[r * c.ld..r * c.ld + NR].copy_from_slice(acc);
    }
}

/// `x ← softmax(x · scale + mask)`.
fn softmax(x: &mut [f32], scale: f32, mask: &[f32]) {
    for (x, &m) in x.iter_mut().zip(mask) {
        *x = *x * scale + m;
    }
    // Eight lanes so that the max and the sum vectorise (a single fold is a
    // serial dependency chain).
    let mut lanes = [f32::MIN; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = l.max(v);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::MIN, |a, &b| a.max(b));
    x.iter_mut().for_each(|v| *v = exp(*v - max));
    let mut lanes = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    let sum: f32 = chunks.remainder().iter().chain(&lanes).sum();
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// `e^x` for `x <= 0` (the shifted scores), 0 below `-87` (where `e^x` is
/// no longer a normal f32), NaN for NaN.
///
/// Cephes' `expf`: `x = n·ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6
/// polynomial for `e^r`, and `2^n` built in the exponent bits. Branch-free
/// and without float-to-int conversion, so that it vectorises on the
/// baseline x86-64 target (`f32::exp` is a libm call per element).
#[inline]
fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    const MAGIC_BITS: i32 = 0x4B40_0000;
    // Not `f32::max`, which would turn a NaN into -87.
    let clamped = if x < -87.0 { -87.0 } else { x };
    let h = clamped * std::f32::consts::LOG2_E + MAGIC;
    let n = h - MAGIC;
    let r = clamped - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let p = p * r * r + r + 1.0;
    let pow2 = f32::from_bits(((h.to_bits() as i32).wrapping_sub(MAGIC_BITS) + 127).wrapping_shl(23) as u32);
    let y = p * pow2;
    if x < -87.0 { 0.0 } else { y }
}

/// The axes of a tensor in the attention's layout chains: each axis is the
/// row-major merge of named atoms (`B`, `S`, and the parts `C` is split
/// into), so that a chain of reshapes and moves can be checked to be a
/// head split and a transposition, whatever steps it takes.
#[derive(Debug, Clone, PartialEq)]
struct Layout(Vec<Vec<Atom>>);

#[derive(Debug, Clone, PartialEq)]
struct Atom {
    /// `"B"`, `"S"`, `"C"`; an atom split in two gets its name suffixed by
    /// `0` (major part) and `1` (minor part).
    name: String,
    size: TDim,
}

impl Layout {
    /// `[B, S, C]` with the given sizes.
    fn source(shape: &[TDim]) -> Self {
        let atom = |name: &str, size: &TDim| {
            vec![Atom {
                name: name.to_owned(),
                size: size.clone(),
            }]
        };
        Self(vec![
            atom("B", &shape[0]),
            atom("S", &shape[1]),
            atom("C", &shape[2]),
        ])
    }

    fn size(axis: &[Atom]) -> TDim {
        axis.iter()
            .fold(TDim::from(1), |p, a| p * a.size.clone())
            .simplify()
    }

    fn apply(mut self, op: &AxisOp) -> Option<Self> {
        match op {
            AxisOp::Add(at) if *at <= self.0.len() => self.0.insert(*at, vec![]),
            AxisOp::Rm(at) if *at < self.0.len() && Self::size(&self.0[*at]).is_one() => {
                self.0.remove(*at);
            }
            AxisOp::Move(from, to) if *from < self.0.len() && *to < self.0.len() => {
                let axis = self.0.remove(*from);
                self.0.insert(*to, axis);
            }
            AxisOp::Reshape(at, from, to) if at + from.len() <= self.0.len() => {
                let merged: Vec<Vec<Atom>> = self.0.drain(*at..at + from.len()).collect();
                if merged
                    .iter()
                    .zip(from)
                    .any(|(axis, dim)| Self::size(axis) != dim.clone().simplify())
                {
                    return None;
                }
                let mut atoms: std::collections::VecDeque<Atom> = merged.into_iter().flatten().collect();
                let mut axes = vec![];
                for dim in to {
                    let dim = dim.clone().simplify();
                    let mut axis = vec![];
                    while Self::size(&axis) != dim {
                        let atom = atoms.pop_front()?;
                        let (have, size) = (Self::size(&axis).to_i64().ok(), atom.size.to_i64().ok());
                        match (have, size, dim.to_i64().ok()) {
                            // Split a concrete atom that overshoots the
                            // dimension: its major part completes it.
                            (Some(have), Some(size), Some(want))
                                if have * size > want && want % have == 0 && size % (want / have) == 0 =>
                            {
                                let major = want / have;
                                atoms.push_front(Atom {
                                    name: format!("{}1", atom.name),
                                    size: (size / major).into(),
                                });
                                axis.push(Atom {
                                    name: format!("{}0", atom.name),
                                    size: major.into(),
                                });
                            }
                            _ => axis.push(atom),
                        }
                    }
                    axes.push(axis);
                }
                if !atoms.is_empty() {
                    return None;
                }
                self.0.splice(*at..*at, axes);
            }
            _ => return None,
        }
        Some(self)
    }

    /// The atom names of each axis, for comparison with an expected layout.
    fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|axis| axis.iter().map(|a| a.name.as_str()).collect())
            .collect()
    }
}

/// Walks back from `outlet` through layout ops and multiplications by a
/// scalar constant to a rank-3 f32 tensor, returning that tensor, the
/// product of the constants and the layout `outlet` has in terms of it.
fn trace(model: &TypedModel, mut outlet: OutletId) -> TractResult<Option<(OutletId, f32, Layout)>> {
    let mut ops = vec![];
    let mut scale = 1f32;
    loop {
        let fact = model.outlet_fact(outlet)?;
        if fact.datum_type != f32::datum_type() {
            return Ok(None);
        }
        let node = model.node(outlet.node);
        if let Some(op) = node.op_as::<AxisOp>() {
            ops.push(op.clone());
            outlet = node.inputs[0];
        } else if let Some(factor) = scalar_mul(model, node)? {
            scale *= factor.1;
            outlet = factor.0;
        } else if fact.rank() == 3 {
            break;
        } else {
            return Ok(None);
        }
    }
    let mut layout = Layout::source(&model.outlet_fact(outlet)?.shape.to_tvec());
    for op in ops.iter().rev() {
        let Some(next) = layout.apply(op) else {
            return Ok(None);
        };
        layout = next;
    }
    Ok(Some((outlet, scale, layout)))
}

/// `(x, c)` if `node` is `x · c` with `c` a constant scalar (of any rank).
fn scalar_mul(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(OutletId, f32)>> {
    let Some(op) = node.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if op.0.name() != "Mul" || op.1.is_some() || node.inputs.len() != 2 {
        return Ok(None);
    }
    for (x, c) in [(0, 1), (1, 0)] {
        let konst = model.outlet_fact(node.inputs[c])?.konst.clone();
        if let Some(konst) = konst.filter(|k| k.len() == 1 && k.datum_type() == f32::datum_type())
            && model.outlet_fact(node.inputs[x])?.shape == model.outlet_fact(OutletId::new(node.id, 0))?.shape
        {
            let value = konst.try_as_plain_ram()?.as_slice::<f32>()?[0];
            return Ok(Some((node.inputs[x], value)));
        }
    }
    Ok(None)
}

/// One matched attention: the outlet it replaces and the op's inputs.
struct Found {
    output: OutletId,
    inputs: [OutletId; 4],
    heads: usize,
    scale: f32,
}

/// Matches the attention whose `P·V` einsum is node `id`, if it is one.
fn find(model: &TypedModel, id: usize) -> TractResult<Option<Found>> {
    let pv = model.node(id);
    let is_einsum = |node: &TypedNode, axes: &str| {
        node.op_as::<EinSum>().is_some_and(|op| {
            op.q_params.is_none() && op.operating_dt == f32::datum_type() && op.axes.to_string() == axes
        }) && node.inputs.len() == 2
    };
    // P [B, H, S, S] · V [B, S, H, D] → [B, S, H, D].
    if !is_einsum(pv, "abmk,akbn->ambn") {
        return Ok(None);
    }
    let softmax = model.node(pv.inputs[0].node);
    let Some(op) = softmax.op_as::<Softmax>() else {
        return Ok(None);
    };
    if op.axes.as_slice() != [3] || op.quant_output_dt.is_some() || op.kind != SoftmaxKind::Softmax {
        return Ok(None);
    }
    let add = model.node(softmax.inputs[0].node);
    let is_add = add
        .op_as::<TypedBinOp>()
        .is_some_and(|op| op.0.name() == "Add" && op.1.is_none());
    if !is_add || add.inputs.len() != 2 {
        return Ok(None);
    }
    // Q [B, S, H, D] · Kᵀ [B, H, D, S] → [B, H, S, S], plus the mask.
    let (qk, mask) = match (model.node(add.inputs[0].node), model.node(add.inputs[1].node)) {
        (n, _) if is_einsum(n, "ambk,abkn->abmn") => (n, add.inputs[1]),
        (_, n) if is_einsum(n, "ambk,abkn->abmn") => (n, add.inputs[0]),
        _ => return Ok(None),
    };
    let scores = model.outlet_fact(OutletId::new(qk.id, 0))?;
    let mask_fact = model.outlet_fact(mask)?;
    if mask_fact.datum_type != f32::datum_type()
        || mask_fact.rank() != 4
        || mask_fact.shape[3] != scores.shape[3]
        || model.outlet_fact(OutletId::new(add.id, 0))?.shape != scores.shape
    {
        return Ok(None);
    }
    let (Some(q), Some(k), Some(v)) = (
        trace(model, qk.inputs[0])?,
        trace(model, qk.inputs[1])?,
        trace(model, pv.inputs[1])?,
    ) else {
        return Ok(None);
    };
    let source = model.outlet_fact(q.0)?.shape.clone();
    let same = |o: OutletId| -> TractResult<bool> { Ok(model.outlet_fact(o)?.shape == source) };
    let heads = || -> Option<usize> { usize::try_from(q.2.0.get(2)?.first()?.size.to_i64().ok()?).ok() };
    if !same(k.0)? || !same(v.0)? || v.1 != 1.0 {
        return Ok(None);
    }
    if q.2.names() != ["B", "S", "C0", "C1"]
        || k.2.names() != ["B", "C0", "C1", "S"]
        || v.2.names() != ["B", "S", "C0", "C1"]
        || q.2 != v.2
    {
        return Ok(None);
    }
    let Some(heads) = heads() else {
        return Ok(None);
    };
    // The op's register tiles span NR columns of a head.
    let channels = source[2].to_i64().ok().and_then(|c| usize::try_from(c).ok());
    if !channels.is_some_and(|c| c.is_multiple_of(heads) && (c / heads).is_multiple_of(NR)) {
        return Ok(None);
    }
    Ok(Some(Found {
        output: OutletId::new(id, 0),
        inputs: [q.0, k.0, v.0, mask],
        heads,
        scale: q.1 * k.1,
    }))
}

/// Replaces every attention subgraph (see the module docs) by one
/// [`Attention`] node and returns how many there were. The context comes out
/// as `[B, S, H·D]`; where the next node merges the heads back (the model's
/// own reshape), that reshape is replaced too, else a reshape to
/// `[B, S, H, D]` follows.
pub(super) fn fuse_attention(model: &mut TypedModel) -> TractResult<usize> {
    let mut found = vec![];
    for id in model.eval_order()? {
        if let Some(f) = find(model, id)? {
            found.push(f);
        }
    }
    for f in &found {
        let pv = model.node(f.output.node);
        let name = pv.name.clone();
        let (h, d) = {
            let shape = &model.outlet_fact(f.output)?.shape;
            (shape[2].clone(), shape[3].clone())
        };
        let merge = AxisOp::Reshape(
            2,
            tvec![h.clone(), d.clone()],
            tvec![(h.clone() * d.clone()).simplify()],
        );
        let successors = &pv.outputs[0].successors;
        let merged = match successors.as_slice() {
            [next]
                if model.node(next.node).op_as::<AxisOp>() == Some(&merge)
                    && !model.output_outlets()?.contains(&f.output) =>
            {
                Some(OutletId::new(next.node, 0))
            }
            _ => None,
        };
        let mut patch = TypedModelPatch::default();
        let inputs = f
            .inputs
            .iter()
            .map(|&o| patch.tap_model(model, o))
            .collect::<TractResult<Vec<_>>>()?;
        let op = Attention {
            heads: f.heads,
            scale: f.scale,
        };
        let y = patch.wire_node(format!("{name}.attention"), op, &inputs)?[0];
        match merged {
            Some(outlet) => patch.shunt_outside(model, outlet, y)?,
            None => {
                let split = AxisOp::Reshape(2, tvec![(h.clone() * d.clone()).simplify()], tvec![h, d]);
                let y = patch.wire_node(format!("{name}.attention.split"), split, &[y])?[0];
                patch.shunt_outside(model, f.output, y)?;
            }
        }
        patch.apply(model)?;
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::konst::Const;

    /// Straightforward attention on `[B, S, H·D]` inputs and a `[B, 1, S, S]`
    /// mask, in f64.
    fn reference([q, k, v, mask]: [&[f32]; 4], [b, s, h, d]: [usize; 4], scale: f32) -> Vec<f32> {
        let c = h * d;
        let mut y = vec![0f32; b * s * c];
        for batch in 0..b {
            for head in 0..h {
                for m in 0..s {
                    let at = |t: &[f32], n: usize, i: usize| f64::from(t[(batch * s + n) * c + head * d + i]);
                    let scores: Vec<f64> = (0..s)
                        .map(|n| {
                            let dot: f64 = (0..d).map(|i| at(q, m, i) * at(k, n, i)).sum();
                            dot * f64::from(scale) + f64::from(mask[(batch * s + m) * s + n])
                        })
                        .collect();
                    let max = scores.iter().fold(f64::MIN, |a, &x| a.max(x));
                    let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for i in 0..d {
                        let ctx: f64 = (0..s).map(|n| e[n] / sum * at(v, n, i)).sum();
                        y[(batch * s + m) * c + head * d + i] = ctx as f32;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn attention_matches_the_reference_with_padding() {
        let (b, s, h, d) = (2, 11, 3, 8);
        let c = h * d;
        let values = |seed: usize| -> Vec<f32> {
            (0..b * s * c)
                .map(|i| (((i + seed) * 7919) % 1000) as f32 / 250.0 - 2.0)
                .collect()
        };
        let (q, k, v) = (values(1), values(2), values(3));
        // The second text has 7 real tokens: its keys 7.. are masked.
        let mut mask = vec![0f32; b * s * s];
        for m in 0..s {
            for n in 7..s {
                mask[(s + m) * s + n] = -f32::MAX;
            }
        }
        let scale = 0.42f32 * 0.42;
        let expected = reference([&q, &k, &v, &mask], [b, s, h, d], scale);
        let tensor = |data: &[f32], shape: &[usize]| Tensor::from_shape(shape, data).unwrap().into_tvalue();
        let op = Attention { heads: h, scale };
        let out = op
            .eval(
                &EvalContext::out_of_plan(),
                tvec!(
                    tensor(&q, &[b, s, c]),
                    tensor(&k, &[b, s, c]),
                    tensor(&v, &[b, s, c]),
                    tensor(&mask, &[b, 1, s, s])
                ),
            )
            .unwrap();
        let out = out[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        for (i, (&x, &y)) in out.iter().zip(&expected).enumerate() {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{i}: {x} vs {y}");
        }
        // Masked keys do not count: changing their values changes nothing.
        let mut v2 = v.clone();
        for n in 7..s {
            v2[(s + n) * c..(s + n + 1) * c].fill(100.0);
        }
        let again = reference([&q, &k, &v2, &mask], [b, s, h, d], scale);
        assert_eq!(&again[s * c..], &expected[s * c..]);
    }

    #[test]
    fn exp_is_accurate_and_vanishes_below_the_normal_range() {
        for i in 0..=2000 {
            let x = -(i as f32) * 0.0435;
            let (y, e) = (exp(x), f64::from(x).exp());
            assert!((f64::from(y) - e).abs() <= 3e-7 * e, "{x}: {y} vs {e}");
        }
        assert_eq!(exp(-88.0), 0.0);
        assert_eq!(exp(-f32::MAX), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn layouts_follow_the_head_split_and_transposition() {
        let scope = SymbolScope::default();
        let (b, s) = (scope.sym("B").to_dim(), scope.sym("S").to_dim());
        let dims = |d: &[TDim]| d.iter().cloned().collect::<TVec<TDim>>();
        let split = AxisOp::Reshape(2, dims(&[384.into()]), dims(&[12.into(), 32.into()]));
        let source = Layout::source(&[b.clone(), s.clone(), 384.into()]);
        let q = source.clone().apply(&split).unwrap();
        assert_eq!(q.names(), ["B", "S", "C0", "C1"]);
        assert_eq!(q.0[2][0].size, 12.into());
        // The model's key chain: split, move, merge B with H, move, split.
        let bh = (b.clone() * 12).simplify();
        let chain = [
            split.clone(),
            AxisOp::Move(1, 2),
            AxisOp::Reshape(0, dims(&[b.clone(), 12.into()]), tvec![bh.clone()]),
            AxisOp::Move(1, 2),
            AxisOp::Reshape(0, dims(&[bh]), dims(&[b.clone(), 12.into()])),
        ];
        let k = chain
            .iter()
            .try_fold(source.clone(), |l, op| l.apply(op))
            .unwrap();
        assert_eq!(k.names(), ["B", "C0", "C1", "S"]);
        // Merging B with S, or splitting the channels other than row-major,
        // is not a head split.
        let wrong = AxisOp::Reshape(0, dims(&[b.clone(), s.clone()]), dims(&[(b * s).simplify()]));
        assert_eq!(source.clone().apply(&wrong).unwrap().names(), ["BS", "C"]);
        let odd = AxisOp::Reshape(2, dims(&[384.into()]), dims(&[7.into(), 55.into()]));
        assert!(source.apply(&odd).is_none());
    }
    /// A one-layer attention as the ONNX import leaves it (batch 1, 5
    /// tokens, 2 heads of 8), with `V` scaled by `v_scale`.
    fn attention_model(v_scale: f32) -> TypedModel {
        let (s, c) = (5usize, 16usize);
        let mut model = TypedModel::default();
        let mut src = |name: &str, shape: &[usize]| model.add_source(name, f32::fact(shape)).unwrap();
        let (q, k, v) = (src("q", &[1, s, c]), src("k", &[1, s, c]), src("v", &[1, s, c]));
        let mask = src("mask", &[1, 1, s, s]);
        let split = AxisOp::Reshape(2, tvec![c.to_dim()], tvec![2.to_dim(), 8.to_dim()]);
        let mut wire = |name: &str, op: Box<dyn TypedOp>, inputs: &[OutletId]| -> OutletId {
            model.wire_node(name, op, inputs).unwrap()[0]
        };
        let konst = |x: f32| -> Box<dyn TypedOp> {
            Box::new(Const::new(tensor4(&[[[[x]]]]).into_arc_tensor()).unwrap())
        };
        let einsum = |axes: &str| -> Box<dyn TypedOp> {
            Box::new(EinSum::new(axes.parse().unwrap(), f32::datum_type()))
        };
        let half = wire("half", konst(0.5), &[]);
        let q = wire("q.split", Box::new(split.clone()), &[q]);
        let q = wire(
            "q.scaled",
            Box::new(tract_onnx::tract_core::ops::math::mul()),
            &[q, half],
        );
        let k = wire("k.split", Box::new(split.clone()), &[k]);
        let k = wire("k.heads", Box::new(AxisOp::Move(1, 2)), &[k]);
        let k = wire("k.t", Box::new(AxisOp::Move(2, 3)), &[k]);
        let k = wire(
            "k.scaled",
            Box::new(tract_onnx::tract_core::ops::math::mul()),
            &[k, half],
        );
        let scores = wire("qk", einsum("ambk,abkn->abmn"), &[q, k]);
        let scores = wire(
            "masked",
            Box::new(tract_onnx::tract_core::ops::math::add()),
            &[scores, mask],
        );
        let softmax = Softmax {
            axes: tvec![3],
            quant_output_dt: None,
            kind: SoftmaxKind::Softmax,
        };
        let p = wire("softmax", Box::new(softmax), &[scores]);
        let v = wire("v.split", Box::new(split), &[v]);
        let factor = wire("v.factor", konst(v_scale), &[]);
        let v = wire(
            "v.scaled",
            Box::new(tract_onnx::tract_core::ops::math::mul()),
            &[v, factor],
        );
        let ctx = wire("pv", einsum("abmk,akbn->ambn"), &[p, v]);
        let merge = AxisOp::Reshape(2, tvec![2.to_dim(), 8.to_dim()], tvec![c.to_dim()]);
        let y = wire("merge", Box::new(merge), &[ctx]);
        model.select_output_outlets(&[y]).unwrap();
        model
    }

    fn run(model: &TypedModel) -> Vec<f32> {
        let (s, c) = (5usize, 16usize);
        let values = |seed: usize| {
            let data: Vec<f32> = (0..s * c)
                .map(|i| (((i + seed) * 7919) % 1000) as f32 / 250.0 - 2.0)
                .collect();
            Tensor::from_shape(&[1, s, c], &data).unwrap().into_tvalue()
        };
        // The last two tokens are padding.
        let mut mask = vec![0f32; s * s];
        for m in 0..s {
            mask[m * s + 3..m * s + 5].fill(-f32::MAX);
        }
        let mask = Tensor::from_shape(&[1, 1, s, s], &mask).unwrap().into_tvalue();
        let plan = model.clone().into_optimized().unwrap().into_runnable().unwrap();
        let y = plan.run(tvec![values(1), values(2), values(3), mask]).unwrap();
        y[0].try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_fused_model_computes_what_the_subgraph_did() {
        let model = attention_model(1.0);
        let mut fused = model.clone();
        assert_eq!(fuse_attention(&mut fused).unwrap(), 1);
        fused.declutter().unwrap();
        let names: Vec<String> = fused.nodes.iter().map(|n| n.op().name().to_string()).collect();
        assert!(names.contains(&"Attention".to_owned()), "{names:?}");
        for gone in ["Softmax", "EinSum", "MoveAxis", "Reshape"] {
            assert!(!names.iter().any(|n| n == gone), "{gone} left: {names:?}");
        }
        for (x, y) in run(&fused).iter().zip(run(&model)) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn a_model_off_the_pattern_is_left_alone() {
        // A scaled V is not the pattern: the op has no scale for it.
        let model = attention_model(2.0);
        let mut fused = model.clone();
        assert_eq!(fuse_attention(&mut fused).unwrap(), 0);
        assert_eq!(fused.nodes.len(), model.nodes.len());
        assert_eq!(run(&fused), run(&model));
    }
}
