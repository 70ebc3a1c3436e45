//! The run log: every finished run, durable, per tenant, and exportable as
//! JSONL rollouts (`GET /v1/runs/{id}`, `GET /v1/runs/export`).
//!
//! Finished runs are appended to one JSONL file, one line per run, and the
//! file is fsynced before [`RunStore::finish`] returns, so a run the server
//! reported is never lost. An append-only file (rather than the registry's
//! redb store) fits how runs are used: written once, read by id now and then,
//! and exported in bulk as exactly these lines. Memory holds only an index
//! (id → tenant and byte range), so millions of runs cost a few bytes each.
//! A line cut short by a crash is dropped (the run was never acknowledged)
//! and the file truncated back to the last whole line.
//!
//! Runs still going (jobs) live in memory only: after a restart they are
//! gone, and asking for one answers 404 like any unknown id.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use switchyard_schemas::rollout::{Rollout, RunRecord};

use crate::MetaAgentError;

/// One line of the log: the rollout and whose it is.
#[derive(Debug, Deserialize)]
struct Line {
    tenant: String,
    rollout: Rollout,
}

/// [`Line`] as written, borrowing the rollout rather than copying it.
#[derive(Serialize)]
struct LineRef<'a> {
    tenant: &'a str,
    rollout: &'a Rollout,
}

#[derive(Debug, Clone, Copy)]
struct Extent {
    offset: u64,
    len: u64,
}

#[derive(Debug)]
enum Entry {
    Running { tenant: String, started_at_ms: u64 },
    Aborted { tenant: String, error: String },
    Finished { tenant: String, at: Extent },
}

impl Entry {
    fn tenant(&self) -> &str {
        match self {
            Entry::Running { tenant, .. }
            | Entry::Aborted { tenant, .. }
            | Entry::Finished { tenant, .. } => tenant,
        }
    }
}

#[derive(Debug)]
struct Inner {
    file: File,
    len: u64,
    entries: HashMap<String, Entry>,
}

/// Durable record of runs; share it behind an `Arc`. Every method does file
/// I/O: call them from blocking threads.
#[derive(Debug)]
pub struct RunStore {
    path: PathBuf,
    inner: Mutex<Inner>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RunStore {
    /// Opens (or creates) `data_dir/runs.jsonl` and indexes it.
    pub fn open(data_dir: &Path) -> Result<RunStore, MetaAgentError> {
        let path = data_dir.join("runs.jsonl");
        let io = |source| MetaAgentError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut entries = HashMap::new();
        let mut offset = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)? as u64;
            if n == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') {
                tracing::warn!(path = %path.display(), offset, "dropping a run line cut short by a crash");
                break;
            }
            let line: Line = serde_json::from_slice(&buf).map_err(|e| MetaAgentError::Dataset {
                path: path.clone(),
                line: Some(entries.len() + 1),
                message: e.to_string(),
            })?;
            entries.insert(
                line.rollout.run_id.clone(),
                Entry::Finished {
                    tenant: line.tenant,
                    at: Extent { offset, len: n },
                },
            );
            offset += n;
        }
        drop(reader);
        file.set_len(offset).map_err(io)?;
        Ok(RunStore {
            path,
            inner: Mutex::new(Inner {
                file,
                len: offset,
                entries,
            }),
        })
    }

    fn io(&self, source: std::io::Error) -> MetaAgentError {
        MetaAgentError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the index half
        // written (each update is one insert), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a job that has started, so `get` can say it is running.
    pub fn start(&self, run_id: &str, tenant: &str) {
        self.lock().entries.insert(
            run_id.to_string(),
            Entry::Running {
                tenant: tenant.to_string(),
                started_at_ms: now_ms(),
            },
        );
    }

    /// Notes a job that ended without a trace.
    pub fn abort(&self, run_id: &str, tenant: &str, error: String) {
        self.lock().entries.insert(
            run_id.to_string(),
            Entry::Aborted {
                tenant: tenant.to_string(),
                error,
            },
        );
    }

    /// Appends a finished run and returns once it is on disk.
    pub fn finish(&self, tenant: &str, rollout: &Rollout) -> Result<(), MetaAgentError> {
        let mut bytes = serde_json::to_vec(&LineRef { tenant, rollout })
            .map_err(|e| self.io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        let mut inner = self.lock();
        let offset = inner.len;
        let written = inner.file.write_all(&bytes).and_then(|()| inner.file.sync_data());
        if let Err(e) = written {
            // Leave no partial line behind for the next append to extend.
            let _ = inner.file.set_len(offset);
            return Err(self.io(e));
        }
        inner.len += bytes.len() as u64;
        inner.entries.insert(
            rollout.run_id.clone(),
            Entry::Finished {
                tenant: tenant.to_string(),
                at: Extent {
                    offset,
                    len: bytes.len() as u64,
                },
            },
        );
        Ok(())
    }

    /// The run `run_id` of `tenant` (`None` also for another tenant's run:
    /// runs are private to their tenant).
    pub fn get(&self, run_id: &str, tenant: &str) -> Result<Option<RunRecord>, MetaAgentError> {
        let mut inner = self.lock();
        let at = match inner.entries.get(run_id) {
            Some(e) if e.tenant() != tenant => return Ok(None),
            None => return Ok(None),
            Some(Entry::Running { started_at_ms, .. }) => {
                return Ok(Some(RunRecord::Running {
                    run_id: run_id.to_string(),
                    started_at_ms: *started_at_ms,
                }));
            }
            Some(Entry::Aborted { error, .. }) => {
                return Ok(Some(RunRecord::Aborted {
                    run_id: run_id.to_string(),
                    error: error.clone(),
                }));
            }
            Some(Entry::Finished { at, .. }) => *at,
        };
        let line = read_line(&mut inner.file, at).map_err(|e| self.io(e))?;
        Ok(Some(RunRecord::Finished(Box::new(line.rollout))))
    }

    /// Writes every finished run of `tenant` (of everyone with `None`) as
    /// JSONL rollouts to `out`, in the order they finished; returns the
    /// count.
    pub fn export(&self, tenant: Option<&str>, out: &mut impl Write) -> Result<usize, MetaAgentError> {
        let mut extents: Vec<Extent> = {
            let inner = self.lock();
            inner
                .entries
                .values()
                .filter_map(|e| match e {
                    Entry::Finished { tenant: t, at } if tenant.is_none_or(|want| want == t) => Some(*at),
                    _ => None,
                })
                .collect()
        };
        extents.sort_by_key(|e| e.offset);
        // A second handle, so a long export never holds the lock.
        let mut file = File::open(&self.path).map_err(|e| self.io(e))?;
        for at in &extents {
            let line = read_line(&mut file, *at).map_err(|e| self.io(e))?;
            serde_json::to_writer(&mut *out, &line.rollout).map_err(|e| self.io(std::io::Error::other(e)))?;
            out.write_all(b"\n").map_err(|e| self.io(e))?;
        }
        Ok(extents.len())
    }
}

fn read_line(file: &mut File, at: Extent) -> std::io::Result<Line> {
    file.seek(SeekFrom::Start(at.offset))?;
    let mut buf = vec![0u8; at.len as usize];
    file.read_exact(&mut buf)?;
    serde_json::from_slice(&buf).map_err(std::io::Error::other)
}
