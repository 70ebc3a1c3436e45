//! Segmented, filtered capability index over skill vectors, one per
//! embedding space.
//!
//! instant-distance builds an HNSW graph in one batch, with no insert, no
//! delete, no filter and a search width fixed at build time. This module
//! wraps it in segments:
//!
//! - an *open* segment takes new rows and is scanned exactly, so an insert
//!   is visible to the very next query;
//! - it is sealed at [`IndexConfig::open_segment_max_rows`]; a segment of
//!   at least [`IndexConfig::hnsw_min_rows`] gets a graph built on a
//!   one-thread background pool (searched exactly until the graph is
//!   ready);
//! - deletions and superseded rows are tombstones; a segment is rewritten
//!   when they pass [`IndexConfig::max_dead_ratio`];
//! - sealed segments, graph segments included, are merged in the
//!   background (policy below), so a query walks one or a few graphs;
//! - readers load an immutable [`arc_swap`] snapshot and never wait for a
//!   writer; every change publishes a new snapshot;
//! - filters run inside each segment's search: the planner marks exactly
//!   the rows a filter allows, then scans them (f32, or int8 codes with an
//!   f32 rescore when many are allowed) or, when a large enough share is
//!   allowed, walks the graph admitting only allowed rows to the results
//!   (our own traversal of instant-distance's graph, see `graph`), falling
//!   back to a scan when the walk finds too few;
//! - snapshots persist under a caller's directory ([`CapabilityIndex::persist`],
//!   [`CapabilityIndex::load`]) so a restart does not rebuild graphs.
//!
//! # Merge policy
//!
//! Every query searches every segment, so fewer segments is faster (at
//! 100k rows one graph walk costs ~0.5 ms; seven 13k walks plus three flat
//! scans cost ~2.5 ms), while each merge rebuilds a graph (one thread,
//! ~1.5 ms per row at 100k, i.e. ~150 s). Three rules, from
//! [`IndexConfig`] (`F` = `merge_factor`, default 4):
//!
//! 1. *Flat*: more than `max_small_segments` sealed segments below
//!    `hnsw_min_rows` are merged into one (a copy, no graph unless the
//!    result is graph-sized).
//! 2. *Tiered* (after every write): a graph-sized segment's size class is
//!    `⌊log_F(live / hnsw_min_rows)⌋`; once `F` segments share a class, the
//!    `F` smallest are rewritten into one of the next class. A row is thus
//!    rebuilt about `log_F(N / hnsw_min_rows)` times in all (amortized
//!    O(log N)), and a busy index holds at most `F − 1` graph segments per
//!    class plus the flat ones.
//! 3. *Idle* (after `idle_merge_after_ms` without inserts or removals and
//!    with no background work pending, checked by a light timer thread that
//!    exits when the index is dropped; also run by
//!    [`CapabilityIndex::wait_for_background`]): with the sealed segments
//!    sorted by live rows, the smallest ones up to the largest segment `j`
//!    whose smaller ones together hold at least `1 / F` of its rows are
//!    merged into one. So after a bulk publish the index settles to one
//!    graph (100k: seven 13k graphs and three flats become one segment),
//!    and a small tail is never folded into a big graph: the rebuild costs
//!    at most `F + 1` times the rows it folds in. Settled, every sealed
//!    segment holds more than `F` times all smaller ones together, so there
//!    are at most `log_{F+1}(N)` of them.
//!
//! No merge makes a segment of more than `max_segment_rows` live rows
//! (default 500k), and segments that large are only rewritten for their
//! tombstones, so a million-row catalogue keeps two or more graphs rather
//! than rebuild a million rows. A merge whose result needs a graph runs on
//! the build pool: it copies the live rows, builds the graph, then swaps
//! the new segment in for the old ones under the writer lock, carrying over
//! the tombstones and statuses they gained meanwhile; until then readers
//! use the old segments and graphs, a segment takes part in one rewrite at
//! a time, and a graph build still queued for a segment that is being
//! merged away is skipped. Snapshots hold whatever was published, so one
//! persisted mid-merge holds the old segments (merged again after load).
//! With `background_builds: false` (tests) every merge runs inline and
//! idle merges run only from `wait_for_background`, so layouts are
//! deterministic.
//!
//! Files: [`model`] (public types), [`error`], [`distance`] (dot kernels),
//! `columns` (interned filter columns), `graph` (instant-distance wrapper),
//! `segment` (segments and the planner), `persist` (snapshot files),
//! [`bench`] (the `switchyard bench index` workload).

pub mod bench;
mod columns;
pub mod distance;
pub mod error;
mod graph;
#[cfg(test)]
mod merge_tests;
pub mod model;
mod persist;
mod segment;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;
use switchyard_schemas::api::VersionStatus;

