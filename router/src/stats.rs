//! Feedback statistics per (agent version, skill), durable in their own
//! redb file beside the registry's.
//!
//! Each record is a Beta posterior over the success rate with exponential
//! decay per observation: on every outcome `o ∈ [0, 1]`,
//! `α ← γ·α + o`, `β ← γ·β + (1 − o)`, `n ← γ·n + 1` with
//! `γ = 0.5^(1 / half_life)`, so an outcome `half_life` calls old weighs
//! half as much as a new one and an agent that degrades is noticed. The
//! uniform prior `Beta(1, 1)` (or a cold-start prior) is added when the
//! record is read, never stored. Reported costs feed a decayed mean and
//! reported latencies a window whose p95 may replace the declared one.
//!
//! Writes are acknowledged only after the redb commit (fsync); reads come
//! from an in-memory map loaded at start. Concurrent [`FeedbackStats::record`]
//! calls share commits (group commit): while one commit runs, the outcomes
//! that arrive queue up, and one of their callers commits them all at once,
//! so a busy fleet's feedback is not limited to one fsync per outcome.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};

use dashmap::DashMap;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use switchyard_schemas::route::{QualityPrior, SkillStats};

use crate::error::{Result, RouterError};

/// (agent, version, skill) → [`Record`] (JSON).
const STATS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("skill_stats");

/// Identity of one record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatsKey {
    pub agent: String,
    pub version: String,
    pub skill: String,
}

/// One reported call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Success in [0, 1].
    pub score: f64,
    pub cost_usd: Option<f64>,
    pub latency_ms: Option<u32>,
}

/// Tuning of the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsConfig {
    /// Observations after which an outcome's weight halves.
    pub half_life: f64,
    /// Latencies kept for the observed p95.
    pub latency_window: usize,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            half_life: 200.0,
            latency_window: 128,
        }
    }
}

/// One (agent version, skill)'s observations, over the prior it started
/// from (frozen at its first outcome, so a restart or a neighbour's later
/// outcomes never rewrite its history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub prior_alpha: f64,
    pub prior_beta: f64,
    pub prior: QualityPrior,
    /// Decayed successes and failures (no prior).
    pub successes: f64,
    pub failures: f64,
    pub n: f64,
    pub calls: u64,
    /// Decayed sum of reported costs and its weight.
    pub cost_sum: f64,
    pub cost_weight: f64,
    pub latencies: VecDeque<u32>,
    pub latency_samples: u64,
}

impl Record {
    /// An empty record over the prior `(alpha, beta, kind)`.
    pub fn new(prior: (f64, f64, QualityPrior)) -> Self {
        Record {
            prior_alpha: prior.0,
            prior_beta: prior.1,
            prior: prior.2,
            successes: 0.0,
            failures: 0.0,
            n: 0.0,
            calls: 0,
            cost_sum: 0.0,
            cost_weight: 0.0,
            latencies: VecDeque::new(),
            latency_samples: 0,
        }
    }

    pub fn cost_mean(&self) -> Option<f64> {
        (self.cost_weight > 0.0).then(|| self.cost_sum / self.cost_weight)
    }

    /// p95 of the latency window (nearest rank).
    pub fn latency_p95(&self) -> Option<u32> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut v: Vec<u32> = self.latencies.iter().copied().collect();
        v.sort_unstable();
        let rank = ((v.len() as f64) * 0.95).ceil() as usize;
        Some(v[rank.clamp(1, v.len()) - 1])
    }

    fn observe(&mut self, gamma: f64, outcome: f64, cost: Option<f64>, latency: Option<u32>, window: usize) {
        self.successes = gamma * self.successes + outcome;
        self.failures = gamma * self.failures + (1.0 - outcome);
        self.n = gamma * self.n + 1.0;
        self.calls += 1;
        if let Some(c) = cost {
            self.cost_sum = gamma * self.cost_sum + c;
            self.cost_weight = gamma * self.cost_weight + 1.0;
        }
        if let Some(l) = latency {
            self.latencies.push_back(l);
            while self.latencies.len() > window {
                self.latencies.pop_front();
            }
            self.latency_samples += 1;
        }
    }

    /// The wire form: the posterior, prior included.
    pub fn to_wire(&self) -> SkillStats {
        SkillStats {
            alpha: self.prior_alpha + self.successes,
            beta: self.prior_beta + self.failures,
            n: self.n,
            calls: self.calls,
            cost_usd_mean: self.cost_mean(),
            latency_ms_p95: self.latency_p95(),
            latency_samples: self.latency_samples,
        }
    }
}

