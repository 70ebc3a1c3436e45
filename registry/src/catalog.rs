//! The catalog: the durable store, the embedder and the capability index
//! kept in step, plus the in-memory routing cards the router reads.
//!
//! Every change that can alter what is routable goes through here, so the
//! index always reflects the store:
//!
//! - a publish embeds the skills first (off the async workers, outside any
//!   lock), then, under the catalog's write lock, commits the version and its
//!   vectors in one durable redb transaction and inserts the rows into the
//!   index before the call returns: a publish is routable on the next query;
//! - status changes and deletions update the index in the same locked step;
//! - after each change the agent's *current* version (`latest`: the highest
//!   non-prerelease active version) is recomputed and flagged in the index,
//!   which is what lets unpinned queries see one version per agent without a
//!   per-row lookup.
//!
//! The write lock serialises store commits with their index updates, so the
//! index applies changes in change-log order and [`Catalog::applied_seq`] is
//! a safe checkpoint for [`Catalog::persist`]. Readers never take it: they
//! read the index's immutable snapshots and the lock-free card map.
//!
//! On start ([`Catalog::open`]) the index snapshot under `DATA/index/` is
//! loaded and the agents changed after its checkpoint are re-synchronised
//! from the store; when the snapshot is missing or unusable the index is
//! rebuilt from the vectors stored beside each version (versions stored
//! without vectors are embedded once and their vectors saved).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use dashmap::DashMap;
use semver::Version;
use switchyard_schemas::api::{ChangeAck, PublishResponse, Scope, VersionStatus};
use switchyard_schemas::manifest::{AgentManifest, Budget, Endpoint, Policy};

use crate::auth::Principal;
use crate::embedder::{EmbedError, Embedder, EmbeddingService, check_client_vector, skill_texts};
use crate::error::{RegistryError, Result};
use crate::index::{CapabilityIndex, IndexConfig, PersistReport, RowMeta, SkillVector, VersionRows};
use crate::lexical::{LexicalStats, TermCounts};
use crate::store::{Registry, StoredEntry, VersionVectors};
use crate::versions;

/// What the router needs of one skill without touching the store.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillCard {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    /// Terms of the skill's name, description, tags and examples (BM25).
    pub terms: TermCounts,
}

/// What the router needs of one version without touching the store.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionCard {
    pub version: Version,
    pub status: VersionStatus,
    pub endpoint: Endpoint,
    pub policy: Policy,
    pub budget: Budget,
    pub skills: Vec<SkillCard>,
}

/// One agent's versions (semver order) and which one is current.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCard {
    pub name: String,
    pub owner: String,
    pub versions: Vec<VersionCard>,
    /// Index into `versions` of `latest`, if any version is routable unpinned.
    pub current: Option<usize>,
}

impl AgentCard {
    pub fn version(&self, version: &str) -> Option<&VersionCard> {
        // Parsed once rather than formatting every version to compare: this
        // runs per routed hit. semver's text form is canonical, so the two
        // agree.
        let wanted = Version::parse(version).ok()?;
        self.versions.iter().find(|v| v.version == wanted)
    }

    pub fn current(&self) -> Option<&VersionCard> {
        self.current.map(|i| &self.versions[i])
    }

    /// The version a pinned range routes to: the highest non-yanked match.
    pub fn resolve(&self, req: &semver::VersionReq) -> Option<&VersionCard> {
        let best = versions::resolve(req, self.versions.iter().map(|v| (&v.version, v.status)))?;
        self.versions.iter().find(|v| &v.version == best)
    }
}

/// How the catalog came up, for the log and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Loaded from the snapshot; `resynced` agents changed after it.
    Snapshot { checkpoint: u64, resynced: usize },
    /// Built from the store (no usable snapshot).
    Rebuilt { versions: usize, embedded: usize },
}