pub use bench::{IndexBenchConfig, IndexBenchReport, run_index_bench};
pub use error::{IndexError, SnapshotError};
pub use graph::HnswParams;
pub use model::{
    Filter, Hit, QueryPlan, RowKey, RowMeta, SearchRequest, SearchResult, SegmentPlan, SkillVector,
    StatusSet, Strategy, VersionRows,
};

use graph::Graph;
use model::{CURRENT_FLAG, status_bit, status_from_bit};
use persist::{Manifest, ManifestSegment};
use segment::{Candidate, LiveState, SegmentBuilder, SegmentData, SegmentQuery, SegmentView, group, merge};

/// Allowed-row count at or below which a segment is scanned exactly in f32
/// rather than by the graph or the int8 scan. Measured with
/// `run_index_bench` (384-d, one core): scans cost ~65 ns per allowed row
/// at 100k rows (the allowed rows are scattered, so memory latency rather
/// than the dot product sets the pace) and the int8 scan is no slower, so
/// the f32 scan is kept for small sets where it needs no re-scoring.
pub const DEFAULT_EXACT_MAX_ROWS: usize = 2_000;

/// Share of a graph segment's rows a filter must allow for the planner to
/// walk the graph rather than scan the allowed rows' int8 codes. The walk
/// crosses disallowed nodes, so its cost grows as the share falls (100k
/// rows: ~0.45 ms at 100%, ~0.7 ms at 20%, ~1.2 ms at 10%), while the
/// scan's falls with it (~1.4 ms at 20%, ~0.86 ms at 10%): the crossover
/// is between 10% and 20% (docs/benchmarks.md).
pub const DEFAULT_HNSW_MIN_SELECTIVITY: f32 = 0.15;

/// Tuning of segment sizes, merges and graphs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexConfig {
    /// The open segment is sealed when it reaches this many rows. It is
    /// copied on every change, so it stays small.
    pub open_segment_max_rows: usize,
    /// Sealed segments with at least this many rows get an HNSW graph.
    pub hnsw_min_rows: usize,
    /// More flat sealed segments than this are merged into one.
    pub max_small_segments: usize,
    /// Graph-sized segments are merged `merge_factor` at a time once that
    /// many share a size class (live rows within one power of the factor,
    /// counted from `hnsw_min_rows`); idle merges fold smaller segments into
    /// a larger one once they hold `1 / merge_factor` of its rows (module
    /// docs). At least 2.
    pub merge_factor: usize,
    /// Merges never make a segment of more live rows than this, so a large
    /// catalogue does not rebuild its biggest graph for every few new rows.
    pub max_segment_rows: usize,
    /// Run idle merges after this long without inserts or removals (and
    /// with no background work pending); also whenever
    /// [`CapabilityIndex::wait_for_background`] is called. `None`: never.
    pub idle_merge_after_ms: Option<u64>,
    /// A segment whose dead share passes this is rewritten without them.
    pub max_dead_ratio: f32,
    /// See [`DEFAULT_EXACT_MAX_ROWS`].
    pub exact_max_rows: usize,
    /// See [`DEFAULT_HNSW_MIN_SELECTIVITY`].
    pub hnsw_min_selectivity: f32,
    pub hnsw: HnswParams,
    /// Build graphs on the background pool (false: inline, for tests).
    pub background_builds: bool,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            open_segment_max_rows: 1_024,
            hnsw_min_rows: 10_000,
            max_small_segments: 4,
            merge_factor: 4,
            max_segment_rows: 500_000,
            idle_merge_after_ms: Some(2_000),
            max_dead_ratio: 0.2,
            exact_max_rows: DEFAULT_EXACT_MAX_ROWS,
            hnsw_min_selectivity: DEFAULT_HNSW_MIN_SELECTIVITY,
            hnsw: HnswParams::default(),
            background_builds: true,
        }
    }
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InsertReport {
    pub inserted: usize,
    /// Rows of the same version(s) that the insert replaced.
    pub superseded: usize,
}

/// Size and state of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    pub segments: usize,
    pub rows: usize,
    pub live_rows: usize,
    pub graphs_ready: usize,
    /// Graph builds and rewrites still running in the background.
    pub background_tasks: usize,
    /// Bytes of vectors plus graphs.
    pub vector_and_graph_bytes: usize,
}

/// What [`CapabilityIndex::persist`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersistReport {
    pub segments: usize,
    /// Segment files written now (the others were already on disk).
    pub files_written: usize,
    pub micros: u64,
}

/// An index restored from disk, and the caller's checkpoint it was saved at:
/// replay the caller's change log after it (replays are idempotent).
#[derive(Debug)]
pub struct LoadedIndex {
    pub index: CapabilityIndex,
    pub checkpoint: u64,
}

