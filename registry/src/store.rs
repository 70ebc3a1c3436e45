//! The durable registry: immutable agent versions, their lifecycle, the change
//! log, namespace ownership and API keys, in one embedded redb database.
//!
//! redb is an embedded, pure-Rust, ACID store with copy-on-write B-trees: a
//! write transaction's `commit` returns only once the data is fsynced
//! (`Durability::Immediate`, its default), which is exactly the "acknowledged
//! only once durable" rule, and readers run on MVCC snapshots without blocking
//! the single writer. Every public method is blocking I/O: async callers run
//! them on a blocking thread.
//!
//! Visibility is decided per version: a principal sees a version if it owns it,
//! if it is public, or if its tenant is listed. An agent none of whose versions
//! are visible does not exist for that principal (404, never counted).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_schemas::api::{
    AgentDetail, AgentList, AgentSummary, Change, ChangeAck, ChangeKind, ChangePage, CreateKeyRequest,
    CreatedKey, PublishResponse, Resolution, Scope, VersionList, VersionRecord, VersionStatus,
    VersionSummary,
};
use switchyard_schemas::manifest::{AgentManifest, Visibility, VisibilityScope};
use switchyard_schemas::validate::{validate_agent_name, validate_identifier};

use crate::auth::{self, ADMIN_TENANT, DEV_TENANT, Principal};
use crate::error::{RegistryError, Result};
use crate::index::SkillVector;
use crate::versions;

/// (agent, canonical version) → [`StoredVersion`] JSON.
const VERSIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("versions");
/// agent → [`StoredAgent`] JSON.
const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
/// (agent, version) of deleted versions → content hash; their numbers stay burnt.
const DELETED: TableDefinition<(&str, &str), &str> = TableDefinition::new("deleted_versions");
/// namespace → owning tenant.
const NAMESPACES: TableDefinition<&str, &str> = TableDefinition::new("namespaces");
/// sequence number → [`StoredChange`] JSON.
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// SHA-256 of a token → [`StoredKey`] JSON.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// (agent, canonical version) → its capability vectors ([`VersionVectors`],
/// postcard): immutable like the version, so the index can be rebuilt
/// from the store without running the embedder again.
const VECTORS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("vectors");

/// Default and largest page sizes of listings.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;
pub const DEFAULT_CHANGES: usize = 100;
pub const MAX_CHANGES: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredVersion {
    manifest: AgentManifest,
    status: VersionStatus,
    owner: String,
    published_at_ms: u64,
    content_sha256: String,
    seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAgent {
    owner: String,
    created_at_ms: u64,
    updated_at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredChange {
    change: Change,
    owner: String,
    /// Who may read this entry: the visibility of what it is about.
    audience: Visibility,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    key_id: String,
    tenant: String,
    scopes: Vec<Scope>,
    created_at_ms: u64,
}

/// The capability vectors of one version, tagged with their embedding space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionVectors {
    pub space: String,
    pub vectors: Vec<SkillVector>,
}

/// Everything the capability index and the router need of one stored
/// version, whoever owns it (internal reads: no visibility check).
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub name: String,
    pub version: Version,
    pub status: VersionStatus,
    pub owner: String,
    pub manifest: AgentManifest,
    pub vectors: Option<VersionVectors>,
}

/// Filters and paging of `GET /v1/agents`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    pub namespace: Option<String>,
    pub tag: Option<String>,
    pub status: Option<VersionStatus>,
    pub text: Option<String>,
}

/// Sizes for metrics and readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryStats {
    pub agents: u64,
    pub versions: u64,
    pub keys: u64,
    pub last_seq: u64,
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Multi-tenant: every request needs a key; this hash is the bootstrap admin key.
    Tenants { admin_token_sha256: String },
    /// Single-tenant development: requests without a key act as the `dev` tenant.
    Dev,
}

/// The registry over one redb database file.
#[derive(Debug)]
pub struct Registry {
    db: Database,
    auth: AuthMode,
}

/// One visible version with its parsed semver.
type Loaded = (Version, StoredVersion);

