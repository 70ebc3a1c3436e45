//! Segments: immutable rows (vectors, keys, filter columns, optional graph)
//! plus a small copy-on-write live state (tombstones and statuses), and the
//! per-segment planner that picks an exact scan or HNSW for each query.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::columns::{Bitset, Columns, FilterKey};
use super::distance::dot;
use super::graph::Graph;
use super::model::{CURRENT_FLAG, Filter, RowKey, RowMeta, SegmentPlan, Strategy, status_bit};

/// The immutable part of a segment.
#[derive(Debug)]
pub(crate) struct SegmentData {
    pub id: u64,
    pub dim: usize,
    /// Row-major unit vectors, `rows × dim`.
    pub vectors: Arc<[f32]>,
    pub keys: Vec<RowKey>,
    pub cols: Columns,
    /// Most rows sharing one (agent, version, skill): how far a
    /// best-per-skill query must over-fetch to be sure of k distinct skills.
    pub group_width: usize,
    /// Set once by the background builder; searched flat until then.
    pub graph: OnceLock<Graph>,
}

impl SegmentData {
    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    /// Bytes of vectors plus graph, for the memory report.
    pub fn approx_bytes(&self) -> usize {
        self.vectors.len() * 4 + self.graph.get().map_or(0, Graph::approx_bytes)
    }
}

/// The mutable part of a segment, replaced whole on every change.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveState {
    /// Deleted, yanked-and-removed or superseded rows.
    pub dead: Bitset,
    pub dead_count: usize,
    /// Status bit (see `status_bit`) per row.
    pub status: Vec<u8>,
    /// Rows allowed by recent filters, valid for this state only.
    pub select_cache: SelectCache,
}

/// Allowed rows (and their count) of the last few filters without a key
/// predicate searched on one live state: a repeated filter (a tenant
/// routing with the same constraints, until a write touches the segment)
/// skips the selection pass over every row. A live state is cloned only to
/// be changed, so a clone starts empty.
#[derive(Debug, Default)]
pub(crate) struct SelectCache(Mutex<Vec<(FilterKey, Arc<Bitset>, usize)>>);

/// Filters remembered per live state: ~12.5 KB each per 100k rows.
const SELECT_CACHE_ENTRIES: usize = 8;

impl Clone for SelectCache {
    fn clone(&self) -> Self {
        SelectCache::default()
    }
}

impl SelectCache {
    fn get(&self, key: &FilterKey) -> Option<(Arc<Bitset>, usize)> {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().find(|e| &e.0 == key).map(|e| (e.1.clone(), e.2))
    }

    fn put(&self, key: FilterKey, allowed: Arc<Bitset>, count: usize) {
        let mut entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if entries.iter().any(|e| e.0 == key) {
            return;
        }
        if entries.len() >= SELECT_CACHE_ENTRIES {
            entries.remove(0);
        }
        entries.push((key, allowed, count));
    }
}

impl LiveState {
    pub fn kill(&mut self, row: usize) -> bool {
        if self.dead.get(row) {
            return false;
        }
        self.dead.set(row);
        self.dead_count += 1;
        true
    }
}

/// A segment as a snapshot sees it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentView {
    pub data: Arc<SegmentData>,
    pub live: Arc<LiveState>,
}

impl SegmentView {
    pub fn live_rows(&self) -> usize {
        self.data.rows() - self.live.dead_count
    }

    /// Rows of `agent` (and `version` if given) that are still live.
    pub fn live_rows_of(&self, agent: &str, version: Option<&str>) -> Vec<usize> {
        let Some(a) = self.data.cols.agents.get(agent) else {
            return Vec::new();
        };
        (0..self.data.rows())
            .filter(|&r| {
                self.data.cols.agent[r] == a
                    && !self.live.dead.get(r)
                    && version.is_none_or(|v| self.data.keys[r].version == v)
            })
            .collect()
    }
}

/// Appends rows; the open segment of the index and the target of merges.
#[derive(Debug)]
pub(crate) struct SegmentBuilder {
    pub dim: usize,
    pub vectors: Vec<f32>,
    pub keys: Vec<RowKey>,
    pub cols: Columns,
    pub live: LiveState,
}

