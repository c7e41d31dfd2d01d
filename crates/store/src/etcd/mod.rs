//! The etcd backend: [`EtcdStore`] runs the [`Store`] operations on a real etcd v3
//! cluster through the `etcd-client` crate. etcd already has the store's semantics
//! (the trait was modelled on it), so this is mostly translation; the places where
//! etcd's answers need more work are noted on [`EtcdStore`].

mod convert;
mod watch;

use std::time::Duration;

use async_trait::async_trait;
use etcd_client as ec;

use self::convert::Failure;
use crate::error::{Error, Result};
use crate::store::{validate_txn, Store, WatchStream};
use crate::types::*;

/// The largest gRPC message the client accepts from etcd: etcd's own limit for what
/// it sends (`math.MaxInt32`), so a large range is never refused by the client alone.
const MAX_MESSAGE_BYTES: usize = i32::MAX as usize;
/// How long `connect` waits for the cluster to answer, and a connection attempt lasts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 keep-alive on the connection, so a dead member is noticed on an idle watch.
/// etcd refuses pings more often than every 5 s (`--grpc-keepalive-min-time`).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// A key read only for the response header: "what is the revision (at R)?". It is
/// never written by skiff (whose keys start with `/`), and reading it is cheap either way.
const PROBE_KEY: &[u8] = b"\0skiff/probe";

/// A [`Store`] on an etcd v3 cluster (etcd 3.4 or newer). Cheap to clone; clones
/// share one connection.
///
/// # Guarantees and differences from the embedded store
/// - Revisions are etcd's own: a fresh etcd is at revision **1**, not 0, so the first
///   write takes revision 2. Everything else about revisions (one per writing
///   transaction, none for a read-only or no-op one) is etcd's and matches the trait.
/// - Values up to [`MAX_VALUE_BYTES`] (1.5 MiB) need the server started with
///   `--max-request-bytes=2097152` or more: etcd's default limit of 1.5 MiB is for the
///   whole request, so a maximum-size value plus its key and compares is refused
///   ([`Error::Backend`]) by a default-configured etcd.
/// - [`Store::compacted_revision`] is 0 while nothing was compacted. etcd does not
///   report its compaction revision directly; it is read from the `compact_revision`
///   etcd sends to a watch started at revision 1. (A compaction to revision 1 removes
///   nothing and reads as 0.)
/// - Watches are re-established transparently from the last revision delivered when
///   the gRPC stream breaks (a member lost, a connection reset), so the consumer sees
///   no gap and no duplicate; after repeated failures the stream ends with
///   [`Error::Backend`]. Progress notifications come at etcd's
///   `--experimental-watch-progress-notify-interval` (10 minutes by default).
/// - A batch of events carries the revision of its last event, never etcd's header
///   revision: while catching up, etcd splits history into several responses that all
///   carry the current revision, which would claim progress not yet delivered.
#[derive(Clone)]
pub struct EtcdStore {
    // Kept for the connection's endpoint list; the service clients share its channel.
    _client: ec::Client,
    kv: ec::KvClient,
    watch: ec::WatchClient,
}

