//! Embedding spaces and the check of client-supplied vectors.

use serde::{Deserialize, Serialize};
use switchyard_schemas::manifest::CapabilityVector;

use super::{EmbedError, l2_normalize};

/// Name of the default embedder's space: all-MiniLM-L6-v2, int8 weights, as
/// committed under `models/all-minilm-l6-v2`.
///
/// The precision is part of the name because int8 vectors differ slightly from
/// fp32 ones; mixing them would skew scores without any error.
pub const DEFAULT_SPACE_NAME: &str = "minilm-l6-v2-int8";

/// Dimension of [`DEFAULT_SPACE_NAME`].
pub const DEFAULT_DIMENSION: usize = 384;

/// The space a vector lives in: vectors are only comparable within one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmbeddingSpace {
    pub name: String,
    pub dimension: usize,
}

impl EmbeddingSpace {
    pub fn new(name: impl Into<String>, dimension: usize) -> Self {
        Self {
            name: name.into(),
            dimension,
        }
    }

    /// The default embedder's space, [`DEFAULT_SPACE_NAME`] with
    /// [`DEFAULT_DIMENSION`].
    pub fn default_space() -> Self {
        Self::new(DEFAULT_SPACE_NAME, DEFAULT_DIMENSION)
    }
}

/// Accepts a client-supplied vector if it lives in `space`, returning it
/// L2-normalised.
///
/// Checks, in order: the space name, the dimension, that every value is finite
/// (the first offender is named, for the error's field path), and that the
/// norm is non-zero. Normalising here means the index can score with a plain
/// dot product whatever scale the client used.
pub fn check_client_vector(
    space: &EmbeddingSpace,
    vector: &CapabilityVector,
) -> Result<Vec<f32>, EmbedError> {
    if vector.space != space.name {
        return Err(EmbedError::UnknownSpace {
            got: vector.space.clone(),
            expected: space.name.clone(),
        });
    }
    if vector.values.len() != space.dimension {
        return Err(EmbedError::WrongDimension {
            expected: space.dimension,
            got: vector.values.len(),
        });
    }
    if let Some(index) = vector.values.iter().position(|v| !v.is_finite()) {
        return Err(EmbedError::NonFinite { index });
    }
    let mut values = vector.values.clone();
    // Subnormal values square to 0 in f32 but not in f64, where the norm is
    // computed, so "zero norm" really means all zeros.
    if l2_normalize(&mut values) == 0.0 {
        return Err(EmbedError::ZeroNorm);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(space: &str, values: Vec<f32>) -> CapabilityVector {
        CapabilityVector {
            space: space.to_owned(),
            values,
        }
    }

    fn space3() -> EmbeddingSpace {
        EmbeddingSpace::new("test-space", 3)
    }

    #[test]
    fn accepts_and_normalises() {
        let v = check_client_vector(&space3(), &vector("test-space", vec![3.0, 0.0, 4.0])).unwrap();
        assert_eq!(v, vec![0.6, 0.0, 0.8]);
    }

    #[test]
    fn large_values_do_not_overflow_the_norm() {
        let v = check_client_vector(&space3(), &vector("test-space", vec![f32::MAX, f32::MAX, 0.0])).unwrap();
        let expected = std::f32::consts::FRAC_1_SQRT_2;
        assert!((v[0] - expected).abs() < 1e-6 && (v[1] - expected).abs() < 1e-6);
    }

    #[test]
    fn tiny_non_zero_values_are_accepted() {
        let v = check_client_vector(&space3(), &vector("test-space", vec![1e-40, 0.0, 0.0])).unwrap();
        assert_eq!(v, vec![1.0, 0.0, 0.0]);
    }

    #[test]
    fn rejects_unknown_space() {
        let err = check_client_vector(&space3(), &vector("other", vec![1.0, 0.0, 0.0])).unwrap_err();
        assert!(
            matches!(&err, EmbedError::UnknownSpace { got, expected } if got == "other" && expected == "test-space"),
            "{err:?}"
        );
        assert!(err.is_client_error());
    }

    #[test]
    fn rejects_wrong_dimension() {
        let err = check_client_vector(&space3(), &vector("test-space", vec![1.0; 4])).unwrap_err();
        assert!(
            matches!(err, EmbedError::WrongDimension { expected: 3, got: 4 }),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_non_finite_naming_the_index() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let err = check_client_vector(&space3(), &vector("test-space", vec![1.0, bad, 0.0])).unwrap_err();
            assert!(matches!(err, EmbedError::NonFinite { index: 1 }), "{err:?}");
        }
    }

    #[test]
    fn rejects_zero_norm() {
        let err = check_client_vector(&space3(), &vector("test-space", vec![0.0, -0.0, 0.0])).unwrap_err();
        assert!(matches!(err, EmbedError::ZeroNorm), "{err:?}");
    }

    #[test]
    fn default_space_is_minilm() {
        let s = EmbeddingSpace::default_space();
        assert_eq!((s.name.as_str(), s.dimension), ("minilm-l6-v2-int8", 384));
    }
}