impl Registry {
    /// Opens (or creates) the registry in `data_dir/registry.redb`.
    pub fn open(data_dir: &Path, auth: AuthMode) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            RegistryError::Storage(Box::new(redb::Error::Io(std::io::Error::new(
                e.kind(),
                format!("creating data dir {}: {e}", data_dir.display()),
            ))))
        })?;
        let db = Database::create(data_dir.join("registry.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(VERSIONS)?;
        txn.open_table(AGENTS)?;
        txn.open_table(DELETED)?;
        txn.open_table(NAMESPACES)?;
        txn.open_table(CHANGES)?;
        txn.open_table(KEYS)?;
        txn.open_table(VECTORS)?;
        txn.commit()?;
        Ok(Registry { db, auth })
    }

    /// The principal a request with this bearer token acts as.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Principal> {
        let Some(token) = token else {
            return match self.auth {
                AuthMode::Dev => Ok(Principal::superuser(DEV_TENANT, "dev")),
                AuthMode::Tenants { .. } => Err(RegistryError::Unauthenticated),
            };
        };
        let hash = auth::token_hash(token);
        if let AuthMode::Tenants { admin_token_sha256 } = &self.auth
            && *admin_token_sha256 == hash
        {
            return Ok(Principal::superuser(ADMIN_TENANT, "bootstrap-admin"));
        }
        let txn = self.db.begin_read()?;
        let keys = txn.open_table(KEYS)?;
        let Some(raw) = keys.get(hash.as_str())? else {
            return Err(RegistryError::Unauthenticated);
        };
        let key: StoredKey = decode("key", raw.value())?;
        Ok(Principal {
            tenant: key.tenant,
            scopes: key.scopes.into_iter().collect(),
            key_id: key.key_id,
        })
    }

    /// Creates an API key (admin only). The token is returned once.
    pub fn create_key(&self, principal: &Principal, request: &CreateKeyRequest) -> Result<CreatedKey> {
        principal.require(Scope::Admin)?;
        validate_identifier(&request.tenant).map_err(|m| RegistryError::invalid("tenant", m))?;
        if request.scopes.is_empty() {
            return Err(RegistryError::invalid("scopes", "at least one scope is required"));
        }
        let mut scopes = request.scopes.clone();
        scopes.sort();
        scopes.dedup();
        let token = auth::new_token();
        let stored = StoredKey {
            key_id: auth::new_key_id(),
            tenant: request.tenant.clone(),
            scopes: scopes.clone(),
            created_at_ms: now_ms(),
        };
        let txn = self.db.begin_write()?;
        txn.open_table(KEYS)?
            .insert(auth::token_hash(&token).as_str(), encode(&stored).as_slice())?;
        txn.commit()?;
        tracing::info!(key_id = %stored.key_id, tenant = %stored.tenant, by = %principal.key_id, "api key created");
        Ok(CreatedKey {
            token,
            key_id: stored.key_id,
            tenant: stored.tenant,
            scopes,
        })
    }

    /// Publishes one version with its capability vectors, in one durable
    /// commit. Identical content is an idempotent success (the stored
    /// vectors are kept); different content under an existing version is a
    /// conflict. The manifest must already have passed validation.
    pub fn publish(
        &self,
        principal: &Principal,
        manifest: AgentManifest,
        vectors: &VersionVectors,
    ) -> Result<PublishResponse> {
        principal.require(Scope::Publish)?;
        let txn = self.db.begin_write()?;
        let response = publish_in(&txn, principal, manifest, vectors)?;
        txn.commit()?;
        if response.created {
            tracing::info!(agent = %response.name, version = %response.version, seq = response.seq, tenant = %principal.tenant, "version published");
        }
        Ok(response)
    }

    /// Publishes many versions in one durable commit: all or nothing. Each
    /// item follows [`Registry::publish`]'s rules (an identical republish is
    /// an idempotent success, also within the batch); the first rejected
    /// item's error is returned and nothing is written. One commit for the
    /// whole batch is what makes bulk imports fast: a commit's fsyncs cost
    /// milliseconds (~6 ms per fsync on the dev box), far more than the
    /// writes of one version.
    pub fn publish_batch(
        &self,
        principal: &Principal,
        items: Vec<(AgentManifest, VersionVectors)>,
    ) -> Result<Vec<PublishResponse>> {
        principal.require(Scope::Publish)?;
        let txn = self.db.begin_write()?;
        let responses = items
            .into_iter()
            .map(|(manifest, vectors)| publish_in(&txn, principal, manifest, &vectors))
            .collect::<Result<Vec<_>>>()?;
        txn.commit()?;
        tracing::info!(
            versions = responses.len(),
            created = responses.iter().filter(|r| r.created).count(),
            last_seq = responses.iter().map(|r| r.seq).max(),
            tenant = %principal.tenant,
            "versions published in one batch"
        );
        Ok(responses)
    }

    /// One agent: its versions visible to `principal`, in semver order.
    pub fn agent(&self, principal: &Principal, name: &str) -> Result<AgentDetail> {
        let txn = self.db.begin_read()?;
        let loaded = visible_versions(&txn.open_table(VERSIONS)?, principal, name)?;
        let agent = load_agent(&txn.open_table(AGENTS)?, name)?;
        let (_, described) = describing_version(&loaded);
        Ok(AgentDetail {
            name: name.to_string(),
            title: described.manifest.title.clone(),
            description: described.manifest.description.clone(),
            latest: latest_of(&loaded).map(|(v, _)| v.to_string()),
            versions: loaded.iter().map(summary).collect(),
            created_at: rfc3339(agent.created_at_ms),
            updated_at: rfc3339(agent.updated_at_ms),
        })
    }

    /// The versions of an agent visible to `principal`, oldest first.
    pub fn versions(&self, principal: &Principal, name: &str) -> Result<VersionList> {
        let txn = self.db.begin_read()?;
        let loaded = visible_versions(&txn.open_table(VERSIONS)?, principal, name)?;
        Ok(VersionList {
            name: name.to_string(),
            versions: loaded.iter().map(summary).collect(),
        })
    }

    /// One version, or `latest`.
    pub fn version(&self, principal: &Principal, name: &str, version: &str) -> Result<VersionRecord> {
        let txn = self.db.begin_read()?;
        let loaded = visible_versions(&txn.open_table(VERSIONS)?, principal, name)?;
        let (v, stored) = if version == "latest" {
            latest_of(&loaded).ok_or_else(|| RegistryError::NoLatestVersion {
                name: name.to_string(),
            })?
        } else {
            find_version(&loaded, name, version)?
        };
        Ok(record(name, v, stored))
    }

    /// The highest non-yanked visible version matching `range`.
    pub fn resolve(&self, principal: &Principal, name: &str, range: &str) -> Result<Resolution> {
        let req = versions::parse_range(range)
            .map_err(|e| RegistryError::invalid("range", format!("not a semver range: {e}")))?;
        let txn = self.db.begin_read()?;
        let loaded = visible_versions(&txn.open_table(VERSIONS)?, principal, name)?;
        let no_match = || RegistryError::NoMatchingVersion {
            name: name.to_string(),
            range: range.to_string(),
        };
        let best = versions::resolve(&req, loaded.iter().map(|(v, s)| (v, s.status))).ok_or_else(no_match)?;
        let (v, stored) = loaded.iter().find(|(v, _)| v == best).ok_or_else(no_match)?;
        Ok(Resolution {
            name: name.to_string(),
            range: range.to_string(),
            version: v.to_string(),
            status: stored.status,
        })
    }

    /// Lists agents visible to `principal`, by name, a page at a time.
    pub fn list(&self, principal: &Principal, query: &ListQuery) -> Result<AgentList> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(RegistryError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let text = query.text.as_deref().map(str::to_lowercase);
        let txn = self.db.begin_read()?;
        let agents = txn.open_table(AGENTS)?;
        let versions = txn.open_table(VERSIONS)?;
        let start = after.clone().unwrap_or_default();
        let mut page = Vec::new();
        let mut has_more = false;
        for entry in agents.range(start.as_str()..)? {
            let (key, raw) = entry?;
            let name = key.value();
            if after.as_deref() == Some(name) {
                continue;
            }
            if let Some(ns) = &query.namespace
                && name.split('/').next() != Some(ns.as_str())
            {
                continue;
            }
            let loaded = match visible_versions(&versions, principal, name) {
                Ok(loaded) => loaded,
                Err(RegistryError::AgentNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if let Some(status) = query.status
                && !loaded.iter().any(|(_, s)| s.status == status)
            {
                continue;
            }
            let (described_version, described) = describing_version(&loaded);
            let manifest = &described.manifest;
            let mut tags: Vec<String> = manifest
                .skills
                .iter()
                .flat_map(|s| s.tags.iter().cloned())
                .collect();
            tags.sort();
            tags.dedup();
            if let Some(tag) = &query.tag
                && !tags.contains(tag)
            {
                continue;
            }
            if let Some(text) = &text {
                let found = [name, &manifest.title, &manifest.description]
                    .into_iter()
                    .chain(manifest.skills.iter().map(|s| s.name.as_str()))
                    .any(|field| field.to_lowercase().contains(text.as_str()));
                if !found {
                    continue;
                }
            }
            if page.len() == limit {
                has_more = true;
                break;
            }
            let agent: StoredAgent = decode("agent", raw.value())?;
            page.push(AgentSummary {
                name: name.to_string(),
                title: manifest.title.clone(),
                description: manifest.description.clone(),
                latest: latest_of(&loaded).map(|(v, _)| v.to_string()),
                described_version: described_version.to_string(),
                tags,
                version_count: loaded.len(),
                updated_at: rfc3339(agent.updated_at_ms),
            });
        }
        let next_cursor = if has_more {
            page.last().map(|last| encode_cursor(&last.name))
        } else {
            None
        };
        Ok(AgentList {
            agents: page,
            next_cursor,
        })
    }

    /// Changes the lifecycle status of a version (owner only).
    pub fn set_status(
        &self,
        principal: &Principal,
        name: &str,
        version: &str,
        status: VersionStatus,
    ) -> Result<ChangeAck> {
        principal.require(Scope::Publish)?;
        let txn = self.db.begin_write()?;
        let (canonical, stored) = {
            let loaded = visible_versions(&txn.open_table(VERSIONS)?, principal, name)?;
            let (v, stored) = find_version(&loaded, name, version)?;
            ensure_owner(principal, name, stored)?;
            (v.to_string(), stored.clone())
        };
        if stored.status == status {
            return Ok(ChangeAck {
                name: name.to_string(),
                version: Some(canonical),
                status: Some(status),
                seq: last_seq(&txn.open_table(CHANGES)?)?,
            });
        }
        let at = now_ms();
        let seq = append_change(
            &txn,
            at,
            ChangeEntry {
                kind: ChangeKind::StatusChanged,
                name,
                version: Some(&canonical),
                status: Some(status),
                content_sha256: None,
                owner: &stored.owner,
                audience: stored.manifest.policy.visibility.clone(),
            },
        )?;
        let updated = StoredVersion { status, ..stored };
        txn.open_table(VERSIONS)?
            .insert((name, canonical.as_str()), encode(&updated).as_slice())?;
        touch_agent(&txn, name, at)?;
        txn.commit()?;
        tracing::info!(agent = %name, version = %canonical, status = status.as_str(), seq, "status changed");
        Ok(ChangeAck {
            name: name.to_string(),
            version: Some(canonical),
            status: Some(status),
            seq,
        })
    }

    /// Deletes one version (owner only), leaving a tombstone in the change log.
    pub fn delete_version(&self, principal: &Principal, name: &str, version: &str) -> Result<ChangeAck> {
        principal.require(Scope::Publish)?;
        let txn = self.db.begin_write()?;
        let (canonical, stored, remaining) = {
            let table = txn.open_table(VERSIONS)?;
            let loaded = visible_versions(&table, principal, name)?;
            let (v, stored) = find_version(&loaded, name, version)?;
            ensure_owner(principal, name, stored)?;
            (
                v.to_string(),
                stored.clone(),
                all_versions(&table, name)?.len() - 1,
            )
        };
        let at = now_ms();
        let seq = append_change(
            &txn,
            at,
            ChangeEntry {
                kind: ChangeKind::VersionDeleted,
                name,
                version: Some(&canonical),
                status: None,
                content_sha256: Some(&stored.content_sha256),
                owner: &stored.owner,
                audience: stored.manifest.policy.visibility.clone(),
            },
        )?;
        txn.open_table(VERSIONS)?.remove((name, canonical.as_str()))?;
        txn.open_table(VECTORS)?.remove((name, canonical.as_str()))?;
        txn.open_table(DELETED)?
            .insert((name, canonical.as_str()), stored.content_sha256.as_str())?;
        if remaining == 0 {
            txn.open_table(AGENTS)?.remove(name)?;
        } else {
            touch_agent(&txn, name, at)?;
        }
        txn.commit()?;
        tracing::info!(agent = %name, version = %canonical, seq, "version deleted");
        Ok(ChangeAck {
            name: name.to_string(),
            version: Some(canonical),
            status: None,
            seq,
        })
    }

    /// Deletes an agent and all its versions (owner only).
    pub fn delete_agent(&self, principal: &Principal, name: &str) -> Result<ChangeAck> {
        principal.require(Scope::Publish)?;
        let txn = self.db.begin_write()?;
        let all = {
            let table = txn.open_table(VERSIONS)?;
            visible_versions(&table, principal, name)?;
            all_versions(&table, name)?
        };
        let agent = load_agent(&txn.open_table(AGENTS)?, name)?;
        if agent.owner != principal.tenant && !principal.is_admin() {
            return Err(RegistryError::NotOwner {
                name: name.to_string(),
            });
        }
        let audience = all
            .iter()
            .map(|(_, s)| s.manifest.policy.visibility.clone())
            .reduce(widest)
            .unwrap_or(Visibility::PRIVATE);
        let at = now_ms();
        let seq = append_change(
            &txn,
            at,
            ChangeEntry {
                kind: ChangeKind::AgentDeleted,
                name,
                version: None,
                status: None,
                content_sha256: None,
                owner: &agent.owner,
                audience,
            },
        )?;
        {
            let mut versions = txn.open_table(VERSIONS)?;
            let mut deleted = txn.open_table(DELETED)?;
            let mut vectors = txn.open_table(VECTORS)?;
            for (v, stored) in &all {
                let canonical = v.to_string();
                versions.remove((name, canonical.as_str()))?;
                vectors.remove((name, canonical.as_str()))?;
                deleted.insert((name, canonical.as_str()), stored.content_sha256.as_str())?;
            }
        }
        txn.open_table(AGENTS)?.remove(name)?;
        txn.commit()?;
        tracing::info!(agent = %name, seq, versions = all.len(), "agent deleted");
        Ok(ChangeAck {
            name: name.to_string(),
            version: None,
            status: None,
            seq,
        })
    }

    /// Change-log entries after `since` that `principal` may see, in order.
    pub fn changes(&self, principal: &Principal, since: u64, limit: Option<usize>) -> Result<ChangePage> {
        let limit = limit.unwrap_or(DEFAULT_CHANGES);
        if !(1..=MAX_CHANGES).contains(&limit) {
            return Err(RegistryError::invalid(
                "limit",
                format!("must be between 1 and {MAX_CHANGES}"),
            ));
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CHANGES)?;
        let mut changes = Vec::new();
        // Followers resume after the last entry scanned, even one hidden from
        // them, so a run of invisible entries still moves them forward.
        let mut next_since = since;
        for entry in table.range(since.saturating_add(1)..)? {
            if changes.len() == limit {
                break;
            }
            let (seq, raw) = entry?;
            next_since = seq.value();
            let stored: StoredChange = decode("change", raw.value())?;
            if principal.can_see(&stored.owner, &stored.audience) {
                changes.push(stored.change);
            }
        }
        Ok(ChangePage { changes, next_since })
    }

    /// Stores the vectors of an existing version (a backfill for versions
    /// stored before vectors were, or in another embedding space).
    pub fn put_vectors(&self, name: &str, version: &str, vectors: &VersionVectors) -> Result<()> {
        let txn = self.db.begin_write()?;
        if txn.open_table(VERSIONS)?.get((name, version))?.is_none() {
            return Err(RegistryError::VersionNotFound {
                name: name.to_owned(),
                version: version.to_owned(),
            });
        }
        txn.open_table(VECTORS)?
            .insert((name, version), encode_vectors(vectors).as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Every stored version of every agent with its vectors, agents in name
    /// order and versions in semver order: the input of an index rebuild.
    pub fn all_entries(&self) -> Result<Vec<StoredEntry>> {
        let txn = self.db.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let vectors = txn.open_table(VECTORS)?;
        let mut out = Vec::new();
        for agent in txn.open_table(AGENTS)?.iter()? {
            let (name, _) = agent?;
            for loaded in all_versions(&versions, name.value())? {
                out.push(entry(name.value(), loaded, &vectors)?);
            }
        }
        Ok(out)
    }

    /// The stored vectors of one version (internal: no visibility check).
    pub fn version_vectors(&self, name: &str, version: &str) -> Result<Option<VersionVectors>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(VECTORS)?;
        let Some(raw) = table.get((name, version))? else {
            return Ok(None);
        };
        postcard::from_bytes(raw.value())
            .map(Some)
            .map_err(|e| RegistryError::Corrupt {
                what: "vectors",
                detail: format!("{name}@{version}: {e}"),
            })
    }

    /// Every stored version of `name` with its vectors, in semver order
    /// (empty when the agent does not exist).
    pub fn agent_entries(&self, name: &str) -> Result<Vec<StoredEntry>> {
        let txn = self.db.begin_read()?;
        let vectors = txn.open_table(VECTORS)?;
        all_versions(&txn.open_table(VERSIONS)?, name)?
            .into_iter()
            .map(|loaded| entry(name, loaded, &vectors))
            .collect()
    }

    /// Names of the agents touched by change-log entries after `since`, and
    /// the last sequence number (internal: no visibility check).
    pub fn agents_changed_since(&self, since: u64) -> Result<(Vec<String>, u64)> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CHANGES)?;
        let mut names = std::collections::BTreeSet::new();
        let mut last = since;
        for entry in table.range(since.saturating_add(1)..)? {
            let (seq, raw) = entry?;
            last = seq.value();
            let stored: StoredChange = decode("change", raw.value())?;
            names.insert(stored.change.name);
        }
        Ok((names.into_iter().collect(), last))
    }

    /// Sizes of the registry.
    pub fn stats(&self) -> Result<RegistryStats> {
        let txn = self.db.begin_read()?;
        Ok(RegistryStats {
            agents: txn.open_table(AGENTS)?.len()?,
            versions: txn.open_table(VERSIONS)?.len()?,
            keys: txn.open_table(KEYS)?.len()?,
            last_seq: last_seq(&txn.open_table(CHANGES)?)?,
        })
    }
}

