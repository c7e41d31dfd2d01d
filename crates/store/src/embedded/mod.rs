//! The embedded backend: a redb data file and a write-ahead log in the data directory.
//!
//! A write to an idle store is done by the caller's thread: apply, one WAL write
//! with its fdatasync, publish (`writer::try_direct`). Writes that find the store
//! busy go through two threads, pipelined:
//! - the **writer** applies waiting transactions in order against the latest state
//!   and encodes their changes (`writer`);
//! - the **syncer** writes them to the WAL as one frame and fdatasyncs once, then
//!   makes them visible, answers the callers and publishes the events (`syncer`).
//!
//! The **flusher** writes visible groups to the data file in one durable redb
//! commit every ~100 ms, and runs compactions (`flusher`).
//!
//! Readers take a redb snapshot and overlay the visible groups not yet flushed
//! (`overlay`); they read at the visible revision, so they never see a write that is
//! not on disk. Opening replays the WAL onto the data file (`recovery`).

mod apply;
mod compaction;
mod flusher;
mod layout;
mod overlay;
mod read;
mod recovery;
mod state;
mod syncer;
mod wal;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, Durability, ReadTransaction};
use tokio::sync::{broadcast, mpsc, oneshot};

use self::flusher::Flusher;
use self::layout::{LOG, META, REVS};
use self::read::engine;
use self::state::{Committed, Shared};
use self::syncer::{Committer, FlushAfter, Syncer};
use self::wal::{SegmentPool, WalWriter};
use self::writer::{Request, Writer, WriterCore};
use crate::error::{Error, Result};
use crate::store::{validate_txn, Store, WatchStream};
use crate::types::*;

/// The file inside the data directory that holds the store's data.
pub const DATA_FILE: &str = "state.redb";
pub use self::wal::WAL_DIR;

/// Tuning for [`RedbStore::open_with`].
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// redb's page cache, in bytes. Counts toward the process's memory.
    pub cache_bytes: usize,
    /// How often visible writes are flushed from the WAL to the data file (sooner
    /// when many wait). Shorter: more, smaller redb commits; longer: more memory and
    /// a longer replay after a crash.
    pub flush_interval: Duration,
    /// ...and as soon as this many bytes were written to the WAL since. A flush's
    /// pages (its values, and the B-tree pages they split: about three times its WAL
    /// bytes) should fit redb's write buffer, a tenth of `cache_bytes`: past it redb
    /// writes pages out during the commit and reads them back to checksum them.
    pub flush_bytes: usize,
    /// A WAL segment is closed (and deleted once flushed) past this size.
    pub wal_segment_bytes: u64,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            cache_bytes: 32 << 20,
            flush_interval: Duration::from_millis(100),
            flush_bytes: 512 << 10,
            wal_segment_bytes: 1 << 20,
        }
    }
}

/// Flush as soon as this many revisions wait, whatever the interval.
const FLUSH_REVISIONS: i64 = 8192;
/// The writer waits for the flusher when this many revisions are not flushed: bounds
/// the memory of unflushed writes (kept in the writer's index and for readers).
const MAX_UNFLUSHED: i64 = 4 * FLUSH_REVISIONS;

/// The embedded, durable store. Cheap to clone; all clones share one writer.
///
/// # Guarantees
/// - A write is acknowledged only once it is on disk (fdatasync of the WAL), and a
///   failed write leaves no trace.
/// - Reads, `current_revision` and watches see only acknowledged-durable revisions.
/// - After a crash, opening restores exactly the acknowledged writes.
/// - After an I/O failure (a full disk), every later write fails with
///   [`Error::Backend`] until the store is reopened.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    shared: Arc<Shared>,
    path: PathBuf,
    requests: Option<mpsc::Sender<Request>>,
    /// The writer's state, shared by the writer thread and direct writes.
    core: Arc<Mutex<WriterCore>>,
    committer: Arc<Committer>,
    published: broadcast::Sender<Arc<Committed>>,
    threads: Threads,
    /// Callers inside `txn`: a write takes the direct path only when it is alone.
    in_flight: AtomicUsize,
}

#[derive(Default)]
struct Threads {
    writer: Option<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after the requests already queued;
        // the syncer stops after the writer's last group; then the flusher writes
        // everything to the data file (a clean close needs no replay). Joining them
        // releases the file lock before `open` can be called again.
        self.requests.take();
        for handle in [self.threads.writer.take(), self.threads.syncer.take()].into_iter().flatten() {
            let _ = handle.join();
        }
        self.shared.close();
        if let Some(handle) = self.threads.flusher.take() {
            let _ = handle.join();
        }
    }
}

