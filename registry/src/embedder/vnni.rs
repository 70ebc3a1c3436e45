//! The int8 matmuls as one fused op on AVX-512 VNNI.
//!
//! # Why
//! Built from tract ops, each int8 matmul of `int8.rs` is four nodes:
//! [`super::int8::QuantizeRows`], the activation packing, tract's VNNI kernel
//! and [`super::int8::DequantizeRows`]. Timed node by node on the 16-token
//! query, the packing and the two (de)quantisation passes took 1.3 ms of
//! 5.1 ms, and tract's kernel re-biases every activation byte (`+128`, to make
//! it the unsigned operand of `vpdpbusd`) and sums the weight block once per
//! block of 16 rows, inside its inner loop. [`Int8Linear`] does all of it in
//! one op:
//! - the weight is packed once at load time, offset by `+128` so that it is
//!   the unsigned operand; the bias that adds, `128 · Σₖ a[m, k]` for row
//!   `m`, is subtracted per row from sums taken while quantising;
//! - the activations are quantised into two int8 rows per token (the same
//!   coarse and residual rows as `QuantizeRows`, interleaved so that a
//!   register tile holds both rows of its tokens), already in the layout the
//!   kernel reads: row-major, four `k` bytes broadcast per `vpdpbusd`;
//! - the accumulators are dequantised in registers and stored as f32, with
//!   the bias, straight into the outputs.
//!
//! The integer accumulators are the same as with tract's kernels, so the
//! vectors are too (up to the rounding of one fused multiply-add): worst
//! fixture cosine 0.99999946 either way. 16-token query, criterion p50 in
//! A/B alternation on the shared 2-core box: 5.7 → 3.7 ms (load 4.5–4.9),
//! 9.3 → 5.0 ms (load 5.5–6.2); see `docs/benchmarks.md`.
//!
//! # Unsafe
//! This is the crate's only `unsafe` (the lint is `deny` for the crate and
//! allowed here alone): the AVX-512 functions are called only after
//! [`available`] detected the features at run time, and the kernel's raw
//! loads and stores stay within slices whose lengths [`Tile::run`] asserts.
//! CPUs without AVX-512 VNNI keep tract's ops (`int8.rs`).
#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::fmt;

use tract_onnx::tract_core::internal::*;

use super::int8::{RESIDUAL_STEPS, abs_max, quantize_row};

/// Columns per `zmm` register of i32 accumulators; output widths must be
/// multiples of it.
pub(super) const LANES: usize = 16;
/// Tokens per register tile: 8 rows (coarse and residual) × 3 column blocks
/// = 24 accumulators, plus 3 weight registers and one broadcast, out of 32.
const TILE_TOKENS: usize = 4;
/// Column blocks of [`LANES`] per register tile.
const TILE_BLOCKS: usize = 3;

/// Whether this CPU runs [`Int8Linear`].
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

/// An int8 weight `[K, N]` with its per-column scales and bias, packed for
/// the kernel: blocks of [`LANES`] columns, each a run of `K / 4` 64-byte
/// groups holding 4 consecutive `k` bytes of each of its 16 columns, as
/// `W + 128` (unsigned). `K` is padded to a multiple of 4 with zero weights.
pub(super) struct PackedWeight {
    k: usize,
    /// `K` rounded up to a multiple of 4: the stride of the quantised rows.
    k4: usize,
    n: usize,
    data: Vec<u8>,
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl fmt::Debug for PackedWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PackedWeight[{}, {}]", self.k, self.n)
    }
}

impl PackedWeight {
    /// Packs `weight` (i8 `[K, N]`, `N` a multiple of 16), `scale` and `bias`
    /// (f32 `[N]`).
    pub(super) fn new(weight: &Tensor, scale: &Tensor, bias: &Tensor) -> TractResult<Self> {
        let &[k, n] = weight.shape() else {
            bail!("int8 weight must be [K, N], got {:?}", weight.shape());
        };
        ensure!(n.is_multiple_of(LANES) && scale.len() == n && bias.len() == n);
        let w = weight.try_as_plain_ram()?;
        let w = w.as_slice::<i8>()?;
        let k4 = k.div_ceil(4) * 4;
        let mut data = vec![128u8; n * k4];
        for (block, packed) in data.chunks_exact_mut(k4 * LANES).enumerate() {
            for (group, packed) in packed.chunks_exact_mut(4 * LANES).enumerate() {
                for (lane, packed) in packed.chunks_exact_mut(4).enumerate() {
                    let col = block * LANES + lane;
                    for (t, byte) in (group * 4..k).zip(packed) {
                        *byte = (i16::from(w[t * n + col]) + 128) as u8;
                    }
                }
            }
        }
        let values =
            |t: &Tensor| -> TractResult<Vec<f32>> { Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()) };
        Ok(Self {
            k,
            k4,
            n,
            data,
            scale: values(scale)?,
            bias: values(bias)?,
        })
    }
}

