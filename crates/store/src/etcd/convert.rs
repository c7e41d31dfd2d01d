//! Translation between skiff's types and etcd-client's: requests, responses, errors.
//! Nothing here talks to etcd.

use etcd_client as ec;

use crate::error::{Error, Result};
use crate::types::*;

/// How an etcd call failed, as far as the store's error model cares.
#[derive(Debug)]
pub(super) enum Failure {
    /// "required revision has been compacted": etcd does not say up to where.
    Compacted,
    /// "required revision is a future revision": etcd does not say the current one.
    FutureRevision,
    /// Anything else, already mapped to the store's error.
    Other(Error),
}

/// etcd reports both revision errors as gRPC `OutOfRange` with these fixed texts
/// (`ErrGRPCCompacted`, `ErrGRPCFutureRev`); the text is the only thing telling them apart.
const COMPACTED_MESSAGE: &str = "required revision has been compacted";
const FUTURE_REVISION_MESSAGE: &str = "required revision is a future revision";

/// Classifies an etcd-client error; `what` names the operation for the message.
pub(super) fn classify(what: &str, e: ec::Error) -> Failure {
    if let ec::Error::GRpcStatus(status) = &e {
        if status.message().contains(COMPACTED_MESSAGE) {
            return Failure::Compacted;
        }
        if status.message().contains(FUTURE_REVISION_MESSAGE) {
            return Failure::FutureRevision;
        }
    }
    Failure::Other(backend(what, e))
}

/// An etcd failure as [`Error::Backend`], keeping the client error as the source.
pub(super) fn backend(what: &str, e: ec::Error) -> Error {
    Error::backend_from(format!("etcd {what} failed: {e}"), e)
}

/// etcd's key-value, with all of its MVCC bookkeeping.
pub(super) fn key_value(kv: ec::KeyValue) -> KeyValue {
    let (create_revision, mod_revision, version) = (kv.create_revision(), kv.mod_revision(), kv.version());
    let (key, value) = kv.into_key_value();
    KeyValue { key, value, create_revision, mod_revision, version }
}

/// The revision in a response header; etcd always sends one, but a missing one is an
/// error rather than a panic.
pub(super) fn header_revision(header: Option<&ec::ResponseHeader>, what: &str) -> Result<Revision> {
    header.map(|h| h.revision()).ok_or_else(|| Error::backend(format!("etcd {what} response has no header")))
}

