//! The flusher thread: brings the data file up to date with the visible groups, in
//! large durable redb commits, and runs compactions (which need the data file up to
//! date). It is the only writer of the data file once the store is open.
//!
//! Why not commit every group to redb: a redb commit copies the B-tree path of each
//! change, and only a durable commit lets the pages it replaced be reused. Durable
//! commits per group cost an fsync of scattered pages each; non-durable ones grow
//! the file without bound until the next durable one, which then has to write all of
//! it. One durable commit per ~100 ms writes each hot page once and keeps the file
//! compact, while the WAL already made every write durable.
//!
//! # Guarantees
//! - A flush writes only visible (durable) revisions, so the data file never holds a
//!   write that was not acknowledged or could still fail.
//! - A flush is one durable commit that also records the flushed revision, so after
//!   a crash the data file is at a flush boundary and the WAL holds what follows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, Durability, WriteTransaction};

use super::compaction::compact_step;
use super::layout::{self, RevisionWrites, LOG, META, REVS};
use super::read::engine;
use super::state::{poisoned_error, Committed, Shared};
use super::wal::SegmentPool;
use crate::error::{Error, Result};
use crate::types::Revision;

/// Writes revisions' rows to `revs` and `log` and records `flushed` as the data
/// file's revision. Shared by flushes and WAL replay.
pub fn write_revisions<'a>(
    wtx: &WriteTransaction,
    revisions: impl IntoIterator<Item = &'a RevisionWrites>,
    flushed: Revision,
) -> Result<()> {
    let mut revs = wtx.open_table(REVS).map_err(engine)?;
    let mut log = wtx.open_table(LOG).map_err(engine)?;
    for revision in revisions {
        for (key, version) in &revision.writes {
            revs.insert(layout::version_key(key, revision.revision).as_slice(), version.encode().as_slice())
                .map_err(engine)?;
        }
        log.insert(revision.revision as u64, layout::encode_log(&revision.keys()).as_slice()).map_err(engine)?;
    }
    let mut meta = wtx.open_table(META).map_err(engine)?;
    meta.insert(layout::META_REVISION, flushed).map_err(engine)?;
    Ok(())
}

enum Work {
    Flush,
    Compact(super::state::CompactRequest),
    Exit,
}

pub struct Flusher {
    pub db: Arc<Database>,
    pub shared: Arc<Shared>,
    /// Flush at least this often while there is something to flush...
    pub interval: Duration,
    /// ...and as soon as this many revisions wait.
    pub flush_revisions: i64,
    pub compacted: Revision,
    /// Recycles the WAL segments each flush makes unnecessary.
    pub segments: Arc<SegmentPool>,
    /// Set after a failed flush: redb refuses further writes after an I/O error.
    pub failed: bool,
}

impl Flusher {
    /// Runs until the store closes, then flushes everything visible.
    pub fn run(mut self) {
        loop {
            match self.next_work() {
                Work::Flush => self.flush(),
                Work::Compact(request) => {
                    let result = self.compact(request.revision);
                    let _ = request.reply.send(result);
                }
                Work::Exit => {
                    self.flush();
                    return;
                }
            }
        }
    }

    fn next_work(&self) -> Work {
        let mut state = self.shared.lock();
        let mut waiting_since = Instant::now();
        loop {
            if let Some(request) = state.compactions.pop_front() {
                return Work::Compact(request);
            }
            if state.closing {
                return Work::Exit;
            }
            let unflushed = state.visible - state.flushed;
            if unflushed == 0 || self.failed {
                waiting_since = Instant::now();
            } else if unflushed >= self.flush_revisions
                || state.flush_requested
                || waiting_since.elapsed() >= self.interval
            {
                state.flush_requested = false;
                return Work::Flush;
            }
            let wait = self.interval.saturating_sub(waiting_since.elapsed()).max(Duration::from_millis(1));
            state = self.shared.flush_wanted.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Writes every visible group to the data file in one durable commit.
    fn flush(&mut self) {
        if self.failed {
            return;
        }
        let groups: Vec<Arc<Committed>> = self.shared.lock().recent.iter().cloned().collect();
        let Some(upto) = groups.last().map(|g| g.revision) else { return };
        match self.write(&groups, upto) {
            Ok(()) => {
                self.shared.flushed_to(upto);
                self.segments.release_flushed(upto);
            }
            Err(e) => {
                self.failed = true;
                self.shared.poison(format!("cannot write the data file: {e}"));
            }
        }
    }

    fn write(&self, groups: &[Arc<Committed>], upto: Revision) -> Result<()> {
        let revisions: Vec<RevisionWrites> =
            groups.iter().flat_map(|g| RevisionWrites::from_events(&g.events)).collect();
        let mut wtx = self.db.begin_write().map_err(engine)?;
        wtx.set_durability(Durability::Immediate);
        write_revisions(&wtx, &revisions, upto)?;
        wtx.commit().map_err(engine)
    }

    /// Flushes up to at least `target`, then compacts to it in steps, each its own
    /// durable commit (compaction is not in the WAL: one lost in a crash is simply
    /// not done yet).
    fn compact(&mut self, target: Revision) -> Result<()> {
        if target <= self.compacted {
            return Ok(());
        }
        {
            // The writer accepted `target`, so it is applied; wait until it is durable.
            let mut state = self.shared.lock();
            while state.visible < target && state.poisoned.is_none() {
                state = self.shared.progress.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.visible < target {
                return Err(state.poisoned.as_ref().map(poisoned_error).unwrap_or(Error::Closed));
            }
        }
        if self.shared.flushed() < target {
            self.flush();
        }
        if self.failed || self.shared.flushed() < target {
            return Err(self.shared.poisoned_error().unwrap_or(Error::Closed));
        }
        while self.compacted < target {
            self.compacted = compact_step(&self.db, self.compacted, target)?;
        }
        Ok(())
    }
}
