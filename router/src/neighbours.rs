//! The recorded skills nearest to a skill, for cold-start priors.
//!
//! A new agent's prior borrows the records of the skills of other agents
//! nearest to its own (cosine of primary vectors, see [`crate::quality`]).
//! Comparing a skill with every record on each estimate would make a
//! route's cost grow with the fleet's history: a route scores up to 64
//! agents, and at 10,000 records that is 640,000 dot products (17 ms p50
//! per route in the benchmark). So:
//! - [`RecordedSkills`] keeps the primary vector of each skill with a record
//!   in one append-only matrix, as int8 codes with a scale per row (a
//!   quarter of the bytes to stream; similarities within ~0.01, ample for
//!   weighting priors). Records are never deleted, so a row number
//!   names the same skill for the life of the process.
//! - [`Neighbours`] remembers, per estimated skill, its nearest rows and how
//!   many rows it has compared. A later estimate compares only the rows
//!   appended since, and only once they are at least 1/16 of those already
//!   compared (the first few always), so each row is compared with each
//!   skill about once. Success rates are read live from the records, never
//!   cached, so a neighbour's new outcomes count at once.
//! - A route compares at most a budget of rows ([`ROUTE_BUDGET`]). A skill
//!   that would need more is handed to a background thread and estimated
//!   from what is known until then (its older list, or no neighbours): a
//!   route's latency never depends on how much history the fleet has.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use dashmap::DashMap;
use switchyard_registry::index::distance::{dot_i8, quantize_i8};

use crate::stats::StatsKey;

/// Rows a route may compare with the skills it estimates (about 0.15 ms
/// of dot products); the rest is left to the background thread.
pub(crate) const ROUTE_BUDGET: usize = 4096;

/// Skills whose neighbour lists are kept; beyond it the cache starts over
/// (each skill then compares every row once more), so memory stays bounded
/// whatever the catalogue's size.
const CACHE_CAPACITY: usize = 200_000;

/// Primary vectors of the skills with a record.
#[derive(Debug, Default)]
pub(crate) struct RecordedSkills {
    rows: RwLock<Rows>,
}

#[derive(Debug, Default)]
struct Rows {
    keys: Vec<StatsKey>,
    /// The same keys, for lookups.
    known: HashSet<StatsKey>,
    /// Each row's agent as a number, so a scan compares integers rather
    /// than chasing every key's name.
    agent_ids: HashMap<String, u32>,
    agent_of: Vec<u32>,
    /// `keys.len()` int8 rows of `dim` codes, concatenated, and their scales.
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// The nearest rows of one skill among the first `compared` rows, most
/// similar first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Near {
    compared: usize,
    rows: Vec<(f32, u32)>,
}

/// What a neighbour search keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NearParams {
    pub k: usize,
    pub min_similarity: f32,
}

impl RecordedSkills {
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    pub fn contains(&self, key: &StatsKey) -> bool {
        self.read().known.contains(key)
    }

    /// Adds `key`'s primary vector unless `key` is already a row.
    pub fn add(&self, key: &StatsKey, vector: &[f32]) {
        let mut rows = self.rows.write().unwrap_or_else(PoisonError::into_inner);
        if rows.known.contains(key) {
            return;
        }
        if rows.keys.is_empty() {
            rows.dim = vector.len();
        } else if vector.len() != rows.dim {
            tracing::warn!(
                ?key,
                dim = vector.len(),
                "recorded skill vector of another dimension ignored"
            );
            return;
        }
        rows.known.insert(key.clone());
        rows.keys.push(key.clone());
        let next = rows.agent_ids.len() as u32;
        let agent = *rows.agent_ids.entry(key.agent.clone()).or_insert(next);
        rows.agent_of.push(agent);
        let rows = &mut *rows;
        let scale = quantize_i8(vector, &mut rows.codes);
        rows.scales.push(scale);
    }