impl EtcdStore {
    /// Connects to the etcd cluster at `endpoints` (`http://127.0.0.1:2379`; several
    /// members are balanced over) and checks that it answers.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for no or malformed endpoints, [`Error::Backend`] if
    /// the cluster does not answer within a few seconds.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(Error::InvalidRequest("no etcd endpoints given".into()));
        }
        let options = ec::ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEP_ALIVE_INTERVAL, KEEP_ALIVE_TIMEOUT)
            .with_keep_alive_while_idle(false);
        let client = ec::Client::connect(endpoints, Some(options)).await.map_err(|e| match e {
            ec::Error::InvalidArgs(_) | ec::Error::InvalidUri(_) => {
                Error::InvalidRequest(format!("invalid etcd endpoints {endpoints:?}: {e}"))
            }
            e => convert::backend(&format!("connect to {endpoints:?}"), e),
        })?;
        let store = EtcdStore {
            kv: client.kv_client().max_decoding_message_size(MAX_MESSAGE_BYTES),
            watch: client.watch_client().max_decoding_message_size(MAX_MESSAGE_BYTES),
            _client: client,
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, store.current_revision()).await {
            Ok(Ok(_)) => Ok(store),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::backend(format!("etcd at {endpoints:?} did not answer within {CONNECT_TIMEOUT:?}"))),
        }
    }

    /// The header revision of a cheap read, at `revision` (validating it) or latest.
    async fn probe(&self, revision: Option<Revision>) -> Result<Revision, Failure> {
        let mut options = ec::GetOptions::new().with_count_only();
        if let Some(revision) = revision {
            options = options.with_revision(revision);
        }
        let response = self.kv.clone().get(PROBE_KEY, Some(options)).await.map_err(|e| convert::classify("read", e))?;
        convert::header_revision(response.header(), "read").map_err(Failure::Other)
    }

    /// Completes a failure into the store's error: etcd's revision errors say neither
    /// the compacted nor the current revision, so ask for them.
    async fn explain(&self, failure: Failure, requested: Revision) -> Error {
        match failure {
            Failure::Compacted => match self.compacted_revision().await {
                Ok(compacted) => Error::Compacted { requested, compacted },
                Err(e) => e,
            },
            Failure::FutureRevision => match self.current_revision().await {
                Ok(current) => Error::FutureRevision { requested, current },
                Err(e) => e,
            },
            Failure::Other(e) => e,
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let requested = req.revision.filter(|&r| r > 0);
        let Some((start, options)) = convert::get_options(&req) else {
            // The range holds no key; still check the revision like any read.
            let revision = match self.probe(requested).await {
                Ok(revision) => revision,
                Err(failure) => return Err(self.explain(failure, requested.unwrap_or(0)).await),
            };
            return Ok(RangeResponse { kvs: Vec::new(), revision: requested.unwrap_or(revision), more: false });
        };
        let mut response = match self.kv.clone().get(start, Some(options)).await {
            Ok(response) => response,
            Err(e) => return Err(self.explain(convert::classify("range", e), requested.unwrap_or(0)).await),
        };
        let current = convert::header_revision(response.header(), "range")?;
        let more = response.more();
        let kvs = response.take_kvs().into_iter().map(convert::key_value).collect();
        Ok(RangeResponse { kvs, revision: requested.unwrap_or(current), more })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
        let request = ec::Txn::new()
            .when(txn.compares.iter().map(convert::compare).collect::<Vec<_>>())
            .and_then(convert::ops(&txn.success))
            .or_else(convert::ops(&txn.failure));
        let response = self.kv.clone().txn(request).await.map_err(|e| convert::backend("transaction", e))?;
        let revision = convert::header_revision(response.header(), "transaction")?;
        let succeeded = response.succeeded();
        let branch = if succeeded { txn.success } else { txn.failure };
        let results = convert::results(branch, response.op_responses(), revision)?;
        Ok(TxnResponse { succeeded, revision, results })
    }

    async fn watch(&self, prefix: &[u8], after_revision: Revision) -> Result<WatchStream> {
        watch::watch(self, prefix.to_vec(), after_revision).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        if revision <= 0 {
            // Below anything etcd could have compacted: a no-op, as for any older revision.
            return Ok(());
        }
        let options = ec::CompactionOptions::new().with_physical();
        match self.kv.clone().compact(revision, Some(options)).await {
            Ok(_) => Ok(()),
            Err(e) => match convert::classify("compaction", e) {
                // etcd refuses a compaction at or below the last one; the trait makes it a no-op.
                Failure::Compacted => Ok(()),
                failure => Err(self.explain(failure, revision).await),
            },
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        match self.probe(None).await {
            Ok(revision) => Ok(revision),
            Err(failure) => Err(self.explain(failure, 0).await),
        }
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        // Revision 1 exists in every etcd; it reads fine unless something was compacted.
        match self.probe(Some(1)).await {
            Ok(_) => Ok(0),
            Err(Failure::Compacted) => watch::compaction_revision(&self.watch).await,
            Err(Failure::FutureRevision) => Err(Error::backend("etcd reports revision 1 as a future revision")),
            Err(Failure::Other(e)) => Err(e),
        }
    }

    async fn count(&self, prefix: &[u8]) -> Result<u64> {
        let options = ec::GetOptions::new().with_prefix().with_count_only();
        let response = self.kv.clone().get(prefix, Some(options)).await.map_err(|e| convert::backend("count", e))?;
        u64::try_from(response.count())
            .map_err(|_| Error::backend(format!("etcd reported a negative count {}", response.count())))
    }
}
