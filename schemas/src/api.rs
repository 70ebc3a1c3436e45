//! Request and response bodies of the HTTP API (`/v1`).
//!
//! The server, the CLI client and the generated OpenAPI document all use these
//! types, so a change here is a change of the wire contract.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::AgentManifest;

/// Lifecycle state of one agent version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Routable.
    Active,
    /// Routable only when a caller pins this version.
    Deprecated,
    /// Never routable; still readable.
    Yanked,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Deprecated => "deprecated",
            VersionStatus::Yanked => "yanked",
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Publish and manage agents in the tenant's namespaces.
    Publish,
    /// Route queries and read the registry.
    Route,
    /// Create keys and read everything.
    Admin,
}

/// Answer to `POST /v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PublishResponse {
    pub name: String,
    pub version: String,
    pub status: VersionStatus,
    /// False when the identical version was already published (idempotent retry).
    pub created: bool,
    /// Change-log sequence number of the publish.
    pub seq: u64,
    /// SHA-256 of the manifest's canonical JSON.
    pub content_sha256: String,
}

/// One version in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionSummary {
    pub version: String,
    pub status: VersionStatus,
    /// RFC 3339 time of publication.
    pub published_at: String,
    pub content_sha256: String,
}

/// Answer to `GET /v1/agents/{ns}/{name}/versions/{version|latest}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionRecord {
    pub name: String,
    pub version: String,
    pub status: VersionStatus,
    pub published_at: String,
    pub content_sha256: String,
    pub manifest: AgentManifest,
}

/// Answer to `GET /v1/agents/{ns}/{name}/versions`, oldest first in semver order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionList {
    pub name: String,
    pub versions: Vec<VersionSummary>,
}

/// One agent in `GET /v1/agents`, described by its latest visible version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentSummary {
    pub name: String,
    pub title: String,
    pub description: String,
    /// Highest non-prerelease active version (see the semver rules), if any.
    pub latest: Option<String>,
    /// The version the title, description and tags come from.
    pub described_version: String,
    pub tags: Vec<String>,
    pub version_count: usize,
    pub updated_at: String,
}

/// Answer to `GET /v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentList {
    pub agents: Vec<AgentSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Answer to `GET /v1/agents/{ns}/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentDetail {
    pub name: String,
    pub title: String,
    pub description: String,
    pub latest: Option<String>,
    pub versions: Vec<VersionSummary>,
    pub created_at: String,
    pub updated_at: String,
}

/// Answer to `GET /v1/agents/{ns}/{name}/resolve?range=…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    pub name: String,
    pub range: String,
    pub version: String,
    pub status: VersionStatus,
}

/// Body of `PATCH /v1/agents/{ns}/{name}/versions/{version}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusPatch {
    pub status: VersionStatus,
}

/// Answer to a status change or a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeAck {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VersionStatus>,
    pub seq: u64,
}

/// What a change-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Published,
    StatusChanged,
    /// Tombstone of a deleted version.
    VersionDeleted,
    /// Tombstone of a deleted agent (all its versions).
    AgentDeleted,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// Strictly increasing sequence number.
    pub seq: u64,
    pub at: String,
    pub kind: ChangeKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VersionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

/// Answer to `GET /v1/changes?since=SEQ&limit=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// Pass as `since` to continue after this page.
    pub next_since: u64,
}

/// Body of `POST /v1/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Tenant id: lowercase `[a-z0-9._-]`, 2–64 characters.
    pub tenant: String,
    pub scopes: Vec<Scope>,
}

/// Answer to `POST /v1/keys`. The token is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedKey {
    pub token: String,
    pub key_id: String,
    pub tenant: String,
    pub scopes: Vec<Scope>,
}

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_manifest`, `version_conflict`.
    pub code: String,
    pub message: String,
    /// Path of the offending field, e.g. `skills[2].examples[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field problem found, when there were several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldProblem>,
}

/// One field problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}