    /// Extends `near` over the rows it has not compared yet: the `k` most
    /// similar rows of agents other than `agent`, at least `min_similarity`.
    fn extend(&self, near: &mut Near, vector: &[f32], agent: &str, params: NearParams) {
        let rows = self.read();
        if vector.len() != rows.dim {
            near.compared = rows.keys.len();
            return;
        }
        let mut query = Vec::with_capacity(rows.dim);
        let query_scale = quantize_i8(vector, &mut query);
        // An agent without rows matches none.
        let own = rows.agent_ids.get(agent).copied().unwrap_or(u32::MAX);
        for row in near.compared..rows.keys.len() {
            if rows.agent_of[row] == own {
                continue;
            }
            let codes = &rows.codes[row * rows.dim..(row + 1) * rows.dim];
            let sim = dot_i8(&query, codes) * query_scale * rows.scales[row];
            if sim >= params.min_similarity {
                near.rows.push((sim, row as u32));
            }
        }
        near.rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        near.rows.truncate(params.k);
        near.compared = rows.keys.len();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rows> {
        self.rows.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A skill's primary vector, if it has one.
pub(crate) type VectorSource = dyn Fn(&StatsKey) -> Option<Vec<f32>> + Send + Sync;

/// Neighbour lists of skills over [`RecordedSkills`], kept up to date
/// within a per-route budget and by a background thread beyond it.
pub(crate) struct Neighbours {
    shared: Arc<Shared>,
    queue: Mutex<Option<Sender<StatsKey>>>,
    worker: Option<JoinHandle<()>>,
}

struct Shared {
    recorded: RecordedSkills,
    lists: DashMap<StatsKey, Near>,
    params: NearParams,
    vectors: Box<VectorSource>,
    /// Keys handed to the worker and not yet done; `idle` is signalled
    /// when none is left ([`Neighbours::wait_idle`]).
    queued: Mutex<HashSet<StatsKey>>,
    idle: Condvar,
    /// Set when the owner is dropped: the worker leaves the rest of its
    /// queue (possibly seconds of work) rather than delay a shutdown.
    stop: AtomicBool,
}

impl std::fmt::Debug for Neighbours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neighbours")
            .field("recorded", &self.shared.recorded.len())
            .field("lists", &self.shared.lists.len())
            .finish_non_exhaustive()
    }
}

impl Neighbours {
    /// Starts the background thread; `vectors` reads a skill's primary
    /// vector (it may block).
    pub fn new(params: NearParams, vectors: Box<VectorSource>) -> Self {
        let shared = Arc::new(Shared {
            recorded: RecordedSkills::default(),
            lists: DashMap::new(),
            params,
            vectors,
            queued: Mutex::default(),
            idle: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("neighbour-priors".to_owned())
                .spawn(move || work(&shared, &rx))
                .map_err(|e| tracing::error!(error = %e, "no neighbour-prior thread: lists are built within routes only"))
                .ok()
        };
        Neighbours {
            shared,
            queue: Mutex::new(worker.is_some().then_some(tx)),
            worker,
        }
    }

    /// Makes `key`'s record a possible neighbour (once it has a record);
    /// reads its vector the first time.
    pub fn add(&self, key: &StatsKey) {
        let recorded = &self.shared.recorded;
        if recorded.contains(key) {
            return;
        }
        if let Some(v) = (self.shared.vectors)(key) {
            recorded.add(key, &v);
        }
    }

    pub fn recorded(&self) -> usize {
        self.shared.recorded.len()
    }

    /// Calls `f` with the similarity and key of each row of `near` (an
    /// answer of [`Neighbours::nearest`]), under one read lock and without
    /// copying keys: a route reads about 300 of them.
    pub fn for_each(&self, near: &[(f32, u32)], mut f: impl FnMut(f32, &StatsKey)) {
        let rows = self.shared.recorded.read();
        for &(sim, row) in near {
            if let Some(key) = rows.keys.get(row as usize) {
                f(sim, key);
            }
        }
    }

    /// The nearest recorded rows of `key` as `(similarity, row)`, most
    /// similar first, comparing at most `*budget` rows (taken from it;
    /// `usize::MAX` for an exact answer). Beyond the budget the answer is
    /// the list known so far, `None` if there is none yet, and the key is
    /// handed to the background thread.
    pub fn nearest(&self, key: &StatsKey, budget: &mut usize) -> Option<Vec<(f32, u32)>> {
        let shared = &self.shared;
        let total = shared.recorded.len();
        if total == 0 {
            return Some(Vec::new());
        }
        let cached = shared.lists.get(key).map(|n| n.clone());
        let compared = cached.as_ref().map_or(0, |n| n.compared);
        if !due(compared, total) {
            return cached.map(|n| n.rows);
        }
        let work = total - compared;
        if work > *budget && self.enqueue(key) {
            return cached.map(|n| n.rows);
        }
        *budget = budget.saturating_sub(work);
        Some(shared.update(key, cached.unwrap_or_default()))
    }

    /// Hands `key` to the worker unless it is already queued; false if
    /// there is no worker.
    fn enqueue(&self, key: &StatsKey) -> bool {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = queue.as_ref() else {
            return false;
        };
        let newly_queued = self
            .shared
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone());
        if newly_queued && tx.send(key.clone()).is_err() {
            self.shared.done(key);
            return false;
        }
        true
    }