type VersionsTable = (&'static str, &'static str);

/// The body of a publish inside `txn` (the caller commits): checks the
/// namespace, the version's immutability and deleted numbers, then writes
/// the version, its vectors, the agent record and the change-log entry.
fn publish_in(
    txn: &redb::WriteTransaction,
    principal: &Principal,
    manifest: AgentManifest,
    vectors: &VersionVectors,
) -> Result<PublishResponse> {
    validate_agent_name(&manifest.name).map_err(|m| RegistryError::invalid("name", m))?;
    let version = Version::parse(&manifest.version)
        .map_err(|e| RegistryError::invalid("version", format!("not a semver version: {e}")))?;
    let canonical = version.to_string();
    let name = manifest.name.clone();
    let namespace = name.split('/').next().unwrap_or_default().to_string();
    let content_sha256 = content_hash(&manifest);

    let owner = {
        let mut namespaces = txn.open_table(NAMESPACES)?;
        let owner = match namespaces.get(namespace.as_str())? {
            Some(owner) => owner.value().to_string(),
            None => principal.tenant.clone(),
        };
        if owner != principal.tenant && !principal.is_admin() {
            return Err(RegistryError::NamespaceOwned { namespace });
        }
        namespaces.insert(namespace.as_str(), owner.as_str())?;
        owner
    };
    {
        let versions = txn.open_table(VERSIONS)?;
        if let Some(existing) = versions.get((name.as_str(), canonical.as_str()))? {
            let existing: StoredVersion = decode("version", existing.value())?;
            if existing.content_sha256 != content_sha256 {
                return Err(RegistryError::VersionConflict {
                    name,
                    version: canonical,
                });
            }
            return Ok(PublishResponse {
                name,
                version: canonical,
                status: existing.status,
                created: false,
                seq: existing.seq,
                content_sha256,
            });
        }
        // Versions differing only in build metadata have equal precedence;
        // allowing both would make "the highest matching version" ambiguous.
        if let Some((other, _)) = all_versions(&versions, &name)?
            .into_iter()
            .find(|(other, _)| other.cmp_precedence(&version).is_eq())
        {
            return Err(RegistryError::VersionConflict {
                name,
                version: other.to_string(),
            });
        }
    }
    if txn
        .open_table(DELETED)?
        .get((name.as_str(), canonical.as_str()))?
        .is_some()
    {
        return Err(RegistryError::VersionDeleted {
            name,
            version: canonical,
        });
    }

    let at = now_ms();
    let audience = manifest.policy.visibility.clone();
    let seq = append_change(
        txn,
        at,
        ChangeEntry {
            kind: ChangeKind::Published,
            name: &name,
            version: Some(&canonical),
            status: Some(VersionStatus::Active),
            content_sha256: Some(&content_sha256),
            owner: &owner,
            audience,
        },
    )?;
    let stored = StoredVersion {
        manifest,
        status: VersionStatus::Active,
        owner: owner.clone(),
        published_at_ms: at,
        content_sha256: content_sha256.clone(),
        seq,
    };
    txn.open_table(VERSIONS)?
        .insert((name.as_str(), canonical.as_str()), encode(&stored).as_slice())?;
    txn.open_table(VECTORS)?.insert(
        (name.as_str(), canonical.as_str()),
        encode_vectors(vectors).as_slice(),
    )?;
    {
        let mut agents = txn.open_table(AGENTS)?;
        let agent = match agents.get(name.as_str())? {
            Some(raw) => StoredAgent {
                updated_at_ms: at,
                ..decode("agent", raw.value())?
            },
            None => StoredAgent {
                owner,
                created_at_ms: at,
                updated_at_ms: at,
            },
        };
        agents.insert(name.as_str(), encode(&agent).as_slice())?;
    }
    Ok(PublishResponse {
        name,
        version: canonical,
        status: VersionStatus::Active,
        created: true,
        seq,
        content_sha256,
    })
}

