//! The `Store` trait: the boundary between skiff and its storage backends.

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

use crate::error::{Error, Result};
use crate::types::*;

/// A stream of watch batches. It ends only when dropped or after yielding an error
/// (for example [`Error::Compacted`]); the consumer then resumes with a new watch from
/// the last revision it saw.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchBatch>> + Send>>;

/// A key-value store with etcd v3 semantics.
///
/// # Guarantees (every backend; checked by [`crate::testing`])
/// - One store-wide revision; a transaction that writes takes exactly one new
///   revision, and revisions never go backwards, also across restarts.
/// - An `Ok` from a write means it is durable: it survives a crash of the process or
///   the machine.
/// - Watches deliver every change after the start revision exactly once, in revision
///   order, with the previous value of each key.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads a range of keys, at the latest revision or at `req.revision`.
    ///
    /// # Errors
    /// [`Error::Compacted`] / [`Error::FutureRevision`] for a revision out of reach.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;

    /// Runs a transaction atomically.
    ///
    /// # Errors
    /// [`Error::ValueTooLarge`] for an oversize put (nothing is written);
    /// [`Error::Backend`] when the engine fails (nothing is written).
    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    /// Streams every change to keys with this prefix after `after_revision`
    /// (exclusive). `after_revision = current_revision()` sees only future changes.
    ///
    /// # Errors
    /// [`Error::Compacted`] when changes after `after_revision` are no longer kept,
    /// returned here or as the stream's first item.
    async fn watch(&self, prefix: &[u8], after_revision: Revision) -> Result<WatchStream>;

    /// Discards history before `revision`: reads below it and watches from before
    /// `revision - 1` fail with [`Error::Compacted`] afterwards. Compacting to a
    /// revision at or below the last compaction is a no-op.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The revision of the last committed write (0 for a new embedded store; a new
    /// etcd starts at 1).
    async fn current_revision(&self) -> Result<Revision>;

    /// The revision of the last compaction (0 if none).
    async fn compacted_revision(&self) -> Result<Revision>;

    /// The number of keys with this prefix at the latest revision.
    async fn count(&self, prefix: &[u8]) -> Result<u64>;

    // ---- conveniences built on the primitives above --------------------------

    /// Reads one key; also returns the revision the read was served at.
    async fn get(&self, key: &[u8], revision: Option<Revision>) -> Result<(Option<KeyValue>, Revision)> {
        let resp =
            self.range(RangeRequest { start: key.to_vec(), end: RangeEnd::Single, revision, limit: None }).await?;
        Ok((resp.kvs.into_iter().next(), resp.revision))
    }

    /// Creates a key that must not exist.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if it does.
    async fn create(&self, key: &[u8], value: Vec<u8>) -> Result<KeyValue> {
        let resp = self
            .txn(
                Txn::new()
                    .when([Compare::create_revision(key, CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key, value)])
                    .or_else([TxnOp::get(key)]),
            )
            .await?;
        match (resp.succeeded, resp.results.into_iter().next()) {
            (true, Some(TxnOpResult::Put { kv, .. })) => Ok(kv),
            (false, Some(TxnOpResult::Get { kv: Some(kv) })) => {
                Err(Error::AlreadyExists { key: key.to_vec(), mod_revision: kv.mod_revision })
            }
            // The key vanished between the compare and the get: impossible in one
            // transaction, so a backend got it wrong.
            other => Err(Error::backend(format!("unexpected create result {other:?}"))),
        }
    }

    /// Replaces the value of an existing key, optionally only if its `mod_revision`
    /// is `expected`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the key is absent (and no precondition was given),
    /// [`Error::Conflict`] if the precondition fails.
    async fn update(&self, key: &[u8], value: Vec<u8>, expected: Option<Revision>) -> Result<KeyValue> {
        let compare = match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let resp =
            self.txn(Txn::new().when([compare]).and_then([TxnOp::put(key, value)]).or_else([TxnOp::get(key)])).await?;
        match (resp.succeeded, resp.results.into_iter().next()) {
            (true, Some(TxnOpResult::Put { kv, .. })) => Ok(kv),
            (false, Some(TxnOpResult::Get { kv })) => Err(precondition_error(key, expected, kv)),
            other => Err(Error::backend(format!("unexpected update result {other:?}"))),
        }
    }

    /// Deletes an existing key, optionally only if its `mod_revision` is `expected`.
    /// Returns the key's last state, with the deleting revision as `mod_revision`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the key is absent (and no precondition was given),
    /// [`Error::Conflict`] if the precondition fails.
    async fn delete(&self, key: &[u8], expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let compare = match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let resp =
            self.txn(Txn::new().when([compare]).and_then([TxnOp::delete(key)]).or_else([TxnOp::get(key)])).await?;
        match (resp.succeeded, resp.results.into_iter().next()) {
            (true, Some(TxnOpResult::Delete { prev: Some(prev) })) => Ok((prev, resp.revision)),
            (false, Some(TxnOpResult::Get { kv })) => Err(precondition_error(key, expected, kv)),
            other => Err(Error::backend(format!("unexpected delete result {other:?}"))),
        }
    }
}

fn precondition_error(key: &[u8], expected: Option<Revision>, current: Option<KeyValue>) -> Error {
    match expected {
        None => Error::NotFound { key: key.to_vec() },
        Some(expected) => {
            Error::Conflict { key: key.to_vec(), expected, current: current.map_or(0, |kv| kv.mod_revision) }
        }
    }
}

/// Rejects requests every backend must refuse before touching storage.
pub(crate) fn validate_txn(txn: &Txn) -> Result<()> {
    for branch in [&txn.success, &txn.failure] {
        let mut written = std::collections::HashSet::new();
        for op in branch {
            if let TxnOp::Put { key, .. } | TxnOp::Delete { key } = op {
                if !written.insert(key) {
                    return Err(Error::InvalidRequest(format!(
                        "duplicate key {:?} written twice in one transaction",
                        String::from_utf8_lossy(key)
                    )));
                }
            }
        }
    }
    for op in txn.success.iter().chain(&txn.failure) {
        let key = match op {
            TxnOp::Put { key, value } => {
                if value.len() > MAX_VALUE_BYTES {
                    return Err(Error::ValueTooLarge { size: value.len(), limit: MAX_VALUE_BYTES });
                }
                key
            }
            TxnOp::Delete { key } | TxnOp::Get { key } => key,
        };
        if key.is_empty() {
            return Err(Error::InvalidRequest("empty key".into()));
        }
    }
    Ok(())
}