    /// Blocks until the background thread has done every key handed to it
    /// so far.
    pub fn wait_idle(&self) {
        let mut queued = self.shared.queued.lock().unwrap_or_else(PoisonError::into_inner);
        while !queued.is_empty() {
            queued = self
                .shared
                .idle
                .wait(queued)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Neighbours {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Closing the channel wakes a worker waiting for work.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Shared {
    /// Extends `near` over the rows it has not compared and stores it.
    fn update(&self, key: &StatsKey, mut near: Near) -> Vec<(f32, u32)> {
        match (self.vectors)(key) {
            Some(v) => self.recorded.extend(&mut near, &v, &key.agent, self.params),
            None => near.compared = self.recorded.len(),
        }
        if self.lists.len() >= CACHE_CAPACITY {
            self.lists.clear();
        }
        self.lists.insert(key.clone(), near.clone());
        near.rows
    }

    fn done(&self, key: &StatsKey) {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        queued.remove(key);
        if queued.is_empty() {
            self.idle.notify_all();
        }
    }
}

/// The background thread: brings each queued key's list up to date.
fn work(shared: &Shared, rx: &Receiver<StatsKey>) {
    lowest_priority();
    while let Ok(key) = rx.recv() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let cached = shared.lists.get(&key).map(|n| n.clone());
        if due(cached.as_ref().map_or(0, |n| n.compared), shared.recorded.len()) {
            shared.update(&key, cached.unwrap_or_default());
        }
        shared.done(&key);
    }
}

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it runs only on
/// cores nothing else wants, so catching up after a start (tens of millions
/// of comparisons on a large fleet) never delays a route.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) =
            set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle)
        {
            tracing::warn!(error = ?e, "neighbour-prior thread left at normal priority");
        }
    }
}

/// Whether rows appended since `compared` are worth comparing now.
fn due(compared: usize, total: usize) -> bool {
    total > compared && (total - compared) * 16 >= compared.max(16)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn key(agent: &str) -> StatsKey {
        StatsKey {
            agent: agent.to_owned(),
            version: "1.0.0".to_owned(),
            skill: "s".to_owned(),
        }
    }

    /// A unit vector at `angle` in the plane.
    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    const PARAMS: NearParams = NearParams {
        k: 2,
        min_similarity: 0.5,
    };

    /// Neighbours over agents at the given angles, and how many vectors
    /// were read.
    fn neighbours(angles: &[(&str, f32)]) -> (Neighbours, Arc<AtomicUsize>) {
        let angles: HashMap<String, f32> = angles.iter().map(|(a, x)| ((*a).to_owned(), *x)).collect();
        let reads = Arc::new(AtomicUsize::new(0));
        let r = reads.clone();
        let source = move |k: &StatsKey| {
            r.fetch_add(1, Ordering::SeqCst);
            angles.get(&k.agent).map(|a| unit(*a))
        };
        (Neighbours::new(PARAMS, Box::new(source)), reads)
    }

    fn unlimited() -> usize {
        usize::MAX
    }

    fn agents(n: &Neighbours, near: &[(f32, u32)]) -> Vec<String> {
        let mut out = Vec::new();
        n.for_each(near, |_, k| out.push(k.agent.clone()));
        out
    }

    #[test]
    fn keeps_the_k_nearest_of_other_agents_above_the_threshold() {
        let (n, _) = neighbours(&[("a", 0.0), ("b", 0.1), ("c", 0.3), ("d", 0.2), ("e", 1.5)]);
        for a in ["a", "b", "c", "d", "e", "b"] {
            n.add(&key(a));
        }
        assert_eq!(n.recorded(), 5, "a key is one row");
        let asking = StatsKey {
            skill: "other".to_owned(),
            ..key("a")
        };
        let near = n.nearest(&asking, &mut unlimited()).unwrap();
        // a is the asking agent; e is below the threshold; c is third.
        assert_eq!(agents(&n, &near), ["b", "d"]);
        assert!(near[0].0 > near[1].0);
    }

    #[test]
    fn compares_new_rows_once_they_are_due_and_each_row_once() {
        let (n, reads) = neighbours(&[("x", 0.0), ("far", 1.5), ("near", 0.05)]);
        assert!(n.nearest(&key("x"), &mut unlimited()).unwrap().is_empty());
        assert_eq!(
            reads.load(Ordering::SeqCst),
            0,
            "no vector is needed while nothing is recorded"
        );
        n.add(&key("far"));
        assert!(n.nearest(&key("x"), &mut unlimited()).unwrap().is_empty());
        // A near row appended later is found on the next estimate.
        n.add(&key("near"));
        let near = n.nearest(&key("x"), &mut unlimited()).unwrap();
        assert_eq!(agents(&n, &near), ["near"]);
        let before = reads.load(Ordering::SeqCst);
        // Nothing new: the list is served without reading the vector.
        let mut budget = 0;
        assert_eq!(n.nearest(&key("x"), &mut budget).unwrap(), near);
        assert_eq!(reads.load(Ordering::SeqCst), before);
    }

    #[test]
    fn beyond_the_budget_the_background_thread_builds_the_list() {
        let (n, _) = neighbours(&[("x", 0.0), ("a", 0.1), ("b", 0.2), ("c", 0.3)]);
        for a in ["a", "b", "c"] {
            n.add(&key(a));
        }
        let mut budget = 2;
        assert_eq!(
            n.nearest(&key("x"), &mut budget),
            None,
            "3 rows exceed a budget of 2"
        );
        assert_eq!(budget, 2, "nothing was compared");
        n.wait_idle();
        let near = n.nearest(&key("x"), &mut budget).unwrap();
        assert_eq!(agents(&n, &near), ["a", "b"]);
        // Within the budget the list is built at once, and the budget spent.
        let mut budget = 3;
        let near = n.nearest(&key("y"), &mut budget).unwrap();
        assert!(near.is_empty(), "y has no vector");
        assert_eq!(budget, 0);
    }

    #[test]
    fn large_lists_wait_for_a_sixteenth_more_rows() {
        assert!(due(0, 1));
        assert!(due(15, 16));
        assert!(!due(16, 16));
        assert!(!due(320, 339));
        assert!(due(320, 340));
    }
}