/// Store, embedder and index, kept in step. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Catalog {
    store: Arc<Registry>,
    embedder: EmbeddingService,
    index: CapabilityIndex,
    index_dir: PathBuf,
    /// Serialises store commits with their index updates (never held
    /// across an await: every holder is synchronous).
    write: Mutex<()>,
    applied_seq: AtomicU64,
    cards: DashMap<String, Arc<AgentCard>>,
    lexical: LexicalStats,
    origin: IndexOrigin,
}

impl Catalog {
    /// Opens the catalog over `store`, restoring or rebuilding the index
    /// under `data_dir/index`. Blocking: run it on a blocking thread.
    pub fn open(
        store: Arc<Registry>,
        embedder: EmbeddingService,
        data_dir: &Path,
        config: IndexConfig,
    ) -> Result<Self> {
        let start = Instant::now();
        let space = embedder.space().clone();
        let index_dir = data_dir.join("index").join(&space.name);
        let (index, origin, applied) =
            match CapabilityIndex::load(&index_dir, &space.name, space.dimension, config.clone()) {
                Ok(loaded) => {
                    let (changed, last) = store.agents_changed_since(loaded.checkpoint)?;
                    let catalog_index = loaded.index;
                    for name in &changed {
                        resync_agent(&store, embedder.embedder().as_ref(), &catalog_index, name)?;
                    }
                    let origin = IndexOrigin::Snapshot {
                        checkpoint: loaded.checkpoint,
                        resynced: changed.len(),
                    };
                    (catalog_index, origin, last)
                }
                Err(_) => {
                    let index = CapabilityIndex::new(&space.name, space.dimension, config);
                    let last = store.stats()?.last_seq;
                    let entries = store.all_entries()?;
                    let (mut rows, embedded) = rows_for(&store, embedder.embedder().as_ref(), &entries)?;
                    let mut by_agent: HashMap<&str, Vec<(&Version, VersionStatus)>> = HashMap::new();
                    for e in &entries {
                        by_agent.entry(&e.name).or_default().push((&e.version, e.status));
                    }
                    let current: HashMap<&str, String> = by_agent
                        .into_iter()
                        .filter_map(|(name, vs)| Some((name, versions::latest(vs)?.to_string())))
                        .collect();
                    for r in &mut rows {
                        r.meta.current = current.get(r.agent.as_str()) == Some(&r.version);
                    }
                    index.bulk_insert(&rows)?;
                    let origin = IndexOrigin::Rebuilt {
                        versions: rows.len(),
                        embedded,
                    };
                    (index, origin, last)
                }
            };
        let catalog = Catalog {
            store,
            embedder,
            index,
            index_dir,
            write: Mutex::new(()),
            applied_seq: AtomicU64::new(applied),
            cards: DashMap::new(),
            lexical: LexicalStats::default(),
            origin,
        };
        let mut by_agent: HashMap<String, Vec<StoredEntry>> = HashMap::new();
        for e in catalog.store.all_entries()? {
            by_agent.entry(e.name.clone()).or_default().push(e);
        }
        for (name, entries) in by_agent {
            catalog.install_card(&name, &entries);
        }
        tracing::info!(
            origin = ?catalog.origin,
            agents = catalog.cards.len(),
            rows = catalog.index.stats().live_rows,
            secs = start.elapsed().as_secs_f64(),
            "capability index ready"
        );
        Ok(catalog)
    }

    pub fn store(&self) -> &Arc<Registry> {
        &self.store
    }

    pub fn embedder(&self) -> &EmbeddingService {
        &self.embedder
    }

    pub fn index(&self) -> &CapabilityIndex {
        &self.index
    }

    pub fn origin(&self) -> &IndexOrigin {
        &self.origin
    }