/// The capability index of one embedding space. Cheap to clone (shared).
#[derive(Clone)]
pub struct CapabilityIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CapabilityIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapabilityIndex")
            .field("space", &self.inner.space)
            .field("dim", &self.inner.dim)
            .field("stats", &self.stats())
            .finish()
    }
}

struct Snapshot {
    segments: Vec<SegmentView>,
}

struct Writer {
    open: SegmentBuilder,
    open_id: u64,
    /// Snapshot of the open segment, rebuilt only after it changed.
    open_view: Option<SegmentView>,
    sealed: Vec<SegmentView>,
    next_id: u64,
    /// Segments being rewritten in the background.
    rewriting: HashSet<u64>,
    /// Last insert or removal, for the idle merges.
    last_write: Instant,
}

impl Writer {
    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }
}

/// Counts background tasks so tests, benches and shutdown can wait for them.
#[derive(Default)]
struct Tasks {
    pending: Mutex<usize>,
    idle: Condvar,
}

impl Tasks {
    fn start(&self) {
        *lock(&self.pending) += 1;
    }
    fn finish(&self) {
        let mut p = lock(&self.pending);
        *p -= 1;
        if *p == 0 {
            self.idle.notify_all();
        }
    }
}

struct Inner {
    space: String,
    dim: usize,
    config: IndexConfig,
    snapshot: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
    tasks: Arc<Tasks>,
    pool: OnceLock<rayon::ThreadPool>,
}

/// A poisoned lock only means another thread panicked mid-update of plain
/// data that every writer replaces whole; carry on with it.
/// Builds and installs `data`'s graph; a segment whose build fails stays
/// graph-less and is searched exactly, which is slower but still correct.
fn build_graph(data: &SegmentData, params: HnswParams) {
    let start = Instant::now();
    match Graph::build(&data.vectors, data.dim, params) {
        Ok(g) => {
            tracing::info!(
                segment = data.id,
                rows = data.rows(),
                secs = start.elapsed().as_secs_f64(),
                "index graph built"
            );
            let _ = data.graph.set(g);
        }
        Err(e) => {
            tracing::error!(segment = data.id, error = %e, "index graph build failed; segment stays exact")
        }
    }
}

/// Size class of a graph-sized segment of `live` rows: how many times
/// `factor` fits between `min` and it (0 below `min × factor`).
fn size_class(live: usize, min: usize, factor: usize) -> u32 {
    let mut class = 0;
    let mut bound = min.max(1).saturating_mul(factor);
    while live >= bound && bound < usize::MAX {
        class += 1;
        bound = bound.saturating_mul(factor);
    }
    class
}