/// f32 `[B, S, K]` → f32 `X · W + bias`, split along the columns into one
/// `[B, S, width]` output per entry of `widths` (multiples of 16 that sum to
/// `N`); see the module docs. Only built where [`available`] holds.
#[derive(Debug, Clone)]
pub(super) struct Int8Linear {
    pub weight: Arc<PackedWeight>,
    pub widths: Vec<usize>,
}

/// By identity of the packed weight: comparing megabytes of weights to tell
/// two nodes apart would be wasted, and only clones share one.
impl PartialEq for Int8Linear {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.weight, &other.weight) && self.widths == other.widths
    }
}

impl Eq for Int8Linear {}

impl Op for Int8Linear {
    fn name(&self) -> StaticName {
        "Int8Linear".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}, widths: {:?}", self.weight, self.widths)])
    }

    op_as_typed_op!();
}

/// Per token: the row scale `max|x| / 127` and the sums of its two int8 rows.
#[derive(Clone, Copy, Default)]
struct RowInfo {
    scale: f32,
    sum_hi: i32,
    sum_lo: i32,
}

impl EvalOp for Int8Linear {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let w = &*self.weight;
        let &[b, s, k] = x.shape() else {
            bail!("Int8Linear expects [B, S, K], got {:?}", x.shape());
        };
        ensure!(k == w.k, "Int8Linear expects K = {}, got {k}", w.k);
        ensure!(available(), "Int8Linear needs AVX-512 VNNI");
        let x = x.try_as_plain_ram()?;
        let x = x.as_slice::<f32>()?;
        let tokens = b * s;
        let mut rows = vec![0i8; 2 * tokens * w.k4];
        let mut info = vec![RowInfo::default(); tokens];
        // SAFETY: `available` checked the features the kernels are built for.
        unsafe { quantize(x, k, w.k4, &mut rows, &mut info) };
        let mut outputs = TVec::new();
        let mut start = 0;
        for &width in &self.widths {
            let mut y = Tensor::zero::<f32>(&[b, s, width])?;
            {
                let mut y = y.try_as_plain_ram_mut()?;
                let y = y.as_slice_mut::<f32>()?;
                // SAFETY: as above; `matmul` checks the slice bounds.
                unsafe { matmul(w, &rows, &info, start, width, y)? };
            }
            outputs.push(y.into_tvalue());
            start += width;
        }
        Ok(outputs)
    }
}

impl TypedOp for Int8Linear {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(x.datum_type == f32::datum_type() && x.rank() == 3);
        ensure!(x.shape[2] == self.weight.k.to_dim());
        Ok(self
            .widths
            .iter()
            .map(|&width| f32::fact([x.shape[0].clone(), x.shape[1].clone(), width.to_dim()]))
            .collect())
    }

    as_op!();
}

/// Quantises each `K`-value row of `x` into rows `2t` (coarse) and `2t + 1`
/// (residual) of `rows` (stride `k4`, padding left at zero).
#[target_feature(enable = "avx512f,avx512bw")]
fn quantize(x: &[f32], k: usize, k4: usize, rows: &mut [i8], info: &mut [RowInfo]) {
    for ((xs, pair), info) in x
        .chunks_exact(k.max(1))
        .zip(rows.chunks_exact_mut(2 * k4))
        .zip(info.iter_mut())
    {
        let amax = abs_max(xs);
        if amax == 0.0 || !amax.is_finite() {
            // All zeros quantise to zeros; a non-finite row would poison the
            // output anyway, so it becomes NaN.
            info.scale = if amax == 0.0 { 0.0 } else { f32::NAN };
            continue;
        }
        let (hi, lo) = pair.split_at_mut(k4);
        quantize_row(xs, 127.0 / amax, hi, lo);
        *info = RowInfo {
            scale: amax / 127.0,
            sum_hi: hi.iter().map(|&v| i32::from(v)).sum(),
            sum_lo: lo.iter().map(|&v| i32::from(v)).sum(),
        };
    }
}

