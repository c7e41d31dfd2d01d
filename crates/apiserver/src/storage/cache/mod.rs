//! The watch cache (upstream's cacher): one store watch per resource, the current
//! objects and a window of recent events in memory, fanned out to any number of
//! API watchers. Thousands of `kubectl get -w` cost one store watch.
//!
//! Gap-freedom: events are appended to the window and broadcast under the write
//! lock, and a watcher subscribes and snapshots under the read lock, so every event
//! is either in its snapshot or in its subscription — never neither, never both.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use skiff_api::registry::Resource;
use skiff_api::{ApiError, ApiResult};
use skiff_store::{EventKind, RangeRequest, Revision, Store};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::resource_prefix;

mod object;
mod window;
pub use object::CachedObject;

/// How long a request waits for a cache's first list before it gets 503.
const READY_WAIT: Duration = Duration::from_secs(30);
/// Per-cache fan-out buffer; a watcher further behind than this is cut off and
/// resumes from the history. Every slot is allocated when the first watcher comes,
/// for each of the ~60 resources (the garbage collector watches them all): 16k
/// slots cost ~0.7 MiB per resource, 2k cost ~80 KiB.
const FANOUT: usize = 2_048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added = 0,
    Modified = 1,
    Deleted = 2,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watchers see it.
#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    pub key: String,
    /// The object after the change; for a delete, its last state with the deleting
    /// revision as resourceVersion.
    pub object: Arc<CachedObject>,
    pub prev: Option<Arc<CachedObject>>,
    pub revision: Revision,
    /// The watch line (`{"type":…,"object":…}`) in JSON for each event type a watcher
    /// may see this event as, encoded by the first watcher that needs it and shared by
    /// all others: fan-out to thousands of watchers encodes the object once.
    lines: [OnceLock<Bytes>; 3],
}

impl CacheEvent {
    pub fn new(
        kind: EventType,
        key: String,
        object: Arc<CachedObject>,
        prev: Option<Arc<CachedObject>>,
        revision: Revision,
    ) -> Self {
        CacheEvent { kind, key, object, prev, revision, lines: Default::default() }
    }

    /// The JSON watch line of this event shown as `kind`, made by `encode` once.
    pub fn json_line(&self, kind: EventType, encode: impl FnOnce() -> Bytes) -> Bytes {
        self.lines[kind as usize].get_or_init(encode).clone()
    }
}

/// Messages on the fan-out channel.
#[derive(Debug, Clone)]
pub enum Fanout {
    Event(Arc<CacheEvent>),
    /// The cache lost its store watch and relisted, or the server is shutting
    /// down: watchers must end (clients resume, and get 410 if their revision is
    /// gone).
    Reset,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Arc<CachedObject>>,
    revision: Revision,
    /// Recent events, each with the time it arrived, for watches that resume
    /// from a resourceVersion; older resumes get 410 Expired and relist. Sized
    /// by [`window`].
    history: VecDeque<(std::time::Instant, Arc<CacheEvent>)>,
    /// Events with a revision above this are all in `history`.
    history_floor: Revision,
    ready: bool,
}

/// The cache of one stored resource.
pub struct Cacher {
    resource: &'static Resource,
    prefix: String,
    state: RwLock<State>,
    /// Made by the first watcher: its buffer is large (a watcher may lag
    /// [`FANOUT`] events) and most of the ~60 resources are never watched.
    fanout: OnceLock<broadcast::Sender<Fanout>>,
    revision: watch::Sender<Revision>,
}

/// What a new watcher starts from.
pub struct Subscription {
    /// Events to send first (synthetic ADDED for a full snapshot, or history).
    pub initial: Vec<Arc<CacheEvent>>,
    /// The cache revision at the moment of subscribing: every later event comes
    /// through `live`.
    pub revision: Revision,
    pub live: broadcast::Receiver<Fanout>,
}

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// Send the current state as ADDED events first.
    Snapshot,
    /// Send every change after this revision.
    After(Revision),
}

