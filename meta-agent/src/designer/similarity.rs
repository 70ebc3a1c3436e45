//! Query vectors as the policy compares them: quantised to `i8`.
//!
//! Every design compares the query with every remembered case, so this is
//! the designer's inner loop: 10 000 cases of 384 `f32`s are 15 MB to
//! stream per design, and a float sum is a serial chain the compiler may not
//! reorder. Quantised with a per-vector scale they are 3.8 MB, and an
//! integer dot product vectorises; the cosine stays within about 0.01 of the
//! exact one, far finer than the neighbour weights need.

const LANES: usize = 16;

/// A unit vector as `i8`s and the scale that maps them back.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    values: Box<[i8]>,
    scale: f32,
}

impl Quantized {
    /// `v` with its largest magnitude mapped to 127.
    pub fn new(v: &[f32]) -> Quantized {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        Quantized {
            values: v.iter().map(|x| (x / scale).round() as i8).collect(),
            scale,
        }
    }

    /// Values, 384 for the default embedding space.
    pub fn dimension(&self) -> usize {
        self.values.len()
    }

    /// The dot product: the cosine, for unit vectors of equal length.
    pub fn dot(&self, other: &Quantized) -> f32 {
        // Sixteen independent lanes: the shape the compiler turns into
        // SIMD multiply-adds on any x86-64 (a plain zip-and-sum runs about
        // 2.5 times slower there).
        let (a, a_tail) = self.values.as_chunks::<LANES>();
        let (b, b_tail) = other.values.as_chunks::<LANES>();
        let tail: i32 = a_tail
            .iter()
            .zip(b_tail)
            .map(|(&x, &y)| i32::from(x) * i32::from(y))
            .sum();
        let mut lanes = [0i32; LANES];
        for (x, y) in a.iter().zip(b) {
            for ((lane, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
                *lane += i32::from(x) * i32::from(y);
            }
        }
        (lanes.iter().sum::<i32>() + tail) as f32 * self.scale * other.scale
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn unit(rng: &mut StdRng) -> Vec<f32> {
        let v: Vec<f32> = (0..384).map(|_| rng.random_range(-1.0..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    #[test]
    fn quantised_cosines_are_close_to_exact_ones() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let (a, b) = (unit(&mut rng), unit(&mut rng));
            // Mix them for a range of true cosines.
            let t: f32 = rng.random_range(0.0..1.0);
            let c: Vec<f32> = a.iter().zip(&b).map(|(x, y)| t * x + (1.0 - t) * y).collect();
            let norm = c.iter().map(|x| x * x).sum::<f32>().sqrt();
            let c: Vec<f32> = c.into_iter().map(|x| x / norm).collect();
            let exact: f32 = a.iter().zip(&c).map(|(x, y)| x * y).sum();
            let approx = Quantized::new(&a).dot(&Quantized::new(&c));
            assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
        }
        assert!((Quantized::new(&[0.6, 0.8]).dot(&Quantized::new(&[0.6, 0.8])) - 1.0).abs() < 0.01);
        assert_eq!(Quantized::new(&[0.0, 0.0]).dot(&Quantized::new(&[1.0, 0.0])), 0.0);
    }
}