/// Starts the idle-merge timer of a background-building index: a thread
/// that wakes once per idle period and exits once the index is dropped.
fn start_idle_timer(inner: &Arc<Inner>) {
    let Some(ms) = inner.config.idle_merge_after_ms else {
        return;
    };
    if !inner.config.background_builds {
        return;
    }
    let period = Duration::from_millis(ms.max(10));
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("index-idle-merge".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                let Some(inner) = weak.upgrade() else { return };
                inner.idle_tick(period);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the index idle-merge timer; idle merges run only when waited for");
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn pool(&self) -> &rayon::ThreadPool {
        // One thread: graph builds take minutes at 100k rows and must not
        // starve request handling on a small machine.
        self.pool.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|i| format!("index-build-{i}"))
                .build()
                .unwrap_or_else(|e| panic!("cannot start the index build thread: {e}"))
        })
    }

    fn publish(&self, w: &mut Writer) {
        let mut segments = w.sealed.clone();
        if w.open.rows() > 0 {
            let view = w.open_view.get_or_insert_with(|| w.open.snapshot(w.open_id));
            segments.push(view.clone());
        }
        self.snapshot.store(Arc::new(Snapshot { segments }));
    }

    /// Builds `data`'s graph, in the background unless configured inline. A
    /// background build whose segment has meanwhile been merged away (or is
    /// being merged: the merged segment gets its own graph) is skipped.
    fn schedule_graph(self: &Arc<Self>, data: Arc<SegmentData>) {
        let params = self.config.hnsw;
        if !self.config.background_builds {
            let pool = self.pool();
            pool.install(|| build_graph(&data, params));
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(self);
        let tasks = self.tasks.clone();
        tasks.start();
        self.pool().spawn_fifo(move || {
            let wanted = weak.upgrade().is_some_and(|inner| {
                let w = lock(&inner.writer);
                !w.rewriting.contains(&data.id) && w.sealed.iter().any(|v| v.data.id == data.id)
            });
            if wanted {
                build_graph(&data, params);
            } else {
                tracing::debug!(
                    segment = data.id,
                    "index graph build skipped: segment merged away"
                );
            }
            tasks.finish();
        });
    }

    /// Drops empty segments and applies the merge policy (module docs):
    /// tombstone rewrites, flat merges and tiered merges, until none applies.
    fn maintain(self: &Arc<Self>, w: &mut Writer) {
        loop {
            w.sealed.retain(|v| v.live_rows() > 0);
            let groups = self.plan_merges(w);
            if groups.is_empty() {
                return;
            }
            for ids in groups {
                self.rewrite(w, &ids);
            }
        }
    }

    /// The merges due now, as groups of segment ids (disjoint, none of them
    /// being rewritten already).
    fn plan_merges(&self, w: &Writer) -> Vec<Vec<u64>> {
        let cfg = &self.config;
        let free = |v: &&SegmentView| !w.rewriting.contains(&v.data.id);
        let mut groups: Vec<Vec<u64>> = Vec::new();
        // Too many tombstones: rewrite the segment alone.
        for v in w.sealed.iter().filter(free) {
            if v.live.dead_count as f32 / v.data.rows() as f32 > cfg.max_dead_ratio {
                groups.push(vec![v.data.id]);
            }
        }
        let taken = |id: u64, groups: &[Vec<u64>]| groups.iter().any(|g| g.contains(&id));
        // Flat segments: more than `max_small_segments` are merged into one.
        let small: Vec<u64> = w
            .sealed
            .iter()
            .filter(free)
            .filter(|v| v.data.rows() < cfg.hnsw_min_rows && !taken(v.data.id, &groups))
            .map(|v| v.data.id)
            .collect();
        if small.len() > cfg.max_small_segments {
            groups.push(small);
        }
        // Graph-sized segments: `merge_factor` of one size class into one.
        let factor = cfg.merge_factor.max(2);
        let mut classes: Vec<(u32, usize, u64)> = w
            .sealed
            .iter()
            .filter(free)
            .filter(|v| v.live_rows() >= cfg.hnsw_min_rows && !taken(v.data.id, &groups))
            .map(|v| {
                (
                    size_class(v.live_rows(), cfg.hnsw_min_rows, factor),
                    v.live_rows(),
                    v.data.id,
                )
            })
            .collect();
        classes.sort_unstable();
        for same in classes.chunk_by(|a, b| a.0 == b.0) {
            if same.len() >= factor {
                let pick = &same[..factor];
                if pick.iter().map(|c| c.1).sum::<usize>() <= cfg.max_segment_rows {
                    groups.push(pick.iter().map(|c| c.2).collect());
                }
            }
        }
        groups
    }

    /// The idle merge due now, if any (module docs): the smallest sealed
    /// segments up to the largest `j` whose smaller ones together hold at
    /// least `1 / merge_factor` of its rows, within `max_segment_rows`.
    fn plan_idle(&self, w: &Writer) -> Option<Vec<u64>> {
        let cfg = &self.config;
        let factor = cfg.merge_factor.max(2);
        let mut sizes: Vec<(usize, u64)> = w
            .sealed
            .iter()
            .filter(|v| !w.rewriting.contains(&v.data.id) && v.live_rows() < cfg.max_segment_rows)
            .map(|v| (v.live_rows(), v.data.id))
            .collect();
        sizes.sort_unstable();
        let mut below = 0usize;
        let mut end = None;
        for (j, &(rows, _)) in sizes.iter().enumerate() {
            if j > 0 && below.saturating_mul(factor) >= rows && below + rows <= cfg.max_segment_rows {
                end = Some(j);
            }
            below += rows;
        }
        end.map(|j| sizes[..=j].iter().map(|s| s.1).collect())
    }

    /// Runs the idle merges due now (inline ones are finished on return; a
    /// background one stops the loop until it is done).
    fn merge_idle(self: &Arc<Self>, w: &mut Writer) {
        let mut changed = false;
        while w.rewriting.is_empty()
            && let Some(ids) = self.plan_idle(w)
        {
            tracing::debug!(segments = ids.len(), "index idle merge");
            self.rewrite(w, &ids);
            self.maintain(w);
            changed = true;
        }
        if changed {
            self.publish(w);
        }
    }

    /// The idle timer's check: merges when no insert or removal came for
    /// `period` and no background work is pending.
    fn idle_tick(self: &Arc<Self>, period: Duration) {
        let mut w = lock(&self.writer);
        if w.last_write.elapsed() < period || *lock(&self.tasks.pending) > 0 {
            return;
        }
        self.merge_idle(&mut w);
    }

    /// Rewrites sealed segments `ids` (live rows only) into one new segment. A result that
    /// needs a graph is built off the writer when builds are in the
    /// background: the old segments (and graphs) keep serving until the new
    /// one is swapped in by [`finish_rewrite`](Self::finish_rewrite).
    fn rewrite(self: &Arc<Self>, w: &mut Writer, ids: &[u64]) {
        let views: Vec<SegmentView> = w
            .sealed
            .iter()
            .filter(|v| ids.contains(&v.data.id))
            .cloned()
            .collect();
        let id = w.take_id();
        let live: usize = views.iter().map(SegmentView::live_rows).sum();
        let graph = live >= self.config.hnsw_min_rows;
        if graph && self.config.background_builds {
            w.rewriting.extend(views.iter().map(|v| v.data.id));
            self.spawn_rewrite(views, id);
            return;
        }
        let (nv, _) = merge(&views, id, self.dim);
        tracing::debug!(
            merged = views.len(),
            new = id,
            rows = nv.data.rows(),
            "index segments rewritten"
        );
        if graph {
            self.schedule_graph(nv.data.clone());
        }
        w.sealed.retain(|v| !ids.contains(&v.data.id));
        w.sealed.push(nv);
    }

    fn spawn_rewrite(self: &Arc<Self>, old: Vec<SegmentView>, id: u64) {
        let weak: Weak<Inner> = Arc::downgrade(self);
        let tasks = self.tasks.clone();
        let (dim, params) = (self.dim, self.config.hnsw);
        tasks.start();
        self.pool().spawn_fifo(move || {
            let start = Instant::now();
            let (nv, origin) = merge(&old, id, dim);
            build_graph(&nv.data, params);
            if let Some(inner) = weak.upgrade() {
                inner.finish_rewrite(&old, nv, &origin);
                tracing::info!(
                    merged = old.len(),
                    new = id,
                    secs = start.elapsed().as_secs_f64(),
                    "index segments merged"
                );
            }
            tasks.finish();
        });
    }

    /// Swaps a background rewrite's segment in for the segments it was made
    /// from, carrying over what changed on any of them meanwhile (statuses,
    /// tombstones; a segment dropped meanwhile had no live rows left).
    fn finish_rewrite(self: &Arc<Self>, old: &[SegmentView], nv: SegmentView, origin: &[(usize, u32)]) {
        let mut w = lock(&self.writer);
        let current: Vec<Option<Arc<LiveState>>> = old
            .iter()
            .map(|o| {
                w.rewriting.remove(&o.data.id);
                let now = w.sealed.iter().find(|v| v.data.id == o.data.id);
                now.map(|v| v.live.clone())
            })
            .collect();
        let mut live = (*nv.live).clone();
        for (new_row, &(vi, old_row)) in origin.iter().enumerate() {
            match &current[vi] {
                Some(cur) => {
                    live.status[new_row] = cur.status[old_row as usize];
                    if cur.dead.get(old_row as usize) {
                        live.kill(new_row);
                    }
                }
                None => {
                    live.kill(new_row);
                }
            }
        }
        let ids: HashSet<u64> = old.iter().map(|v| v.data.id).collect();
        w.sealed.retain(|v| !ids.contains(&v.data.id));
        w.sealed.push(SegmentView {
            data: nv.data,
            live: Arc::new(live),
        });
        self.maintain(&mut w);
        self.publish(&mut w);
    }

    /// Applies `f` to the live state of every segment holding live rows of
    /// `agent` (and `version`); returns how many rows were touched.
    fn update_rows(
        &self,
        w: &mut Writer,
        agent: &str,
        version: Option<&str>,
        f: &dyn Fn(&mut LiveState, usize) -> bool,
    ) -> usize {
        let mut touched = 0;
        for v in w.sealed.iter_mut() {
            let rows = v.live_rows_of(agent, version);
            if rows.is_empty() {
                continue;
            }
            let mut live = (*v.live).clone();
            touched += rows.into_iter().filter(|&r| f(&mut live, r)).count();
            v.live = Arc::new(live);
        }
        if let Some(a) = w.open.cols.agents.get(agent) {
            let rows: Vec<usize> = (0..w.open.rows())
                .filter(|&r| {
                    w.open.cols.agent[r] == a
                        && !w.open.live.dead.get(r)
                        && version.is_none_or(|ver| w.open.keys[r].version == ver)
                })
                .collect();
            if !rows.is_empty() {
                touched += rows.into_iter().filter(|&r| f(&mut w.open.live, r)).count();
                w.open_view = None;
            }
        }
        touched
    }

    fn seal_open(self: &Arc<Self>, w: &mut Writer) {
        if w.open.rows() == 0 {
            return;
        }
        let open = std::mem::replace(&mut w.open, SegmentBuilder::new(self.dim));
        let view = open.finish(w.open_id);
        w.open_id = w.take_id();
        w.open_view = None;
        if view.live_rows() >= self.config.hnsw_min_rows {
            self.schedule_graph(view.data.clone());
        }
        w.sealed.push(view);
    }
}

