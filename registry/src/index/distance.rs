//! Dot products and normalisation, the inner loop of every search.
//!
//! Vectors are L2-normalised when they enter the index, so cosine similarity
//! is a plain dot product. Two kernels are kept so the benchmark can compare
//! them on the machine at hand (see `docs/benchmarks.md`): simsimd picks
//! AVX2/AVX-512/NEON code at run time, while the portable kernel relies on
//! the compiler auto-vectorising for the build target (SSE2 only on a default
//! x86-64 build, since `unsafe` and `target-cpu=native` are both off limits).

use simsimd::SpatialSimilarity;

use super::error::IndexError;

/// Number of independent accumulators: enough to hide FMA latency and to
/// let the compiler keep two or four SIMD registers busy.
const LANES: usize = 16;

/// Dot product with the kernel the benchmark found fastest (simsimd).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_simsimd(a, b)
}

/// Dot product through simsimd's run-time dispatched SIMD kernels.
#[inline]
pub fn dot_simsimd(a: &[f32], b: &[f32]) -> f32 {
    // simsimd answers None only for slices of different lengths, which the
    // index never produces; fall back rather than panic on a query path.
    match f32::dot(a, b) {
        Some(d) => d as f32,
        None => dot_portable(a, b),
    }
}

/// Appends the symmetric int8 codes of `row` (scale `max|x| / 127`) to
/// `codes` and returns the scale: `x ≈ code · scale`.
pub fn quantize_i8(row: &[f32], codes: &mut Vec<i8>) -> f32 {
    let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    codes.extend(row.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8));
    scale
}

/// Dot product of int8 codes with the kernel the benchmark found fastest.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> f32 {
    dot_i8_simsimd(a, b)
}

/// int8 dot product through simsimd.
#[inline]
pub fn dot_i8_simsimd(a: &[i8], b: &[i8]) -> f32 {
    match i8::dot(a, b) {
        Some(d) => d as f32,
        None => dot_i8_portable(a, b),
    }
}

/// int8 dot product that auto-vectorises (widening multiply-add); exact,
/// since 4096 products of ±127 fit an i32 many times over.
#[inline]
pub fn dot_i8_portable(a: &[i8], b: &[i8]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum::<i32>() as f32
}

/// Portable dot product written so that it auto-vectorises: fixed-width
/// chunks into independent accumulators (a single running sum would
/// serialise on the add latency and forbid reordering).
#[inline]
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

/// Checks a vector and scales it to unit length in place.
///
/// `what` names the vector in the error (a row key or "query").
pub fn normalize(
    space: &str,
    dim: usize,
    v: &mut [f32],
    what: impl FnOnce() -> String,
) -> Result<(), IndexError> {
    if v.len() != dim {
        return Err(IndexError::WrongDimension {
            space: space.to_owned(),
            expected: dim,
            got: v.len(),
            what: what(),
        });
    }
    if let Some(position) = v.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::NonFinite {
            what: what(),
            position,
        });
    }
    // Accumulate in f64: 4096 squares of large f32 values would overflow.
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(IndexError::ZeroNorm { what: what() });
    }
    let inv = (1.0 / norm) as f32;
    v.iter_mut().for_each(|x| *x *= inv);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree() {
        for n in [1usize, 15, 16, 17, 384, 1000] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32 * 0.5).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(dot_portable(&a, &b)) - exact).abs() < 1e-3 * exact.abs().max(1.0));
            assert!((f64::from(dot_simsimd(&a, &b)) - exact).abs() < 1e-3 * exact.abs().max(1.0));
        }
    }

    #[test]
    fn normalize_rejects_bad_vectors() {
        let mut v = vec![0.0; 4];
        assert!(matches!(
            normalize("s", 4, &mut v, || "q".into()),
            Err(IndexError::ZeroNorm { .. })
        ));
        let mut v = vec![1.0; 3];
        assert!(matches!(
            normalize("s", 4, &mut v, || "q".into()),
            Err(IndexError::WrongDimension {
                expected: 4,
                got: 3,
                ..
            })
        ));
        let mut v = vec![1.0, f32::NAN, 0.0, 0.0];
        assert!(matches!(
            normalize("s", 4, &mut v, || "q".into()),
            Err(IndexError::NonFinite { position: 1, .. })
        ));
        let mut v = vec![3.0, 4.0, 0.0, 0.0];
        normalize("s", 4, &mut v, || "q".into()).unwrap();
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
    }
}
