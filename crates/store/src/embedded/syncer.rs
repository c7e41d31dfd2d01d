//! The syncer thread: makes the writer's groups durable, then visible. It takes every
//! group waiting, writes them as one WAL frame and fdatasyncs once, then — in order —
//! raises the visible revision, answers the callers and publishes the events
//! ([`Committer`], which a caller writing directly to an idle store uses as well).
//!
//! # Guarantees
//! - A caller is answered `Ok` only after its group, and every group before it, is
//!   on disk. A read-only transaction waits the same way, since it may have read a
//!   write that was not yet durable.
//! - Readers and watchers see a revision only after it is on disk: the visible
//!   revision is raised after the fdatasync, before anyone is answered.
//! - After a WAL failure nothing more is written: every later group fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, oneshot};

use super::state::{poisoned_error, Committed, Shared};
use super::wal::WalWriter;
use crate::error::{Error, Result};
use crate::types::*;

/// A frame carries at most about this much; more groups wait for the next one.
const MAX_FRAME_BYTES: usize = 8 << 20;

pub type Reply = oneshot::Sender<Result<TxnResponse>>;

/// A group the writer has applied, on its way to disk.
pub struct PendingGroup {
    /// The WAL payload of the group's revisions; empty if it wrote nothing.
    pub payload: Vec<u8>,
    /// The store revision after the group.
    pub revision: Revision,
    /// Each transaction's caller and outcome, in order.
    pub replies: Vec<(Reply, Result<TxnResponse>)>,
    pub events: Vec<Event>,
}

impl PendingGroup {
    fn fail(self, error: impl Fn() -> Error) {
        for (reply, _) in self.replies {
            let _ = reply.send(Err(error()));
        }
    }
}

/// When the committer wakes the flusher before its interval.
pub struct FlushAfter {
    /// Once this many revisions are waiting...
    pub revisions: i64,
    /// ...or this many WAL bytes were written since the last time it asked.
    pub bytes: usize,
}

/// Makes applied groups durable and then visible: the WAL and what follows a
/// write to it. Used by the syncer thread and by callers writing directly on an idle
/// store (`writer::try_direct`); the WAL lock orders them.
pub struct Committer {
    wal: Mutex<WalWriter>,
    pub shared: Arc<Shared>,
    pub published: broadcast::Sender<Arc<Committed>>,
    flush_after: FlushAfter,
    /// WAL bytes written since the flusher was last asked to flush for them.
    wal_bytes: AtomicUsize,
}

impl Committer {
    pub fn new(
        wal: WalWriter,
        shared: Arc<Shared>,
        published: broadcast::Sender<Arc<Committed>>,
        flush_after: FlushAfter,
    ) -> Self {
        Committer { wal: Mutex::new(wal), shared, published, flush_after, wal_bytes: AtomicUsize::new(0) }
    }

    /// The WAL. Whoever holds it commits next.
    pub fn lock(&self) -> MutexGuard<'_, WalWriter> {
        // A panic while writing leaves at worst a frame that is not acknowledged,
        // which recovery drops as a torn tail.
        self.wal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the groups as one WAL frame and fdatasyncs once, then — in order —
    /// raises the visible revision, answers the callers and publishes the events.
    /// The caller holds the WAL lock (`wal`), so commits happen in revision order.
    pub fn commit(&self, wal: &mut WalWriter, batch: Vec<PendingGroup>) {
        if let Some(cause) = self.shared.lock().poisoned.clone() {
            batch.into_iter().for_each(|g| g.fail(|| poisoned_error(&cause)));
            return;
        }
        let revision = batch.last().expect("a batch is never empty").revision;
        let bytes: usize = batch.iter().map(|g| g.payload.len()).sum();
        if bytes > 0 {
            if let Err(e) = wal.append(batch.iter().map(|g| g.payload.as_slice()), revision) {
                let cause = format!("cannot write the WAL: {e}");
                self.shared.poison(cause.clone());
                batch.into_iter().for_each(|g| g.fail(|| Error::backend(format!("embedded store: {cause}"))));
                return;
            }
        }

        let mut replies = Vec::new();
        let mut committed = Vec::new();
        for group in batch {
            replies.extend(group.replies);
            if !group.events.is_empty() {
                committed.push(Arc::new(Committed { events: group.events, revision: group.revision }));
            }
        }
        let unflushed = self.shared.publish(committed.iter().cloned(), revision);
        // The callers hold the WAL lock, so the counter has one writer at a time.
        let wal_bytes = self.wal_bytes.load(Ordering::Relaxed) + bytes;
        if wal_bytes >= self.flush_after.bytes {
            self.wal_bytes.store(0, Ordering::Relaxed);
            self.shared.request_flush();
        } else {
            self.wal_bytes.store(wal_bytes, Ordering::Relaxed);
            if unflushed >= self.flush_after.revisions {
                self.shared.flush_wanted.notify_all();
            }
        }
        for (reply, result) in replies {
            let _ = reply.send(result);
        }
        for group in committed {
            let _ = self.published.send(group);
        }

        // Housekeeping after the callers are answered, off their latency.
        match wal.rotate_if_full() {
            Ok(true) => self.shared.request_flush(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot start a new WAL segment; appending to the current one"),
        }
    }
}

/// The syncer thread: commits the groups the writer thread applied.
pub struct Syncer {
    pub committer: Arc<Committer>,
    pub groups: Receiver<PendingGroup>,
}

impl Syncer {
    /// Runs until the writer is gone and every group it sent is handled.
    pub fn run(self) {
        while let Ok(first) = self.groups.recv() {
            let mut bytes = first.payload.len();
            let mut batch = vec![first];
            while bytes < MAX_FRAME_BYTES {
                let Ok(next) = self.groups.try_recv() else { break };
                bytes += next.payload.len();
                batch.push(next);
            }
            let mut wal = self.committer.lock();
            self.committer.commit(&mut wal, batch);
        }
    }
}