    /// The last change-log sequence number applied to the index.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::Acquire)
    }

    /// The routing card of `name`, whoever may see it (callers check
    /// visibility per version with [`Principal::can_see`]).
    pub fn card(&self, name: &str) -> Option<Arc<AgentCard>> {
        self.cards.get(name).map(|c| c.value().clone())
    }

    /// Document frequencies of skill terms across every stored version.
    pub fn lexical(&self) -> &LexicalStats {
        &self.lexical
    }

    /// Every routing card (a point-in-time copy of the references).
    pub fn cards(&self) -> Vec<Arc<AgentCard>> {
        self.cards.iter().map(|c| c.value().clone()).collect()
    }

    /// Validates client vectors, embeds the rest, then publishes durably and
    /// indexes the version (on a blocking thread) before returning.
    pub async fn publish(
        self: &Arc<Self>,
        principal: &Principal,
        manifest: AgentManifest,
    ) -> Result<PublishResponse> {
        // Before any embedding: an unauthorised caller must not cost CPU.
        principal.require(Scope::Publish)?;
        let vectors = self.vectors_for(&manifest).await?;
        let (this, principal) = (self.clone(), principal.clone());
        tokio::task::spawn_blocking(move || this.commit_publish(&principal, manifest, &vectors))
            .await
            .map_err(|e| {
                RegistryError::from(EmbedError::Worker {
                    message: format!("publish task failed: {e}"),
                })
            })?
    }

    /// The synchronous half of a publish, for callers already on a
    /// blocking thread (and for [`Catalog::publish`]).
    pub fn commit_publish(
        &self,
        principal: &Principal,
        manifest: AgentManifest,
        vectors: &VersionVectors,
    ) -> Result<PublishResponse> {
        let name = manifest.name.clone();
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let response = self.store.publish(principal, manifest, vectors)?;
        if response.created {
            self.resync(&name)?;
            self.applied_seq.store(response.seq, Ordering::Release);
        }
        Ok(response)
    }

    /// Publishes many manifests as `principal` in one durable store commit
    /// (all or nothing, see [`Registry::publish_batch`]) and indexes every
    /// created version before returning, like [`Catalog::publish`] does for
    /// one. For bulk imports, where a commit per version would spend most of
    /// its time waiting for fsync.
    pub async fn publish_batch(
        self: &Arc<Self>,
        principal: &Principal,
        manifests: Vec<AgentManifest>,
    ) -> Result<Vec<PublishResponse>> {
        principal.require(Scope::Publish)?;
        let mut items = Vec::with_capacity(manifests.len());
        for manifest in manifests {
            let vectors = self.vectors_for(&manifest).await?;
            items.push((manifest, vectors));
        }
        let (this, principal) = (self.clone(), principal.clone());
        tokio::task::spawn_blocking(move || this.commit_publish_batch(&principal, items))
            .await
            .map_err(|e| {
                RegistryError::from(EmbedError::Worker {
                    message: format!("publish task failed: {e}"),
                })
            })?
    }

    /// The synchronous half of [`Catalog::publish_batch`].
    pub fn commit_publish_batch(
        &self,
        principal: &Principal,
        items: Vec<(AgentManifest, VersionVectors)>,
    ) -> Result<Vec<PublishResponse>> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let responses = self.store.publish_batch(principal, items)?;
        let mut created: Vec<&str> = responses
            .iter()
            .filter(|r| r.created)
            .map(|r| r.name.as_str())
            .collect();
        created.sort_unstable();
        created.dedup();
        for name in created {
            self.resync(name)?;
        }
        if let Some(seq) = responses.iter().filter(|r| r.created).map(|r| r.seq).max() {
            self.applied_seq.store(seq, Ordering::Release);
        }
        Ok(responses)
    }

    /// The capability vectors of a manifest: each skill's client vector when
    /// it sent one (checked against the server's space), otherwise one
    /// vector per text of [`skill_texts`].
    pub async fn vectors_for(&self, manifest: &AgentManifest) -> Result<VersionVectors> {
        let space = self.embedder.space().clone();
        let mut vectors = Vec::new();
        let mut texts: Vec<(String, u16)> = Vec::new();
        let mut batch = Vec::new();
        for (i, skill) in manifest.skills.iter().enumerate() {
            if let Some(client) = &skill.vector {
                let values = check_client_vector(&space, client).map_err(|e| client_vector_error(i, &e))?;
                vectors.push(SkillVector {
                    skill: skill.id.clone(),
                    vector: 0,
                    values,
                });
                continue;
            }
            for (j, text) in skill_texts(skill).into_iter().enumerate() {
                texts.push((skill.id.clone(), j as u16));
                batch.push(text);
            }
        }
        if !batch.is_empty() {
            let embedded = self.embedder.embed_batch(batch).await?;
            vectors.extend(
                texts
                    .into_iter()
                    .zip(embedded)
                    .map(|((skill, vector), values)| SkillVector {
                        skill,
                        vector,
                        values,
                    }),
            );
        }
        Ok(VersionVectors {
            space: space.name,
            vectors,
        })
    }

    /// Changes a version's lifecycle status in the store and the index.
    pub fn set_status(
        &self,
        principal: &Principal,
        name: &str,
        version: &str,
        status: VersionStatus,
    ) -> Result<ChangeAck> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let ack = self.store.set_status(principal, name, version, status)?;
        self.resync(name)?;
        self.applied_seq.fetch_max(ack.seq, Ordering::AcqRel);
        Ok(ack)
    }

    /// Deletes a version from the store and the index.
    pub fn delete_version(&self, principal: &Principal, name: &str, version: &str) -> Result<ChangeAck> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let ack = self.store.delete_version(principal, name, version)?;
        self.resync(name)?;
        self.applied_seq.store(ack.seq, Ordering::Release);
        Ok(ack)
    }

    /// Deletes an agent from the store and the index.
    pub fn delete_agent(&self, principal: &Principal, name: &str) -> Result<ChangeAck> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let ack = self.store.delete_agent(principal, name)?;
        self.resync(name)?;
        self.applied_seq.store(ack.seq, Ordering::Release);
        Ok(ack)
    }

    /// Writes the index snapshot, checkpointed at the last applied change.
    /// Blocking (file I/O).
    pub fn persist(&self) -> Result<PersistReport> {
        // Read before the index copies its snapshot: every change up to this
        // sequence number is already in it, so replay from here is complete.
        let checkpoint = self.applied_seq();
        Ok(self.index.persist(&self.index_dir, checkpoint)?)
    }

    /// Brings the index rows, the current-version flag and the card of
    /// `name` in line with the store. Called with the write lock held.
    fn resync(&self, name: &str) -> Result<()> {
        let entries = resync_agent(&self.store, self.embedder.embedder().as_ref(), &self.index, name)?;
        self.install_card(name, &entries);
        Ok(())
    }

    fn install_card(&self, name: &str, entries: &[StoredEntry]) {
        if let Some((_, old)) = self.cards.remove(name) {
            for s in old.versions.iter().flat_map(|v| &v.skills) {
                self.lexical.remove(&s.terms);
            }
        }
        if entries.is_empty() {
            return;
        }
        let versions: Vec<VersionCard> = entries
            .iter()
            .map(|e| VersionCard {
                version: e.version.clone(),
                status: e.status,
                endpoint: e.manifest.endpoint.clone(),
                policy: e.manifest.policy.clone(),
                budget: e.manifest.budget.clone(),
                skills: e
                    .manifest
                    .skills
                    .iter()
                    .map(|s| {
                        let text = format!(
                            "{} {} {} {}",
                            s.name,
                            s.description,
                            s.tags.join(" "),
                            s.examples.join(" ")
                        );
                        SkillCard {
                            id: s.id.clone(),
                            name: s.name.clone(),
                            tags: s.tags.clone(),
                            terms: TermCounts::of(&text),
                        }
                    })
                    .collect(),
            })
            .collect();
        for s in versions.iter().flat_map(|v| &v.skills) {
            self.lexical.add(&s.terms);
        }
        let latest = versions::latest(versions.iter().map(|v| (&v.version, v.status))).cloned();
        let current = latest.and_then(|l| versions.iter().position(|v| v.version == l));
        self.cards.insert(
            name.to_owned(),
            Arc::new(AgentCard {
                name: name.to_owned(),
                owner: entries[0].owner.clone(),
                versions,
                current,
            }),
        );
    }
}

