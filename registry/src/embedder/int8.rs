//! Integer matmuls for the int8 weights, exact to f32 precision.
//!
//! # Why
//! The model's weights are int8 with one f32 scale per output column
//! (`W = Q · diag(s)`), but the ONNX graph dequantises them and multiplies in
//! f32: 42 MB of f32 weights that do not fit the last-level cache and are
//! streamed from DRAM on every query. Multiplying by `Q` itself reads 10.6 MB
//! and runs on tract's int8 kernels (AVX-512 VNNI where the CPU has it).
//!
//! # How the activations stay exact
//! An int8 matmul needs int8 activations too. One int8 rounding of the
//! activations (per row, scale `max|x| / 127`) costs too much accuracy: worst
//! cosine to onnxruntime 0.991 on the reference fixture, against the 0.999 the
//! tests require. So each row `x` is split into two int8 rows, a coarse one and
//! the rounding residual of that one at 254 times finer resolution:
//!
//! ```text
//! v  = x · 127 / max|x|        hi = round(v)        lo = round((v - hi) · 254)
//! x ≈ max|x| / 127 · (hi + lo / 254)              (error ≤ max|x| / 64 516)
//! ```
//!
//! Both rows go through one int8 matmul (the batch of rows is doubled), and
//! [`DequantizeRows`] recombines them in f32 with the row and column scales.
//! That is about 15 bits of activation precision: the vectors match
//! onnxruntime's to cosine 0.9999995 at worst on the fixture, like the f32
//! path. The int8 work doubles, but it is cheap next to streaming f32 weights.
//!
//! [`quantize_matmuls`] applies this to every matmul of the typed model whose
//! weight is a dequantised int8 constant, before the graph is optimised. On
//! CPUs with AVX-512 VNNI the whole of it is one fused op per matmul,
//! `vnni::Int8Linear` (16-token query 5.7 → 3.7 ms, see `vnni.rs`); elsewhere
//! it is [`QuantizeRows`], tract's int8 matmul and [`DequantizeRows`].

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;

/// Asks tract for its 16×16 AVX-512 VNNI int8 tile rather than the 8×8 one,
/// unless `TRACT_AVX512_FMA_UNITS` is set in the environment.
///
/// tract picks the 16×16 tile only on cores it measures to have two 512-bit
/// FMA ports, which rules out AMD Zen 4 (double-pumped AVX-512). For these
/// matmuls, with few rows (tokens) against large weights, the wider tile
/// halves the reloads of each weight panel, and on the Zen 4 bench machine
/// it took the 16-token query from 7.4 ms to 5.6 ms (p50, same load). The
/// knob only changes which of two correct int8 kernels runs; CPUs without
/// AVX-512 VNNI never use either. tract memoises the choice at the first
/// matmul it optimises, so this runs before any plan is built.
pub(super) fn prefer_wide_int8_tiles() {
    let knob = &tract_linalg::knobs::TRACT_AVX512_FMA_UNITS;
    if std::env::var_os(knob.name).is_none() {
        knob.set(Some("2".to_owned()));
    }
}

/// Resolution of the residual row relative to the coarse one.
pub(super) const RESIDUAL_STEPS: f32 = 254.0;