impl SegmentBuilder {
    pub fn new(dim: usize) -> Self {
        SegmentBuilder {
            dim,
            vectors: Vec::new(),
            keys: Vec::new(),
            cols: Columns::default(),
            live: LiveState::default(),
        }
    }

    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Appends one agent version's rows; `rows` holds (skill, vector index,
    /// unit vector) sorted by skill so each skill's rows are contiguous.
    pub fn push_version(
        &mut self,
        agent: &str,
        version: &str,
        meta: &RowMeta,
        rows: &[(String, u16, Vec<f32>)],
    ) {
        let m = self.cols.intern_meta(agent, meta);
        let status = status_bit(meta.status) | if meta.current { CURRENT_FLAG } else { 0 };
        for (skill, vector, values) in rows {
            self.keys.push(RowKey {
                agent: agent.to_owned(),
                version: version.to_owned(),
                skill: skill.clone(),
                vector: *vector,
            });
            self.vectors.extend_from_slice(values);
            self.cols.push(&m);
            self.live.status.push(status);
        }
        self.live.dead.grow(self.rows());
    }

    /// Copies live row `row` of `from`, keeping its status.
    pub fn push_row(&mut self, from: &SegmentView, row: usize) {
        let d = &from.data;
        self.keys.push(d.keys[row].clone());
        self.vectors.extend_from_slice(d.vector(row));
        self.cols.push_from(&d.cols, row);
        self.live.status.push(from.live.status[row]);
    }

    /// An immutable copy of the rows so far (the builder stays usable).
    pub fn snapshot(&self, id: u64) -> SegmentView {
        let mut live = self.live.clone();
        live.dead.grow(self.rows());
        SegmentView {
            data: Arc::new(SegmentData {
                id,
                dim: self.dim,
                vectors: Arc::from(self.vectors.as_slice()),
                keys: self.keys.clone(),
                cols: self.cols.clone(),
                group_width: group_width(&self.keys),
                graph: OnceLock::new(),
            }),
            live: Arc::new(live),
        }
    }

    /// Consumes the builder into a segment without copying the vectors.
    pub fn finish(mut self, id: u64) -> SegmentView {
        self.live.dead.grow(self.rows());
        let group_width = group_width(&self.keys);
        SegmentView {
            data: Arc::new(SegmentData {
                id,
                dim: self.dim,
                vectors: Arc::from(self.vectors),
                keys: self.keys,
                cols: self.cols,
                group_width,
                graph: OnceLock::new(),
            }),
            live: Arc::new(self.live),
        }
    }
}

/// Longest run of rows sharing (agent, version, skill); rows of a skill are
/// always appended contiguously, so a run is a whole group.
pub(crate) fn group_width(keys: &[RowKey]) -> usize {
    let mut best = 0;
    let mut run = 0;
    for (i, k) in keys.iter().enumerate() {
        let same = i > 0 && same_group(&keys[i - 1], k);
        run = if same { run + 1 } else { 1 };
        best = best.max(run);
    }
    best.max(1)
}

pub(crate) fn same_group(a: &RowKey, b: &RowKey) -> bool {
    group(a) == group(b)
}

/// The skill a row belongs to: its vectors form one group.
pub(crate) fn group(k: &RowKey) -> (&str, &str, &str) {
    (&k.skill, &k.version, &k.agent)
}

/// Copies the live rows of `views` into one new segment; also returns where
/// each new row came from (view index, row) so later tombstones can follow.
pub(crate) fn merge(views: &[SegmentView], id: u64, dim: usize) -> (SegmentView, Vec<(usize, u32)>) {
    let mut b = SegmentBuilder::new(dim);
    let mut origin = Vec::new();
    for (vi, v) in views.iter().enumerate() {
        for row in 0..v.data.rows() {
            if !v.live.dead.get(row) {
                b.push_row(v, row);
                origin.push((vi, row as u32));
            }
        }
    }
    (b.finish(id), origin)
}

/// One candidate row of one segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub similarity: f32,
    pub segment: usize,
    pub row: u32,
}

/// What the planner needs besides the filter.
pub(crate) struct SegmentQuery<'a> {
    pub vector: &'a [f32],
    pub k: usize,
    pub best_per_skill: bool,
    pub filter: &'a Filter<'a>,
    /// At or below this many allowed rows, scan exactly (measured crossover).
    pub exact_max_rows: usize,
    /// Below this share of a segment's rows allowed, a graph walk would
    /// cross too many disallowed nodes, so the int8 codes are scanned.
    pub hnsw_min_selectivity: f32,
}

/// The int8 scan keeps this many times the rows needed, re-scored in f32,
/// so quantization error (about 1% of a score) cannot push a true top-k
/// row out.
const QUANTIZED_RERANK_FACTOR: usize = 8;
const QUANTIZED_RERANK_MIN: usize = 64;

/// A score and row ordered by score, then by lower row first, so ties
/// resolve the same way in every plan.
#[derive(PartialEq)]
struct Scored(f32, u32);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

