//! A shared informer: one watch of one resource, an in-memory [`Store`] of it,
//! and a fan-out of every change to the handlers controllers registered (client-go's
//! `SharedIndexInformer`). The watch is kube-runtime's `watcher` (list, then watch,
//! re-list with backoff after errors); a re-list is diffed against the store so
//! handlers see the deletions that happened while the watch was down.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::lean::Lean;
use super::store::{key_of, Store};

/// One change to one object, as handlers see it.
#[derive(Debug)]
pub enum Change<K> {
    Added(Arc<K>),
    Updated { old: Arc<K>, new: Arc<K> },
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    /// The object after the change (the last state for a deletion).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Added(o) | Change::Deleted(o) => o,
            Change::Updated { new, .. } => new,
        }
    }
}

/// Called, in the informer's task, for every change. Must not block: handlers
/// enqueue keys and return.
pub type Handler<K> = Arc<dyn Fn(&Change<K>) + Send + Sync>;

struct Shared<K> {
    kind: String,
    store: RwLock<Store<K>>,
    handlers: RwLock<Vec<Handler<K>>>,
    synced: watch::Sender<bool>,
}

/// A handle to one shared informer; clones share the store and the handlers.
pub struct Informer<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer { shared: self.shared.clone() }
    }
}

/// What a re-list has delivered so far (between `Init` and `InitDone`).
pub struct Relist<K> {
    buffer: Option<HashMap<String, Arc<K>>>,
}

impl<K> Default for Relist<K> {
    fn default() -> Self {
        Relist { buffer: None }
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An informer with an empty store. It watches nothing until [`Informer::run`].
    pub fn new(kind: impl Into<String>) -> Informer<K> {
        Informer {
            shared: Arc::new(Shared {
                kind: kind.into(),
                store: RwLock::new(Store::default()),
                handlers: RwLock::new(Vec::new()),
                synced: watch::channel(false).0,
            }),
        }
    }

    /// Registers a handler. Register before the informer starts (controllers do
    /// it while being built) or the handler misses what is already stored.
    pub fn on_change(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) {
        self.shared.handlers.write().expect("handlers lock").push(Arc::new(handler));
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.shared.store.read().expect("store lock").get(namespace, name)
    }

    /// The object stored under a `namespace/name` key.
    pub fn get_key(&self, key: &str) -> Option<Arc<K>> {
        let (ns, name) = super::store::split_key(key);
        self.get(ns, name)
    }

    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.shared.store.read().expect("store lock").list_namespace(namespace)
    }

    pub fn list(&self) -> Vec<Arc<K>> {
        self.shared.store.read().expect("store lock").list()
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.shared.store.read().expect("store lock").has_namespace(namespace)
    }

