//! The HNSW graph of a sealed segment, built by instant-distance.
//!
//! instant-distance copies its points into the graph, so the point type is
//! a row number plus a shared handle on the segment's contiguous int8 codes:
//! codes are stored once, and the graph serialises as row numbers.
//! Decoding needs the codes back; serde has no side channel for that, so
//! [`decode`] installs them in a thread-local for the duration of one
//! (synchronous) decode.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use instant_distance::{Builder, Hnsw, Point, Search};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::columns::Bitset;
use super::distance::dot_i8;

/// An f32 with a total order, for heaps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedScore(f32);
impl Eq for OrderedScore {}
impl PartialOrd for OrderedScore {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedScore {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Build and search parameters of the graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Candidate list size while linking a new node.
    pub ef_construction: usize,
    /// Candidates kept by a search; fixed at build time by instant-distance,
    /// and the most a search can over-fetch for post-filtering.
    pub ef_search: usize,
    /// Seed of the level assignment, fixed so builds are reproducible.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        // Tuned with `run_index_bench` at 10k/100k rows (docs/benchmarks.md).
        HnswParams {
            ef_construction: 100,
            ef_search: 64,
            seed: 0x5717_c4ad_0000_0001,
        }
    }
}

/// int8 copies of a segment's unit vectors, one scale per row.
///
/// Graph traversal is bound by memory traffic (each distance reads a random
/// row), so it runs on codes a quarter the size of the f32 rows; the
/// candidates are then re-scored with the f32 vectors.
#[derive(Debug, Default)]
pub(crate) struct Quantized {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl Quantized {
    /// Quantizes row-major `vectors` of `dim` columns (symmetric, per row).
    pub fn new(vectors: &[f32], dim: usize) -> Self {
        let rows = vectors.len() / dim.max(1);
        let mut codes = Vec::with_capacity(rows * dim);
        let mut scales = Vec::with_capacity(rows);
        for row in vectors.chunks_exact(dim.max(1)) {
            let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            codes.extend(row.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8));
            scales.push(scale);
        }
        Quantized { dim, codes, scales }
    }

    fn rows(&self) -> usize {
        self.scales.len()
    }

    pub fn approx_bytes(&self) -> usize {
        self.codes.len() + self.scales.len() * 4
    }
}

/// A row of a segment, as instant-distance sees it.
#[derive(Clone)]
pub(crate) struct RowPoint {
    q: Arc<Quantized>,
    row: u32,
}

impl RowPoint {
    pub fn new(q: Arc<Quantized>, row: u32) -> Self {
        RowPoint { q, row }
    }

    #[inline]
    fn codes(&self) -> &[i8] {
        let d = self.q.dim;
        let start = self.row as usize * d;
        &self.q.codes[start..start + d]
    }
}

impl Point for RowPoint {
    fn distance(&self, other: &Self) -> f32 {
        let dot = dot_i8(self.codes(), other.codes());
        1.0 - dot * self.q.scales[self.row as usize] * other.q.scales[other.row as usize]
    }
}

impl Serialize for RowPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.row.serialize(s)
    }
}

thread_local! {
    static DECODE_VECTORS: RefCell<Option<Arc<Quantized>>> = const { RefCell::new(None) };
    static SEARCH: RefCell<Search> = RefCell::new(Search::default());
}

impl<'de> Deserialize<'de> for RowPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let row = u32::deserialize(d)?;
        DECODE_VECTORS.with_borrow(|v| match v {
            Some(q) if (row as usize) < q.rows() => Ok(RowPoint::new(q.clone(), row)),
            Some(_) => Err(serde::de::Error::custom(format!(
                "graph point {row} is out of range"
            ))),
            None => Err(serde::de::Error::custom("graph decoded without its vectors")),
        })
    }
}

/// Decodes a graph (postcard bytes) over `vectors`.
pub(crate) fn decode(bytes: &[u8], vectors: &[f32], dim: usize) -> Result<Graph, postcard::Error> {
    let q = Arc::new(Quantized::new(vectors, dim));
    DECODE_VECTORS.with_borrow_mut(|v| *v = Some(q.clone()));
    let out = postcard::from_bytes::<Graph>(bytes);
    DECODE_VECTORS.with_borrow_mut(|v| *v = None);
    out.map(|mut g| {
        g.quantized = q;
        g
    })
}

/// An HNSW graph over all rows of one segment (tombstones included: they are
/// filtered like any other disallowed row).
#[derive(Serialize, Deserialize)]
pub(crate) struct Graph {
    pub params: HnswParams,
    /// Rebuilt from the f32 vectors on load rather than stored.
    #[serde(skip)]
    quantized: Arc<Quantized>,
    hnsw: Hnsw<RowPoint>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Graph {
    /// Builds the graph; call it on the index's one-thread pool, since
    /// instant-distance parallelises with rayon on whichever pool runs it.
    pub fn build(vectors: &[f32], dim: usize, params: HnswParams) -> Graph {
        let q = Arc::new(Quantized::new(vectors, dim));
        let points = (0..q.rows() as u32)
            .map(|r| RowPoint::new(q.clone(), r))
            .collect();
        let (hnsw, _ids) = Builder::default()
            .ef_construction(params.ef_construction)
            .ef_search(params.ef_search)
            .seed(params.seed)
            .build_hnsw(points);
        Graph {
            params,
            quantized: q,
            hnsw,
        }
    }

    /// Approximate nearest rows to the unit vector `query`, at most
    /// `ef_search` of them, in graph order (scores are the caller's job).
    pub fn search(&self, query: &[f32], out: &mut Vec<u32>) {
        let q = RowPoint::new(Arc::new(Quantized::new(query, self.quantized.dim)), 0);
        SEARCH.with_borrow_mut(|search| {
            out.extend(self.hnsw.search(&q, search).map(|item| item.point.row));
        });
    }

    /// The `keep` allowed rows with the best int8 scores, unordered: a
    /// scan over a quarter of the bytes of the f32 rows, for filters that
    /// allow too many rows for an f32 scan and too few for the graph.
    pub fn scan(&self, query: &[f32], allowed: &Bitset, keep: usize) -> Vec<u32> {
        let q = Quantized::new(query, self.quantized.dim);
        let (qc, d) = (&q.codes, self.quantized.dim);
        let mut heap: BinaryHeap<Reverse<(OrderedScore, u32)>> = BinaryHeap::with_capacity(keep + 1);
        for row in allowed.ones() {
            // The query's scale is common to all rows, so it is left out.
            let s = dot_i8(qc, &self.quantized.codes[row * d..(row + 1) * d]) * self.quantized.scales[row];
            if heap.len() < keep {
                heap.push(Reverse((OrderedScore(s), row as u32)));
            } else if heap.peek().is_some_and(|m| s > m.0.0.0) {
                heap.pop();
                heap.push(Reverse((OrderedScore(s), row as u32)));
            }
        }
        heap.into_iter().map(|r| r.0.1).collect()
    }

    /// Approximate heap bytes of the graph (links and point handles).
    pub fn approx_bytes(&self, rows: usize) -> usize {
        // Layer zero holds 2·M = 64 u32 links per node; upper layers hold M
        // per node on a geometrically shrinking share of the nodes (~1/M+...).
        let zero = rows * 64 * 4;
        let upper = rows * 32 * 4 / 31;
        let points = rows * std::mem::size_of::<RowPoint>();
        zero + upper + points + self.quantized.approx_bytes()
    }
}