impl Cacher {
    pub fn new(resource: &'static Resource) -> Arc<Cacher> {
        let (revision, _) = watch::channel(0);
        Arc::new(Cacher {
            resource,
            prefix: resource_prefix(resource),
            state: RwLock::new(State::default()),
            fanout: OnceLock::new(),
            revision,
        })
    }

    pub fn resource(&self) -> &'static Resource {
        self.resource
    }

    /// Keeps the cache in sync with the store until `shutdown`: list, watch, and on
    /// any watch failure start over. On `shutdown` every watcher is told to end
    /// (`Fanout::Reset`): watchers wait on their channel alone.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>, shutdown: CancellationToken) {
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.sync_once(&store) => r,
            };
            if let Err(e) = result {
                tracing::warn!(resource = self.resource.plural, error = %e, "watch cache lost its store watch; relisting");
            }
            self.send(Fanout::Reset);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        self.send(Fanout::Reset);
    }

    async fn sync_once(&self, store: &Arc<dyn Store>) -> Result<(), skiff_store::Error> {
        let first = self.list(store).await?;
        let revision = first.revision;
        let mut objects = BTreeMap::new();
        for kv in first.kvs {
            if let Ok(obj) = CachedObject::from_stored(self.resource, &kv.value, kv.mod_revision) {
                objects.insert(String::from_utf8_lossy(&kv.key).into_owned(), Arc::new(obj));
            }
        }
        let mut stream = store.watch(self.prefix.as_bytes(), revision).await?;
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            *state = State { objects, revision, history: VecDeque::new(), history_floor: revision, ready: true };
        }
        self.revision.send_replace(revision);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            self.apply(batch);
        }
        Err(skiff_store::Error::Closed)
    }

    /// The first list of a sync. A relist after a lost store watch reads the store as
    /// of the revision the cache had reached (while the store still keeps it), so the
    /// window of history starts where it ended: watchers that resume from what they
    /// last saw are served from the cache instead of getting 410 and relisting.
    async fn list(&self, store: &Arc<dyn Store>) -> Result<skiff_store::RangeResponse, skiff_store::Error> {
        let reached = self.state.read().unwrap_or_else(|e| e.into_inner()).revision;
        if reached > 0 {
            let mut at = RangeRequest::prefix(self.prefix.as_bytes());
            at.revision = Some(reached);
            match store.range(at).await {
                Err(skiff_store::Error::Compacted { .. }) => {}
                other => return other,
            }
        }
        store.range(RangeRequest::prefix(self.prefix.as_bytes())).await
    }

    fn apply(&self, batch: skiff_store::WatchBatch) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        for event in batch.events {
            let key = String::from_utf8_lossy(&event.kv.key).into_owned();
            let revision = event.kv.mod_revision;
            let prev = state.objects.get(&key).cloned();
            let cache_event = match event.kind {
                EventKind::Put => {
                    let Ok(obj) = CachedObject::from_stored(self.resource, &event.kv.value, revision) else { continue };
                    let obj = Arc::new(obj);
                    state.objects.insert(key.clone(), obj.clone());
                    let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
                    CacheEvent::new(kind, key, obj, prev, revision)
                }
                EventKind::Delete => {
                    state.objects.remove(&key);
                    let Some(last) = event.prev.as_ref() else { continue };
                    let Ok(obj) = CachedObject::from_stored(self.resource, &last.value, revision) else { continue };
                    CacheEvent::new(EventType::Deleted, key, Arc::new(obj), prev, revision)
                }
            };
            let cache_event = Arc::new(cache_event);
            while state.history.front().is_some_and(|(t, _)| window::evict_oldest(state.history.len(), now - *t)) {
                if let Some((_, old)) = state.history.pop_front() {
                    state.history_floor = old.revision;
                }
            }
            state.history.push_back((now, cache_event.clone()));
            self.send(Fanout::Event(cache_event));
        }
        state.revision = state.revision.max(batch.revision);
        let revision = state.revision;
        drop(state);
        self.revision.send_replace(revision);
    }

    /// Fans a message out to the watchers, if there have been any.
    fn send(&self, message: Fanout) {
        if let Some(fanout) = self.fanout.get() {
            let _ = fanout.send(message);
        }
    }

    /// The revision the cache has caught up to.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the cache has seen `revision` (or times out, as upstream does
    /// after 3 s with 504 "Too large resource version").
    pub async fn wait_for(&self, revision: Revision) -> ApiResult<()> {
        let mut rx = self.revision.subscribe();
        let ready = tokio::time::timeout(Duration::from_secs(3), rx.wait_for(|r| *r >= revision)).await;
        match ready {
            Ok(Ok(_)) if self.is_ready() => Ok(()),
            _ => {
                Err(ApiError::Timeout(format!("Too large resource version: {revision}, current: {}", self.revision())))
            }
        }
    }

    fn is_ready(&self) -> bool {
        self.state.read().unwrap_or_else(|e| e.into_inner()).ready
    }

    /// Waits for the first list to finish. A big resource takes a while to load after
    /// a restart; its first readers wait for it (as upstream's cacher makes them wait)
    /// rather than fail, up to a bound.
    pub async fn ready(&self) -> ApiResult<()> {
        let mut rx = self.revision.subscribe();
        let ready = tokio::time::timeout(READY_WAIT, rx.wait_for(|_| self.is_ready())).await.is_ok_and(|r| r.is_ok());
        if ready {
            Ok(())
        } else {
            Err(ApiError::ServiceUnavailable(format!("the {} cache is not ready", self.resource.plural)))
        }
    }

    /// The current state of the object at `key` (a full store key).
    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).objects.get(key).cloned()
    }

    /// The current objects under `prefix` (a full key prefix), with the revision.
    pub fn snapshot(&self, prefix: &str) -> (Vec<Arc<CachedObject>>, Revision) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let items = state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        (items, state.revision)
    }

    /// Starts a watch: a consistent starting point plus the live feed.
    ///
    /// # Errors
    /// 410 Expired when `After(rv)` is older than the kept history.
    pub fn subscribe(&self, start: WatchStart, prefix: &str) -> ApiResult<Subscription> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        // Under the state lock, like `apply`'s sends: an event is either in the
        // starting point or in this subscription, also for the first watcher.
        let live = self.fanout.get_or_init(|| broadcast::channel(FANOUT).0).subscribe();
        let initial = match start {
            WatchStart::Snapshot => state
                .objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| Arc::new(CacheEvent::new(EventType::Added, k.clone(), v.clone(), None, state.revision)))
                .collect(),
            WatchStart::After(rv) => {
                if rv < state.history_floor {
                    return Err(ApiError::Expired(format!("too old resource version: {rv} ({})", state.history_floor)));
                }
                state
                    .history
                    .iter()
                    .map(|(_, e)| e)
                    .filter(|e| e.revision > rv && e.key.starts_with(prefix))
                    .cloned()
                    .collect()
            }
        };
        Ok(Subscription { initial, revision: state.revision, live })
    }

    /// Events waiting in a subscription's live feed, read under the state lock so
    /// that "nothing pending" and the revision are consistent (for bookmarks).
    pub fn quiet_revision(&self, live: &broadcast::Receiver<Fanout>) -> Option<Revision> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        (live.is_empty()).then_some(state.revision)
    }
}