/// Every version of `name`, in semver order.
fn all_versions(table: &impl ReadableTable<VersionsTable, &'static [u8]>, name: &str) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for entry in table.range((name, "")..)? {
        let (key, value) = entry?;
        let (agent, version) = key.value();
        if agent != name {
            break;
        }
        let parsed = Version::parse(version).map_err(|e| RegistryError::Corrupt {
            what: "version key",
            detail: format!("{name}@{version}: {e}"),
        })?;
        out.push((parsed, decode("version", value.value())?));
    }
    versions::sort_semver(&mut out, |(v, _)| v);
    Ok(out)
}

/// The versions of `name` that `principal` may see; none means "not found".
fn visible_versions(
    table: &impl ReadableTable<VersionsTable, &'static [u8]>,
    principal: &Principal,
    name: &str,
) -> Result<Vec<Loaded>> {
    let visible: Vec<Loaded> = all_versions(table, name)?
        .into_iter()
        .filter(|(_, s)| principal.can_see(&s.owner, &s.manifest.policy.visibility))
        .collect();
    if visible.is_empty() {
        return Err(RegistryError::AgentNotFound {
            name: name.to_string(),
        });
    }
    Ok(visible)
}

fn find_version<'a>(loaded: &'a [Loaded], name: &str, version: &str) -> Result<&'a Loaded> {
    let wanted = Version::parse(version)
        .map_err(|e| RegistryError::invalid("version", format!("not a semver version: {e}")))?;
    loaded
        .iter()
        .find(|(v, _)| *v == wanted)
        .ok_or_else(|| RegistryError::VersionNotFound {
            name: name.to_string(),
            version: version.to_string(),
        })
}

