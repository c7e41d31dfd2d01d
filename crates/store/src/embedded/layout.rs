//! How the embedded store lays out its data in redb tables. Pure encoding, no I/O.
//!
//! - `revs`: one entry per version of a key: `esc(key) ‖ 00 00 ‖ revision (u64 BE)` →
//!   [`Version`]. All versions of a key are adjacent and in revision order, so a read
//!   at revision R takes, per key, the last version at or below R (etcd's key index,
//!   kept on disk).
//! - `log`: revision → the keys that revision changed, in order. Watches replay it and
//!   compaction uses it to find the versions it may drop.
//! - `meta`: the flushed and compacted revisions and the format marker. The file holds
//!   every revision up to `revision`; newer ones are in the WAL (see `wal/`).
//!
//! `esc` replaces each 0x00 byte with 00 FF; with the 00 00 terminator this keeps
//! byte order and keeps every key's versions apart from longer keys sharing its prefix.

use redb::TableDefinition;

use crate::types::{Event, EventKind, KeyValue, Revision};

pub const REVS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("revs");
pub const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
pub const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

pub const META_FORMAT: &str = "format";
pub const META_REVISION: &str = "revision";
pub const META_COMPACTED: &str = "compacted";
/// Bumped whenever the on-disk layout changes incompatibly. 2: the newest revisions
/// live in the WAL directory next to the file, so a binary that reads only the file
/// (format 1) must refuse it.
pub const FORMAT_VERSION: i64 = 2;
/// The format this one upgrades in place: the same tables, without a WAL.
pub const FORMAT_VERSION_WITHOUT_WAL: i64 = 1;

const TOMBSTONE: u8 = 1;

/// Escapes a user key and appends the terminator.
pub fn key_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = escape(key);
    out.extend_from_slice(&[0, 0]);
    out
}

/// The escaped form of `bytes` without a terminator: every key that starts with
/// `bytes` has an encoding that starts with this.
pub fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 10);
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out
}

pub fn version_key(key: &[u8], revision: Revision) -> Vec<u8> {
    let mut out = key_prefix(key);
    out.extend_from_slice(&(revision as u64).to_be_bytes());
    out
}

/// Splits an encoded `revs` key into the user key and the revision.
pub fn decode_version_key(encoded: &[u8]) -> Option<(Vec<u8>, Revision)> {
    let (body, rev) = encoded.split_at_checked(encoded.len().checked_sub(8)?)?;
    let revision = u64::from_be_bytes(rev.try_into().ok()?) as Revision;
    let mut key = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match (body[i], body.get(i + 1)) {
            (0, Some(0xff)) => {
                key.push(0);
                i += 2;
            }
            (0, Some(0)) if i + 2 == body.len() => return Some((key, revision)),
            (0, _) => return None,
            (b, _) => {
                key.push(b);
                i += 1;
            }
        }
    }
    None
}

/// One stored version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub tombstone: bool,
    pub create_revision: Revision,
    pub version: i64,
    pub value: Vec<u8>,
}

impl Version {
    pub fn tombstone() -> Version {
        Version { tombstone: true, create_revision: 0, version: 0, value: Vec::new() }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + self.value.len());
        out.push(if self.tombstone { TOMBSTONE } else { 0 });
        out.extend_from_slice(&self.create_revision.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Version> {
        if bytes.len() < 17 || bytes[0] > TOMBSTONE {
            return None;
        }
        Some(Version {
            tombstone: bytes[0] == TOMBSTONE,
            create_revision: i64::from_be_bytes(bytes[1..9].try_into().ok()?),
            version: i64::from_be_bytes(bytes[9..17].try_into().ok()?),
            value: bytes[17..].to_vec(),
        })
    }

    /// The key-value this version represents, if it is not a tombstone.
    pub fn into_kv(self, key: Vec<u8>, mod_revision: Revision) -> Option<KeyValue> {
        (!self.tombstone).then_some(KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision,
            version: self.version,
        })
    }
}

/// The rows one revision wrote: each changed key with its new version (a tombstone for
/// a delete), in the order the transaction wrote them. What the WAL records and what a
/// flush or a replay writes to `revs` and `log`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionWrites {
    pub revision: Revision,
    pub writes: Vec<(Vec<u8>, Version)>,
}