/// The int8 weight and per-column scales a dequantised weight was made of, if
/// `outlet` is one.
///
/// The ONNX file dequantises each weight `W` as `Mul(Cast(W_q), W_scale)`,
/// with constants named `{W}_q` (int8, `[K, N]`) and `{W}_scale` (f32,
/// `[1, N]`), and tract folds that into one f32 constant named `{W}_mul` on
/// import. The pair is returned only if it reproduces that constant bit for
/// bit, so a differently built file falls back to f32 rather than to a wrong
/// weight.
fn int8_weight(model: &TypedModel, outlet: OutletId) -> TractResult<Option<(Arc<Tensor>, Arc<Tensor>)>> {
    let Some(base) = model.node(outlet.node).name.strip_suffix("_mul.0") else {
        return Ok(None);
    };
    let konst = |name: String| -> Option<Arc<Tensor>> {
        let node = model.node_by_name(name).ok()?;
        model.outlet_fact(OutletId::new(node.id, 0)).ok()?.konst.clone()
    };
    let (Some(w), Some(q), Some(scale)) = (
        model.outlet_fact(outlet)?.konst.clone(),
        konst(format!("{base}_q.0")),
        konst(format!("{base}_scale.0")),
    ) else {
        return Ok(None);
    };
    if w.datum_type() != f32::datum_type()
        || q.datum_type() != i8::datum_type()
        || scale.datum_type() != f32::datum_type()
        || w.rank() != 2
        || q.shape() != w.shape()
        || scale.shape() != [1, w.shape()[1]]
    {
        return Ok(None);
    }
    let n = w.shape()[1];
    let (wv, qv, sv) = (
        w.try_as_plain_ram()?,
        q.try_as_plain_ram()?,
        scale.try_as_plain_ram()?,
    );
    let (wv, qv, sv) = (wv.as_slice::<f32>()?, qv.as_slice::<i8>()?, sv.as_slice::<f32>()?);
    let exact = wv
        .iter()
        .zip(qv)
        .enumerate()
        .all(|(i, (&w, &q))| (f32::from(q) * sv[i % n]).to_bits() == w.to_bits());
    Ok(exact.then_some((q, scale)))
}

/// One matmul to rewrite: `X · W (+ bias)`.
struct Candidate {
    /// The outlet the rewritten matmul replaces: the bias `Add`'s output if
    /// there is one, else the matmul's.
    output: OutletId,
    op: EinSum,
    name: String,
    /// int8 `[K, N]`.
    weight: Arc<Tensor>,
    /// f32 `[N]`.
    scale: Tensor,
    /// f32 `[N]`.
    bias: Tensor,
}

/// Replaces every `X · W` (`amk,kn->amn`, `X` f32 `[B, S, K]`) whose `W` is a
/// dequantised int8 weight by [`QuantizeRows`] → int8 matmul (i32
/// accumulation) → [`DequantizeRows`], which also absorbs the bias `Add` that
/// follows the matmul. Matmuls of the same `X` (query, key and value) become
/// one matmul over their weights side by side, whose [`DequantizeRows`]
/// splits the columns back. Returns how many matmuls were rewritten.
pub(super) fn quantize_matmuls(model: &mut TypedModel) -> TractResult<usize> {
    let mut groups: Vec<(OutletId, Vec<Candidate>)> = vec![];
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = node.op_as::<EinSum>() else {
            continue;
        };
        let x = node.inputs[0];
        if op.q_params.is_some()
            || node.inputs.len() != 2
            || op.operating_dt != f32::datum_type()
            || op.axes.to_string() != "amk,kn->amn"
            || model.outlet_fact(x)?.datum_type != f32::datum_type()
            || model.outlet_fact(x)?.rank() != 3
        {
            continue;
        }
        let Some((weight, scale)) = int8_weight(model, node.inputs[1])? else {
            continue;
        };
        let n = weight.shape()[1];
        let (output, bias) = match bias_add(model, id, n)? {
            Some((add, bias)) => (OutletId::new(add, 0), bias),
            None => (OutletId::new(id, 0), Tensor::zero::<f32>(&[n])?),
        };
        let candidate = Candidate {
            output,
            op: op.clone(),
            name: node.name.clone(),
            weight,
            scale: scale.into_tensor().into_shape(&[n])?,
            bias,
        };
        match groups.iter_mut().find(|(input, _)| *input == x) {
            Some((_, group)) => group.push(candidate),
            None => groups.push((x, vec![candidate])),
        }
    }
    let mut count = 0;
    for (x, group) in groups {
        let name = &group[0].name;
        let mut patch = TypedModelPatch::default();
        let tapped = patch.tap_model(model, x)?;
        let weights: Vec<&Tensor> = group.iter().map(|c| &*c.weight).collect();
        let scales: Vec<&Tensor> = group.iter().map(|c| &c.scale).collect();
        let biases: Vec<&Tensor> = group.iter().map(|c| &c.bias).collect();
        let widths: Vec<usize> = group.iter().map(|c| c.weight.shape()[1]).collect();
        let outputs = match fused_linear(&weights, &scales, &biases, &widths)? {
            Some(op) => patch.wire_node(format!("{name}.int8_linear"), op, &[tapped])?,
            None => {
                let [xq, rows] =
                    *patch.wire_node(format!("{name}.quantize_rows"), QuantizeRows, &[tapped])?
                else {
                    bail!("QuantizeRows has two outputs");
                };
                let mut konst = |suffix: &str, tensor: Tensor| {
                    patch.wire_node(
                        format!("{name}.{suffix}"),
                        Const::new(tensor.into_arc_tensor())?,
                        &[],
                    )
                };
                let w = konst("weight_q", Tensor::stack_tensors(1, &weights)?)?[0];
                let cols = konst("weight_scale", Tensor::stack_tensors(0, &scales)?)?[0];
                let bias = konst("bias", Tensor::stack_tensors(0, &biases)?)?[0];
                let acc = patch.wire_node(
                    format!("{name}.int8"),
                    EinSum {
                        operating_dt: i32::datum_type(),
                        ..group[0].op.clone()
                    },
                    &[xq, w],
                )?[0];
                patch.wire_node(
                    format!("{name}.dequantize_rows"),
                    DequantizeRows { widths },
                    &[acc, rows, cols, bias],
                )?
            }
        };
        for (candidate, y) in group.iter().zip(outputs) {
            patch.shunt_outside(model, candidate.output, y)?;
        }
        patch.apply(model)?;
        count += group.len();
    }
    Ok(count)
}