fn latest_of(loaded: &[Loaded]) -> Option<&Loaded> {
    let best = versions::latest(loaded.iter().map(|(v, s)| (v, s.status)))?;
    loaded.iter().find(|(v, _)| v == best)
}

/// The version whose title and description describe the agent: `latest`, or
/// failing that the highest visible version.
fn describing_version(loaded: &[Loaded]) -> &Loaded {
    latest_of(loaded).unwrap_or_else(|| loaded.last().expect("visible versions are never empty"))
}

fn ensure_owner(principal: &Principal, name: &str, stored: &StoredVersion) -> Result<()> {
    if stored.owner == principal.tenant || principal.is_admin() {
        Ok(())
    } else {
        Err(RegistryError::NotOwner {
            name: name.to_string(),
        })
    }
}

fn load_agent(table: &impl ReadableTable<&'static str, &'static [u8]>, name: &str) -> Result<StoredAgent> {
    match table.get(name)? {
        Some(raw) => decode("agent", raw.value()),
        None => Err(RegistryError::AgentNotFound {
            name: name.to_string(),
        }),
    }
}

fn touch_agent(txn: &redb::WriteTransaction, name: &str, at: u64) -> Result<()> {
    let mut agents = txn.open_table(AGENTS)?;
    let agent = StoredAgent {
        updated_at_ms: at,
        ..load_agent(&agents, name)?
    };
    agents.insert(name, encode(&agent).as_slice())?;
    Ok(())
}

