//! Watches on etcd.
//!
//! One etcd watch per [`WatchStream`], on its own gRPC stream. When that stream
//! breaks, a new watch starts right after the last revision delivered (events, or a
//! progress notification, which etcd sends only once everything up to it was sent),
//! so the consumer sees neither a gap nor a duplicate.

use std::time::{Duration, Instant};

use etcd_client as ec;

use super::convert::{self, Failure};
use super::{EtcdStore, CONNECT_TIMEOUT, PROBE_KEY};
use crate::error::{Error, Result};
use crate::store::WatchStream;
use crate::types::*;

/// Attempts to re-establish a broken watch before the stream gives up.
const RECONNECT_ATTEMPTS: u32 = 8;
/// Backoff before the first attempt; it doubles per attempt up to `MAX_BACKOFF`
/// (about 9 s over all attempts).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A watch that lived this long before breaking counts as healthy: its failure
/// starts a fresh round of attempts.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// How long a watch at revision 1 may take to report the compaction. etcd checks
/// unsynced watchers every 100 ms.
const COMPACTION_REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// One open etcd watch. Dropping it drops both halves of its gRPC stream, which
/// closes the stream and so cancels the watch on the server.
struct Active {
    _watcher: ec::Watcher,
    stream: ec::WatchStream,
    opened: Instant,
}

async fn open(client: &ec::WatchClient, key: &[u8], options: ec::WatchOptions) -> Result<Active> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.clone().watch(key, Some(options))).await {
        Ok(Ok((watcher, stream))) => Ok(Active { _watcher: watcher, stream, opened: Instant::now() }),
        Ok(Err(e)) => Err(convert::backend("watch", e)),
        Err(_) => Err(Error::backend(format!("etcd did not start a watch within {CONNECT_TIMEOUT:?}"))),
    }
}

/// Every change under `prefix` from revision `after + 1` on, with previous values.
fn options(after: Revision) -> ec::WatchOptions {
    ec::WatchOptions::new()
        .with_prefix()
        .with_start_revision(after.saturating_add(1).max(1))
        .with_prev_key()
        .with_progress_notify()
}

pub(super) async fn watch(store: &EtcdStore, prefix: Vec<u8>, after: Revision) -> Result<WatchStream> {
    // Fail fast on a compacted start, so callers get the error from `watch` itself: a
    // read at `after + 1` fails exactly when the watch would (etcd keeps changes from
    // the compacted revision on). A future start is fine: etcd waits for it.
    match store.probe(Some(after.saturating_add(1).max(1))).await {
        Ok(_) | Err(Failure::FutureRevision) => {}
        Err(Failure::Compacted) => {
            return Err(Error::Compacted { requested: after, compacted: compaction_revision(&store.watch).await? })
        }
        Err(Failure::Other(e)) => return Err(e),
    }
    let client = store.watch.clone();
    let mut active = open(&client, &prefix, options(after)).await?;

    Ok(Box::pin(async_stream::try_stream! {
        let mut last = after;
        let mut failures = 0;
        loop {
            let response = match active.stream.message().await {
                Ok(Some(response)) => response,
                broken => {
                    let cause = match broken {
                        Err(e) => convert::backend("watch stream", e),
                        _ => Error::backend("etcd closed the watch stream"),
                    };
                    tracing::warn!(error = %cause, revision = last, "etcd watch broken; re-establishing it");
                    if active.opened.elapsed() >= HEALTHY_AFTER {
                        failures = 0;
                    }
                    active = reconnect(&client, &prefix, last, &mut failures, cause).await?;
                    continue;
                }
            };
            failures = 0;
            if let Some(batch) = batch(&response, &mut last)? {
                yield batch;
            }
        }
    }))
}

/// Opens the watch again after `last`, with backoff, counting attempts in `failures`.
async fn reconnect(
    client: &ec::WatchClient,
    prefix: &[u8],
    last: Revision,
    failures: &mut u32,
    mut cause: Error,
) -> Result<Active> {
    loop {
        *failures += 1;
        if *failures > RECONNECT_ATTEMPTS {
            return Err(Error::backend_from(
                format!("etcd watch lost and not re-established after {RECONNECT_ATTEMPTS} attempts"),
                cause,
            ));
        }
        let backoff = FIRST_BACKOFF.saturating_mul(1 << (*failures - 1).min(16)).min(MAX_BACKOFF);
        tokio::time::sleep(backoff).await;
        match open(client, prefix, options(last)).await {
            Ok(active) => return Ok(active),
            Err(e) => cause = e,
        }
    }
}

/// Turns one etcd watch response into a batch, advancing `last`; `None` when there is
/// nothing new to report.
fn batch(response: &ec::WatchResponse, last: &mut Revision) -> Result<Option<WatchBatch>> {
    if response.compact_revision() > 0 {
        return Err(Error::Compacted { requested: *last, compacted: response.compact_revision() });
    }
    if response.canceled() {
        return Err(Error::backend(format!("etcd canceled the watch: {}", response.cancel_reason())));
    }
    if response.created() {
        return Ok(None);
    }
    let mut events = Vec::with_capacity(response.events().len());
    for event in response.events() {
        let event = convert::event(event)?;
        // Never again what was delivered (a watch restarts after `last`, so this is a
        // safety net, not a path taken).
        if event.revision() > *last {
            events.push(event);
        }
    }
    if let Some(newest) = events.last() {
        *last = newest.revision();
        return Ok(Some(WatchBatch { events, revision: *last }));
    }
    if !response.events().is_empty() {
        return Ok(None);
    }
    // A progress notification: etcd sends it to a watch only once every change up
    // to its revision was sent.
    let revision = convert::header_revision(response.header(), "watch")?;
    if revision <= *last {
        return Ok(None);
    }
    *last = revision;
    Ok(Some(WatchBatch { events, revision }))
}

/// The revision etcd last compacted to, for a store known to be compacted past
/// revision 1: a watch from revision 1 is refused with it.
pub(super) async fn compaction_revision(client: &ec::WatchClient) -> Result<Revision> {
    let options = ec::WatchOptions::new().with_start_revision(1);
    let mut active = open(client, PROBE_KEY, options).await?;
    let report = async {
        loop {
            match active.stream.message().await {
                Ok(Some(response)) if response.compact_revision() > 0 => return Ok(response.compact_revision()),
                Ok(Some(_)) => continue,
                Ok(None) => return Err(Error::backend("etcd closed the watch before reporting the compaction")),
                Err(e) => return Err(convert::backend("watch", e)),
            }
        }
    };
    match tokio::time::timeout(COMPACTION_REPORT_TIMEOUT, report).await {
        Ok(result) => result,
        Err(_) => Err(Error::backend(format!(
            "etcd did not report its compacted revision within {COMPACTION_REPORT_TIMEOUT:?}"
        ))),
    }
}
