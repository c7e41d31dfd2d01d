//! Applying one transaction to the latest state: compares, puts, deletes and gets,
//! etcd's rules. Pure over [`Latest`], so it is tested against a map, and the writer
//! runs it against its index of unflushed writes over a redb snapshot.

use super::layout::{RevisionWrites, Version};
use crate::error::Result;
use crate::types::*;

/// The newest state of each key, as the writer sees it: including writes that are
/// applied but not yet durable (they become durable, or the store stops writing).
pub trait Latest {
    /// The key's newest live value, `None` if it does not exist.
    fn get(&mut self, key: &[u8]) -> Result<Option<KeyValue>>;
    /// Records that `revision` set the key to `kv` (`None`: deleted).
    fn set(&mut self, key: &[u8], revision: Revision, kv: Option<KeyValue>);
}

/// The outcome of one transaction.
#[derive(Debug)]
pub struct Applied {
    pub response: TxnResponse,
    pub events: Vec<Event>,
    /// The rows to store; `None` when the transaction changed nothing (it took no
    /// revision).
    pub writes: Option<RevisionWrites>,
}

/// Applies `txn` on top of revision `current`. A transaction that changes anything
/// takes revision `current + 1`.
///
/// # Errors
/// Only what [`Latest::get`] returns. The caller must then treat `latest` as damaged:
/// writes made before the error were recorded.
pub fn apply_txn(latest: &mut impl Latest, current: Revision, txn: Txn) -> Result<Applied> {
    let mut succeeded = true;
    // The keys the compares read, kept for the ops: an update compares a key and then
    // puts it, and each `Latest::get` of a flushed key is a read of the data file.
    let mut read = ReadKeys::default();
    for compare in &txn.compares {
        if !compare.matches(read.get(latest, &compare.key)?) {
            succeeded = false;
            break;
        }
    }
    let Txn { compares: _, success, failure } = txn;
    let ops = if succeeded { success } else { failure };
    let revision = current + 1;
    let mut writes = Vec::new();
    let mut events = Vec::new();
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = match op {
            TxnOp::Put { key, value } => {
                let prev = read.take(latest, &key)?;
                let kv = KeyValue {
                    create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                    mod_revision: revision,
                    key,
                    value,
                };
                latest.set(&kv.key, revision, Some(kv.clone()));
                writes.push((
                    kv.key.clone(),
                    Version {
                        tombstone: false,
                        create_revision: kv.create_revision,
                        version: kv.version,
                        value: kv.value.clone(),
                    },
                ));
                events.push(Event { kind: EventKind::Put, kv: kv.clone(), prev: prev.clone() });
                TxnOpResult::Put { kv, prev }
            }
            TxnOp::Delete { key } => {
                let prev = read.take(latest, &key)?;
                if prev.is_some() {
                    latest.set(&key, revision, None);
                    writes.push((key.clone(), Version::tombstone()));
                    let kv =
                        KeyValue { key, value: Vec::new(), create_revision: 0, mod_revision: revision, version: 0 };
                    events.push(Event { kind: EventKind::Delete, kv, prev: prev.clone() });
                }
                TxnOpResult::Delete { prev }
            }
            // Sees the writes made earlier in this transaction, as etcd does.
            TxnOp::Get { key } => TxnOpResult::Get { kv: read.peek(latest, &key)? },
        };
        results.push(result);
    }
    let (revision, writes) =
        if writes.is_empty() { (current, None) } else { (revision, Some(RevisionWrites { revision, writes })) };
    Ok(Applied { response: TxnResponse { succeeded, revision, results }, events, writes })
}

/// The keys a transaction's compares read (borrowed from the compares), each with
/// its state as of the start of the transaction until the transaction writes it
/// (then `latest` has the new state).
#[derive(Default)]
struct ReadKeys<'t>(Vec<(&'t [u8], Option<KeyValue>)>);

impl<'t> ReadKeys<'t> {
    fn position(&self, key: &[u8]) -> Option<usize> {
        self.0.iter().position(|(k, _)| *k == key)
    }

    /// A compared key's current state, read from `latest` once.
    fn get(&mut self, latest: &mut impl Latest, key: &'t [u8]) -> Result<Option<&KeyValue>> {
        let index = match self.position(key) {
            Some(index) => index,
            None => {
                self.0.push((key, latest.get(key)?));
                self.0.len() - 1
            }
        };
        Ok(self.0[index].1.as_ref())
    }

    /// The key's current state, from a compare's read if there was one.
    fn peek(&self, latest: &mut impl Latest, key: &[u8]) -> Result<Option<KeyValue>> {
        match self.position(key) {
            Some(index) => Ok(self.0[index].1.clone()),
            None => latest.get(key),
        }
    }