    /// Whether the first complete list has been stored.
    pub fn is_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Waits for the first complete list.
    pub async fn wait_synced(&self) {
        let mut rx = self.shared.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn kind(&self) -> &str {
        &self.shared.kind
    }

    /// Applies one watcher event to the store and tells the handlers what changed.
    ///
    /// Objects are kept without `metadata.managedFields`, as upstream's controller
    /// manager keeps them (kubernetes#118455): no controller reads them, they are often
    /// as big as the rest of the object, and every cached pod, ConfigMap or Lease would
    /// carry them. Writes from a stripped copy are safe: the API server keeps the live
    /// managedFields when an update leaves the field out. ([`Informer::run`] decodes
    /// objects without them already; this covers events from anywhere else.)
    pub fn apply(&self, relist: &mut Relist<K>, event: Event<K>) {
        let event = event.modify(|obj| obj.meta_mut().managed_fields = None);
        let changes = self.store_event(relist, event);
        if changes.is_empty() {
            return;
        }
        let handlers = self.shared.handlers.read().expect("handlers lock").clone();
        for change in &changes {
            for handler in &handlers {
                handler(change);
            }
        }
    }

    fn store_event(&self, relist: &mut Relist<K>, event: Event<K>) -> Vec<Change<K>> {
        let mut store = self.shared.store.write().expect("store lock");
        match event {
            Event::Init => {
                relist.buffer = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                relist.buffer.get_or_insert_with(HashMap::new).insert(key_of(&obj), Arc::new(obj));
                Vec::new()
            }
            Event::InitDone => {
                let listed = relist.buffer.take().unwrap_or_default();
                let mut changes = Vec::new();
                for old in store.list() {
                    if !listed.contains_key(&key_of(old.as_ref())) {
                        store.remove(&old);
                        changes.push(Change::Deleted(old));
                    }
                }
                for (_, new) in listed {
                    match store.insert(new.clone()) {
                        None => changes.push(Change::Added(new)),
                        Some(old) if old.meta().resource_version != new.meta().resource_version => {
                            changes.push(Change::Updated { old, new })
                        }
                        Some(_) => {}
                    }
                }
                drop(store);
                self.shared.synced.send_replace(true);
                changes
            }
            Event::Apply(obj) => {
                let new = Arc::new(obj);
                match store.insert(new.clone()) {
                    None => vec![Change::Added(new)],
                    Some(old) => vec![Change::Updated { old, new }],
                }
            }
            Event::Delete(obj) => {
                store.remove(&obj);
                vec![Change::Deleted(Arc::new(obj))]
            }
        }
    }

    /// Watches `api` until `shutdown`, keeping the store and telling handlers.
    /// Watch errors are retried with kube-runtime's default backoff.
    /// Objects are decoded without their managedFields ([`Lean`]).
    pub async fn run(self, api: Api<Lean<K>>, shutdown: CancellationToken) {
        let mut stream = watcher(api, watcher::Config::default()).default_backoff().map_ok(unwrap_lean).boxed();
        let mut relist = Relist::default();
        loop {
            let item = tokio::select! {
                _ = shutdown.cancelled() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(event)) => self.apply(&mut relist, event),
                Some(Err(e)) => tracing::warn!(kind = %self.shared.kind, error = %e, "watch failed; retrying"),
                None => return,
            }
        }
    }
}

fn unwrap_lean<K>(event: Event<Lean<K>>) -> Event<K> {
    match event {
        Event::Apply(o) => Event::Apply(o.0),
        Event::Delete(o) => Event::Delete(o.0),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(o.0),
        Event::InitDone => Event::InitDone,
    }
}

/// Called with `(old, new)` metadata of a change.
pub type MetaHandler = Arc<dyn Fn(Option<&ObjectMeta>, Option<&ObjectMeta>) + Send + Sync>;

/// An informer seen only through its objects' metadata, whatever their type: the
/// garbage collector and the namespace controller read every resource this way,
/// sharing the typed informers other controllers already run.
pub trait MetaInformer: Send + Sync {
    fn kind(&self) -> &str;
    /// Every object's metadata.
    fn list_meta(&self) -> Vec<ObjectMeta>;
    fn list_meta_namespace(&self, namespace: &str) -> Vec<ObjectMeta>;
    fn get_meta(&self, namespace: &str, name: &str) -> Option<ObjectMeta>;
    fn has_namespace(&self, namespace: &str) -> bool;
    fn is_synced(&self) -> bool;
    /// Calls `handler` with `(old, new)` metadata: `(None, Some)` added,
    /// `(Some, Some)` updated, `(Some, None)` deleted.
    fn on_meta_change(&self, handler: MetaHandler);
}

