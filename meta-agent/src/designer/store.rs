//! The designer's case memory: every recorded (query vector, arm, score,
//! cost), durable in `designer.redb`, mirrored in memory for the policy.
//!
//! redb rather than an append-only JSONL file: the memory is bounded, and
//! evicting the oldest cases from a log means rewriting it (or letting it
//! grow), while redb deletes them in the same fsynced transaction that adds
//! the new case, so the file stays bounded and a crash leaves the state
//! before or after a record, never a torn line. The router keeps its
//! feedback the same way. Vectors are stored as little-endian `f32` bytes
//! in their own table (1.5 kB for 384 dimensions, a third of their JSON);
//! the rest of a case is JSON, readable with any redb tool.
//!
//! Writes are serialised and acknowledged after the commit; reads share a
//! lock with them only for the in-memory copy, never for disk. In memory a
//! case keeps what the policy and the statistics read, its vector
//! quantised (see `similarity`).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use switchyard_schemas::design::Pattern;

use super::Case;
use super::similarity::Quantized;
use crate::MetaAgentError;

/// Sequence number → the case without its vector (JSON).
const CASES: TableDefinition<u64, &[u8]> = TableDefinition::new("designer_cases");
/// Sequence number → the query vector (little-endian `f32`s).
const VECTORS: TableDefinition<u64, &[u8]> = TableDefinition::new("designer_case_vectors");

/// The stored form of a case, its vector aside.
#[derive(Serialize, Deserialize)]
struct Stored {
    pattern: Pattern,
    arm: String,
    agents: Vec<String>,
    nodes: u32,
    score: f64,
    cost_usd: f64,
    /// Absent in cases recorded before the field existed.
    #[serde(default)]
    tested: bool,
}

/// One remembered case: what the policy and the statistics read.
#[derive(Debug, Clone)]
pub struct Entry {
    seq: u64,
    /// Interned arm key, so the policy compares integers.
    pub arm: u32,
    pub pattern: Pattern,
    pub vector: Quantized,
    pub score: f64,
    pub cost_usd: f64,
    pub nodes: u32,
    pub tested: bool,
}

/// The cases in memory, oldest first.
#[derive(Debug, Default)]
pub struct Memory {
    entries: VecDeque<Entry>,
    /// Arm keys seen since the store opened, and their ids (indices). They
    /// outlive eviction, which is harmless: there are few distinct arms.
    arm_ids: HashMap<String, u32>,
    arms: Vec<String>,
}

impl Memory {
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn arm_id(&self, key: &str) -> Option<u32> {
        self.arm_ids.get(key).copied()
    }

    /// The key of an interned arm.
    pub fn arm_key(&self, id: u32) -> &str {
        self.arms.get(id as usize).map_or("", String::as_str)
    }

    /// Distinct arm ids handed out (ids are `0..arm_count`).
    pub fn arm_count(&self) -> usize {
        self.arms.len()
    }

    fn push(&mut self, seq: u64, case: &Case) {
        let arm = match self.arm_ids.get(&case.arm) {
            Some(&id) => id,
            None => {
                let id = self.arms.len() as u32;
                self.arm_ids.insert(case.arm.clone(), id);
                self.arms.push(case.arm.clone());
                id
            }
        };
        self.entries.push_back(Entry {
            seq,
            arm,
            pattern: case.pattern,
            vector: Quantized::new(&case.query_vector),
            score: case.score,
            cost_usd: case.cost_usd,
            nodes: case.nodes,
            tested: case.tested,
        });
    }
}

/// The durable, bounded case memory.
#[derive(Debug)]
pub struct CaseStore {
    path: PathBuf,
    db: Database,
    capacity: usize,
    memory: RwLock<Memory>,
}