/// Validated rows of one version: (skill, vector index, unit vector), sorted.
type PreparedRows = Vec<(String, u16, Vec<f32>)>;

impl CapabilityIndex {
    /// An empty index for vectors of `dimension` in `space`.
    pub fn new(space: &str, dimension: usize, config: IndexConfig) -> Self {
        Self::from_segments(space, dimension, config, Vec::new(), 1)
    }

    fn from_segments(
        space: &str,
        dim: usize,
        config: IndexConfig,
        sealed: Vec<SegmentView>,
        next_id: u64,
    ) -> Self {
        let inner = Arc::new(Inner {
            space: space.to_owned(),
            dim,
            config,
            snapshot: ArcSwap::from_pointee(Snapshot { segments: Vec::new() }),
            writer: Mutex::new(Writer {
                open: SegmentBuilder::new(dim),
                open_id: next_id,
                open_view: None,
                sealed,
                next_id: next_id + 1,
                rewriting: HashSet::new(),
                last_write: Instant::now(),
            }),
            tasks: Arc::new(Tasks::default()),
            pool: OnceLock::new(),
        });
        {
            let mut w = lock(&inner.writer);
            // A loaded snapshot may predate merges that are due now.
            inner.maintain(&mut w);
            let owed: Vec<Arc<SegmentData>> = w
                .sealed
                .iter()
                .filter(|v| {
                    v.data.graph.get().is_none()
                        && v.live_rows() >= inner.config.hnsw_min_rows
                        && !w.rewriting.contains(&v.data.id)
                })
                .map(|v| v.data.clone())
                .collect();
            for data in owed {
                inner.schedule_graph(data);
            }
            inner.publish(&mut w);
        }
        start_idle_timer(&inner);
        CapabilityIndex { inner }
    }

