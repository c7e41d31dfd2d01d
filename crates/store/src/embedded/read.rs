//! Reads over the `revs` and `log` tables, shared by readers and the writer. Reads of
//! the latest state merge in the unflushed groups (see `overlay`).
//! Generic over redb's `ReadableTable` so the same code reads a snapshot or the
//! write transaction in progress.

use std::collections::BTreeMap;

use redb::ReadableTable;

use super::layout::{self, Version};
use super::overlay::{RangeBuilder, Stored};
use crate::error::{Error, Result};
use crate::types::*;

pub(crate) fn engine(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::backend_from(format!("embedded store: {e}"), e)
}

fn corrupt_record(what: &str) -> Error {
    Error::backend(format!("embedded store: undecodable {what} record"))
}

/// The newest version of `key` at or below `at`, with its revision.
pub fn version_at<T: ReadableTable<&'static [u8], &'static [u8]>>(
    revs: &T,
    key: &[u8],
    at: Revision,
) -> Result<Option<(Revision, Version)>> {
    let lo = layout::version_key(key, 0);
    let hi = layout::version_key(key, at.saturating_add(1));
    let mut iter = revs.range(lo.as_slice()..hi.as_slice()).map_err(engine)?;
    match iter.next_back() {
        None => Ok(None),
        Some(entry) => {
            let (k, v) = entry.map_err(engine)?;
            let (_, rev) = layout::decode_version_key(k.value()).ok_or_else(|| corrupt_record("key"))?;
            let version = Version::decode(v.value()).ok_or_else(|| corrupt_record("version"))?;
            Ok(Some((rev, version)))
        }
    }
}

/// The live key-value of `key` at revision `at`, if any.
pub fn kv_at<T: ReadableTable<&'static [u8], &'static [u8]>>(
    revs: &T,
    key: &[u8],
    at: Revision,
) -> Result<Option<KeyValue>> {
    Ok(version_at(revs, key, at)?.and_then(|(rev, v)| v.into_kv(key.to_vec(), rev)))
}

/// Reads `req`'s range: the data file's keys as of revision `stored_at`, overlaid with
/// the newer changes in `overlay`. Returns the live keys in order, at most `limit`,
/// and whether more remain.
pub fn range_at<T: ReadableTable<&'static [u8], &'static [u8]>>(
    revs: &T,
    req: &RangeRequest,
    stored_at: Revision,
    overlay: BTreeMap<Vec<u8>, Option<KeyValue>>,
) -> Result<(Vec<KeyValue>, bool)> {
    let limit = req.limit.filter(|&l| l > 0).unwrap_or(usize::MAX);
    let lo = layout::key_prefix(&req.start);
    let hi = req.end_key().map(|end| layout::key_prefix(&end));
    let iter = match &hi {
        Some(hi) => revs.range(lo.as_slice()..hi.as_slice()),
        None => revs.range(lo.as_slice()..),
    }
    .map_err(engine)?;

    let mut builder = RangeBuilder::new(overlay, limit);
    let mut scanning: Option<Scanned> = None;
    for entry in iter {
        let (k, v) = entry.map_err(engine)?;
        let (key, rev) = layout::decode_version_key(k.value()).ok_or_else(|| corrupt_record("key"))?;
        if scanning.as_ref().is_none_or(|s| s.key != key) {
            if let Some(done) = scanning.take() {
                if builder.push(done.into_stored()?).is_break() {
                    return Ok(builder.finish());
                }
            }
            scanning = Some(Scanned { key, newest: None });
        }
        if rev <= stored_at {
            if let Some(s) = scanning.as_mut() {
                s.newest = Some((rev, v.value().to_vec()));
            }
        }
    }
    if let Some(done) = scanning.take() {
        if builder.push(done.into_stored()?).is_break() {
            return Ok(builder.finish());
        }
    }
    Ok(builder.finish())
}

/// A key met during a range scan, with its newest version at or below the read
/// revision seen so far.
struct Scanned {
    key: Vec<u8>,
    newest: Option<(Revision, Vec<u8>)>,
}

impl Scanned {
    /// The key's state at the read revision.
    fn into_stored(self) -> Result<Stored> {
        let Some((rev, raw)) = self.newest else { return Ok(Stored::Absent(self.key)) };
        let version = Version::decode(&raw).ok_or_else(|| corrupt_record("version"))?;
        Ok(if version.tombstone {
            Stored::Absent(self.key)
        } else {
            Stored::Live(version.into_kv(self.key, rev).expect("live"))
        })
    }
}

/// The events of revisions `(after, upto]` for keys starting with `prefix`, reading at
/// most `max_revisions` revisions. Returns the events and the last revision read.
pub fn history<L, R>(
    log: &L,
    revs: &R,
    prefix: &[u8],
    after: Revision,
    upto: Revision,
    max_revisions: u64,
) -> Result<(Vec<Event>, Revision)>
where
    L: ReadableTable<u64, &'static [u8]>,
    R: ReadableTable<&'static [u8], &'static [u8]>,
{
    let start = (after + 1) as u64;
    let end = (upto as u64).min(start.saturating_add(max_revisions).saturating_sub(1));
    let mut events = Vec::new();
    if start > end {
        return Ok((events, after));
    }
    for entry in log.range(start..=end).map_err(engine)? {
        let (rev, keys) = entry.map_err(engine)?;
        let rev = rev.value() as Revision;
        for key in layout::decode_log(keys.value()).ok_or_else(|| corrupt_record("log"))? {
            if !key.starts_with(prefix) {
                continue;
            }
            events.push(event_at(revs, key, rev)?);
        }
    }
    Ok((events, end as Revision))
}

/// Rebuilds the event that revision `rev` made to `key`.
fn event_at<R: ReadableTable<&'static [u8], &'static [u8]>>(revs: &R, key: Vec<u8>, rev: Revision) -> Result<Event> {
    let raw = revs
        .get(layout::version_key(&key, rev).as_slice())
        .map_err(engine)?
        .ok_or_else(|| corrupt_record("missing version"))?;
    let version = Version::decode(raw.value()).ok_or_else(|| corrupt_record("version"))?;
    let prev = kv_at(revs, &key, rev - 1)?;
    Ok(if version.tombstone {
        Event {
            kind: EventKind::Delete,
            kv: KeyValue { key, value: Vec::new(), create_revision: 0, mod_revision: rev, version: 0 },
            prev,
        }
    } else {
        Event { kind: EventKind::Put, kv: version.into_kv(key, rev).expect("not a tombstone"), prev }
    })
}

/// Counts the live keys with this prefix: the data file's as of `stored_at`, overlaid
/// with `overlay`.
pub fn count_at<T: ReadableTable<&'static [u8], &'static [u8]>>(
    revs: &T,
    prefix: &[u8],
    stored_at: Revision,
    overlay: BTreeMap<Vec<u8>, Option<KeyValue>>,
) -> Result<u64> {
    // Counting reuses the range scan; values are small relative to the page reads.
    let (kvs, _) = range_at(revs, &RangeRequest::prefix(prefix), stored_at, overlay)?;
    Ok(kvs.len() as u64)
}