/// The durable statistics store.
#[derive(Debug)]
pub struct FeedbackStats {
    db: Database,
    records: DashMap<StatsKey, Record>,
    config: StatsConfig,
    write: Mutex<()>,
    commits: Mutex<Commits>,
    committed: Condvar,
}

/// Outcomes waiting for a shared commit, and the answers of finished ones
/// by ticket.
#[derive(Debug, Default)]
struct Commits {
    next_ticket: u64,
    waiting: Vec<Waiting>,
    committing: bool,
    answers: HashMap<u64, std::result::Result<Record, String>>,
}

#[derive(Debug)]
struct Waiting {
    ticket: u64,
    key: StatsKey,
    outcome: Outcome,
    /// Computed before queueing when the key had no record yet.
    prior: Option<(f64, f64, QualityPrior)>,
}

impl FeedbackStats {
    /// Opens (or creates) `data_dir/feedback.redb` and loads every record.
    pub fn open(data_dir: &Path, config: StatsConfig) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| RouterError::Io {
            path: data_dir.to_owned(),
            source: e,
        })?;
        let db = Database::create(data_dir.join("feedback.redb"))?;
        let records = DashMap::new();
        {
            let txn = db.begin_write()?;
            txn.open_table(STATS)?;
            txn.commit()?;
            let txn = db.begin_read()?;
            for entry in txn.open_table(STATS)?.iter()? {
                let (key, raw) = entry?;
                let (agent, version, skill) = key.value();
                let record: Record =
                    serde_json::from_slice(raw.value()).map_err(|e| RouterError::Corrupt {
                        what: "feedback record",
                        detail: format!("{agent}@{version}#{skill}: {e}"),
                    })?;
                records.insert(
                    StatsKey {
                        agent: agent.to_owned(),
                        version: version.to_owned(),
                        skill: skill.to_owned(),
                    },
                    record,
                );
            }
        }
        tracing::info!(records = records.len(), "feedback statistics loaded");
        Ok(FeedbackStats {
            db,
            records,
            config,
            write: Mutex::new(()),
            commits: Mutex::default(),
            committed: Condvar::new(),
        })
    }

    pub fn config(&self) -> &StatsConfig {
        &self.config
    }

    /// The record of `key`, if any outcome was recorded.
    pub fn get(&self, key: &StatsKey) -> Option<Record> {
        self.records.get(key).map(|r| r.value().clone())
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every key with a record (a point-in-time copy).
    pub fn keys(&self) -> Vec<StatsKey> {
        self.records.iter().map(|r| r.key().clone()).collect()
    }

    /// The posterior of `key` as `(alpha, beta, n)`, its prior included,
    /// without copying the record.
    pub fn posterior(&self, key: &StatsKey) -> Option<(f64, f64, f64)> {
        self.records
            .get(key)
            .map(|r| (r.prior_alpha + r.successes, r.prior_beta + r.failures, r.n))
    }

    /// Records one outcome durably and returns the updated record; a new
    /// record starts from `prior()`. Blocking (fsync): call from a blocking
    /// thread. Calls made while a commit runs share the next one.
    pub fn record(
        &self,
        key: &StatsKey,
        outcome: Outcome,
        prior: impl FnOnce() -> (f64, f64, QualityPrior),
    ) -> Result<Record> {
        // Outside the lock: a prior may read other records.
        let prior = (!self.records.contains_key(key)).then(prior);
        let mut commits = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = commits.next_ticket;
        commits.next_ticket += 1;
        commits.waiting.push(Waiting {
            ticket,
            key: key.clone(),
            outcome,
            prior,
        });
        loop {
            if let Some(answer) = commits.answers.remove(&ticket) {
                return answer.map_err(RouterError::SharedCommit);
            }
            if commits.committing {
                commits = self
                    .committed
                    .wait(commits)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // No commit runs: this caller commits everything queued,
            // its own outcome included.
            commits.committing = true;
            let batch = std::mem::take(&mut commits.waiting);
            drop(commits);
            // A panic must not leave `committing` set: every later caller
            // would wait for it forever.
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit_waiting(&batch)))
                    .unwrap_or_else(|_| Err(RouterError::Worker("feedback commit panicked".to_owned())));
            commits = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(records) => {
                    for (w, r) in batch.iter().zip(records) {
                        commits.answers.insert(w.ticket, Ok(r));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for w in &batch {
                        commits.answers.insert(w.ticket, Err(message.clone()));
                    }
                }
            }
            commits.committing = false;
            self.committed.notify_all();
        }
    }

    fn commit_waiting(&self, batch: &[Waiting]) -> Result<Vec<Record>> {
        let outcomes: Vec<(StatsKey, Outcome)> = batch.iter().map(|w| (w.key.clone(), w.outcome)).collect();
        self.record_batch(&outcomes, |key| {
            batch
                .iter()
                .find_map(|w| (&w.key == key).then_some(w.prior).flatten())
                .unwrap_or((1.0, 1.0, QualityPrior::Uninformed))
        })
    }

    /// Records several outcomes in one durable commit (one fsync), in
    /// order, and returns the updated records; a new record starts from
    /// `prior(key)`. All or nothing. Blocking: call from a blocking thread.
    pub fn record_batch(
        &self,
        outcomes: &[(StatsKey, Outcome)],
        mut prior: impl FnMut(&StatsKey) -> (f64, f64, QualityPrior),
    ) -> Result<Vec<Record>> {
        let gamma = 0.5f64.powf(1.0 / self.config.half_life.max(1.0));
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        // Updated here first, so a key given twice sees its first outcome.
        let mut updated: HashMap<&StatsKey, Record> = HashMap::new();
        let mut out = Vec::with_capacity(outcomes.len());
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(STATS)?;
            for (key, outcome) in outcomes {
                let mut record = match updated.remove(key) {
                    Some(r) => r,
                    None => self.get(key).unwrap_or_else(|| Record::new(prior(key))),
                };
                record.observe(
                    gamma,
                    outcome.score,
                    outcome.cost_usd,
                    outcome.latency_ms,
                    self.config.latency_window,
                );
                let raw = serde_json::to_vec(&record).map_err(|e| RouterError::Corrupt {
                    what: "feedback record",
                    detail: e.to_string(),
                })?;
                table.insert(
                    (key.agent.as_str(), key.version.as_str(), key.skill.as_str()),
                    raw.as_slice(),
                )?;
                out.push(record.clone());
                updated.insert(key, record);
            }
        }
        txn.commit()?;
        for (key, record) in updated {
            self.records.insert(key.clone(), record);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIFORM: fn() -> (f64, f64, QualityPrior) = || (1.0, 1.0, QualityPrior::Uninformed);

    fn outcome(score: f64, cost_usd: Option<f64>, latency_ms: Option<u32>) -> Outcome {
        Outcome {
            score,
            cost_usd,
            latency_ms,
        }
    }

    fn key() -> StatsKey {
        StatsKey {
            agent: "acme/a".into(),
            version: "1.0.0".into(),
            skill: "s".into(),
        }
    }

    #[test]
    fn decay_weighs_recent_outcomes_more() {
        let dir = tempfile::tempdir().unwrap();
        let stats = FeedbackStats::open(
            dir.path(),
            StatsConfig {
                half_life: 10.0,
                latency_window: 8,
            },
        )
        .unwrap();
        for _ in 0..30 {
            stats.record(&key(), outcome(1.0, None, None), UNIFORM).unwrap();
        }
        for _ in 0..10 {
            stats.record(&key(), outcome(0.0, None, None), UNIFORM).unwrap();
        }
        let r = stats.get(&key()).unwrap().to_wire();
        let mean = r.alpha / (r.alpha + r.beta);
        // Undecayed the mean would be 31/42 = 0.74; ten failures at a
        // half-life of ten must pull it close to one half.
        assert!(mean < 0.6, "mean {mean}");
        assert!(mean > 0.4, "mean {mean}");
        assert_eq!(r.calls, 40);
        assert!(r.n < 40.0 && r.n > 10.0, "n {}", r.n);
    }

    #[test]
    fn latency_window_p95_and_cost_mean() {
        let dir = tempfile::tempdir().unwrap();
        let stats = FeedbackStats::open(
            dir.path(),
            StatsConfig {
                half_life: 1e9,
                latency_window: 20,
            },
        )
        .unwrap();
        for i in 1..=40u32 {
            stats
                .record(
                    &key(),
                    outcome(1.0, Some(f64::from(i) * 0.001), Some(i * 10)),
                    UNIFORM,
                )
                .unwrap();
        }
        let r = stats.get(&key()).unwrap();
        // Window holds 21..=40; nearest-rank p95 of 20 values is the 19th.
        assert_eq!(r.latency_p95(), Some(390));
        assert_eq!(r.latencies.len(), 20);
        let mean = r.cost_mean().unwrap();
        assert!((mean - 0.0205).abs() < 1e-6, "cost mean {mean}");
    }

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
            stats
                .record(&key(), outcome(0.25, Some(0.5), Some(120)), || {
                    (2.0, 1.0, QualityPrior::Neighbours)
                })
                .unwrap();
        }
        let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
        let r = stats.get(&key()).unwrap();
        assert_eq!(r.calls, 1);
        assert!((r.successes - 0.25).abs() < 1e-12);
        assert_eq!(r.latency_p95(), Some(120));
        // The prior is frozen in the record.
        assert_eq!(r.prior, QualityPrior::Neighbours);
        assert!((r.to_wire().alpha - 2.25).abs() < 1e-12);
    }

    #[test]
    fn a_batch_is_one_durable_commit_applied_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let other = StatsKey {
            skill: "t".into(),
            ..key()
        };
        let mut priors = Vec::new();
        {
            let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
            let out = stats
                .record_batch(
                    &[
                        (key(), outcome(1.0, None, None)),
                        (other.clone(), outcome(0.0, None, None)),
                        (key(), outcome(0.0, None, Some(50))),
                    ],
                    |k| {
                        priors.push(k.clone());
                        UNIFORM()
                    },
                )
                .unwrap();
            assert_eq!(out.len(), 3);
            assert_eq!(out[2].calls, 2, "the second outcome of a key sees the first");
        }
        assert_eq!(priors, [key(), other.clone()], "one prior per new key");
        let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
        let r = stats.get(&key()).unwrap();
        assert_eq!(r.calls, 2);
        assert_eq!(r.latency_p95(), Some(50));
        assert_eq!(stats.get(&other).unwrap().calls, 1);
        let (alpha, beta, n) = stats.posterior(&other).unwrap();
        assert_eq!((alpha, beta, n), (1.0, 2.0, 1.0));
    }

    #[test]
    fn concurrent_outcomes_all_land_once() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<StatsKey> = (0..4)
            .map(|i| StatsKey {
                skill: format!("s{i}"),
                ..key()
            })
            .collect();
        {
            let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
            std::thread::scope(|scope| {
                for t in 0..8 {
                    let (stats, keys) = (&stats, &keys);
                    scope.spawn(move || {
                        for i in 0..25 {
                            let k = &keys[(t + i) % 4];
                            let r = stats.record(k, outcome(1.0, None, None), UNIFORM).unwrap();
                            assert!(r.calls >= 1);
                        }
                    });
                }
            });
        }
        let stats = FeedbackStats::open(dir.path(), StatsConfig::default()).unwrap();
        let calls: Vec<u64> = keys.iter().map(|k| stats.get(k).unwrap().calls).collect();
        assert_eq!(calls, [50, 50, 50, 50], "every outcome durable, none twice");
    }
}