/// The whole rewrite as one fused op, where the CPU has one for it: see
/// `vnni.rs`. `None` leaves it to tract's ops.
///
/// The dev profile optimises this crate (the workspace `Cargo.toml`): the
/// kernel's intrinsics are function calls when unoptimised, which made
/// `tests/embedder.rs` take 120 s instead of 9 s.
fn fused_linear(
    weights: &[&Tensor],
    scales: &[&Tensor],
    biases: &[&Tensor],
    widths: &[usize],
) -> TractResult<Option<Box<dyn TypedOp>>> {
    #[cfg(target_arch = "x86_64")]
    if super::vnni::available() && widths.iter().all(|w| w.is_multiple_of(super::vnni::LANES)) {
        let weight = super::vnni::PackedWeight::new(
            &Tensor::stack_tensors(1, weights)?,
            &Tensor::stack_tensors(0, scales)?,
            &Tensor::stack_tensors(0, biases)?,
        )?;
        return Ok(Some(Box::new(super::vnni::Int8Linear {
            weight: Arc::new(weight),
            widths: widths.to_vec(),
        })));
    }
    // Unused on targets without the fused op.
    let _ = (weights, scales, biases, widths);
    Ok(None)
}

/// If the only use of matmul `id`'s output is `Add` of a constant f32 bias of
/// `n` values (broadcast over the rows), that `Add` node and the bias.
fn bias_add(model: &TypedModel, id: usize, n: usize) -> TractResult<Option<(usize, Tensor)>> {
    let successors = &model.node(id).outputs[0].successors;
    if successors.len() != 1 || model.output_outlets()?.contains(&OutletId::new(id, 0)) {
        return Ok(None);
    }
    let add = model.node(successors[0].node);
    let Some(op) = add.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if op.0.name() != "Add" || op.1.is_some() || add.inputs.len() != 2 {
        return Ok(None);
    }
    // The bias constant reaches the `Add` through the rank-fixing axis
    // insertions of the ONNX import, which carry no constant value.
    let mut other = add.inputs[1 - successors[0].slot];
    let bias = loop {
        if let Some(konst) = model.outlet_fact(other)?.konst.clone() {
            break konst;
        }
        let node = model.node(other.node);
        match node.op_as::<AxisOp>() {
            Some(AxisOp::Add(_) | AxisOp::Rm(_)) if node.inputs.len() == 1 => other = node.inputs[0],
            _ => return Ok(None),
        }
    };
    if bias.datum_type() != f32::datum_type() || bias.len() != n || bias.shape().last() != Some(&n) {
        return Ok(None);
    }
    Ok(Some((add.id, bias.into_tensor().into_shape(&[n])?)))
}

