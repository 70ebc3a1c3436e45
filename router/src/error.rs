//! The router's error type: one structured variant per way a route or a
//! feedback call can fail.

use std::path::PathBuf;

use switchyard_registry::RegistryError;
use switchyard_registry::embedder::EmbedError;
use switchyard_registry::index::IndexError;

/// Everything that can go wrong in the router.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A request field breaks a rule; `field` is its path.
    #[error("{field}: {message}")]
    InvalidRequest { field: String, message: String },
    /// Feedback names an agent version or skill the caller cannot see.
    #[error("{agent}@{version} has no skill {skill}")]
    SkillNotFound {
        agent: String,
        version: String,
        skill: String,
    },
    /// Authentication, scopes, or the store.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Embedding the query failed (client faults are mapped to
    /// [`RouterError::InvalidRequest`] first).
    #[error("embedding: {0}")]
    Embed(#[from] EmbedError),
    #[error("capability index: {0}")]
    Index(#[from] IndexError),
    #[error("cannot create {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// Boxed: redb's error is large and this path is rare.
    #[error("feedback storage failure: {0}")]
    Storage(Box<redb::Error>),
    /// The commit this outcome shared with others failed (its error, as
    /// text: every caller of the commit gets it).
    #[error("feedback storage failure: {0}")]
    SharedCommit(String),
    /// A blocking task panicked or was cancelled.
    #[error("router worker failed: {0}")]
    Worker(String),
}

impl RouterError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RouterError::InvalidRequest {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// redb has one error type per operation; they all convert into `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for RouterError {
            fn from(e: $t) -> Self {
                RouterError::Storage(Box::new(e.into()))
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

pub type Result<T, E = RouterError> = std::result::Result<T, E>;
