//! The HNSW graph of a sealed segment: built by instant-distance, searched
//! by our own traversal.
//!
//! instant-distance builds well but searches with a width fixed at build
//! time and no filter, so a filtered query had to over-fetch and hope. Its
//! graph is not exposed either, but its serde layout is plain: after a build
//! the graph is round-tripped through postcard into [`Links`], which mirrors
//! that layout field for field (so snapshots written by either type load as
//! the other). The search here then walks the links itself, with:
//!
//! - a per-query width (`ef`), so over-fetch follows the request;
//! - the filter inside the walk: every node may be traversed, but only rows
//!   the filter allows enter the results, so a result list is never
//!   diluted by rows that are later thrown away;
//! - int8 codes for every distance (a quarter of the bytes of the f32 rows;
//!   the walk is bound by memory traffic); callers re-score with f32.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use instant_distance::{Builder, Point};
use serde::{Deserialize, Serialize, Serializer};

use super::columns::Bitset;
use super::distance::{dot_i8, quantize_i8};
use super::error::IndexError;

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
#[derive(Debug, Clone, Default)]
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
            scales.push(quantize_i8(row, &mut codes));
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

/// instant-distance's link count per node on layer zero (2·M) and above (M).
const ZERO_LINKS: usize = 64;
/// Bytes per cache line on the CPUs we run on.
const CACHE_LINE: usize = 64;
const UPPER_LINKS: usize = 32;
/// instant-distance's marker for an unused link slot.
const NO_LINK: u32 = u32::MAX;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ZeroNode(#[serde(with = "serde_big_array::BigArray")] [u32; ZERO_LINKS]);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UpperNode([u32; UPPER_LINKS]);

/// instant-distance's `Hnsw<RowPoint>`, field for field as its serde derive
/// writes it. Nodes are numbered by level, highest first, so node 0 is the
/// entry point and layer `l` holds nodes `0..layers[l - 1].len()`; each
/// node's links are sorted nearest first and end at the first [`NO_LINK`].
#[derive(Debug, Serialize, Deserialize)]
struct Links {
    /// instant-distance's build-time search width; unused here.
    ef_search: usize,
    /// The segment row of each node.
    rows: Vec<u32>,
    zero: Vec<ZeroNode>,
    layers: Vec<Vec<UpperNode>>,
}

impl Links {
    /// Checks what a search relies on, so a damaged snapshot is an error at
    /// load time rather than a panic at query time.
    fn check(&self, segment_rows: usize) -> Result<(), String> {
        let nodes = self.rows.len();
        if nodes != segment_rows || self.zero.len() != nodes {
            return Err(format!(
                "graph has {nodes} nodes and {} layer-0 lists for {segment_rows} rows",
                self.zero.len()
            ));
        }
        if let Some(r) = self.rows.iter().find(|&&r| r as usize >= segment_rows) {
            return Err(format!("graph node points at row {r} of {segment_rows}"));
        }
        let link_ok = |l: &u32, bound: usize| *l == NO_LINK || (*l as usize) < bound;
        if !self.zero.iter().all(|n| n.0.iter().all(|l| link_ok(l, nodes))) {
            return Err("layer 0 links past the last node".into());
        }
        let mut below = nodes;
        for (i, layer) in self.layers.iter().enumerate() {
            if layer.len() > below || !layer.iter().all(|n| n.0.iter().all(|l| link_ok(l, layer.len()))) {
                return Err(format!("layer {} is inconsistent", i + 1));
            }
            below = layer.len();
        }
        Ok(())
    }
}

/// Per-thread "seen" marks of one search, reset in O(1) by bumping the
/// epoch instead of clearing the array.
#[derive(Debug, Default)]
struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn start(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; false if it was already marked in this search.
    #[inline]
    fn first_visit(&mut self, node: u32) -> bool {
        let m = &mut self.marks[node as usize];
        let first = *m != self.epoch;
        *m = self.epoch;
        first
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}

/// Decodes a graph (postcard bytes) over `vectors`.
pub(crate) fn decode(bytes: &[u8], vectors: &[f32], dim: usize) -> Result<Graph, String> {
    let mut g = postcard::from_bytes::<Graph>(bytes).map_err(|e| e.to_string())?;
    let q = Quantized::new(vectors, dim);
    g.links.check(q.rows())?;
    g.quantized = q;
    Ok(g)
}

/// An HNSW graph over all rows of one segment (tombstones included: they are
/// filtered like any other disallowed row).
#[derive(Serialize, Deserialize)]
pub(crate) struct Graph {
    pub params: HnswParams,
    /// Rebuilt from the f32 vectors on load rather than stored.
    #[serde(skip)]
    quantized: Quantized,
    links: Links,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("params", &self.params)
            .field("layers", &(self.links.layers.len() + 1))
            .finish_non_exhaustive()
    }
}

impl Graph {
    /// Builds the graph; call it on the index's one-thread pool, since
    /// instant-distance parallelises with rayon on whichever pool runs it.
    pub fn build(vectors: &[f32], dim: usize, params: HnswParams) -> Result<Graph, IndexError> {
        let q = Arc::new(Quantized::new(vectors, dim));
        let points = (0..q.rows() as u32)
            .map(|r| RowPoint::new(q.clone(), r))
            .collect();
        let (hnsw, _ids) = Builder::default()
            .ef_construction(params.ef_construction)
            .ef_search(params.ef_search)
            .seed(params.seed)
            .build_hnsw(points);
        // Same serde layout on both sides (see the module docs), so this
        // fails only if instant-distance changes its own.
        let bytes = postcard::to_stdvec(&hnsw).map_err(|e| IndexError::Encode(e.to_string()))?;
        drop(hnsw);
        let links: Links = postcard::from_bytes(&bytes).map_err(|e| IndexError::Encode(e.to_string()))?;
        links.check(q.rows()).map_err(IndexError::Encode)?;
        Ok(Graph {
            params,
            quantized: Arc::try_unwrap(q).unwrap_or_else(|q| (*q).clone()),
            links,
        })
    }

    /// The int8 similarity of `row` to the query codes `qc` (the query's
    /// own scale is left out: it is common to every row).
    #[inline]
    fn row_score(&self, qc: &[i8], row: usize) -> f32 {
        let d = self.quantized.dim;
        dot_i8(qc, &self.quantized.codes[row * d..(row + 1) * d]) * self.quantized.scales[row]
    }

    /// [`row_score`](Self::row_score) of a graph node's row.
    #[inline]
    fn similarity(&self, qc: &[i8], node: u32) -> f32 {
        self.row_score(qc, self.links.rows[node as usize] as usize)
    }

    /// Loads every cache line of a node's int8 row, so that the row is in
    /// cache (or on its way) when its dot product runs.
    #[inline]
    fn touch(&self, node: u32) {
        let d = self.quantized.dim;
        let start = self.links.rows[node as usize] as usize * d;
        for i in (start..start + d).step_by(CACHE_LINE) {
            std::hint::black_box(self.quantized.codes[i]);
        }
    }

    /// Approximate best `ef` rows among those `allowed`, unordered: greedy
    /// descent through the upper layers, then a best-first walk of layer 0
    /// that keeps going through disallowed nodes until `ef` allowed rows are
    /// found and no closer candidate is left.
    pub fn search(&self, query: &[f32], allowed: &Bitset, ef: usize, out: &mut Vec<u32>) {
        let nodes = self.links.rows.len();
        if nodes == 0 || ef == 0 {
            return;
        }
        let q = Quantized::new(query, self.quantized.dim);
        let qc = &q.codes;

        let mut cur = 0u32;
        let mut cur_sim = self.similarity(qc, cur);
        for layer in self.links.layers.iter().rev() {
            loop {
                let mut moved = false;
                for &n in layer[cur as usize].0.iter().take_while(|&&n| n != NO_LINK) {
                    let s = self.similarity(qc, n);
                    if s > cur_sim {
                        (cur, cur_sim, moved) = (n, s, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }

        let is_allowed = |node: u32| allowed.get(self.links.rows[node as usize] as usize);
        let worst = |r: &BinaryHeap<Reverse<(OrderedScore, u32)>>| r.peek().map_or(f32::MIN, |m| m.0.0.0);
        VISITED.with_borrow_mut(|visited| {
            visited.start(nodes);
            visited.first_visit(cur);
            let mut candidates: BinaryHeap<(OrderedScore, u32)> = BinaryHeap::with_capacity(ef * 4);
            let mut results: BinaryHeap<Reverse<(OrderedScore, u32)>> = BinaryHeap::with_capacity(ef + 1);
            candidates.push((OrderedScore(cur_sim), cur));
            if is_allowed(cur) {
                results.push(Reverse((OrderedScore(cur_sim), cur)));
            }
            while let Some((OrderedScore(sim), node)) = candidates.pop() {
                if results.len() >= ef && sim < worst(&results) {
                    break;
                }
                let mut fresh = [0u32; ZERO_LINKS];
                let mut m = 0;
                for &n in self.links.zero[node as usize]
                    .0
                    .iter()
                    .take_while(|&&n| n != NO_LINK)
                {
                    if visited.first_visit(n) {
                        fresh[m] = n;
                        m += 1;
                    }
                }
                // Neighbours' rows lie anywhere in the segment, so each is a
                // cache miss: loading them all before the first dot product
                // overlaps the misses instead of paying them one by one.
                for &n in &fresh[..m] {
                    self.touch(n);
                }
                for &n in &fresh[..m] {
                    let s = self.similarity(qc, n);
                    if results.len() < ef || s > worst(&results) {
                        candidates.push((OrderedScore(s), n));
                        if is_allowed(n) {
                            results.push(Reverse((OrderedScore(s), n)));
                            if results.len() > ef {
                                results.pop();
                            }
                        }
                    }
                }
            }
            out.extend(results.into_iter().map(|r| self.links.rows[r.0.1 as usize]));
        });
    }

    /// The `keep` allowed rows with the best int8 scores, unordered: a
    /// scan over a quarter of the bytes of the f32 rows, for filters that
    /// allow too many rows for an f32 scan and too few for the graph.
    pub fn scan(&self, query: &[f32], allowed: &Bitset, keep: usize) -> Vec<u32> {
        let q = Quantized::new(query, self.quantized.dim);
        let mut heap: BinaryHeap<Reverse<(OrderedScore, u32)>> = BinaryHeap::with_capacity(keep + 1);
        for row in allowed.ones() {
            let s = self.row_score(&q.codes, row);
            if heap.len() < keep {
                heap.push(Reverse((OrderedScore(s), row as u32)));
            } else if heap.peek().is_some_and(|m| s > m.0.0.0) {
                heap.pop();
                heap.push(Reverse((OrderedScore(s), row as u32)));
            }
        }
        heap.into_iter().map(|r| r.0.1).collect()
    }

    /// Approximate heap bytes of the graph (links, node rows, int8 codes).
    pub fn approx_bytes(&self) -> usize {
        let zero = self.links.zero.len() * ZERO_LINKS * 4;
        let upper: usize = self.links.layers.iter().map(|l| l.len() * UPPER_LINKS * 4).sum();
        zero + upper + self.links.rows.len() * 4 + self.quantized.approx_bytes()
    }
}