impl CaseStore {
    /// Opens (or creates) `data_dir/designer.redb`, loads every case, and
    /// evicts the oldest beyond `capacity` (at least 1), which a smaller
    /// capacity than last time calls for.
    pub fn open(data_dir: &Path, capacity: usize) -> Result<CaseStore, MetaAgentError> {
        std::fs::create_dir_all(data_dir).map_err(|source| MetaAgentError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join("designer.redb");
        let db = Database::create(&path).at(&path)?;
        let txn = db.begin_write().at(&path)?;
        txn.open_table(CASES).at(&path)?;
        txn.open_table(VECTORS).at(&path)?;
        txn.commit().at(&path)?;

        let mut memory = Memory::default();
        {
            let txn = db.begin_read().at(&path)?;
            let cases = txn.open_table(CASES).at(&path)?;
            let vectors = txn.open_table(VECTORS).at(&path)?;
            for row in cases.iter().at(&path)? {
                let (seq, raw) = row.at(&path)?;
                let seq = seq.value();
                let corrupt = |message: String| MetaAgentError::CorruptCase {
                    path: path.clone(),
                    seq,
                    message,
                };
                let stored: Stored =
                    serde_json::from_slice(raw.value()).map_err(|e| corrupt(e.to_string()))?;
                let bytes = vectors
                    .get(seq)
                    .at(&path)?
                    .ok_or_else(|| corrupt("its vector is missing".into()))?;
                let query_vector =
                    decode(bytes.value()).ok_or_else(|| corrupt("its vector is malformed".into()))?;
                memory.push(
                    seq,
                    &Case {
                        query_vector,
                        pattern: stored.pattern,
                        arm: stored.arm,
                        agents: stored.agents,
                        nodes: stored.nodes,
                        score: stored.score,
                        cost_usd: stored.cost_usd,
                        tested: stored.tested,
                    },
                );
            }
        }
        let store = CaseStore {
            path,
            db,
            capacity: capacity.max(1),
            memory: RwLock::new(memory),
        };
        {
            let mut memory = store.memory.write().unwrap_or_else(PoisonError::into_inner);
            let excess = memory.len().saturating_sub(store.capacity);
            if excess > 0 {
                store.commit(&[], &memory.entries, excess)?;
                memory.entries.drain(..excess);
            }
            tracing::info!(cases = memory.len(), "designer cases loaded");
        }
        Ok(store)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The in-memory cases, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, Memory> {
        self.memory.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a checked case (unit vector) durably; see [`record_all`](Self::record_all).
    #[cfg(test)]
    pub fn record(&self, case: &Case) -> Result<(), MetaAgentError> {
        self.record_all(std::slice::from_ref(case))
    }

    /// Adds checked cases (unit vectors) durably in one transaction,
    /// evicting the oldest beyond the capacity in it too (of more new cases
    /// than the capacity, only the last are kept). Blocking (one fsync).
    pub fn record_all(&self, cases: &[Case]) -> Result<(), MetaAgentError> {
        let cases = &cases[cases.len().saturating_sub(self.capacity)..];
        let mut memory = self.memory.write().unwrap_or_else(PoisonError::into_inner);
        let first = memory.entries.back().map_or(0, |e| e.seq + 1);
        let added: Vec<(u64, &Case)> = (first..).zip(cases).collect();
        let excess = (memory.len() + added.len()).saturating_sub(self.capacity);
        self.commit(&added, &memory.entries, excess)?;
        memory.entries.drain(..excess);
        for (seq, case) in added {
            memory.push(seq, case);
        }
        Ok(())
    }

    /// One transaction: insert `add`, delete the `evict` oldest of `entries`.
    fn commit(
        &self,
        add: &[(u64, &Case)],
        entries: &VecDeque<Entry>,
        evict: usize,
    ) -> Result<(), MetaAgentError> {
        let path = &self.path;
        let txn = self.db.begin_write().at(path)?;
        {
            let mut cases = txn.open_table(CASES).at(path)?;
            let mut vectors = txn.open_table(VECTORS).at(path)?;
            for old in entries.iter().take(evict) {
                cases.remove(old.seq).at(path)?;
                vectors.remove(old.seq).at(path)?;
            }
            for &(seq, case) in add {
                let stored = Stored {
                    pattern: case.pattern,
                    arm: case.arm.clone(),
                    agents: case.agents.clone(),
                    nodes: case.nodes,
                    score: case.score,
                    cost_usd: case.cost_usd,
                    tested: case.tested,
                };
                let json = serde_json::to_vec(&stored).map_err(|e| MetaAgentError::CorruptCase {
                    path: self.path.clone(),
                    seq,
                    message: e.to_string(),
                })?;
                cases.insert(seq, json.as_slice()).at(path)?;
                vectors
                    .insert(seq, encode(&case.query_vector).as_slice())
                    .at(path)?;
            }
        }
        txn.commit().at(path)
    }
}

/// Attaches the store's path to any redb error.
trait AtPath<T> {
    fn at(self, path: &Path) -> Result<T, MetaAgentError>;
}

impl<T, E: Into<redb::Error>> AtPath<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, MetaAgentError> {
        self.map_err(|e| MetaAgentError::CaseStore {
            path: path.to_owned(),
            source: Box::new(e.into()),
        })
    }
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    let chunks = bytes.chunks_exact(4);
    if !chunks.remainder().is_empty() || bytes.is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::designer::testing::case;

    #[test]
    fn vectors_round_trip_bytes() {
        let v = vec![0.5, -1.25, f32::MIN_POSITIVE];
        assert_eq!(decode(&encode(&v)), Some(v));
        assert_eq!(decode(&[1, 2, 3]), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn a_smaller_capacity_on_reopen_evicts_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = CaseStore::open(dir.path(), 10).unwrap();
            for i in 0..6 {
                store.record(&case(&format!("arm-{i}"), 0.5)).unwrap();
            }
        }
        let store = CaseStore::open(dir.path(), 4).unwrap();
        let memory = store.read();
        let arms: Vec<&str> = memory.entries().map(|e| memory.arm_key(e.arm)).collect();
        assert_eq!(arms, ["arm-2", "arm-3", "arm-4", "arm-5"]);
        drop(memory);
        drop(store);
        let store = CaseStore::open(dir.path(), 10).unwrap();
        assert_eq!(store.read().len(), 4, "the eviction was durable");
        // Sequence numbers continue after the newest.
        store.record(&case("arm-6", 0.5)).unwrap();
        assert_eq!(store.read().entries().last().unwrap().seq, 6);
    }

    #[test]
    fn a_batch_is_one_durable_write_within_the_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let arms = |store: &CaseStore| -> Vec<String> {
            let memory = store.read();
            memory
                .entries()
                .map(|e| memory.arm_key(e.arm).to_string())
                .collect()
        };
        {
            let store = CaseStore::open(dir.path(), 3).unwrap();
            store.record(&case("a", 0.5)).unwrap();
            store
                .record_all(&[case("b", 0.5), case("c", 0.5), case("d", 0.5)])
                .unwrap();
            assert_eq!(arms(&store), ["b", "c", "d"]);
            // More new cases than the capacity: the last ones are kept.
            let many: Vec<Case> = ["e", "f", "g", "h"].iter().map(|a| case(a, 0.5)).collect();
            store.record_all(&many).unwrap();
            assert_eq!(arms(&store), ["f", "g", "h"]);
        }
        let store = CaseStore::open(dir.path(), 3).unwrap();
        assert_eq!(arms(&store), ["f", "g", "h"], "as written");
        let seqs: Vec<u64> = store.read().entries().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }
}