/// Writes columns `start..start + width` of the product into `y`
/// (`[tokens, width]`).
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn matmul(
    w: &PackedWeight,
    rows: &[i8],
    info: &[RowInfo],
    start: usize,
    width: usize,
    y: &mut [f32],
) -> TractResult<()> {
    let tokens = info.len();
    ensure!(start.is_multiple_of(LANES) && width.is_multiple_of(LANES) && start + width <= w.n);
    ensure!(rows.len() == 2 * tokens * w.k4 && y.len() == tokens * width);
    let block_bytes = w.k4 * LANES;
    let blocks = width / LANES;
    for first in (0..blocks).step_by(TILE_BLOCKS) {
        let count = TILE_BLOCKS.min(blocks - first);
        let col = start + first * LANES;
        for t in (0..tokens).step_by(TILE_TOKENS) {
            let tile = Tile {
                rows: &rows[2 * t * w.k4..],
                k4: w.k4,
                weight: &w.data[col / LANES * block_bytes..],
                block_bytes,
                scale: &w.scale[col..],
                bias: &w.bias[col..],
                info: &info[t..],
                y: &mut y[t * width + first * LANES..],
                y_stride: width,
            };
            // SAFETY: the features are the caller's promise; `Tile::run`
            // reads and writes only what the slices above hold.
            unsafe {
                match (TILE_TOKENS.min(tokens - t), count) {
                    (4, 3) => tile.run::<8, 3>(),
                    (4, 2) => tile.run::<8, 2>(),
                    (4, _) => tile.run::<8, 1>(),
                    (3, 3) => tile.run::<6, 3>(),
                    (3, 2) => tile.run::<6, 2>(),
                    (3, _) => tile.run::<6, 1>(),
                    (2, 3) => tile.run::<4, 3>(),
                    (2, 2) => tile.run::<4, 2>(),
                    (2, _) => tile.run::<4, 1>(),
                    (_, 3) => tile.run::<2, 3>(),
                    (_, 2) => tile.run::<2, 2>(),
                    (_, _) => tile.run::<2, 1>(),
                }
            }
        }
    }
    Ok(())
}

/// One register tile: `R / 2` tokens (`R` int8 rows) × `C` blocks of 16
/// columns, over the whole of `K`.
struct Tile<'a> {
    rows: &'a [i8],
    k4: usize,
    weight: &'a [u8],
    block_bytes: usize,
    scale: &'a [f32],
    bias: &'a [f32],
    info: &'a [RowInfo],
    y: &'a mut [f32],
    y_stride: usize,
}

