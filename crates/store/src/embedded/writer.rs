//! The single writer thread. Every write goes through it: it takes whatever requests
//! are waiting, applies them in one redb write transaction, commits once (one fsync
//! for the whole group), then answers each request and publishes the events.
//! Group commit is what lets durable writes scale with concurrent writers.

use std::collections::BTreeSet;
use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, Table};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::layout::{self, Version, LOG, META, REVS};
use super::read::{engine, kv_at, version_at};
use crate::error::{Error, Result};
use crate::types::*;

/// Most transactions taken into one commit; bounds commit latency and memory.
const MAX_GROUP: usize = 2048;
/// Most log revisions one compaction step processes, so a large compaction does not
/// hold up writers for long.
const COMPACTION_STEP: u64 = 10_000;

pub enum Request {
    Txn { txn: Txn, reply: oneshot::Sender<Result<TxnResponse>> },
    Compact { revision: Revision, reply: oneshot::Sender<Result<()>> },
}

/// Events committed together, published to watchers after the commit is durable.
#[derive(Debug)]
pub struct Committed {
    pub events: Vec<Event>,
    /// The store revision after the commit.
    pub revision: Revision,
}

pub struct Writer {
    db: Arc<Database>,
    revision: Revision,
    compacted: Revision,
    requests: mpsc::Receiver<Request>,
    published: broadcast::Sender<Arc<Committed>>,
}

impl Writer {
    pub fn new(
        db: Arc<Database>,
        revision: Revision,
        compacted: Revision,
        requests: mpsc::Receiver<Request>,
        published: broadcast::Sender<Arc<Committed>>,
    ) -> Self {
        Writer { db, revision, compacted, requests, published }
    }

    /// Runs until every sender is gone.
    pub fn run(mut self) {
        while let Some(first) = self.requests.blocking_recv() {
            let mut group = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Txn { txn, reply } => group.push((txn, reply)),
                    // Compaction runs on its own, after the writes queued before it.
                    Request::Compact { revision, reply } => {
                        self.commit_group(std::mem::take(&mut group));
                        let _ = reply.send(self.compact(revision));
                    }
                }
                if group.len() < MAX_GROUP {
                    next = self.requests.try_recv().ok();
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<(Txn, oneshot::Sender<Result<TxnResponse>>)>) {
        if group.is_empty() {
            return;
        }
        let start_revision = self.revision;
        let (txns, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        match self.apply_group(txns) {
            Ok((responses, events)) => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(Ok(response));
                }
                if !events.is_empty() {
                    let _ = self.published.send(Arc::new(Committed { events, revision: self.revision }));
                }
            }
            Err(e) => {
                // Nothing of the group was committed: forget the revisions it took.
                self.revision = start_revision;
                let message = match e {
                    Error::Backend { message, .. } => message,
                    other => other.to_string(),
                };
                for reply in replies {
                    let _ = reply.send(Err(Error::backend(message.clone())));
                }
            }
        }
    }

    fn apply_group(&mut self, txns: Vec<Txn>) -> Result<(Vec<TxnResponse>, Vec<Event>)> {
        let mut wtx = self.db.begin_write().map_err(engine)?;
        wtx.set_durability(Durability::Immediate);
        let mut responses = Vec::with_capacity(txns.len());
        let mut events = Vec::new();
        {
            let mut revs = wtx.open_table(REVS).map_err(engine)?;
            let mut log = wtx.open_table(LOG).map_err(engine)?;
            for txn in txns {
                responses.push(self.apply_txn(&mut revs, &mut log, txn, &mut events)?);
            }
            let mut meta = wtx.open_table(META).map_err(engine)?;
            meta.insert(layout::META_REVISION, self.revision).map_err(engine)?;
        }
        wtx.commit().map_err(engine)?;
        Ok((responses, events))
    }

