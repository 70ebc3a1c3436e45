//! The registry's error type: one structured variant per way a request can fail.

use switchyard_schemas::api::Scope;

/// Everything that can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("agent {name} not found")]
    AgentNotFound { name: String },
    #[error("version {version} of {name} not found")]
    VersionNotFound { name: String, version: String },
    #[error("{name} has no active version")]
    NoLatestVersion { name: String },
    #[error("no version of {name} matches {range}")]
    NoMatchingVersion { name: String, range: String },
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    #[error(
        "version {version} of {name} is already published with different content; versions are immutable"
    )]
    VersionConflict { name: String, version: String },
    #[error("version {version} of {name} was deleted; a deleted version number cannot be published again")]
    VersionDeleted { name: String, version: String },
    #[error("namespace {namespace} belongs to another tenant")]
    NamespaceOwned { namespace: String },
    #[error("only the tenant that owns {name} may change it")]
    NotOwner { name: String },
    #[error("missing or unknown API key")]
    Unauthenticated,
    #[error("this key lacks the {} scope", scope_name(.scope))]
    MissingScope { scope: Scope },
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// Embedding a manifest's skills failed (client faults are mapped to
    /// [`RegistryError::InvalidInput`] before this).
    #[error("embedding: {0}")]
    Embed(#[from] crate::embedder::EmbedError),
    #[error("capability index: {0}")]
    Index(#[from] crate::index::IndexError),
    /// Boxed: redb's error is large and this path is rare.
    #[error("storage failure: {0}")]
    Storage(Box<redb::Error>),
}

fn scope_name(scope: &Scope) -> &'static str {
    match scope {
        Scope::Publish => "publish",
        Scope::Route => "route",
        Scope::Admin => "admin",
    }
}

impl RegistryError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RegistryError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// redb has one error type per operation; they all convert into `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Storage(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