impl Tile<'_> {
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn run<const R: usize, const C: usize>(self) {
        assert!(self.rows.len() >= R * self.k4 && self.weight.len() >= C * self.block_bytes);
        assert!(self.scale.len() >= C * LANES && self.bias.len() >= C * LANES);
        assert!(self.info.len() >= R / 2);
        assert!(self.y.len() >= (R / 2 - 1) * self.y_stride + C * LANES);
        let (rows, weight) = (self.rows.as_ptr(), self.weight.as_ptr());
        let mut acc = [[_mm512_setzero_si512(); C]; R];
        for g in 0..self.k4 / 4 {
            // SAFETY (reads): row `r` is `k4` bytes at `r * k4`, block `c` is
            // `block_bytes` bytes at `c * block_bytes`, checked above.
            let mut w = [_mm512_setzero_si512(); C];
            for (c, w) in w.iter_mut().enumerate() {
                *w = unsafe { _mm512_loadu_si512(weight.add(c * self.block_bytes + g * 64).cast()) };
                // The next tile's weight is not in any cache yet (10.6 MB per
                // query): asking for it into L2 now took the 16-token query
                // from 3.7 to 3.3 ms (probe p50, A/B in alternation). Only an
                // address, so it may point past the weight.
                _mm_prefetch::<_MM_HINT_T1>(weight.wrapping_add((C + c) * self.block_bytes + g * 64).cast());
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = unsafe { rows.add(r * self.k4 + g * 4).cast::<i32>().read_unaligned() };
                let a = _mm512_set1_epi32(a);
                for (acc, &w) in acc.iter_mut().zip(&w) {
                    *acc = _mm512_dpbusd_epi32(*acc, w, a);
                }
            }
        }
        let residual = _mm512_set1_ps(1.0 / RESIDUAL_STEPS);
        for (token, pair) in acc.chunks_exact(2).enumerate() {
            let info = self.info[token];
            let (bias_hi, bias_lo) = (
                _mm512_set1_epi32(128 * info.sum_hi),
                _mm512_set1_epi32(128 * info.sum_lo),
            );
            let row_scale = _mm512_set1_ps(info.scale);
            let out = &mut self.y[token * self.y_stride..];
            for (c, (&hi, &lo)) in pair[0].iter().zip(&pair[1]).enumerate() {
                let hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(hi, bias_hi));
                let lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(lo, bias_lo));
                // SAFETY: within the lengths checked above.
                unsafe {
                    let scale = _mm512_mul_ps(_mm512_loadu_ps(self.scale.as_ptr().add(c * LANES)), row_scale);
                    let bias = _mm512_loadu_ps(self.bias.as_ptr().add(c * LANES));
                    let v = _mm512_fmadd_ps(lo, residual, hi);
                    _mm512_storeu_ps(out.as_mut_ptr().add(c * LANES), _mm512_fmadd_ps(v, scale, bias));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `X · W + bias` the slow way, from the same two int8 rows per token.
    fn reference(x: &[f32], k: usize, w: &[i8], scale: &[f32], bias: &[f32]) -> Vec<f32> {
        let n = scale.len();
        let mut y = vec![];
        for xs in x.chunks_exact(k) {
            let amax = abs_max(xs);
            let (mut hi, mut lo) = (vec![0i8; k], vec![0i8; k]);
            if amax > 0.0 {
                quantize_row(xs, 127.0 / amax, &mut hi, &mut lo);
            }
            for col in 0..n {
                let dot = |row: &[i8]| -> i64 {
                    (0..k)
                        .map(|t| i64::from(row[t]) * i64::from(w[t * n + col]))
                        .sum()
                };
                let v = dot(&hi) as f64 + dot(&lo) as f64 / f64::from(RESIDUAL_STEPS);
                y.push((v * f64::from(amax / 127.0) * f64::from(scale[col]) + f64::from(bias[col])) as f32);
            }
        }
        y
    }

    #[test]
    fn int8_linear_matches_the_reference_on_every_tile_shape() {
        if !available() {
            eprintln!("no AVX-512 VNNI here: nothing to test");
            return;
        }
        // 1 to 4 tokens in the last tile (b · s = 9, 2, 3, 4).
        for (b, s) in [(3, 3), (1, 2), (1, 3), (2, 2)] {
            check_int8_linear(b, s);
        }
    }

    /// K not a multiple of 4; 6 column blocks split 32 + 48 + 16 (tiles of 2,
    /// 3 and 1 blocks); token 1 all zeros.
    fn check_int8_linear(b: usize, s: usize) {
        let (k, widths) = (37usize, [32usize, 48, 16]);
        let n: usize = widths.iter().sum();
        let x: Vec<f32> = (0..b * s * k)
            .map(|i| {
                if i / k == 1 {
                    0.0
                } else {
                    ((i * 7919) % 1013) as f32 / 50.0 - 10.0
                }
            })
            .collect();
        let w: Vec<i8> = (0..k * n)
            .map(|i| ((i * 104_729) % 255) as i32 as u8 as i8)
            .collect();
        let scale: Vec<f32> = (0..n).map(|i| 0.001 + i as f32 * 1e-4).collect();
        let bias: Vec<f32> = (0..n).map(|i| i as f32 / 10.0 - 3.0).collect();
        let op = Int8Linear {
            weight: Arc::new(
                PackedWeight::new(
                    &Tensor::from_shape(&[k, n], &w).unwrap(),
                    &Tensor::from_shape(&[n], &scale).unwrap(),
                    &Tensor::from_shape(&[n], &bias).unwrap(),
                )
                .unwrap(),
            ),
            widths: widths.to_vec(),
        };
        let input = Tensor::from_shape(&[b, s, k], &x).unwrap();
        let out = op
            .eval(&EvalContext::out_of_plan(), tvec!(input.into_tvalue()))
            .unwrap();
        let expected = reference(&x, k, &w, &scale, &bias);
        let mut start = 0;
        for (y, &width) in out.iter().zip(&widths) {
            assert_eq!(y.shape(), [b, s, width]);
            let y = y.try_as_plain_ram().unwrap();
            let y = y.as_slice::<f32>().unwrap();
            for token in 0..b * s {
                for col in 0..width {
                    let (got, want) = (y[token * width + col], expected[token * n + start + col]);
                    assert!(
                        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "token {token}, column {}: {got} != {want}",
                        start + col
                    );
                }
            }
            start += width;
        }
        // The all-zero token is its bias alone.
        let first = out[0].try_as_plain_ram().unwrap();
        assert_eq!(&first.as_slice::<f32>().unwrap()[32..64], &bias[..32]);
    }

    #[test]
    fn a_non_finite_row_gives_nan() {
        if !available() {
            return;
        }
        let (k, n) = (8usize, 16usize);
        let op = Int8Linear {
            weight: Arc::new(
                PackedWeight::new(
                    &Tensor::from_shape(&[k, n], &vec![1i8; k * n]).unwrap(),
                    &Tensor::from_shape(&[n], &vec![1f32; n]).unwrap(),
                    &Tensor::from_shape(&[n], &vec![0f32; n]).unwrap(),
                )
                .unwrap(),
            ),
            widths: vec![n],
        };
        let mut x = vec![1f32; 2 * k];
        x[k + 2] = f32::INFINITY;
        let input = Tensor::from_shape(&[1, 2, k], &x).unwrap();
        let out = op
            .eval(&EvalContext::out_of_plan(), tvec!(input.into_tvalue()))
            .unwrap();
        let y = out[0].try_as_plain_ram().unwrap();
        let y = y.as_slice::<f32>().unwrap();
        assert!(
            y[..n].iter().all(|&v| (v - k as f32).abs() < 1e-3),
            "{:?}",
            &y[..n]
        );
        assert!(y[n..].iter().all(|v| v.is_nan()));
    }
}