    fn apply_txn(
        &mut self,
        revs: &mut Table<&'static [u8], &'static [u8]>,
        log: &mut Table<u64, &'static [u8]>,
        txn: Txn,
        events: &mut Vec<Event>,
    ) -> Result<TxnResponse> {
        let current = self.revision;
        let mut succeeded = true;
        for compare in &txn.compares {
            if !compare.matches(kv_at(revs, &compare.key, current)?.as_ref()) {
                succeeded = false;
                break;
            }
        }
        let ops = if succeeded { txn.success } else { txn.failure };
        let new_revision = current + 1;
        let mut changed = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let result = match op {
                TxnOp::Put { key, value } => {
                    let prev = kv_at(revs, &key, current)?;
                    let version = Version {
                        tombstone: false,
                        create_revision: prev.as_ref().map_or(new_revision, |p| p.create_revision),
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                        value,
                    };
                    revs.insert(layout::version_key(&key, new_revision).as_slice(), version.encode().as_slice())
                        .map_err(engine)?;
                    let kv = version.into_kv(key.clone(), new_revision).expect("not a tombstone");
                    events.push(Event { kind: EventKind::Put, kv: kv.clone(), prev: prev.clone() });
                    changed.push(key);
                    TxnOpResult::Put { kv, prev }
                }
                TxnOp::Delete { key } => {
                    let prev = kv_at(revs, &key, current)?;
                    if prev.is_some() {
                        let tombstone = Version { tombstone: true, create_revision: 0, version: 0, value: Vec::new() };
                        revs.insert(layout::version_key(&key, new_revision).as_slice(), tombstone.encode().as_slice())
                            .map_err(engine)?;
                        events.push(Event {
                            kind: EventKind::Delete,
                            kv: KeyValue {
                                key: key.clone(),
                                value: Vec::new(),
                                create_revision: 0,
                                mod_revision: new_revision,
                                version: 0,
                            },
                            prev: prev.clone(),
                        });
                        changed.push(key);
                    }
                    TxnOpResult::Delete { prev }
                }
                // Sees the writes made earlier in this transaction, as etcd does.
                TxnOp::Get { key } => TxnOpResult::Get { kv: kv_at(revs, &key, new_revision)? },
            };
            results.push(result);
        }
        let revision = if changed.is_empty() {
            current
        } else {
            log.insert(new_revision as u64, layout::encode_log(&changed).as_slice()).map_err(engine)?;
            self.revision = new_revision;
            new_revision
        };
        Ok(TxnResponse { succeeded, revision, results })
    }

    /// Compacts up to `target` in steps, each its own commit.
    fn compact(&mut self, target: Revision) -> Result<()> {
        if target > self.revision {
            return Err(Error::FutureRevision { requested: target, current: self.revision });
        }
        while self.compacted < target {
            self.compacted = self.compact_step(target)?;
        }
        Ok(())
    }

    /// Drops history below the next `COMPACTION_STEP` revisions (at most up to
    /// `target`) and returns the new compacted revision.
    fn compact_step(&mut self, target: Revision) -> Result<Revision> {
        let from = self.compacted.max(1) as u64;
        let until = (target as u64).min(from + COMPACTION_STEP);
        let mut wtx = self.db.begin_write().map_err(engine)?;
        wtx.set_durability(Durability::Immediate);
        {
            let mut revs = wtx.open_table(REVS).map_err(engine)?;
            let mut log = wtx.open_table(LOG).map_err(engine)?;
            let mut keys = BTreeSet::new();
            for entry in log.extract_from_if(from..until, |_, _| true).map_err(engine)? {
                let (_, raw) = entry.map_err(engine)?;
                let changed = layout::decode_log(raw.value())
                    .ok_or_else(|| Error::backend("embedded store: undecodable log record"))?;
                keys.extend(changed);
            }
            let new_compacted = until as Revision;
            for key in keys {
                prune_key(&mut revs, &key, new_compacted)?;
            }
            let mut meta = wtx.open_table(META).map_err(engine)?;
            meta.insert(layout::META_COMPACTED, new_compacted).map_err(engine)?;
        }
        wtx.commit().map_err(engine)?;
        Ok(until as Revision)
    }
}

/// Removes every version of `key` that no read at or after `compacted` can see: all
/// but the newest version below `compacted`, and that one too if it is a tombstone.
fn prune_key(revs: &mut Table<&'static [u8], &'static [u8]>, key: &[u8], compacted: Revision) -> Result<()> {
    let Some((newest_rev, newest)) = version_at(revs, key, compacted - 1)? else {
        return Ok(());
    };
    let keep_from = if newest.tombstone { newest_rev + 1 } else { newest_rev };
    let lo = layout::version_key(key, 0);
    let hi = layout::version_key(key, keep_from);
    let doomed: Vec<Vec<u8>> = revs
        .range(lo.as_slice()..hi.as_slice())
        .map_err(engine)?
        .map(|entry| entry.map(|(k, _)| k.value().to_vec()).map_err(engine))
        .collect::<Result<_>>()?;
    for k in doomed {
        revs.remove(k.as_slice()).map_err(engine)?;
    }
    Ok(())
}