impl SegmentView {
    /// Plans and runs one segment's part of a search, appending at most
    /// `k × group_width` candidates (best first) to `out`.
    pub fn search(&self, seg_index: usize, q: &SegmentQuery<'_>, out: &mut Vec<Candidate>) -> SegmentPlan {
        let start = Instant::now();
        let d = &*self.data;
        let n = d.rows();
        let filter = d.cols.compile(q.filter);
        let key = filter.cache_key();
        let cached = key.as_ref().and_then(|k| self.live.select_cache.get(k));
        let (allowed, count) = cached.unwrap_or_else(|| {
            let mut allowed = Bitset::new(n);
            let count = filter.select(&d.cols, &d.keys, &self.live.dead, &self.live.status, &mut allowed);
            let allowed = Arc::new(allowed);
            if let Some(k) = key {
                self.live.select_cache.put(k, allowed.clone(), count);
            }
            (allowed, count)
        });
        let fetch = q.k * if q.best_per_skill { d.group_width } else { 1 };
        let graph = d.graph.get();
        let live = self.live_rows();
        let mut plan = SegmentPlan {
            segment: d.id,
            rows: n,
            live,
            allowed: count,
            has_graph: graph.is_some(),
            strategy: Strategy::Skipped,
            returned: 0,
            micros: 0,
        };
        let before = out.len();
        if count > 0 && fetch > 0 {
            let mut done = false;
            if let Some(g) = graph
                && count > q.exact_max_rows
                && count as f32 >= q.hnsw_min_selectivity * n as f32
            {
                plan.strategy = Strategy::Hnsw;
                let mut rows = Vec::new();
                g.search(q.vector, &allowed, g.params.ef_search.max(fetch), &mut rows);
                let found = rescore(d, q.vector, rows);
                if enough(&found, d, q) {
                    emit(&found, fetch, seg_index, out);
                    done = true;
                } else {
                    plan.strategy = Strategy::HnswThenExact;
                }
            }
            if !done
                && count > q.exact_max_rows
                && let Some(g) = graph
            {
                if plan.strategy == Strategy::Skipped {
                    plan.strategy = Strategy::QuantizedScan;
                }
                let keep = (fetch * QUANTIZED_RERANK_FACTOR).max(QUANTIZED_RERANK_MIN);
                let found = rescore(d, q.vector, g.scan(q.vector, &allowed, keep));
                emit(&found, fetch, seg_index, out);
                done = true;
            }
            if !done {
                if plan.strategy == Strategy::Skipped {
                    plan.strategy = Strategy::Exact;
                }
                exact(d, &allowed, q.vector, fetch, seg_index, out);
            }
        }
        plan.returned = out.len() - before;
        plan.micros = start.elapsed().as_micros() as u64;
        plan
    }
}

/// Re-scores int8 candidates with the f32 rows, best first (lower row first
/// on ties, as in every plan).
fn rescore(d: &SegmentData, query: &[f32], rows: Vec<u32>) -> Vec<(u32, f32)> {
    let mut found: Vec<(u32, f32)> = rows
        .into_iter()
        .map(|row| (row, dot(query, d.vector(row as usize))))
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found
}

/// Appends the best `fetch` of `found` (best first) as candidates.
fn emit(found: &[(u32, f32)], fetch: usize, seg_index: usize, out: &mut Vec<Candidate>) {
    out.extend(found.iter().take(fetch).map(|&(row, similarity)| Candidate {
        similarity,
        segment: seg_index,
        row,
    }));
}

/// Whether HNSW's filtered candidates hold k rows (or k distinct skills).
fn enough(found: &[(u32, f32)], d: &SegmentData, q: &SegmentQuery<'_>) -> bool {
    if !q.best_per_skill || d.group_width == 1 {
        return found.len() >= q.k;
    }
    let mut groups = HashSet::new();
    for &(row, _) in found {
        if groups.insert(group(&d.keys[row as usize])) && groups.len() >= q.k {
            return true;
        }
    }
    false
}

/// Scores every allowed row and keeps the best `fetch`.
fn exact(
    d: &SegmentData,
    allowed: &Bitset,
    query: &[f32],
    fetch: usize,
    seg_index: usize,
    out: &mut Vec<Candidate>,
) {
    let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(fetch + 1);
    for row in allowed.ones() {
        let s = dot(query, d.vector(row));
        if heap.len() < fetch {
            heap.push(Reverse(Scored(s, row as u32)));
        } else if heap.peek().is_some_and(|m| s > m.0.0) {
            heap.pop();
            heap.push(Reverse(Scored(s, row as u32)));
        }
    }
    let mut best: Vec<Scored> = heap.into_iter().map(|r| r.0).collect();
    best.sort_unstable_by(|a, b| b.cmp(a));
    out.extend(best.into_iter().map(|Scored(similarity, row)| Candidate {
        similarity,
        segment: seg_index,
        row,
    }));
}