impl RevisionWrites {
    /// Groups events (in revision order) into the rows of their revisions.
    pub fn from_events(events: &[Event]) -> Vec<RevisionWrites> {
        let mut out: Vec<RevisionWrites> = Vec::new();
        for event in events {
            let version = match event.kind {
                EventKind::Put => Version {
                    tombstone: false,
                    create_revision: event.kv.create_revision,
                    version: event.kv.version,
                    value: event.kv.value.clone(),
                },
                EventKind::Delete => Version::tombstone(),
            };
            let revision = event.revision();
            match out.last_mut() {
                Some(last) if last.revision == revision => last.writes.push((event.kv.key.clone(), version)),
                _ => out.push(RevisionWrites { revision, writes: vec![(event.kv.key.clone(), version)] }),
            }
        }
        out
    }

    /// The changed keys, in order: the `log` table's record of this revision.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.writes.iter().map(|(key, _)| key.clone()).collect()
    }
}

pub fn encode_log(keys: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
    }
    out
}

pub fn decode_log(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_at_checked(4)?;
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let (key, rest) = rest.split_at_checked(len)?;
        keys.push(key.to_vec());
        bytes = rest;
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_sort_by_key_then_revision() {
        let keys: Vec<&[u8]> = vec![b"", b"\0", b"\0\0", b"\0\x01", b"a", b"a\0", b"a\0b", b"a\x01", b"ab", b"b"];
        let mut encoded = Vec::new();
        for k in &keys {
            for rev in [1i64, 2, 300, 70000] {
                encoded.push(version_key(k, rev));
            }
        }
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(sorted, encoded);
    }

    #[test]
    fn version_key_round_trips() {
        for k in [&b"/registry/pods/a"[..], b"\0\xff\0", b""] {
            assert_eq!(decode_version_key(&version_key(k, 42)), Some((k.to_vec(), 42)));
        }
        assert_eq!(decode_version_key(b"abc"), None);
    }

    #[test]
    fn prefix_escape_covers_exactly_prefixed_keys() {
        let p = escape(b"a\0");
        assert!(version_key(b"a\0b", 1).starts_with(&p));
        assert!(!version_key(b"a", 1).starts_with(&p));
    }

    #[test]
    fn version_and_log_round_trip() {
        let v = Version { tombstone: false, create_revision: 3, version: 2, value: b"x".to_vec() };
        assert_eq!(Version::decode(&v.encode()), Some(v));
        assert_eq!(Version::decode(b"short"), None);
        let keys = vec![b"a".to_vec(), Vec::new(), b"ccc".to_vec()];
        assert_eq!(decode_log(&encode_log(&keys)), Some(keys));
        assert_eq!(decode_log(&[0, 0, 0, 9, 1]), None);
    }

    #[test]
    fn events_group_into_revision_writes() {
        let kv = |key: &str, rev: Revision| KeyValue {
            key: key.into(),
            value: b"v".to_vec(),
            create_revision: 1,
            mod_revision: rev,
            version: rev,
        };
        let put = |key, rev| Event { kind: EventKind::Put, kv: kv(key, rev), prev: None };
        let delete = |key: &str, rev| Event {
            kind: EventKind::Delete,
            kv: KeyValue { value: Vec::new(), create_revision: 0, version: 0, ..kv(key, rev) },
            prev: Some(kv(key, rev - 1)),
        };
        let grouped = RevisionWrites::from_events(&[put("/a", 2), delete("/b", 2), put("/a", 3)]);
        let version = |rev| Version { tombstone: false, create_revision: 1, version: rev, value: b"v".to_vec() };
        assert_eq!(
            grouped,
            vec![
                RevisionWrites {
                    revision: 2,
                    writes: vec![(b"/a".to_vec(), version(2)), (b"/b".to_vec(), Version::tombstone())]
                },
                RevisionWrites { revision: 3, writes: vec![(b"/a".to_vec(), version(3))] },
            ]
        );
        assert_eq!(grouped[0].keys(), vec![b"/a".to_vec(), b"/b".to_vec()]);
    }
}
