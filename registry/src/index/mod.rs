//! Segmented, filtered capability index over skill vectors, one per
//! embedding space.
//!
//! instant-distance builds an HNSW graph in one batch, with no insert, no
//! delete, no filter and a search width fixed at build time. This module
//! wraps it in segments:
//!
//! - an *open* segment takes new rows and is scanned exactly, so an insert
//!   is visible to the very next query;
//! - it is sealed at [`IndexConfig::open_segment_max_rows`]; small sealed
//!   segments are merged, and a segment of at least
//!   [`IndexConfig::hnsw_min_rows`] gets a graph built on a one-thread
//!   background pool (searched exactly until the graph is ready);
//! - deletions and superseded rows are tombstones; a segment is rewritten
//!   when they pass [`IndexConfig::max_dead_ratio`];
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
//! Files: [`model`] (public types), [`error`], [`distance`] (dot kernels),
//! `columns` (interned filter columns), `graph` (instant-distance wrapper),
//! `segment` (segments and the planner), `persist` (snapshot files),
//! [`bench`] (the `switchyard bench index` workload).

pub mod bench;
mod columns;
pub mod distance;
pub mod error;
mod graph;
pub mod model;
mod persist;
mod segment;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

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
use segment::{
    Candidate, LiveState, SegmentBuilder, SegmentData, SegmentQuery, SegmentView, merge, same_group,
};

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

    /// Builds `data`'s graph, in the background unless configured inline.
    fn schedule_graph(&self, data: Arc<SegmentData>) {
        let params = self.config.hnsw;
        let build = move |data: Arc<SegmentData>| build_graph(&data, params);
        if !self.config.background_builds {
            let pool = self.pool();
            pool.install(|| build(data));
            return;
        }
        let tasks = self.tasks.clone();
        tasks.start();
        self.pool().spawn(move || {
            build(data);
            tasks.finish();
        });
    }

    /// Drops empty segments, rewrites ones with too many tombstones and
    /// merges small ones.
    fn maintain(self: &Arc<Self>, w: &mut Writer) {
        w.sealed.retain(|v| v.live_rows() > 0);
        let cfg = &self.config;
        let mut i = 0;
        while i < w.sealed.len() {
            let v = &w.sealed[i];
            let ratio = v.live.dead_count as f32 / v.data.rows() as f32;
            if ratio <= cfg.max_dead_ratio || w.rewriting.contains(&v.data.id) {
                i += 1;
                continue;
            }
            let v = v.clone();
            let id = w.take_id();
            if v.live_rows() >= cfg.hnsw_min_rows && cfg.background_builds {
                // Rewrite and rebuild off the writer; the old segment (and
                // its graph) keeps serving until the new one is swapped in.
                w.rewriting.insert(v.data.id);
                self.spawn_rewrite(v, id);
                i += 1;
            } else {
                let (nv, _) = merge(std::slice::from_ref(&v), id, self.dim);
                if nv.live_rows() >= cfg.hnsw_min_rows {
                    self.schedule_graph(nv.data.clone());
                }
                tracing::debug!(
                    old = v.data.id,
                    new = id,
                    rows = nv.data.rows(),
                    "index segment compacted"
                );
                w.sealed[i] = nv;
                i += 1;
            }
        }
        let small: Vec<usize> = (0..w.sealed.len())
            .filter(|&i| {
                w.sealed[i].data.rows() < cfg.hnsw_min_rows && !w.rewriting.contains(&w.sealed[i].data.id)
            })
            .collect();
        if small.len() > cfg.max_small_segments {
            let views: Vec<SegmentView> = small.iter().map(|&i| w.sealed[i].clone()).collect();
            let id = w.take_id();
            let (nv, _) = merge(&views, id, self.dim);
            tracing::debug!(
                merged = views.len(),
                new = id,
                rows = nv.data.rows(),
                "index segments merged"
            );
            if nv.live_rows() >= cfg.hnsw_min_rows {
                self.schedule_graph(nv.data.clone());
            }
            let drop: HashSet<u64> = views.iter().map(|v| v.data.id).collect();
            w.sealed.retain(|v| !drop.contains(&v.data.id));
            w.sealed.push(nv);
        }
    }

    fn spawn_rewrite(self: &Arc<Self>, old: SegmentView, id: u64) {
        let weak: Weak<Inner> = Arc::downgrade(self);
        let tasks = self.tasks.clone();
        let (dim, params) = (self.dim, self.config.hnsw);
        tasks.start();
        self.pool().spawn(move || {
            let (nv, origin) = merge(std::slice::from_ref(&old), id, dim);
            build_graph(&nv.data, params);
            if let Some(inner) = weak.upgrade() {
                let mut w = lock(&inner.writer);
                w.rewriting.remove(&old.data.id);
                if let Some(pos) = w.sealed.iter().position(|v| v.data.id == old.data.id) {
                    // Carry over what changed on the old segment meanwhile.
                    let cur = w.sealed[pos].live.clone();
                    let mut live = (*nv.live).clone();
                    for (new_row, &(_, old_row)) in origin.iter().enumerate() {
                        live.status[new_row] = cur.status[old_row as usize];
                        if cur.dead.get(old_row as usize) {
                            live.kill(new_row);
                        }
                    }
                    tracing::debug!(old = old.data.id, new = id, "index segment rewritten");
                    w.sealed[pos] = SegmentView {
                        data: nv.data,
                        live: Arc::new(live),
                    };
                    inner.maintain(&mut w);
                    inner.publish(&mut w);
                }
            }
            tasks.finish();
        });
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

    fn seal_open(&self, w: &mut Writer) {
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
            }),
            tasks: Arc::new(Tasks::default()),
            pool: OnceLock::new(),
        });
        {
            let mut w = lock(&inner.writer);
            for v in &w.sealed {
                if v.data.graph.get().is_none() && v.live_rows() >= inner.config.hnsw_min_rows {
                    inner.schedule_graph(v.data.clone());
                }
            }
            inner.publish(&mut w);
        }
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
        for c in &cands {
            if chosen.len() >= req.k {
                break;
            }
            if req.best_per_skill && chosen.iter().any(|o| same_group(key(o), key(c))) {
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

    /// Blocks until background graph builds and rewrites have finished.
    pub fn wait_for_background(&self) {
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