    pub fn space(&self) -> &str {
        &self.inner.space
    }

    pub fn dimension(&self) -> usize {
        self.inner.dim
    }

    pub fn config(&self) -> &IndexConfig {
        &self.inner.config
    }

    fn prepare(&self, rows: &VersionRows) -> Result<PreparedRows, IndexError> {
        let mut out: PreparedRows = Vec::with_capacity(rows.vectors.len());
        for sv in &rows.vectors {
            let mut v = sv.values.clone();
            distance::normalize(&self.inner.space, self.inner.dim, &mut v, || {
                format!("{}@{} skill {}#{}", rows.agent, rows.version, sv.skill, sv.vector)
            })?;
            out.push((sv.skill.clone(), sv.vector, v));
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1) {
            return Err(IndexError::DuplicateRow {
                agent: rows.agent.clone(),
                version: rows.version.clone(),
                skill: w[0].0.clone(),
                vector: w[0].1,
            });
        }
        Ok(out)
    }

    /// Inserts all rows of one agent version, replacing rows it already had;
    /// visible to the next search.
    pub fn insert_version(&self, rows: &VersionRows) -> Result<InsertReport, IndexError> {
        let prepared = self.prepare(rows)?;
        let inner = &self.inner;
        let mut w = lock(&inner.writer);
        let superseded = inner.update_rows(&mut w, &rows.agent, Some(&rows.version), &|l, r| l.kill(r));
        if w.open.rows() + prepared.len() > u32::MAX as usize {
            return Err(IndexError::TooManyRows);
        }
        w.open
            .push_version(&rows.agent, &rows.version, &rows.meta, &prepared);
        w.open_view = None;
        w.last_write = Instant::now();
        if w.open.rows() >= inner.config.open_segment_max_rows {
            inner.seal_open(&mut w);
        }
        inner.maintain(&mut w);
        inner.publish(&mut w);
        Ok(InsertReport {
            inserted: prepared.len(),
            superseded,
        })
    }

    /// Inserts many versions as one new sealed segment (a rebuild from the
    /// store, or a bulk import); replaces rows the versions already had.
    pub fn bulk_insert(&self, versions: &[VersionRows]) -> Result<InsertReport, IndexError> {
        let prepared = versions
            .iter()
            .map(|v| self.prepare(v))
            .collect::<Result<Vec<_>, _>>()?;
        let total: usize = prepared.iter().map(Vec::len).sum();
        if total > u32::MAX as usize {
            return Err(IndexError::TooManyRows);
        }
        let mut b = SegmentBuilder::new(self.inner.dim);
        for (v, p) in versions.iter().zip(&prepared) {
            b.push_version(&v.agent, &v.version, &v.meta, p);
        }
        let inner = &self.inner;
        let mut w = lock(&inner.writer);
        let mut superseded = 0;
        for v in versions {
            superseded += inner.update_rows(&mut w, &v.agent, Some(&v.version), &|l, r| l.kill(r));
        }
        w.last_write = Instant::now();
        if total > 0 {
            let id = w.take_id();
            let view = b.finish(id);
            if view.live_rows() >= inner.config.hnsw_min_rows {
                inner.schedule_graph(view.data.clone());
            }
            w.sealed.push(view);
        }
        inner.maintain(&mut w);
        inner.publish(&mut w);
        Ok(InsertReport {
            inserted: total,
            superseded,
        })
    }