impl<K> MetaInformer for Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn kind(&self) -> &str {
        &self.shared.kind
    }

    fn list_meta(&self) -> Vec<ObjectMeta> {
        self.list().iter().map(|o| o.meta().clone()).collect()
    }

    fn list_meta_namespace(&self, namespace: &str) -> Vec<ObjectMeta> {
        self.list_namespace(namespace).iter().map(|o| o.meta().clone()).collect()
    }

    fn get_meta(&self, namespace: &str, name: &str) -> Option<ObjectMeta> {
        self.get(namespace, name).map(|o| o.meta().clone())
    }

    fn has_namespace(&self, namespace: &str) -> bool {
        Informer::has_namespace(self, namespace)
    }

    fn is_synced(&self) -> bool {
        Informer::is_synced(self)
    }

    fn on_meta_change(&self, handler: MetaHandler) {
        self.on_change(move |change| match change {
            Change::Added(o) => handler(None, Some(o.meta())),
            Change::Updated { old, new } => handler(Some(old.meta()), Some(new.meta())),
            Change::Deleted(o) => handler(Some(o.meta()), None),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::sync::Mutex;

    fn cm(name: &str, rv: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.namespace = Some("ns".into());
        c.metadata.name = Some(name.into());
        c.metadata.resource_version = Some(rv.into());
        c
    }

    fn recording(informer: &Informer<ConfigMap>) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        informer.on_change(move |c| {
            let what = match c {
                Change::Added(o) => format!("add {}", o.metadata.name.as_deref().unwrap()),
                Change::Updated { new, .. } => format!("update {}", new.metadata.name.as_deref().unwrap()),
                Change::Deleted(o) => format!("delete {}", o.metadata.name.as_deref().unwrap()),
            };
            s.lock().unwrap().push(what);
        });
        seen
    }

    #[test]
    fn relist_reports_what_changed_while_the_watch_was_down() {
        let informer = Informer::<ConfigMap>::new("ConfigMap");
        let seen = recording(&informer);
        let mut relist = Relist::default();
        informer.apply(&mut relist, Event::Init);
        informer.apply(&mut relist, Event::InitApply(cm("a", "1")));
        informer.apply(&mut relist, Event::InitApply(cm("b", "1")));
        assert!(!informer.is_synced(), "not synced before the list completes");
        assert!(seen.lock().unwrap().is_empty());
        informer.apply(&mut relist, Event::InitDone);
        assert!(informer.is_synced());
        informer.apply(&mut relist, Event::Apply(cm("a", "2")));
        // The watch expires; meanwhile b was deleted and c created.
        informer.apply(&mut relist, Event::Init);
        informer.apply(&mut relist, Event::InitApply(cm("a", "2")));
        informer.apply(&mut relist, Event::InitApply(cm("c", "3")));
        informer.apply(&mut relist, Event::InitDone);
        let mut got = seen.lock().unwrap().clone();
        got[..2].sort();
        got[3..].sort();
        assert_eq!(got, ["add a", "add b", "update a", "add c", "delete b"]);
        assert_eq!(informer.list().len(), 2);
    }

    #[test]
    fn meta_handlers_see_old_and_new() {
        let informer = Informer::<ConfigMap>::new("ConfigMap");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        informer.on_meta_change(Arc::new(move |old, new| {
            s.lock().unwrap().push((old.is_some(), new.and_then(|m| m.resource_version.clone())));
        }));
        let mut relist = Relist::default();
        informer.apply(&mut relist, Event::Apply(cm("a", "1")));
        informer.apply(&mut relist, Event::Apply(cm("a", "2")));
        informer.apply(&mut relist, Event::Delete(cm("a", "2")));
        assert_eq!(*seen.lock().unwrap(), [(false, Some("1".into())), (true, Some("2".into())), (true, None)]);
        assert!(MetaInformer::get_meta(&informer, "ns", "a").is_none());
    }

    #[test]
    fn cached_objects_and_handlers_have_no_managed_fields() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        let informer = Informer::<ConfigMap>::new("ConfigMap");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        informer.on_change(move |c| {
            if let Change::Added(o) | Change::Updated { new: o, .. } = c {
                s.lock().unwrap().push(o.metadata.managed_fields.clone());
            }
        });
        let managed = |rv: &str| {
            let mut c = cm("a", rv);
            c.metadata.managed_fields =
                Some(vec![ManagedFieldsEntry { manager: Some("kubectl".into()), ..Default::default() }]);
            c
        };
        let mut relist = Relist::default();
        informer.apply(&mut relist, Event::Init);
        informer.apply(&mut relist, Event::InitApply(managed("1")));
        informer.apply(&mut relist, Event::InitDone);
        informer.apply(&mut relist, Event::Apply(managed("2")));
        assert_eq!(*seen.lock().unwrap(), [None, None]);
        let cached = informer.get("ns", "a").expect("cached");
        assert_eq!(cached.metadata.managed_fields, None);
        assert_eq!(cached.metadata.resource_version.as_deref(), Some("2"), "the rest is kept");
    }
}