    /// The key's state before a write to it; later reads of the key go to `latest`,
    /// which the write updates.
    fn take(&mut self, latest: &mut impl Latest, key: &[u8]) -> Result<Option<KeyValue>> {
        match self.position(key) {
            Some(index) => Ok(self.0.swap_remove(index).1),
            None => latest.get(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The latest state as a map, counting reads.
    #[derive(Default)]
    struct Map(HashMap<Vec<u8>, KeyValue>, usize);

    impl Latest for Map {
        fn get(&mut self, key: &[u8]) -> Result<Option<KeyValue>> {
            self.1 += 1;
            Ok(self.0.get(key).cloned())
        }
        fn set(&mut self, key: &[u8], _: Revision, kv: Option<KeyValue>) {
            match kv {
                Some(kv) => self.0.insert(key.to_vec(), kv),
                None => self.0.remove(key),
            };
        }
    }

    #[test]
    fn put_then_update_tracks_create_revision_and_version() {
        let mut map = Map::default();
        let a = apply_txn(&mut map, 4, Txn::new().and_then([TxnOp::put("/a", "1")])).unwrap();
        assert_eq!(a.response.revision, 5);
        let b = apply_txn(&mut map, 5, Txn::new().and_then([TxnOp::put("/a", "2")])).unwrap();
        let TxnOpResult::Put { kv, prev } = &b.response.results[0] else { panic!() };
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 6, 2));
        assert_eq!(prev.as_ref().map(|p| p.value.clone()), Some(b"1".to_vec()));
        let writes = b.writes.unwrap();
        assert_eq!(writes.revision, 6);
        assert_eq!(writes.writes[0].1.version, 2);
        assert_eq!(b.events[0].prev.as_ref().unwrap().mod_revision, 5);
    }

    #[test]
    fn failed_compare_runs_the_else_branch_and_takes_no_revision() {
        let mut map = Map::default();
        apply_txn(&mut map, 0, Txn::new().and_then([TxnOp::put("/a", "1")])).unwrap();
        let txn = Txn::new()
            .when([Compare::create_revision("/a", CompareOp::Equal, 0)])
            .and_then([TxnOp::put("/a", "2")])
            .or_else([TxnOp::get("/a")]);
        let applied = apply_txn(&mut map, 1, txn).unwrap();
        assert!(!applied.response.succeeded);
        assert_eq!(applied.response.revision, 1);
        assert!(applied.writes.is_none() && applied.events.is_empty());
    }

    #[test]
    fn deleting_a_missing_key_changes_nothing() {
        let mut map = Map::default();
        let applied = apply_txn(&mut map, 3, Txn::new().and_then([TxnOp::delete("/none")])).unwrap();
        assert!(applied.writes.is_none());
        assert_eq!(applied.response.revision, 3);
    }

    #[test]
    fn get_sees_earlier_writes_of_the_same_transaction() {
        let mut map = Map::default();
        apply_txn(&mut map, 0, Txn::new().and_then([TxnOp::put("/b", "1")])).unwrap();
        let txn = Txn::new().and_then([TxnOp::put("/a", "1"), TxnOp::get("/a"), TxnOp::delete("/b"), TxnOp::get("/b")]);
        let applied = apply_txn(&mut map, 1, txn).unwrap();
        let found: Vec<bool> = applied
            .response
            .results
            .iter()
            .filter_map(|r| match r {
                TxnOpResult::Get { kv } => Some(kv.is_some()),
                _ => None,
            })
            .collect();
        assert_eq!(found, vec![true, false]);
        let writes = applied.writes.unwrap();
        assert_eq!(writes.revision, 2);
        assert!(writes.writes[1].1.tombstone);
        assert_eq!(applied.events.len(), 2);
    }

    #[test]
    fn an_update_reads_its_key_once_and_returns_the_compared_state_as_prev() {
        let mut map = Map::default();
        apply_txn(&mut map, 0, Txn::new().and_then([TxnOp::put("/a", "1")])).unwrap();
        map.1 = 0;
        let txn = Txn::new()
            .when([Compare::mod_revision("/a", CompareOp::Equal, 1)])
            .and_then([TxnOp::put("/a", "2")])
            .or_else([TxnOp::get("/a")]);
        let applied = apply_txn(&mut map, 1, txn).unwrap();
        assert_eq!(map.1, 1);
        let TxnOpResult::Put { kv, prev } = &applied.response.results[0] else { panic!() };
        assert_eq!((kv.version, kv.create_revision), (2, 1));
        assert_eq!(prev.as_ref().map(|p| (p.value.clone(), p.mod_revision)), Some((b"1".to_vec(), 1)));
        assert_eq!(applied.events[0].prev, *prev);
    }

    #[test]
    fn reads_around_a_write_see_before_and_after() {
        let mut map = Map::default();
        apply_txn(&mut map, 0, Txn::new().and_then([TxnOp::put("/a", "1"), TxnOp::put("/b", "1")])).unwrap();
        let txn = Txn::new()
            .when([Compare::version("/a", CompareOp::Equal, 1), Compare::version("/b", CompareOp::Equal, 1)])
            .and_then([
                TxnOp::get("/a"),
                TxnOp::put("/a", "2"),
                TxnOp::get("/a"),
                TxnOp::delete("/b"),
                TxnOp::get("/b"),
            ]);
        let results = apply_txn(&mut map, 1, txn).unwrap().response.results;
        let value = |kv: &Option<KeyValue>| kv.as_ref().map(|kv| kv.value.clone());
        let seen: Vec<Option<Vec<u8>>> = results
            .iter()
            .map(|r| match r {
                TxnOpResult::Get { kv } => value(kv),
                TxnOpResult::Put { prev, .. } | TxnOpResult::Delete { prev } => value(prev),
            })
            .collect();
        let one = Some(b"1".to_vec());
        assert_eq!(seen, vec![one.clone(), one.clone(), Some(b"2".to_vec()), one, None]);
    }
}