/// Replaces every index row of `name` with what the store holds now and
/// flags its current version; returns the store's entries.
fn resync_agent(
    store: &Registry,
    embedder: &dyn Embedder,
    index: &CapabilityIndex,
    name: &str,
) -> Result<Vec<StoredEntry>> {
    let entries = store.agent_entries(name)?;
    let stored: HashSet<String> = entries.iter().map(|e| e.version.to_string()).collect();
    let indexed: HashSet<String> = index.versions_of(name).into_iter().collect();
    // Versions the store no longer has (deleted) leave the index.
    for v in indexed.difference(&stored) {
        index.remove_version(name, v);
    }
    let missing: Vec<StoredEntry> = entries
        .iter()
        .filter(|e| !indexed.contains(&e.version.to_string()))
        .cloned()
        .collect();
    let (rows, _) = rows_for(store, embedder, &missing)?;
    for r in &rows {
        index.insert_version(r)?;
    }
    for e in entries
        .iter()
        .filter(|e| indexed.contains(&e.version.to_string()))
    {
        index.set_status(name, &e.version.to_string(), e.status);
    }
    index.set_current(name, latest_of(&entries).as_deref());
    Ok(entries)
}

/// `latest` of an agent's stored versions.
fn latest_of(entries: &[StoredEntry]) -> Option<String> {
    versions::latest(entries.iter().map(|e| (&e.version, e.status))).map(Version::to_string)
}

