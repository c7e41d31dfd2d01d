//! The data model shared by every backend: keys with MVCC metadata, range and
//! transaction requests in etcd v3's shape, and watch batches.

/// A store-wide revision. Every committed write bumps it by one; 0 means "nothing
/// written yet". Signed to match etcd's wire type.
pub type Revision = i64;

/// The largest value a backend accepts. etcd's default request limit is 1.5 MiB; we
/// enforce the same bound on every backend so behaviour does not depend on it.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// One key with its MVCC bookkeeping, as etcd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Revision of the write that created the key (reset by a delete + create).
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Number of writes since the key was created; 1 after the create.
    pub version: i64,
}

/// Which keys a range covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeEnd {
    /// Exactly the start key.
    Single,
    /// Every key beginning with the start key.
    Prefix,
    /// `[start, end)`.
    Exclusive(Vec<u8>),
    /// `[start, ∞)` — used by pagination inside a prefix only through `Prefix`, but
    /// kept for completeness of etcd's model.
    Unbounded,
}

/// A read of one or more keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    pub start: Vec<u8>,
    pub end: RangeEnd,
    /// Read the state as of this revision; `None` is the latest.
    pub revision: Option<Revision>,
    /// At most this many items; `None` or `Some(0)` is unlimited.
    pub limit: Option<usize>,
}

impl RangeRequest {
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        RangeRequest { start: prefix.into(), end: RangeEnd::Prefix, revision: None, limit: None }
    }

    pub fn between(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        RangeRequest { start: start.into(), end: RangeEnd::Exclusive(end.into()), revision: None, limit: None }
    }

    pub fn at(mut self, revision: Revision) -> Self {
        self.revision = Some(revision);
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The exclusive upper bound of the range, or `None` when it is unbounded.
    pub fn end_key(&self) -> Option<Vec<u8>> {
        match &self.end {
            RangeEnd::Single => {
                let mut k = self.start.clone();
                k.push(0);
                Some(k)
            }
            RangeEnd::Prefix => prefix_end(&self.start),
            RangeEnd::Exclusive(end) => Some(end.clone()),
            RangeEnd::Unbounded => None,
        }
    }

    /// Whether `key` falls inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end_key().is_none_or(|end| key < end.as_slice())
    }
}

/// The smallest key greater than every key with this prefix (etcd's `GetPrefixRangeEnd`);
/// `None` when no such key exists (prefix empty or all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The answer to a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResponse {
    /// Items in key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the read was served at (the requested one, or the latest).
    pub revision: Revision,
    /// Whether more keys in the range remain after the last returned one.
    pub more: bool,
}

/// What a compare looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    /// 0 when the key does not exist.
    ModRevision(Revision),
    /// 0 when the key does not exist.
    CreateRevision(Revision),
    /// 0 when the key does not exist.
    Version(i64),
    /// A missing key never matches a value compare (as in etcd).
    Value(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// One condition of a transaction, on a single key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    pub key: Vec<u8>,
    pub op: CompareOp,
    pub target: CompareTarget,
}

impl Compare {
    pub fn mod_revision(key: impl Into<Vec<u8>>, op: CompareOp, rev: Revision) -> Self {
        Compare { key: key.into(), op, target: CompareTarget::ModRevision(rev) }
    }
    pub fn create_revision(key: impl Into<Vec<u8>>, op: CompareOp, rev: Revision) -> Self {
        Compare { key: key.into(), op, target: CompareTarget::CreateRevision(rev) }
    }
    pub fn version(key: impl Into<Vec<u8>>, op: CompareOp, version: i64) -> Self {
        Compare { key: key.into(), op, target: CompareTarget::Version(version) }
    }
    pub fn value(key: impl Into<Vec<u8>>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        Compare { key: key.into(), op, target: CompareTarget::Value(value.into()) }
    }

    /// Evaluates the compare against the key's current state (`None` = missing).
    /// This is etcd's rule set, shared so every backend that evaluates compares
    /// itself agrees with etcd.
    pub fn matches(&self, current: Option<&KeyValue>) -> bool {
        use std::cmp::Ordering;
        let ord: Ordering = match (&self.target, current) {
            (CompareTarget::Value(_), None) => return false,
            (CompareTarget::Value(v), Some(kv)) => kv.value.as_slice().cmp(v.as_slice()),
            (CompareTarget::ModRevision(r), kv) => kv.map_or(0, |kv| kv.mod_revision).cmp(r),
            (CompareTarget::CreateRevision(r), kv) => kv.map_or(0, |kv| kv.create_revision).cmp(r),
            (CompareTarget::Version(v), kv) => kv.map_or(0, |kv| kv.version).cmp(v),
        };
        match self.op {
            CompareOp::Equal => ord == Ordering::Equal,
            CompareOp::NotEqual => ord != Ordering::Equal,
            CompareOp::Greater => ord == Ordering::Greater,
            CompareOp::Less => ord == Ordering::Less,
        }
    }
}

/// One operation in a transaction branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    Put { key: Vec<u8>, value: Vec<u8> },
    Delete { key: Vec<u8> },
    Get { key: Vec<u8> },
}

impl TxnOp {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        TxnOp::Put { key: key.into(), value: value.into() }
    }
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        TxnOp::Delete { key: key.into() }
    }
    pub fn get(key: impl Into<Vec<u8>>) -> Self {
        TxnOp::Get { key: key.into() }
    }
}

/// etcd's transaction: if every compare holds, run `success`, else `failure`.
/// The whole transaction is atomic and, if it writes anything, takes exactly one
/// new revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

impl Txn {
    pub fn new() -> Self {
        Txn::default()
    }
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.compares.extend(compares);
        self
    }
    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.success.extend(ops);
        self
    }
    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.failure.extend(ops);
        self
    }
}

/// The outcome of one transaction operation, in the order of the branch that ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOpResult {
    /// The key after the put, and its state before (if it existed).
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// The deleted key's last state, or `None` when it did not exist.
    Delete {
        prev: Option<KeyValue>,
    },
    Get {
        kv: Option<KeyValue>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every compare held (so `success` ran).
    pub succeeded: bool,
    /// The store revision after the transaction: the new revision if it wrote,
    /// else the revision it read at.
    pub revision: Revision,
    pub results: Vec<TxnOpResult>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a put, the new state. For a delete, the key with `mod_revision` set to the
    /// deleting revision and an empty value (as etcd reports it).
    pub kv: KeyValue,
    /// The key's state just before this change, if it existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// What a watch stream yields: the events of one or more revisions, in revision
/// order, and the store revision the batch was observed at. A batch with no events
/// is a progress notification: nothing matching changed up to `revision`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchBatch {
    pub events: Vec<Event>,
    pub revision: Revision,
}
