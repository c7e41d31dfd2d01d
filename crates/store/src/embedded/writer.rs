//! Applying writes. The writer thread takes whatever requests are waiting, applies
//! them in order against the latest state, encodes the group's changes for the WAL,
//! and hands the group to the syncer. It does not wait for the disk: while the syncer
//! writes one group, the writer applies the next. When the store is idle a caller
//! does all of it on its own thread instead ([`try_direct`]).
//!
//! The latest state is the writer's index of writes the data file does not have yet
//! (applied, maybe not yet durable), over a snapshot of the data file.

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use redb::{Database, ReadOnlyTable};
use tokio::sync::{mpsc, oneshot};

use super::apply::{apply_txn, Latest};
use super::layout::REVS;
use super::read::{engine, kv_at};
use super::read_meta;
use super::state::{poisoned_error, CompactRequest, Shared};
use super::syncer::{Committer, PendingGroup, Reply};
use super::wal::codec::encode_revision;
use crate::error::{Error, Result};
use crate::types::*;

/// Most transactions taken into one group; bounds latency and memory.
const MAX_GROUP: usize = 2048;

pub enum Request {
    Txn { txn: Txn, reply: Reply },
    Compact { revision: Revision, reply: oneshot::Sender<Result<()>> },
}

/// The latest state: unflushed writes over a data-file snapshot.
///
/// The snapshot is taken when a group first needs it and kept for the next groups
/// until the data file has moved past it: opening one costs a read transaction and
/// a metadata read, about as much as the lookups of a whole group. It is then dropped
/// after the group that notices: a snapshot held open keeps redb from reusing the
/// pages that later flushes and compactions free, so it must not outlive them by
/// long, or the data file would grow.
struct LatestIndex {
    db: Arc<Database>,
    snapshot: Option<ReadOnlyTable<&'static [u8], &'static [u8]>>,
    /// Each key's newest write that the data file did not have at the last snapshot
    /// (`None`: deleted).
    unflushed: HashMap<Vec<u8>, (Revision, Option<KeyValue>)>,
    /// The data file's revision at the last snapshot.
    snapshot_revision: Revision,
}

impl LatestIndex {
    fn new(db: Arc<Database>) -> LatestIndex {
        LatestIndex { db, snapshot: None, unflushed: HashMap::new(), snapshot_revision: 0 }
    }

    fn snapshot(&mut self) -> Result<&ReadOnlyTable<&'static [u8], &'static [u8]>> {
        if self.snapshot.is_none() {
            let rtx = self.db.begin_read().map_err(engine)?;
            let revision = read_meta(&rtx)?.revision;
            if revision > self.snapshot_revision {
                // The data file has these writes now; forget them here.
                self.unflushed.retain(|_, (rev, _)| *rev > revision);
                self.snapshot_revision = revision;
            }
            self.snapshot = Some(rtx.open_table(REVS).map_err(engine)?);
        }
        Ok(self.snapshot.as_ref().expect("just opened"))
    }

    /// Drops the snapshot if the data file holds revisions it lacks, `flushed`
    /// being the data file's revision (see the type's docs).
    fn release_if_behind(&mut self, flushed: Revision) {
        if flushed > self.snapshot_revision {
            self.snapshot = None;
        }
    }
}

impl Latest for LatestIndex {
    fn get(&mut self, key: &[u8]) -> Result<Option<KeyValue>> {
        match self.unflushed.get(key) {
            Some((_, kv)) => Ok(kv.clone()),
            None => kv_at(self.snapshot()?, key, Revision::MAX),
        }
    }

    fn set(&mut self, key: &[u8], revision: Revision, kv: Option<KeyValue>) {
        self.unflushed.insert(key.to_vec(), (revision, kv));
    }
}

/// The writer's state: the newest applied revision and the latest state. Behind a
/// mutex because two kinds of threads apply transactions: the writer thread (for
/// groups of waiting callers) and, when the store is idle, a caller itself
/// ([`try_direct`]).
pub struct WriterCore {
    /// The newest applied revision (durable or on its way).
    revision: Revision,
    latest: LatestIndex,
    /// Wait for the flusher when this many revisions are not in the data file.
    max_unflushed: i64,
}

impl WriterCore {
    pub fn new(db: Arc<Database>, revision: Revision, max_unflushed: i64) -> Self {
        WriterCore { revision, latest: LatestIndex::new(db), max_unflushed }
    }

