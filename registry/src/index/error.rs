//! The index's error types: one for mutations and queries, one for loading a
//! persisted snapshot (which the caller answers by rebuilding from its store).

use std::path::PathBuf;

use thiserror::Error;

/// Why a mutation, a query or a persist was refused.
#[derive(Debug, Error)]
pub enum IndexError {
    /// A vector's length is not the dimension of the index's embedding space.
    #[error("vector for {what} has {got} dimensions, space `{space}` has {expected}")]
    WrongDimension {
        space: String,
        expected: usize,
        got: usize,
        what: String,
    },
    /// A vector holds NaN or an infinity.
    #[error("vector for {what} has a non-finite value at position {position}")]
    NonFinite { what: String, position: usize },
    /// A vector is all zeros, so it has no direction to compare.
    #[error("vector for {what} has zero norm")]
    ZeroNorm { what: String },
    /// Two rows of one insert share the same (skill, vector) key.
    #[error("duplicate row {skill}#{vector} in {agent}@{version}")]
    DuplicateRow {
        agent: String,
        version: String,
        skill: String,
        vector: u16,
    },
    /// A segment would exceed the 2^32 rows that row ids can address.
    #[error("segment would hold more than u32::MAX rows")]
    TooManyRows,
    /// Writing a snapshot failed.
    #[error("cannot write snapshot {path}: {source}")]
    Persist {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Encoding a snapshot failed (a bug rather than an environment problem).
    #[error("cannot encode snapshot: {0}")]
    Encode(String),
}

/// Why a persisted snapshot cannot be used; the caller rebuilds from its store.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// No snapshot was ever written to this directory (a first start).
    #[error("no snapshot manifest at {path}")]
    Missing { path: PathBuf },
    /// The manifest names a segment file that is gone.
    #[error("segment file {path} named by the manifest is missing")]
    MissingSegment { path: PathBuf },
    /// A file failed its checksum or could not be decoded.
    #[error("snapshot file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The snapshot was written by a different on-disk format version.
    #[error("snapshot file {path} has format version {found}, expected {expected}")]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// The snapshot belongs to another embedding space or dimension.
    #[error("snapshot is for space `{found_space}` ({found_dim}-d), expected `{space}` ({dim}-d)")]
    SpaceMismatch {
        space: String,
        dim: usize,
        found_space: String,
        found_dim: usize,
    },
    /// Reading failed for another reason (permissions, I/O error).
    #[error("cannot read snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