/// `max |x|`, in eight independent lanes so that it vectorises (a single
/// `f32::max` fold is a serial dependency chain). Inlined so that `vnni.rs`
/// gets it compiled for AVX-512 along with its caller.
#[inline]
pub(super) fn abs_max(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (m, x) in lanes.iter_mut().zip(chunk) {
            let a = x.abs();
            // NaN compares false and is caught by the caller's finiteness
            // check on the result only if it lands in a lane: make sure it does.
            *m = if a > *m || a.is_nan() { a } else { *m };
        }
    }
    for x in chunks.remainder() {
        let a = x.abs();
        lanes[0] = if a > lanes[0] || a.is_nan() { a } else { lanes[0] };
    }
    lanes
        .iter()
        .fold(0f32, |m, &a| if a > m || a.is_nan() { a } else { m })
}

/// f32 `[B, S, K]` → i8 `[B, 2S, K]` (the coarse rows `hi`, then the residual
/// rows `lo`, see the module docs) and f32 `[B, S, 1]` row scales
/// `max|x| / 127`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QuantizeRows;

impl Op for QuantizeRows {
    fn name(&self) -> StaticName {
        "QuantizeRows".into()
    }

    op_as_typed_op!();
}

impl EvalOp for QuantizeRows {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let &[b, s, k] = x.shape() else {
            bail!("QuantizeRows expects [B, S, K], got {:?}", x.shape());
        };
        let x = x.try_as_plain_ram()?;
        let x = x.as_slice::<f32>()?;
        let mut q = Tensor::zero::<i8>(&[b, 2 * s, k])?;
        let mut scales = Tensor::zero::<f32>(&[b, s, 1])?;
        {
            let mut q = q.try_as_plain_ram_mut()?;
            let q = q.as_slice_mut::<i8>()?;
            let mut scales = scales.try_as_plain_ram_mut()?;
            let scales = scales.as_slice_mut::<f32>()?;
            for (row, xs) in x.chunks_exact(k.max(1)).enumerate() {
                let amax = abs_max(xs);
                if amax == 0.0 || !amax.is_finite() {
                    // All zeros quantise to zeros; a non-finite row would
                    // poison the output anyway, so it becomes NaN.
                    scales[row] = if amax == 0.0 { 0.0 } else { f32::NAN };
                    continue;
                }
                scales[row] = amax / 127.0;
                let inv = 127.0 / amax;
                let (batch, pos) = (row / s, row % s);
                let hi_start = (batch * 2 * s + pos) * k;
                let lo_start = hi_start + s * k;
                let (head, tail) = q.split_at_mut(lo_start);
                quantize_row(xs, inv, &mut head[hi_start..hi_start + k], &mut tail[..k]);
            }
        }
        Ok(tvec!(q.into_tvalue(), scales.into_tvalue()))
    }
}

/// `hi = round(x · inv)`, `lo = round((x · inv - hi) · 254)`, for
/// `|x · inv| <= 127`.
///
/// Rounding adds and subtracts 1.5 · 2^23, which leaves the rounded value
/// (ties to even) in the low mantissa bits: integer arithmetic on the bits
/// then yields it without a float-to-int conversion, whose saturating form
/// does not vectorise on the baseline x86-64 target. Inlined like
/// [`abs_max`].
#[inline]
pub(super) fn quantize_row(xs: &[f32], inv: f32, hi: &mut [i8], lo: &mut [i8]) {
    const MAGIC: f32 = 12_582_912.0;
    const MAGIC_BITS: i32 = 0x4B40_0000;
    let n = xs.len().min(hi.len()).min(lo.len());
    let (xs, hi, lo) = (&xs[..n], &mut hi[..n], &mut lo[..n]);
    for i in 0..n {
        let v = xs[i] * inv;
        let h = v + MAGIC;
        let r = (v - (h - MAGIC)) * RESIDUAL_STEPS + MAGIC;
        hi[i] = (h.to_bits() as i32).wrapping_sub(MAGIC_BITS) as i8;
        lo[i] = (r.to_bits() as i32).wrapping_sub(MAGIC_BITS) as i8;
    }
}