fn last_seq(table: &impl ReadableTable<u64, &'static [u8]>) -> Result<u64> {
    Ok(table.last()?.map(|(k, _)| k.value()).unwrap_or(0))
}

/// What one change-log entry is about.
struct ChangeEntry<'a> {
    kind: ChangeKind,
    name: &'a str,
    version: Option<&'a str>,
    status: Option<VersionStatus>,
    content_sha256: Option<&'a str>,
    owner: &'a str,
    audience: Visibility,
}

/// Appends an entry with the next sequence number and returns that number.
fn append_change(txn: &redb::WriteTransaction, at: u64, entry: ChangeEntry<'_>) -> Result<u64> {
    let mut table = txn.open_table(CHANGES)?;
    let seq = last_seq(&table)? + 1;
    let stored = StoredChange {
        change: Change {
            seq,
            at: rfc3339(at),
            kind: entry.kind,
            name: entry.name.to_string(),
            version: entry.version.map(str::to_string),
            status: entry.status,
            content_sha256: entry.content_sha256.map(str::to_string),
        },
        owner: entry.owner.to_string(),
        audience: entry.audience,
    };
    table.insert(seq, encode(&stored).as_slice())?;
    Ok(seq)
}

/// The wider of two audiences: anyone who could see either entry sees both.
fn widest(a: Visibility, b: Visibility) -> Visibility {
    match (a, b) {
        (Visibility::Scope(VisibilityScope::Public), _) | (_, Visibility::Scope(VisibilityScope::Public)) => {
            Visibility::PUBLIC
        }
        (Visibility::Tenants(mut x), Visibility::Tenants(y)) => {
            x.extend(y);
            x.sort();
            x.dedup();
            Visibility::Tenants(x)
        }
        (Visibility::Tenants(x), _) | (_, Visibility::Tenants(x)) => Visibility::Tenants(x),
        _ => Visibility::PRIVATE,
    }
}

