//! The embedded backend: one redb file in the data directory, written by a single
//! group-committing writer thread, read from snapshots on the blocking pool.

mod layout;
mod read;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, Durability, ReadTransaction};
use tokio::sync::{broadcast, mpsc, oneshot};

use self::layout::{LOG, META, REVS};
use self::read::engine;
use self::writer::{Committed, Request, Writer};
use crate::error::{Error, Result};
use crate::store::{validate_txn, Store, WatchStream};
use crate::types::*;

/// The file inside the data directory that holds the store.
pub const DATA_FILE: &str = "state.redb";

/// Tuning for [`RedbStore::open_with`].
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// redb's page cache, in bytes. Counts toward the process's memory.
    pub cache_bytes: usize,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions { cache_bytes: 32 << 20 }
    }
}

/// The embedded, durable store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    requests: Option<mpsc::Sender<Request>>,
    published: broadcast::Sender<Arc<Committed>>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after the requests already queued;
        // joining it releases the file lock before `open` can be called again.
        self.requests.take();
        if let Some(handle) = self.writer.take() {
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
        let corrupt = |reason: String| Error::Corrupt { path: path.display().to_string(), reason };
        let exists = path.exists();
        let mut builder = redb::Builder::new();
        builder.set_cache_size(options.cache_bytes);
        let mut db = if exists {
            // redb asserts on some damaged headers (a truncated file) instead of
            // returning an error; either way the file is not usable.
            let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.open(&path)))
                .map_err(|_| corrupt("the file is truncated or its header is damaged".into()))?;
            opened.map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    Error::backend(format!("{} is already in use by another process", path.display()))
                }
                other => corrupt(other.to_string()),
            })?
        } else {
            builder.create(&path).map_err(engine)?
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
        let (revision, compacted) =
            read_meta(&db.begin_read().map_err(engine)?).map_err(|e| corrupt(format!("not a skiff store: {e}")))?;

        let db = Arc::new(db);
        let (requests, receiver) = mpsc::channel(4096);
        let (published, _) = broadcast::channel(1024);
        let writer = Writer::new(db.clone(), revision, compacted, receiver, published.clone());
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::backend_from("cannot start the store writer", e))?;
        Ok(RedbStore { inner: Arc::new(Inner { db, path, requests: Some(requests), published, writer: Some(handle) }) })
    }

    /// The path of the data file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn send(&self, request: Request) -> Result<()> {
        let requests = self.inner.requests.as_ref().ok_or(Error::Closed)?;
        requests.send(request).await.map_err(|_| Error::Closed)
    }

    /// Runs `f` on a read snapshot, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || f(&db.begin_read().map_err(engine)?))
            .await
            .map_err(|e| Error::backend(format!("read task failed: {e}")))?
    }
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

/// Reads `(revision, compacted)` from a snapshot, checking the format marker.
fn read_meta(rtx: &ReadTransaction) -> Result<(Revision, Revision)> {
    let meta = rtx.open_table(META).map_err(engine)?;
    let get = |name: &str| -> Result<i64> {
        meta.get(name).map_err(engine)?.map(|v| v.value()).ok_or_else(|| Error::backend(format!("missing {name}")))
    };
    let format = get(layout::META_FORMAT)?;
    if format != layout::FORMAT_VERSION {
        return Err(Error::backend(format!("unsupported format version {format}")));
    }
    Ok((get(layout::META_REVISION)?, get(layout::META_COMPACTED)?))
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
        self.read(move |rtx| {
            let (current, compacted) = read_meta(rtx)?;
            let at = req.revision.filter(|&r| r > 0).unwrap_or(current);
            check_revision(at, current, compacted)?;
            let revs = rtx.open_table(REVS).map_err(engine)?;
            let (kvs, more) = read::range_at(&revs, &req, at)?;
            Ok(RangeResponse { kvs, revision: at, more })
        })
        .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
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
        self.read(|rtx| Ok(read_meta(rtx)?.0)).await
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        self.read(|rtx| Ok(read_meta(rtx)?.1)).await
    }

    async fn count(&self, prefix: &[u8]) -> Result<u64> {
        let prefix = prefix.to_vec();
        self.read(move |rtx| {
            let (current, _) = read_meta(rtx)?;
            let revs = rtx.open_table(REVS).map_err(engine)?;
            read::count_at(&revs, &prefix, current)
        })
        .await
    }
}