/// The etcd `Get` for a range, or `None` when the range can hold no key at all (an
/// empty single key, or an exclusive end at or before the start), which etcd would
/// either reject or read differently: `range_end = "\0"` means "to the end" there.
pub(super) fn get_options(req: &RangeRequest) -> Option<(Vec<u8>, ec::GetOptions)> {
    let mut options = ec::GetOptions::new();
    if let Some(revision) = req.revision.filter(|&r| r > 0) {
        options = options.with_revision(revision);
    }
    if let Some(limit) = req.limit.filter(|&l| l > 0) {
        options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let mut start = req.start.clone();
    let options = match &req.end {
        RangeEnd::Single if start.is_empty() => return None,
        RangeEnd::Single => options,
        // etcd-client turns an empty prefix into "every key".
        RangeEnd::Prefix => options.with_prefix(),
        RangeEnd::Exclusive(end) => {
            if end.as_slice() <= start.as_slice() || end.as_slice() == [0] {
                return None;
            }
            if start.is_empty() {
                // etcd refuses an empty key; no key is empty, so "\0" starts at the same place.
                start = vec![0];
            }
            options.with_range(end.clone())
        }
        RangeEnd::Unbounded => options.with_from_key(),
    };
    Some((start, options))
}

pub(super) fn compare(compare: &Compare) -> ec::Compare {
    let op = match compare.op {
        CompareOp::Equal => ec::CompareOp::Equal,
        CompareOp::NotEqual => ec::CompareOp::NotEqual,
        CompareOp::Greater => ec::CompareOp::Greater,
        CompareOp::Less => ec::CompareOp::Less,
    };
    let key = compare.key.clone();
    match &compare.target {
        CompareTarget::ModRevision(rev) => ec::Compare::mod_revision(key, op, *rev),
        CompareTarget::CreateRevision(rev) => ec::Compare::create_revision(key, op, *rev),
        CompareTarget::Version(version) => ec::Compare::version(key, op, *version),
        CompareTarget::Value(value) => ec::Compare::value(key, op, value.clone()),
    }
}

/// The etcd operations of one branch. Puts and deletes ask for the previous value,
/// which [`TxnOpResult`] reports.
pub(super) fn ops(ops: &[TxnOp]) -> Vec<ec::TxnOp> {
    ops.iter()
        .map(|op| match op {
            TxnOp::Put { key, value } => {
                ec::TxnOp::put(key.clone(), value.clone(), Some(ec::PutOptions::new().with_prev_key()))
            }
            TxnOp::Delete { key } => ec::TxnOp::delete(key.clone(), Some(ec::DeleteOptions::new().with_prev_key())),
            TxnOp::Get { key } => ec::TxnOp::get(key.clone(), None),
        })
        .collect()
}

/// Pairs the branch that ran with etcd's per-operation responses. `revision` is the
/// transaction's header revision: the new revision if it wrote (every put in it is
/// at that revision), else the revision it read at.
pub(super) fn results(
    branch: Vec<TxnOp>,
    responses: Vec<ec::TxnOpResponse>,
    revision: Revision,
) -> Result<Vec<TxnOpResult>> {
    if branch.len() != responses.len() {
        return Err(Error::backend(format!(
            "etcd answered a transaction of {} operations with {} results",
            branch.len(),
            responses.len()
        )));
    }
    branch
        .into_iter()
        .zip(responses)
        .map(|(op, response)| match (op, response) {
            (TxnOp::Put { key, value }, ec::TxnOpResponse::Put(mut put)) => {
                let prev = put.take_prev_key().map(key_value);
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                    mod_revision: revision,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                };
                Ok(TxnOpResult::Put { kv, prev })
            }
            (TxnOp::Delete { .. }, ec::TxnOpResponse::Delete(mut delete)) => {
                Ok(TxnOpResult::Delete { prev: delete.take_prev_kvs().into_iter().next().map(key_value) })
            }
            (TxnOp::Get { .. }, ec::TxnOpResponse::Get(mut get)) => {
                Ok(TxnOpResult::Get { kv: get.take_kvs().into_iter().next().map(key_value) })
            }
            // Names only: the operations may carry values of megabytes.
            (op, response) => {
                let asked = match op {
                    TxnOp::Put { .. } => "put",
                    TxnOp::Delete { .. } => "delete",
                    TxnOp::Get { .. } => "get",
                };
                let answered = match response {
                    ec::TxnOpResponse::Put(_) => "put",
                    ec::TxnOpResponse::Delete(_) => "delete",
                    ec::TxnOpResponse::Get(_) => "get",
                    ec::TxnOpResponse::Txn(_) => "txn",
                };
                Err(Error::backend(format!("etcd answered a transaction {asked} with a {answered} result")))
            }
        })
        .collect()
}

/// One etcd watch event. The kind is taken from the key's version, which etcd sets
/// to 0 exactly for deletes (a put always leaves version ≥ 1): etcd-client's
/// `event_type()` panics on an unknown type, and a response must never panic us.
pub(super) fn event(event: &ec::Event) -> Result<Event> {
    let kv = event.kv().ok_or_else(|| Error::backend("etcd watch event without a key-value"))?;
    let prev = event.prev_kv().cloned().map(key_value);
    if kv.version() == 0 {
        let kv = KeyValue {
            key: kv.key().to_vec(),
            value: Vec::new(),
            create_revision: 0,
            mod_revision: kv.mod_revision(),
            version: 0,
        };
        Ok(Event { kind: EventKind::Delete, kv, prev })
    } else {
        Ok(Event { kind: EventKind::Put, kv: key_value(kv.clone()), prev })
    }
}