/// Index rows for `entries`; versions stored without vectors (written
/// before vectors were stored, or in another space) are embedded now and
/// their vectors saved. Returns the rows and how many were embedded.
fn rows_for(
    store: &Registry,
    embedder: &dyn Embedder,
    entries: &[StoredEntry],
) -> Result<(Vec<VersionRows>, usize)> {
    let space = embedder.space();
    let mut rows = Vec::with_capacity(entries.len());
    let mut embedded = 0;
    for e in entries {
        let vectors = match &e.vectors {
            Some(v) if v.space == space.name => v.vectors.clone(),
            _ => {
                let v = embed_blocking(embedder, &e.manifest)?;
                store.put_vectors(&e.name, &e.version.to_string(), &v)?;
                embedded += 1;
                v.vectors
            }
        };
        rows.push(VersionRows {
            agent: e.name.clone(),
            version: e.version.to_string(),
            meta: RowMeta::from_manifest(&e.owner, &e.manifest.policy, &e.manifest.budget, e.status),
            vectors,
        });
    }
    Ok((rows, embedded))
}

/// [`Catalog::vectors_for`] for a blocking caller (start-up backfill).
fn embed_blocking(embedder: &dyn Embedder, manifest: &AgentManifest) -> Result<VersionVectors> {
    let space = embedder.space().clone();
    let mut vectors = Vec::new();
    for (i, skill) in manifest.skills.iter().enumerate() {
        if let Some(client) = &skill.vector {
            let values = check_client_vector(&space, client).map_err(|e| client_vector_error(i, &e))?;
            vectors.push(SkillVector {
                skill: skill.id.clone(),
                vector: 0,
                values,
            });
            continue;
        }
        let texts = skill_texts(skill);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (j, values) in embedder.embed_batch(&refs)?.into_iter().enumerate() {
            vectors.push(SkillVector {
                skill: skill.id.clone(),
                vector: j as u16,
                values,
            });
        }
    }
    Ok(VersionVectors {
        space: space.name,
        vectors,
    })
}

/// A rejected client vector as a 422 naming the field.
fn client_vector_error(skill: usize, e: &EmbedError) -> RegistryError {
    let field = match e {
        EmbedError::UnknownSpace { .. } => "space",
        _ => "values",
    };
    RegistryError::invalid(format!("skills[{skill}].vector.{field}"), e.to_string())
}