fn summary((v, s): &Loaded) -> VersionSummary {
    VersionSummary {
        version: v.to_string(),
        status: s.status,
        published_at: rfc3339(s.published_at_ms),
        content_sha256: s.content_sha256.clone(),
    }
}

fn record(name: &str, v: &Version, s: &StoredVersion) -> VersionRecord {
    VersionRecord {
        name: name.to_string(),
        version: v.to_string(),
        status: s.status,
        published_at: rfc3339(s.published_at_ms),
        content_sha256: s.content_sha256.clone(),
        manifest: s.manifest.clone(),
    }
}

/// SHA-256 of the manifest's canonical JSON (struct field order, sorted maps).
fn content_hash(manifest: &AgentManifest) -> String {
    hex::encode(Sha256::digest(encode(manifest)))
}

fn entry(
    name: &str,
    (version, stored): Loaded,
    vectors: &impl ReadableTable<VersionsTable, &'static [u8]>,
) -> Result<StoredEntry> {
    let canonical = version.to_string();
    let vectors = match vectors.get((name, canonical.as_str()))? {
        Some(raw) => Some(
            postcard::from_bytes(raw.value()).map_err(|e| RegistryError::Corrupt {
                what: "vectors",
                detail: format!("{name}@{canonical}: {e}"),
            })?,
        ),
        None => None,
    };
    Ok(StoredEntry {
        name: name.to_owned(),
        version,
        status: stored.status,
        owner: stored.owner,
        manifest: stored.manifest,
        vectors,
    })
}

fn encode_vectors(vectors: &VersionVectors) -> Vec<u8> {
    postcard::to_stdvec(vectors).expect("vectors always serialise")
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("registry records always serialise")
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, raw: &[u8]) -> Result<T> {
    serde_json::from_slice(raw).map_err(|e| RegistryError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn encode_cursor(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

fn decode_cursor(cursor: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| RegistryError::invalid("cursor", "not a cursor returned by this API"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
