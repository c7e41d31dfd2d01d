//! Watches on the embedded store.
//!
//! A watch subscribes to the writer's broadcast *before* reading history, so every
//! commit is seen at least once — in the history read, in the broadcast, or both —
//! and revisions at or below the last one delivered are skipped, so none is seen
//! twice. A watcher that falls behind the broadcast buffer is not dropped: it catches
//! up from the on-disk log, which is what makes resume-from-revision work too.
//! History is read only up to the visible revision: a watcher never sees a write
//! that is not durable.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::layout::{LOG, REVS};
use super::read::{self, engine};
use super::state::Committed;
use super::{check_revision, overlay, read_meta, RedbStore};
use crate::error::{Error, Result};
use crate::store::WatchStream;
use crate::types::*;

/// Most revisions read from disk per catch-up batch.
const CATCH_UP_REVISIONS: u64 = 1000;
/// How often an idle watch reports the store revision it has seen.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

pub(super) async fn watch(store: RedbStore, prefix: Vec<u8>, after: Revision) -> Result<WatchStream> {
    let mut published = store.inner.published.subscribe();
    // Fail fast on a compacted start, so callers get the error from `watch` itself.
    let (current, compacted) = store
        .read(|db, shared| Ok((shared.visible(), read_meta(&db.begin_read().map_err(engine)?)?.compacted)))
        .await?;
    check_start(after, current, compacted)?;

    Ok(Box::pin(async_stream::try_stream! {
        let mut last = after;
        let mut reported = after;
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        ticker.tick().await;
        'catch_up: loop {
            // Read from disk until caught up with the latest commit.
            loop {
                let batch = catch_up(&store, &prefix, last).await?;
                let Some(batch) = batch else { break };
                last = batch.revision;
                if !batch.events.is_empty() {
                    reported = last;
                    yield batch;
                }
            }
            // Then follow the writer's broadcast.
            loop {
                let next = tokio::select! {
                    received = published.recv() => Next::Published(received),
                    _ = ticker.tick() => Next::Tick,
                };
                match next {
                    Next::Published(Ok(committed)) => {
                        if committed.revision <= last {
                            continue;
                        }
                        let events: Vec<Event> = committed
                            .events
                            .iter()
                            .filter(|e| e.revision() > last && e.kv.key.starts_with(&prefix))
                            .cloned()
                            .collect();
                        last = committed.revision;
                        if !events.is_empty() {
                            reported = last;
                            yield WatchBatch { events, revision: last };
                        }
                    }
                    Next::Published(Err(RecvError::Lagged(_))) => continue 'catch_up,
                    Next::Published(Err(RecvError::Closed)) => Err(Error::Closed)?,
                    Next::Tick => {
                        if reported < last {
                            reported = last;
                            yield WatchBatch { events: Vec::new(), revision: last };
                        }
                    }
                }
            }
        }
    }))
}

enum Next {
    Published(Result<Arc<Committed>, RecvError>),
    Tick,
}

fn check_start(after: Revision, current: Revision, compacted: Revision) -> Result<()> {
    // Changes from `after + 1` on are needed; compaction keeps those from `compacted`.
    if after + 1 < compacted {
        return Err(Error::Compacted { requested: after, compacted });
    }
    if after > current {
        // etcd allows watching a future revision; it simply waits.
        return Ok(());
    }
    check_revision(after.max(compacted), current, compacted)
}

/// Reads the next events after `last` — from the data file, then from the visible
/// groups not yet flushed — or `None` when there is nothing visible newer than `last`.
async fn catch_up(store: &RedbStore, prefix: &[u8], last: Revision) -> Result<Option<WatchBatch>> {
    let prefix = prefix.to_vec();
    store
        .read(move |db, shared| {
            let (flushed, upto, unflushed) = {
                let state = shared.lock();
                if state.visible <= last {
                    return Ok(None);
                }
                let upto = state.visible.min(last + CATCH_UP_REVISIONS as Revision);
                (state.flushed, upto, overlay::events_between(&state.recent, &prefix, last.max(state.flushed), upto))
            };
            let mut events = Vec::new();
            if last < flushed {
                // Begun after `flushed` was read, so it holds at least that much.
                let rtx = db.begin_read().map_err(engine)?;
                let compacted = read_meta(&rtx)?.compacted;
                if last + 1 < compacted {
                    return Err(Error::Compacted { requested: last, compacted });
                }
                let log = rtx.open_table(LOG).map_err(engine)?;
                let revs = rtx.open_table(REVS).map_err(engine)?;
                let stored_upto = upto.min(flushed);
                let (stored, read_upto) = read::history(&log, &revs, &prefix, last, stored_upto, CATCH_UP_REVISIONS)?;
                events = stored;
                if read_upto < upto {
                    return Ok(Some(WatchBatch { events, revision: read_upto }));
                }
            }
            events.extend(unflushed);
            Ok(Some(WatchBatch { events, revision: upto }))
        })
        .await
}
