//! One informer per resource type for the whole controller manager (client-go's
//! `SharedInformerFactory`): every controller asking for pods gets the same
//! informer, so the API server sees one pods watch however many controllers
//! read pods.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use kube::api::{ApiResource, DynamicObject};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::informer::{Informer, MetaInformer};
use super::lean::Lean;

type Start = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

struct Entry {
    typed: Box<dyn Any + Send + Sync>,
    meta: Arc<dyn MetaInformer>,
}

struct Inner {
    client: kube::Client,
    entries: Mutex<HashMap<String, Entry>>,
    starts: mpsc::UnboundedSender<Start>,
    pending: Mutex<Option<mpsc::UnboundedReceiver<Start>>>,
}

/// Hands out shared informers. Informers asked for before [`InformerFactory::run`]
/// start when it starts; later ones start at once.
#[derive(Clone)]
pub struct InformerFactory {
    inner: Arc<Inner>,
}

/// Informers are shared per group and kind (the version is the one the first
/// asker used; built-in kinds have one served version per group).
fn type_key(group: &str, kind: &str) -> String {
    format!("{group}/{kind}")
}

impl InformerFactory {
    pub fn new(client: kube::Client) -> InformerFactory {
        let (starts, pending) = mpsc::unbounded_channel();
        InformerFactory {
            inner: Arc::new(Inner {
                client,
                entries: Mutex::new(HashMap::new()),
                starts,
                pending: Mutex::new(Some(pending)),
            }),
        }
    }

    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    /// The shared informer of `K`, over all namespaces.
    pub fn informer<K>(&self) -> Informer<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let key = type_key(&K::group(&()), &K::kind(&()));
        let mut entries = self.inner.entries.lock().expect("factory lock");
        if let Some(entry) = entries.get(&key) {
            if let Some(informer) = entry.typed.downcast_ref::<Informer<K>>() {
                return informer.clone();
            }
            // A metadata-only user came first with a dynamic informer; typed
            // users cannot share it, so this kind would be watched twice.
            tracing::warn!(kind = %key, "a typed informer was asked for after a dynamic one");
        }
        let informer = Informer::<K>::new(K::kind(&()).to_string());
        let api = Api::<Lean<K>>::all(self.inner.client.clone());
        let run = informer.clone();
        let _ = self.inner.starts.send(Box::new(move |shutdown| Box::pin(run.run(api, shutdown))));
        entries.entry(key).or_insert(Entry { typed: Box::new(informer.clone()), meta: Arc::new(informer.clone()) });
        informer
    }

    /// The informer of any resource, seen through metadata: the typed informer
    /// if a controller already asked for one, else a new dynamic one.
    pub fn meta_informer(&self, resource: &ApiResource) -> Arc<dyn MetaInformer> {
        let key = type_key(&resource.group, &resource.kind);
        let mut entries = self.inner.entries.lock().expect("factory lock");
        if let Some(entry) = entries.get(&key) {
            return entry.meta.clone();
        }
        let informer = Informer::<DynamicObject>::new(resource.kind.clone());
        let api = Api::<Lean<DynamicObject>>::all_with(self.inner.client.clone(), resource);
        let run = informer.clone();
        let _ = self.inner.starts.send(Box::new(move |shutdown| Box::pin(run.run(api, shutdown))));
        let meta: Arc<dyn MetaInformer> = Arc::new(informer.clone());
        entries.insert(key, Entry { typed: Box::new(informer), meta: meta.clone() });
        meta
    }

    /// Whether an informer of this group and kind exists.
    pub fn has(&self, group: &str, kind: &str) -> bool {
        self.inner.entries.lock().expect("factory lock").contains_key(&type_key(group, kind))
    }

    /// Every informer handed out so far.
    pub fn all(&self) -> Vec<Arc<dyn MetaInformer>> {
        self.inner.entries.lock().expect("factory lock").values().map(|e| e.meta.clone()).collect()
    }

    /// Whether every informer handed out so far has its first complete list.
    pub fn all_synced(&self) -> bool {
        self.all().iter().all(|i| i.is_synced())
    }

    /// Waits until [`InformerFactory::all_synced`], polling (informers come and
    /// go rarely; this runs once at start-up).
    pub async fn wait_for_sync(&self, shutdown: &CancellationToken) {
        while !self.all_synced() && !shutdown.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Runs every informer, present and future, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(mut pending) = self.inner.pending.lock().expect("factory lock").take() else {
            tracing::error!("the informer factory was started twice");
            return;
        };
        // The factory's own sender keeps the channel open; drop our handle to the
        // inner state's client only at the end.
        let mut running = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                start = pending.recv() => match start {
                    Some(start) => { running.spawn(start(shutdown.clone())); }
                    None => break,
                },
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::informer::Relist;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use kube::runtime::watcher::Event;

    fn client() -> kube::Client {
        // Never contacted: the informers are not run.
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap()
    }

    #[tokio::test]
    async fn every_asker_shares_one_informer_per_resource() {
        let factory = InformerFactory::new(client());
        let first = factory.informer::<Pod>();
        let second = factory.informer::<Pod>();
        let mut pod = Pod::default();
        pod.metadata.namespace = Some("ns".into());
        pod.metadata.name = Some("p".into());
        first.apply(&mut Relist::default(), Event::Apply(pod));
        assert!(second.get("ns", "p").is_some(), "one store behind both handles");
        // The metadata view of pods is the typed informer, not a second watch.
        let meta = factory.meta_informer(&ApiResource::erase::<Pod>(&()));
        assert!(meta.get_meta("ns", "p").is_some());
        assert_eq!(factory.all().len(), 1);
        // A kind nobody asked for typed gets its own (dynamic) informer.
        factory.meta_informer(&ApiResource::erase::<ConfigMap>(&()));
        assert_eq!(factory.all().len(), 2);
        assert!(factory.has("", "ConfigMap"));
        // Each informer was queued to start exactly once.
        let mut pending = factory.inner.pending.lock().unwrap().take().unwrap();
        let mut starts = 0;
        while pending.try_recv().is_ok() {
            starts += 1;
        }
        assert_eq!(starts, 2);
    }
}