    /// Sets the status of every row of an agent version (metadata only);
    /// returns the rows changed.
    pub fn set_status(&self, agent: &str, version: &str, status: VersionStatus) -> usize {
        let bit = status_bit(status);
        let inner = &self.inner;
        let mut w = lock(&inner.writer);
        let n = inner.update_rows(&mut w, agent, Some(version), &|l, r| {
            l.status[r] = bit | (l.status[r] & CURRENT_FLAG);
            true
        });
        inner.publish(&mut w);
        n
    }

    /// Marks `current` as the one version of `agent` that unpinned queries
    /// ([`Filter::current_only`]) may return, clearing the mark on its other
    /// versions; `None` leaves the agent with no current version. Returns
    /// the rows marked.
    pub fn set_current(&self, agent: &str, current: Option<&str>) -> usize {
        let inner = &self.inner;
        let mut w = lock(&inner.writer);
        inner.update_rows(&mut w, agent, None, &|l, r| {
            let had = l.status[r] & CURRENT_FLAG != 0;
            l.status[r] &= !CURRENT_FLAG;
            had
        });
        let n = current.map_or(0, |version| {
            inner.update_rows(&mut w, agent, Some(version), &|l, r| {
                l.status[r] |= CURRENT_FLAG;
                true
            })
        });
        inner.publish(&mut w);
        n
    }

    /// Removes every row of an agent version; returns the rows removed.
    pub fn remove_version(&self, agent: &str, version: &str) -> usize {
        self.remove(agent, Some(version))
    }

    /// Removes every row of every version of an agent.
    pub fn remove_agent(&self, agent: &str) -> usize {
        self.remove(agent, None)
    }

    fn remove(&self, agent: &str, version: Option<&str>) -> usize {
        let inner = &self.inner;
        let mut w = lock(&inner.writer);
        let n = inner.update_rows(&mut w, agent, version, &|l, r| l.kill(r));
        if n > 0 {
            w.last_write = Instant::now();
            inner.maintain(&mut w);
            inner.publish(&mut w);
        }
        n
    }