impl RedbStore {
    /// Opens the store in `data_dir`, creating it if the directory holds none.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file exists but is not a readable skiff store
    /// (truncated, damaged, or another format) — the store never starts empty over
    /// existing data. [`Error::Backend`] for I/O failures.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with(data_dir, RedbOptions::default())
    }

    pub fn open_with(data_dir: &Path, options: RedbOptions) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::backend_from(format!("cannot create data directory {}", data_dir.display()), e))?;
        let path = data_dir.join(DATA_FILE);
        let db = open_data_file(&path, options.cache_bytes)?;
        let recovered = recovery::recover(&db, &data_dir.join(WAL_DIR))?;
        if recovered.replayed > 0 {
            tracing::info!(revisions = recovered.replayed, revision = recovered.revision, "replayed the WAL");
        }
        let wal_dir = data_dir.join(WAL_DIR);
        let segments = Arc::new(SegmentPool::new(&wal_dir, wal::SPARE_SEGMENTS, recovered.leftovers));
        let wal = WalWriter::create(segments.clone(), recovered.next_sequence, options.wal_segment_bytes)
            .map_err(|e| Error::backend_from(format!("cannot start a WAL segment in {}", wal_dir.display()), e))?;

        let db = Arc::new(db);
        let shared = Arc::new(Shared::new(recovered.revision));
        let (requests, receiver) = mpsc::channel(4096);
        let (to_syncer, groups) = std::sync::mpsc::sync_channel(1024);
        let (published, _) = broadcast::channel(1024);
        let core = Arc::new(Mutex::new(WriterCore::new(db.clone(), recovered.revision, MAX_UNFLUSHED)));
        let committer = Arc::new(Committer::new(
            wal,
            shared.clone(),
            published.clone(),
            FlushAfter { revisions: FLUSH_REVISIONS, bytes: options.flush_bytes },
        ));
        let writer = Writer::new(core.clone(), shared.clone(), receiver, to_syncer);
        let syncer = Syncer { committer: committer.clone(), groups };
        let flusher = Flusher {
            db: db.clone(),
            shared: shared.clone(),
            interval: options.flush_interval,
            flush_revisions: FLUSH_REVISIONS,
            compacted: recovered.compacted,
            segments,
            failed: false,
        };
        let spawn = |name: &str, run: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(run)
                .map_err(|e| Error::backend_from(format!("cannot start the store's {name} thread"), e))
        };
        // Dropping `inner` on an error below stops the threads already started.
        let mut inner = Inner {
            db,
            shared,
            path,
            requests: Some(requests),
            core,
            committer,
            published,
            threads: Threads::default(),
            in_flight: Default::default(),
        };
        inner.threads.flusher = Some(spawn("store-flusher", Box::new(move || flusher.run()))?);
        inner.threads.syncer = Some(spawn("store-syncer", Box::new(move || syncer.run()))?);
        inner.threads.writer = Some(spawn("store-writer", Box::new(move || writer.run()))?);
        Ok(RedbStore { inner: Arc::new(inner) })
    }

    /// The path of the data file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn send(&self, request: Request) -> Result<()> {
        let requests = self.inner.requests.as_ref().ok_or(Error::Closed)?;
        requests.send(request).await.map_err(|_| Error::Closed)
    }

    /// Runs `f` on the blocking pool with the database and the shared state.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, &Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner.db, &inner.shared))
            .await
            .map_err(|e| Error::backend(format!("read task failed: {e}")))?
    }
}

/// One caller inside `txn`, counted until it has its answer.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    /// No other caller was inside `txn` when this one came in.
    alone: bool,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let before = count.fetch_add(1, Ordering::AcqRel);
        InFlight { count, alone: before == 0 }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Opens (or creates) the data file, refusing anything that is not an intact store.
fn open_data_file(path: &Path, cache_bytes: usize) -> Result<Database> {
    let corrupt = |reason: String| Error::Corrupt { path: path.display().to_string(), reason };
    let exists = path.exists();
    let mut builder = redb::Builder::new();
    builder.set_cache_size(cache_bytes);
    let mut db = if exists {
        // redb asserts on some damaged headers (a truncated file) instead of
        // returning an error; either way the file is not usable.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.open(path)))
            .map_err(|_| corrupt("the file is truncated or its header is damaged".into()))?;
        opened.map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                Error::backend(format!("{} is already in use by another process", path.display()))
            }
            other => corrupt(other.to_string()),
        })?
    } else {
        builder.create(path).map_err(engine)?
    };
    if exists {
        match db.check_integrity() {
            Ok(true) => {}
            Ok(false) => return Err(corrupt("integrity check failed (the file was damaged)".into())),
            Err(e) => return Err(corrupt(e.to_string())),
        }
    } else {
        initialize(&db)?;
    }
    read_meta(&db.begin_read().map_err(engine)?).map_err(|e| corrupt(format!("not a skiff store: {e}")))?;
    Ok(db)
}