impl TypedOp for QuantizeRows {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(x.datum_type == f32::datum_type() && x.rank() == 3);
        let (b, s, k) = (x.shape[0].clone(), x.shape[1].clone(), x.shape[2].clone());
        Ok(tvec!(
            i8::fact([b.clone(), s.clone() * 2, k]),
            f32::fact([b, s, 1.to_dim()])
        ))
    }

    as_op!();
}

/// i32 `[B, 2S, N]` accumulators of [`QuantizeRows`]' rows times the int8
/// weight, f32 `[B, S, 1]` row scales, f32 `[N]` column scales and f32 `[N]`
/// bias → f32 `(hi + lo / 254) · row · column + bias`, split along the
/// columns into one `[B, S, width]` output per entry of `widths` (which sum
/// to `N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DequantizeRows {
    pub widths: Vec<usize>,
}

impl Op for DequantizeRows {
    fn name(&self) -> StaticName {
        "DequantizeRows".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("widths: {:?}", self.widths)])
    }

    op_as_typed_op!();
}

impl EvalOp for DequantizeRows {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (acc, rows, cols, bias) = args_4!(inputs);
        let &[b, s2, n] = acc.shape() else {
            bail!("DequantizeRows expects [B, 2S, N], got {:?}", acc.shape());
        };
        let s = s2 / 2;
        ensure!(rows.shape() == [b, s, 1] && cols.len() == n && bias.len() == n);
        ensure!(self.widths.iter().sum::<usize>() == n);
        let (acc, rows) = (acc.try_as_plain_ram()?, rows.try_as_plain_ram()?);
        let (cols, bias) = (cols.try_as_plain_ram()?, bias.try_as_plain_ram()?);
        let (acc, rows) = (acc.as_slice::<i32>()?, rows.as_slice::<f32>()?);
        let (cols, bias) = (cols.as_slice::<f32>()?, bias.as_slice::<f32>()?);
        let mut outputs = TVec::new();
        let mut scaled = vec![0f32; n];
        let mut start = 0;
        for &width in &self.widths {
            let end = start + width;
            let mut y = Tensor::zero::<f32>(&[b, s, width])?;
            {
                let mut y = y.try_as_plain_ram_mut()?;
                let y = y.as_slice_mut::<f32>()?;
                for (row, (out, &scale)) in y.chunks_exact_mut(width.max(1)).zip(rows).enumerate() {
                    let (batch, pos) = (row / s, row % s);
                    let hi = (batch * 2 * s + pos) * n;
                    let lo = hi + s * n;
                    for (c, &col) in scaled[start..end].iter_mut().zip(&cols[start..end]) {
                        *c = col * scale;
                    }
                    dequantize_row(
                        &acc[hi + start..hi + end],
                        &acc[lo + start..lo + end],
                        &scaled[start..end],
                        &bias[start..end],
                        out,
                    );
                }
            }
            outputs.push(y.into_tvalue());
            start = end;
        }
        Ok(outputs)
    }
}

/// `out = (hi + lo / 254) · scale + bias`.
fn dequantize_row(hi: &[i32], lo: &[i32], scale: &[f32], bias: &[f32], out: &mut [f32]) {
    let n = out
        .len()
        .min(hi.len())
        .min(lo.len())
        .min(scale.len())
        .min(bias.len());
    let (hi, lo, scale, bias, out) = (&hi[..n], &lo[..n], &scale[..n], &bias[..n], &mut out[..n]);
    for i in 0..n {
        out[i] = (hi[i] as f32 + lo[i] as f32 * (1.0 / RESIDUAL_STEPS)) * scale[i] + bias[i];
    }
}

