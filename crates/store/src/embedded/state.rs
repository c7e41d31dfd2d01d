//! What the writer, the syncer, the flusher and the readers share: which revisions
//! are visible, which are flushed to the data file, the visible groups not yet
//! flushed (readers overlay them on a redb snapshot), and whether the store failed.
//!
//! # Invariants
//! - `flushed <= visible`, and the data file holds exactly the revisions up to
//!   `flushed` (the flusher updates `flushed` only after its durable commit).
//! - `recent` holds the groups with revisions in `(flushed, visible]`, in order; a
//!   group leaves `recent` in the same critical section that raises `flushed`.
//! - Every revision up to `visible` is durable (in the WAL or the data file).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::types::*;

/// The events of one group of transactions, made visible together.
#[derive(Debug)]
pub struct Committed {
    pub events: Vec<Event>,
    /// The store revision after the group.
    pub revision: Revision,
}

pub struct CompactRequest {
    pub revision: Revision,
    pub reply: oneshot::Sender<Result<()>>,
}

pub struct State {
    pub flushed: Revision,
    pub visible: Revision,
    pub recent: VecDeque<Arc<Committed>>,
    /// Why the store stopped accepting writes, once it has.
    pub poisoned: Option<String>,
    pub compactions: VecDeque<CompactRequest>,
    /// The syncer has stopped: the flusher flushes what is left and exits.
    pub closing: bool,
    /// Flush now rather than at the next interval.
    pub flush_requested: bool,
}

pub struct Shared {
    state: Mutex<State>,
    /// Wakes the flusher: enough to flush, a compaction, or closing.
    pub flush_wanted: Condvar,
    /// Wakes a writer waiting for the flusher to make room, or a flusher waiting for
    /// a compaction target to become visible.
    pub progress: Condvar,
    /// `State::visible`, readable without the lock.
    visible: AtomicI64,
    /// `State::flushed`, readable without the lock.
    flushed: AtomicI64,
}

impl Shared {
    pub fn new(revision: Revision) -> Self {
        Shared {
            state: Mutex::new(State {
                flushed: revision,
                visible: revision,
                recent: VecDeque::new(),
                poisoned: None,
                compactions: VecDeque::new(),
                closing: false,
                flush_requested: false,
            }),
            flush_wanted: Condvar::new(),
            progress: Condvar::new(),
            visible: AtomicI64::new(revision),
            flushed: AtomicI64::new(revision),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is a
        // few assignments), so a poisoned mutex is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn visible(&self) -> Revision {
        self.visible.load(Ordering::Acquire)
    }

    pub fn flushed(&self) -> Revision {
        self.flushed.load(Ordering::Acquire)
    }

    /// Makes groups visible, in order. Returns how many unflushed revisions there are.
    pub fn publish(&self, groups: impl IntoIterator<Item = Arc<Committed>>, revision: Revision) -> i64 {
        let mut state = self.lock();
        state.recent.extend(groups);
        state.visible = revision;
        self.visible.store(revision, Ordering::Release);
        self.progress.notify_all();
        state.visible - state.flushed
    }

    /// Records a flush up to `revision`: drops those groups from `recent`.
    pub fn flushed_to(&self, revision: Revision) {
        let mut state = self.lock();
        while state.recent.front().is_some_and(|g| g.revision <= revision) {
            state.recent.pop_front();
        }
        state.flushed = revision;
        self.flushed.store(revision, Ordering::Release);
        self.progress.notify_all();
    }

    /// Stops all further writes; the first cause is kept.
    pub fn poison(&self, cause: String) {
        let mut state = self.lock();
        if state.poisoned.is_none() {
            tracing::error!(%cause, "embedded store: writes stopped");
            state.poisoned = Some(cause);
        }
        self.progress.notify_all();
        self.flush_wanted.notify_all();
    }

    /// The error every write gets once the store is poisoned.
    pub fn poisoned_error(&self) -> Option<Error> {
        self.lock().poisoned.as_ref().map(poisoned_error)
    }

    /// Blocks while more than `limit` revisions up to `applied` are not flushed.
    pub fn wait_for_room(&self, applied: Revision, limit: i64) {
        let mut state = self.lock();
        while applied - state.flushed > limit && state.poisoned.is_none() {
            self.flush_wanted.notify_all();
            state = self.progress.wait_timeout(state, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    pub fn request_compaction(&self, request: CompactRequest) {
        self.lock().compactions.push_back(request);
        self.flush_wanted.notify_all();
    }

    /// Asks the flusher to flush without waiting for its interval.
    pub fn request_flush(&self) {
        self.lock().flush_requested = true;
        self.flush_wanted.notify_all();
    }

    pub fn close(&self) {
        self.lock().closing = true;
        self.flush_wanted.notify_all();
    }
}

pub fn poisoned_error(cause: &String) -> Error {
    Error::backend(format!(
        "embedded store: writes stopped after an earlier failure ({cause}); the store must be reopened"
    ))
}