/// One cache per stored resource, created on first use.
#[derive(Default)]
pub struct Caches {
    caches: std::sync::Mutex<BTreeMap<String, Arc<Cacher>>>,
}

impl Caches {
    /// Starts the cache of every stored resource and waits for their first lists.
    ///
    /// Called before the server accepts requests, so every resourceVersion a client
    /// can see (also from a list the store serves) is at or after the start of every
    /// cache's history: a watch resuming from it never gets a spurious 410, which a
    /// cache started lazily by that very watch would give.
    pub async fn start_all(&self, store: &Arc<dyn Store>, shutdown: &CancellationToken) -> ApiResult<()> {
        let caches: Vec<_> = skiff_api::RESOURCES
            .iter()
            .filter(|r| matches!(r.storage, skiff_api::Storage::Stored { .. }))
            .map(|r| self.get(r, store, shutdown))
            .collect();
        futures::future::try_join_all(caches.iter().map(|c| c.ready())).await.map(|_| ())
    }

    /// The cache of `resource`, started if needed. Resources that share storage
    /// (autoscaling v1/v2) share one cache.
    pub fn get(
        &self,
        resource: &'static Resource,
        store: &Arc<dyn Store>,
        shutdown: &CancellationToken,
    ) -> Arc<Cacher> {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        // Looked up without building the prefix: this runs for every create (the
        // namespace check) and every watch.
        let storage_key = match resource.storage {
            skiff_api::Storage::Stored { key } => std::borrow::Cow::Borrowed(key),
            skiff_api::Storage::Virtual => std::borrow::Cow::Owned(resource_prefix(resource)),
        };
        if let Some(cacher) = caches.get(storage_key.as_ref()) {
            return cacher.clone();
        }
        caches
            .entry(storage_key.into_owned())
            .or_insert_with(|| {
                let cacher = Cacher::new(resource);
                tokio::spawn(cacher.clone().run(store.clone(), shutdown.clone()));
                cacher
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_store::RedbStore;

    fn configmap(name: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}
        }))
        .unwrap()
    }

    /// A store in a temporary dir (kept alive by the returned dir) and a cache of
    /// its ConfigMaps.
    fn configmap_cache() -> (tempfile::TempDir, Arc<dyn Store>, &'static Resource, Arc<Cacher>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
        let res = skiff_api::registry::find("", "v1", "configmaps").unwrap();
        (dir, store, res, Cacher::new(res))
    }

    #[tokio::test]
    async fn watchers_are_told_to_end_when_the_server_shuts_down() {
        let (_dir, store, res, cacher) = configmap_cache();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(cacher.clone().run(store.clone(), shutdown.clone()));
        while !cacher.state.read().unwrap().ready {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut sub = cacher.subscribe(WatchStart::Snapshot, &resource_prefix(res)).unwrap();
        shutdown.cancel();
        let got = tokio::time::timeout(Duration::from_secs(5), sub.live.recv()).await.expect("told in time");
        assert!(matches!(got, Ok(Fanout::Reset)));
        run.await.unwrap();
    }

    #[tokio::test]
    async fn a_relist_starts_where_the_cache_had_reached() {
        let (_dir, store, res, cacher) = configmap_cache();
        let key = |n: &str| format!("{}default/{n}", resource_prefix(res));
        store.create(key("a").as_bytes(), configmap("a")).await.unwrap();
        let first = cacher.list(&store).await.unwrap();
        assert_eq!(first.kvs.len(), 1, "the first list reads the latest state");
        cacher.state.write().unwrap().revision = first.revision;

        // Changes the cache has not seen (its store watch was lost meanwhile).
        store.create(key("b").as_bytes(), configmap("b")).await.unwrap();
        let relist = cacher.list(&store).await.unwrap();
        assert_eq!(relist.revision, first.revision, "the relist reads where the cache had reached");
        assert_eq!(relist.kvs.len(), 1, "and the newer object comes through the watch from there");

        // Once that revision is compacted away, the relist reads the latest state.
        let latest = store.current_revision().await.unwrap();
        store.compact(latest).await.unwrap();
        let relist = cacher.list(&store).await.unwrap();
        assert_eq!((relist.revision, relist.kvs.len()), (latest, 2));
    }
}