fn initialize(db: &Database) -> Result<()> {
    let mut wtx = db.begin_write().map_err(engine)?;
    wtx.set_durability(Durability::Immediate);
    {
        let mut meta = wtx.open_table(META).map_err(engine)?;
        meta.insert(layout::META_FORMAT, layout::FORMAT_VERSION).map_err(engine)?;
        meta.insert(layout::META_REVISION, 0).map_err(engine)?;
        meta.insert(layout::META_COMPACTED, 0).map_err(engine)?;
        wtx.open_table(REVS).map_err(engine)?;
        wtx.open_table(LOG).map_err(engine)?;
    }
    wtx.commit().map_err(engine)
}

/// The data file's bookkeeping.
#[derive(Clone, Copy, Debug)]
struct Meta {
    format: i64,
    /// Every revision up to this one is in the data file.
    revision: Revision,
    compacted: Revision,
}

/// Reads the meta table of a snapshot, checking the format marker.
fn read_meta(rtx: &ReadTransaction) -> Result<Meta> {
    let meta = rtx.open_table(META).map_err(engine)?;
    let get = |name: &str| -> Result<i64> {
        meta.get(name).map_err(engine)?.map(|v| v.value()).ok_or_else(|| Error::backend(format!("missing {name}")))
    };
    let format = get(layout::META_FORMAT)?;
    if format != layout::FORMAT_VERSION && format != layout::FORMAT_VERSION_WITHOUT_WAL {
        return Err(Error::backend(format!("unsupported format version {format}")));
    }
    Ok(Meta { format, revision: get(layout::META_REVISION)?, compacted: get(layout::META_COMPACTED)? })
}

/// Checks that a read at `at` is inside the kept history.
fn check_revision(at: Revision, current: Revision, compacted: Revision) -> Result<()> {
    if at > current {
        Err(Error::FutureRevision { requested: at, current })
    } else if at < compacted {
        Err(Error::Compacted { requested: at, compacted })
    } else {
        Ok(())
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.read(move |db, shared| {
            let (at, flushed, overlay) = {
                let state = shared.lock();
                let at = req.revision.filter(|&r| r > 0).unwrap_or(state.visible);
                if at > state.visible {
                    return Err(Error::FutureRevision { requested: at, current: state.visible });
                }
                (at, state.flushed, overlay::newest_in_range(&state.recent, &req, at))
            };
            // Begun after `flushed` was read, so it holds at least that much.
            let rtx = db.begin_read().map_err(engine)?;
            let meta = read_meta(&rtx)?;
            if at < meta.compacted {
                return Err(Error::Compacted { requested: at, compacted: meta.compacted });
            }
            let revs = rtx.open_table(REVS).map_err(engine)?;
            let (kvs, more) = read::range_at(&revs, &req, at.min(flushed), overlay)?;
            Ok(RangeResponse { kvs, revision: at, more })
        })
        .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
        let inner = &self.inner;
        let requests = inner.requests.as_ref().ok_or(Error::Closed)?;
        // The direct path only for a caller with no company: with several writers in
        // flight, the one that finds the store idle for a moment would pay a sync of
        // its own, which the others' group could have shared (docs/benchmarks.md,
        // "Store: 16 writers").
        let caller = InFlight::enter(&inner.in_flight);
        let idle = caller.alone && requests.capacity() == requests.max_capacity();
        let txn = match writer::try_direct(&inner.core, &inner.committer, &inner.shared, idle, txn) {
            Ok(result) => return result,
            Err(busy) => busy,
        };
        let (reply, response) = oneshot::channel();
        self.send(Request::Txn { txn, reply }).await?;
        response.await.map_err(|_| Error::Closed)?
    }

    async fn watch(&self, prefix: &[u8], after_revision: Revision) -> Result<WatchStream> {
        watch::watch(self.clone(), prefix.to_vec(), after_revision).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, response) = oneshot::channel();
        self.send(Request::Compact { revision, reply }).await?;
        response.await.map_err(|_| Error::Closed)?
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.shared.visible())
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        self.read(|db, _| Ok(read_meta(&db.begin_read().map_err(engine)?)?.compacted)).await
    }

    async fn count(&self, prefix: &[u8]) -> Result<u64> {
        let prefix = prefix.to_vec();
        self.read(move |db, shared| {
            let (flushed, overlay) = {
                let state = shared.lock();
                (
                    state.flushed,
                    overlay::newest_in_range(&state.recent, &RangeRequest::prefix(prefix.clone()), state.visible),
                )
            };
            let rtx = db.begin_read().map_err(engine)?;
            let revs = rtx.open_table(REVS).map_err(engine)?;
            read::count_at(&revs, &prefix, flushed, overlay)
        })
        .await
    }
}
