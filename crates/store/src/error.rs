//! The one error type of the store. The API server maps each variant to a Kubernetes
//! `Status` (Conflict → 409, Compacted → 410, ...), so variants are distinct cases,
//! never strings to parse.

use crate::types::Revision;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `create` found the key already present.
    #[error("key {} already exists (mod revision {mod_revision})", show(key))]
    AlreadyExists { key: Vec<u8>, mod_revision: Revision },

    /// `update`/`delete` found the key absent.
    #[error("key {} not found", show(key))]
    NotFound { key: Vec<u8> },

    /// A `mod_revision` precondition did not hold. `current` is the key's current
    /// mod revision (0 if it no longer exists).
    #[error("key {} was modified: expected mod revision {expected}, current {current}", show(key))]
    Conflict { key: Vec<u8>, expected: Revision, current: Revision },

    /// A read or watch asked for history that compaction has removed.
    #[error("revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted { requested: Revision, compacted: Revision },

    /// A read asked for a revision the store has not reached.
    #[error("revision {requested} is in the future (current revision {current})")]
    FutureRevision { requested: Revision, current: Revision },

    /// A value over [`crate::MAX_VALUE_BYTES`].
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge { size: usize, limit: usize },

    /// The request itself is malformed (empty key, bad range, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The data on disk is not a valid skiff store: truncated, corrupted, or written
    /// by something else. Never "start empty" on this.
    #[error("the data store at {path} is corrupt or unreadable: {reason}")]
    Corrupt { path: String, reason: String },

    /// The store has been closed or its writer has stopped.
    #[error("the store is closed")]
    Closed,

    /// An error from the underlying engine (I/O, disk full, etcd unavailable, ...).
    /// The write it came from did not happen.
    #[error("storage backend error: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub fn backend(message: impl Into<String>) -> Self {
        Error::Backend { message: message.into(), source: None }
    }

    pub fn backend_from(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Keys are bytes, but in practice printable paths; show them readably.
fn show(key: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(key))
}