    /// Filtered top-k by cosine similarity, best first, with its plan.
    pub fn search(&self, req: &SearchRequest<'_>) -> Result<SearchResult, IndexError> {
        let start = Instant::now();
        let mut q = req.vector.to_vec();
        distance::normalize(&self.inner.space, self.inner.dim, &mut q, || "query".to_owned())?;
        let snap = self.inner.snapshot.load();
        let sq = SegmentQuery {
            vector: &q,
            k: req.k,
            best_per_skill: req.best_per_skill,
            filter: &req.filter,
            exact_max_rows: self.inner.config.exact_max_rows,
            hnsw_min_selectivity: self.inner.config.hnsw_min_selectivity,
        };
        let mut cands: Vec<Candidate> = Vec::new();
        let plans: Vec<SegmentPlan> = snap
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| s.search(i, &sq, &mut cands))
            .collect();
        let key = |c: &Candidate| &snap.segments[c.segment].data.keys[c.row as usize];
        cands.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| key(a).cmp(key(b)))
        });
        let mut chosen: Vec<&Candidate> = Vec::with_capacity(req.k);
        let mut groups: HashSet<(&str, &str, &str)> = HashSet::with_capacity(req.k);
        for c in &cands {
            if chosen.len() >= req.k {
                break;
            }
            if req.best_per_skill && !groups.insert(group(key(c))) {
                continue;
            }
            chosen.push(c);
        }
        let hits = chosen
            .into_iter()
            .map(|c| {
                let d = &snap.segments[c.segment].data;
                let live = &snap.segments[c.segment].live;
                let r = c.row as usize;
                Hit {
                    key: d.keys[r].clone(),
                    similarity: c.similarity,
                    status: status_from_bit(live.status[r]),
                    owner_tenant: d.cols.tenants.name(d.cols.owner[r]).to_owned(),
                    cost_usd: d.cols.cost[r],
                    latency_p95_ms: d.cols.latency[r],
                }
            })
            .collect();
        Ok(SearchResult {
            hits,
            plan: QueryPlan {
                space: self.inner.space.clone(),
                k: req.k,
                best_per_skill: req.best_per_skill,
                segments: plans,
                micros: start.elapsed().as_micros() as u64,
            },
        })
    }

    /// The versions of `agent` with live rows, in no particular order.
    pub fn versions_of(&self, agent: &str) -> Vec<String> {
        let snap = self.inner.snapshot.load();
        let mut out: Vec<String> = Vec::new();
        for s in &snap.segments {
            for r in s.live_rows_of(agent, None) {
                let v = &s.data.keys[r].version;
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    /// Current size and state.
    pub fn stats(&self) -> IndexStats {
        let snap = self.inner.snapshot.load();
        IndexStats {
            segments: snap.segments.len(),
            rows: snap.segments.iter().map(|s| s.data.rows()).sum(),
            live_rows: snap.segments.iter().map(SegmentView::live_rows).sum(),
            graphs_ready: snap
                .segments
                .iter()
                .filter(|s| s.data.graph.get().is_some())
                .count(),
            background_tasks: *lock(&self.inner.tasks.pending),
            vector_and_graph_bytes: snap.segments.iter().map(|s| s.data.approx_bytes()).sum(),
        }
    }

    /// Blocks until the index has settled: background graph builds and
    /// rewrites have finished, and so have the idle merges (if enabled) that
    /// the idle timer would run next, as if the index had been left quiet.
    pub fn wait_for_background(&self) {
        loop {
            self.wait_for_tasks();
            if self.inner.config.idle_merge_after_ms.is_none() {
                return;
            }
            self.inner.merge_idle(&mut lock(&self.inner.writer));
            if *lock(&self.inner.tasks.pending) == 0 {
                return;
            }
        }
    }

    /// Blocks until the background tasks started so far (and the ones they
    /// start) have finished.
    fn wait_for_tasks(&self) {
        let t = &self.inner.tasks;
        let mut p = lock(&t.pending);
        while *p > 0 {
            p = t.idle.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Writes the current snapshot under `dir`, tagged with the caller's
    /// `checkpoint` (e.g. its change-log sequence number). Unchanged segment
    /// files are not rewritten; files of older snapshots are removed.
    pub fn persist(&self, dir: &Path, checkpoint: u64) -> Result<PersistReport, IndexError> {
        let start = Instant::now();
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Persist {
            path: dir.to_owned(),
            source,
        })?;
        let (snap, next_id) = {
            // Under the writer lock so the ids and the snapshot agree.
            let mut w = lock(&self.inner.writer);
            let next = w.next_id;
            self.inner.publish(&mut w);
            (self.inner.snapshot.load_full(), next)
        };
        let mut files = Vec::new();
        let mut written = 0;
        let mut segments = Vec::new();
        for s in &snap.segments {
            let existed = dir.join(persist::segment_file_name(&s.data)).exists();
            let file = persist::save_segment(dir, &self.inner.space, &s.data)?;
            written += usize::from(!existed);
            segments.push(ManifestSegment {
                id: s.data.id,
                file: file.clone(),
                dead: s.live.dead.clone(),
                dead_count: s.live.dead_count,
                status: s.live.status.clone(),
            });
            files.push(file);
        }
        persist::save_manifest(
            dir,
            &Manifest {
                space: self.inner.space.clone(),
                dim: self.inner.dim,
                checkpoint,
                next_id,
                segments,
            },
        )?;
        persist::remove_stale(dir, &files);
        let report = PersistReport {
            segments: files.len(),
            files_written: written,
            micros: start.elapsed().as_micros() as u64,
        };
        tracing::info!(dir = %dir.display(), checkpoint, ?report, "index snapshot persisted");
        Ok(report)
    }

    /// Restores an index persisted under `dir`. On any error (logged here)
    /// the caller should build a fresh index from its store.
    pub fn load(
        dir: &Path,
        space: &str,
        dimension: usize,
        config: IndexConfig,
    ) -> Result<LoadedIndex, SnapshotError> {
        let start = Instant::now();
        let read = || -> Result<_, SnapshotError> {
            let m = persist::load_manifest(dir, space, dimension)?;
            let sealed = m
                .segments
                .into_iter()
                .map(|e| persist::load_segment(dir, space, dimension, e))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((sealed, m.next_id, m.checkpoint))
        };
        match read() {
            Ok((sealed, next_id, checkpoint)) => {
                let index = Self::from_segments(space, dimension, config, sealed, next_id);
                tracing::info!(dir = %dir.display(), space, checkpoint, secs = start.elapsed().as_secs_f64(), "index snapshot loaded");
                Ok(LoadedIndex { index, checkpoint })
            }
            Err(e @ SnapshotError::Missing { .. }) => {
                tracing::info!(dir = %dir.display(), space, error = %e, "no index snapshot; rebuild from the store");
                Err(e)
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), space, error = %e, "index snapshot unusable; rebuild from the store");
                Err(e)
            }
        }
    }
}