impl TypedOp for DequantizeRows {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (acc, rows) = (inputs[0], inputs[1]);
        ensure!(acc.datum_type == i32::datum_type() && acc.rank() == 3);
        ensure!(acc.shape[2] == self.widths.iter().sum::<usize>().to_dim());
        Ok(self
            .widths
            .iter()
            .map(|&width| f32::fact([rows.shape[0].clone(), rows.shape[1].clone(), width.to_dim()]))
            .collect())
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_int8_rows_reconstruct_a_row_to_15_bits() {
        let xs: Vec<f32> = (0..389)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
            .collect();
        let amax = abs_max(&xs);
        assert_eq!(amax, xs.iter().fold(0f32, |m, x| m.max(x.abs())));
        let (mut hi, mut lo) = (vec![0i8; xs.len()], vec![0i8; xs.len()]);
        quantize_row(&xs, 127.0 / amax, &mut hi, &mut lo);
        let step = amax / 127.0;
        for ((&x, &h), &l) in xs.iter().zip(&hi).zip(&lo) {
            assert!((x / step - f32::from(h)).abs() <= 0.5 + 1e-4, "{x} {h}");
            let back = step * (f32::from(h) + f32::from(l) / RESIDUAL_STEPS);
            assert!((back - x).abs() <= step / RESIDUAL_STEPS, "{x} {back}");
        }
        assert!(hi.iter().any(|&h| h.abs() == 127));
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        let xs = [0.5f32, 1.5, 2.5, -0.5, -1.5, 126.5, -126.5, 0.49, -0.51];
        let (mut hi, mut lo) = ([0i8; 9], [0i8; 9]);
        quantize_row(&xs, 1.0, &mut hi, &mut lo);
        assert_eq!(hi, [0, 2, 2, 0, -2, 126, -126, 0, -1]);
        assert_eq!(lo[0], 127);
        assert_eq!(lo[7], 124);
    }

    #[test]
    fn abs_max_sees_the_tail_and_nan() {
        assert_eq!(abs_max(&[0.0; 9]), 0.0);
        let mut xs = vec![1.0f32; 17];
        xs[16] = -3.0;
        assert_eq!(abs_max(&xs), 3.0);
        xs[3] = f32::NAN;
        assert!(abs_max(&xs).is_nan());
    }

    #[test]
    fn dequantize_rows_splits_the_columns() {
        // B = 1, S = 2, N = 3: rows hi0, hi1, lo0, lo1.
        let acc = Tensor::from_shape(&[1, 4, 3], &[1, 2, 3, 4, 5, 6, 254, 0, 0, 0, 0, -254]).unwrap();
        let rows = Tensor::from_shape(&[1, 2, 1], &[1.0f32, 2.0]).unwrap();
        let cols = Tensor::from_shape(&[3], &[1.0f32, 1.0, 0.5]).unwrap();
        let bias = Tensor::from_shape(&[3], &[0.0f32, 0.0, 10.0]).unwrap();
        let op = DequantizeRows { widths: vec![2, 1] };
        let inputs = tvec!(
            acc.into_tvalue(),
            rows.into_tvalue(),
            cols.into_tvalue(),
            bias.into_tvalue()
        );
        let out = op.eval(&EvalContext::out_of_plan(), inputs).unwrap();
        let values = |t: &TValue| t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        assert_eq!(out[0].shape(), [1, 2, 2]);
        assert_eq!(values(&out[0]), [2.0, 2.0, 8.0, 10.0]);
        assert_eq!(out[1].shape(), [1, 2, 1]);
        assert_eq!(values(&out[1]), [11.5, 15.0]);
    }

    #[test]
    fn dequantize_row_combines_both_rows() {
        let mut out = [0f32; 2];
        dequantize_row(&[100, -3], &[127, -254], &[0.5, 2.0], &[1.0, 0.0], &mut out);
        assert_eq!(out, [(100.0 + 0.5) * 0.5 + 1.0, (-3.0 - 1.0) * 2.0]);
    }
}