    /// Applies a group of transactions in order; the result goes to the WAL next.
    fn apply_group(&mut self, shared: &Shared, group: Vec<(Txn, Reply)>) -> PendingGroup {
        shared.wait_for_room(self.revision, self.max_unflushed);
        let mut failure = shared.lock().poisoned.clone();
        let mut pending =
            PendingGroup { payload: Vec::new(), revision: self.revision, replies: Vec::new(), events: Vec::new() };
        for (txn, reply) in group {
            if let Some(cause) = &failure {
                pending.replies.push((reply, Err(poisoned_error(cause))));
                continue;
            }
            match apply_txn(&mut self.latest, self.revision, txn) {
                Ok(applied) => {
                    if let Some(writes) = applied.writes {
                        encode_revision(&mut pending.payload, &writes);
                        self.revision = writes.revision;
                    }
                    pending.events.extend(applied.events);
                    pending.replies.push((reply, Ok(applied.response)));
                }
                Err(e) => {
                    // The index may hold part of this transaction: write nothing more.
                    let cause = format!("cannot apply a transaction: {e}");
                    shared.poison(cause.clone());
                    pending.replies.push((reply, Err(e)));
                    failure = Some(cause);
                }
            }
        }
        self.latest.release_if_behind(shared.flushed());
        pending.revision = self.revision;
        pending
    }
}

/// Locks the writer's state. A panic while it was held leaves at worst a partly
/// applied transaction in the index, which `apply_txn`'s error path already treats
/// as fatal for the store; the data itself is consistent.
pub fn lock_core(core: &Mutex<WriterCore>) -> MutexGuard<'_, WriterCore> {
    core.lock().unwrap_or_else(|e| e.into_inner())
}

/// The write path of an idle store, on the caller's own thread: apply, write the WAL
/// frame, fdatasync, publish — no hand-off to the writer or syncer threads, whose
/// wake-ups (three per write) cost more than the fdatasync itself on a busy machine.
///
/// Taken only when nothing else is in the pipeline and no other caller is on its
/// way: no other caller inside `Store::txn` and no request waiting for the writer
/// thread (`queue_empty`), the writer's state free, and every applied
/// revision already visible (no group on its way through the syncer). Otherwise the
/// transaction goes back (`Err`) to the queue and joins the next group commit, so
/// concurrent writers still share fdatasyncs.
///
/// Blocks the calling thread for one fdatasync. Only one caller at a time can be
/// here (the writer's state is held until the WAL lock is taken), so at most one
/// runtime worker is blocked this way.
///
/// # Guarantees
/// As for the pipeline: the answer comes after the write is on disk, revisions
/// become visible and their events are published in revision order (the WAL lock is
/// taken before the writer's state is released, so a group the writer thread applies
/// next is committed after this one).
pub fn try_direct(
    core: &Mutex<WriterCore>,
    committer: &Committer,
    shared: &Shared,
    queue_empty: bool,
    txn: Txn,
) -> std::result::Result<Result<TxnResponse>, Txn> {
    if !queue_empty {
        return Err(txn);
    }
    let mut core = match core.try_lock() {
        Ok(core) => core,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return Err(txn),
    };
    if core.revision != shared.visible() {
        return Err(txn);
    }
    let (reply, mut response) = oneshot::channel();
    let pending = core.apply_group(shared, vec![(txn, reply)]);
    let mut wal = committer.lock();
    drop(core);
    committer.commit(&mut wal, vec![pending]);
    drop(wal);
    Ok(response.try_recv().unwrap_or(Err(Error::Closed)))
}

/// The writer thread: applies the groups of callers that found the store busy.
pub struct Writer {
    core: Arc<Mutex<WriterCore>>,
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    syncer: SyncSender<PendingGroup>,
}

impl Writer {
    pub fn new(
        core: Arc<Mutex<WriterCore>>,
        shared: Arc<Shared>,
        requests: mpsc::Receiver<Request>,
        syncer: SyncSender<PendingGroup>,
    ) -> Self {
        Writer { core, shared, requests, syncer }
    }

    /// Runs until every sender is gone.
    pub fn run(mut self) {
        while let Some(first) = self.requests.blocking_recv() {
            let mut group = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Txn { txn, reply } => group.push((txn, reply)),
                    // Ordered after the writes queued before it.
                    Request::Compact { revision, reply } => {
                        self.apply_group(std::mem::take(&mut group));
                        self.compact(revision, reply);
                    }
                }
                if group.len() < MAX_GROUP {
                    next = self.requests.try_recv().ok();
                }
            }
            self.apply_group(group);
        }
    }

    fn compact(&self, revision: Revision, reply: oneshot::Sender<Result<()>>) {
        let applied = lock_core(&self.core).revision;
        if revision > applied {
            let _ = reply.send(Err(Error::FutureRevision { requested: revision, current: applied }));
        } else if let Some(e) = self.shared.poisoned_error() {
            let _ = reply.send(Err(e));
        } else {
            self.shared.request_compaction(CompactRequest { revision, reply });
        }
    }

    fn apply_group(&self, group: Vec<(Txn, Reply)>) {
        if group.is_empty() {
            return;
        }
        let pending = lock_core(&self.core).apply_group(&self.shared, group);
        if let Err(unsent) = self.syncer.send(pending) {
            for (reply, _) in unsent.0.replies {
                let _ = reply.send(Err(Error::Closed));
            }
        }
    }
}
