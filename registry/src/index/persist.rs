//! On-disk snapshots: one immutable file per segment plus a manifest.
//!
//! Every file is `magic | format | kind | sha256(body) | body length | body`,
//! written to a temporary name and renamed, so a crash leaves either the old
//! or the new file. Bodies are postcard (a stable, documented, compact serde
//! format that is actively maintained; bincode's upstream has stopped), except
//! the vectors, which are raw little-endian f32 so loading is a straight
//! copy rather than a serde call per float. A segment file never changes once
//! written: its name carries the id, the row count and whether a graph is
//! inside, and the manifest (written last) names the files of one snapshot
//! together with their tombstones and statuses and the caller's checkpoint.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::columns::{Bitset, Columns};
use super::error::{IndexError, SnapshotError};
use super::graph;
use super::model::RowKey;
use super::segment::{LiveState, SegmentData, SegmentView, group_width};

const MAGIC: &[u8; 8] = b"SWYIDX\0\0";
/// Bumped on any change of layout; older files are reported, not misread.
pub(crate) const FORMAT: u32 = 1;
const KIND_SEGMENT: u8 = 1;
const KIND_MANIFEST: u8 = 2;
const HEADER: usize = 8 + 4 + 1 + 32 + 8;
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";

#[derive(Serialize, Deserialize)]
struct SegmentHeader {
    space: String,
    dim: usize,
    id: u64,
    keys: Vec<RowKey>,
    cols: Columns,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ManifestSegment {
    pub id: u64,
    pub file: String,
    pub dead: Bitset,
    pub dead_count: usize,
    pub status: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub space: String,
    pub dim: usize,
    pub checkpoint: u64,
    pub next_id: u64,
    pub segments: Vec<ManifestSegment>,
}

/// File name of a segment's current content.
pub(crate) fn segment_file_name(data: &SegmentData) -> String {
    let g = if data.graph.get().is_some() {
        "hnsw"
    } else {
        "flat"
    };
    format!("seg-{:016x}-{}-{g}.seg", data.id, data.rows())
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&Sha256::digest(body));
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn unframe(path: &Path, kind: u8, bytes: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    let corrupt = |reason: &str| SnapshotError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic or truncated header"));
    }
    let found = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
    if found != FORMAT {
        return Err(SnapshotError::FormatVersion {
            path: path.to_owned(),
            found,
            expected: FORMAT,
        });
    }
    if bytes[12] != kind {
        return Err(corrupt("unexpected file kind"));
    }
    let len = u64::from_le_bytes(bytes[45..53].try_into().unwrap_or_default()) as usize;
    let body = &bytes[HEADER..];
    if body.len() != len {
        return Err(corrupt("length does not match header (truncated?)"));
    }
    if Sha256::digest(body).as_slice() != &bytes[13..45] {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(body.to_vec())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let err = |source| IndexError::Persist {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, IndexError> {
    postcard::to_stdvec(v).map_err(|e| IndexError::Encode(e.to_string()))
}

/// Writes `data` as `dir/<segment_file_name>` unless that file exists.
pub(crate) fn save_segment(dir: &Path, space: &str, data: &SegmentData) -> Result<String, IndexError> {
    let name = segment_file_name(data);
    let path = dir.join(&name);
    if path.exists() {
        return Ok(name);
    }
    let header = encode(&SegmentHeader {
        space: space.to_owned(),
        dim: data.dim,
        id: data.id,
        keys: data.keys.clone(),
        cols: data.cols.clone(),
    })?;
    let graph = match data.graph.get() {
        Some(g) => encode(g)?,
        None => Vec::new(),
    };
    let mut body = Vec::with_capacity(16 + header.len() + data.vectors.len() * 4 + graph.len());
    body.extend_from_slice(&(header.len() as u64).to_le_bytes());
    body.extend_from_slice(&header);
    for x in data.vectors.iter() {
        body.extend_from_slice(&x.to_le_bytes());
    }
    body.extend_from_slice(&(graph.len() as u64).to_le_bytes());
    body.extend_from_slice(&graph);
    write_atomic(&path, &frame(KIND_SEGMENT, &body))?;
    Ok(name)
}

pub(crate) fn save_manifest(dir: &Path, manifest: &Manifest) -> Result<(), IndexError> {
    write_atomic(
        &dir.join(MANIFEST_FILE),
        &frame(KIND_MANIFEST, &encode(manifest)?),
    )
}

fn read(path: &Path) -> Result<Vec<u8>, SnapshotError> {
    fs::read(path).map_err(|source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn load_manifest(dir: &Path, space: &str, dim: usize) -> Result<Manifest, SnapshotError> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Err(SnapshotError::Missing { path });
    }
    let body = unframe(&path, KIND_MANIFEST, &read(&path)?)?;
    let m: Manifest = postcard::from_bytes(&body).map_err(|e| SnapshotError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if m.space != space || m.dim != dim {
        return Err(SnapshotError::SpaceMismatch {
            space: space.to_owned(),
            dim,
            found_space: m.space,
            found_dim: m.dim,
        });
    }
    Ok(m)
}

/// Loads one segment named by the manifest, with its live state.
pub(crate) fn load_segment(
    dir: &Path,
    space: &str,
    dim: usize,
    entry: ManifestSegment,
) -> Result<SegmentView, SnapshotError> {
    let path: PathBuf = dir.join(&entry.file);
    if !path.exists() {
        return Err(SnapshotError::MissingSegment { path });
    }
    let body = unframe(&path, KIND_SEGMENT, &read(&path)?)?;
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.clone(),
        reason,
    };
    let mut at = 0usize;
    let mut take = |len: usize| -> Result<&[u8], SnapshotError> {
        let end = at
            .checked_add(len)
            .filter(|&e| e <= body.len())
            .ok_or_else(|| corrupt("section overruns the file".into()))?;
        let s = &body[at..end];
        at = end;
        Ok(s)
    };
    let header_len = u64::from_le_bytes(take(8)?.try_into().unwrap_or_default()) as usize;
    let mut header: SegmentHeader =
        postcard::from_bytes(take(header_len)?).map_err(|e| corrupt(e.to_string()))?;
    if header.space != space || header.dim != dim {
        return Err(SnapshotError::SpaceMismatch {
            space: space.to_owned(),
            dim,
            found_space: header.space,
            found_dim: header.dim,
        });
    }
    let rows = header.keys.len();
    header.cols.reindex();
    let consistent = header.cols.len() == rows
        && header.cols.is_consistent()
        && header.id == entry.id
        && entry.status.len() == rows
        && entry.dead_count <= rows;
    if !consistent {
        return Err(corrupt("row counts disagree".into()));
    }
    let raw = take(rows * dim * 4)?;
    let vectors: Arc<[f32]> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let graph_len = u64::from_le_bytes(take(8)?.try_into().unwrap_or_default()) as usize;
    let graph_bytes = take(graph_len)?;
    let graph = OnceLock::new();
    if graph_len > 0 {
        let g = graph::decode(graph_bytes, &vectors, dim).map_err(|e| corrupt(format!("graph: {e}")))?;
        let _ = graph.set(g);
    }
    let mut dead = entry.dead;
    dead.grow(rows);
    let data = SegmentData {
        id: header.id,
        dim,
        vectors,
        group_width: group_width(&header.keys),
        keys: header.keys,
        cols: header.cols,
        graph,
    };
    Ok(SegmentView {
        data: Arc::new(data),
        live: Arc::new(LiveState {
            dead,
            dead_count: entry.dead_count,
            status: entry.status,
            select_cache: Default::default(),
        }),
    })
}

/// Removes segment files no longer named by the manifest.
pub(crate) fn remove_stale(dir: &Path, keep: &[String]) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("seg-") && (name.ends_with(".seg") || name.ends_with(".tmp"));
        if ours
            && !keep.contains(&name)
            && let Err(err) = fs::remove_file(e.path())
        {
            tracing::warn!(file = %name, %err, "cannot remove stale index segment");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_detect_corruption_and_other_formats() {
        let p = Path::new("x.seg");
        let framed = frame(KIND_SEGMENT, b"hello world");
        assert_eq!(unframe(p, KIND_SEGMENT, &framed).unwrap(), b"hello world");
        let mut bad = framed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            unframe(p, KIND_SEGMENT, &bad),
            Err(SnapshotError::Corrupt { .. })
        ));
        assert!(matches!(
            unframe(p, KIND_MANIFEST, &framed),
            Err(SnapshotError::Corrupt { .. })
        ));
        assert!(matches!(
            unframe(p, KIND_SEGMENT, &framed[..20]),
            Err(SnapshotError::Corrupt { .. })
        ));
        let mut old = framed;
        old[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            unframe(p, KIND_SEGMENT, &old),
            Err(SnapshotError::FormatVersion { found: 0, .. })
        ));
    }
}
