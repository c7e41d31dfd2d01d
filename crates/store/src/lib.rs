//! skiff's key-value store: etcd v3 semantics (one global revision, MVCC reads,
//! compare-and-swap transactions, ordered watches, compaction) behind one trait,
//! with an embedded backend on redb and a backend for a real etcd cluster.
//!
//! Everything above this crate — the API server's storage layer, its watch cache,
//! resourceVersions and continue tokens — is built on [`Store`].

mod compactor;
pub mod embedded;
mod error;
pub mod etcd;
mod store;
pub mod testing;
mod types;

pub use compactor::{CompactionPlanner, CompactionPolicy, Compactor};
pub use embedded::RedbStore;
pub use error::{Error, Result};
pub use etcd::EtcdStore;
pub use store::{Store, WatchStream};
pub use types::*;
