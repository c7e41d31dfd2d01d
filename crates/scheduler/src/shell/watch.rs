//! Watches of the objects the scheduler reads, forwarded into one bounded
//! channel, and the bookkeeping that turns a re-list into deletions.

use std::collections::HashSet;
use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// One change seen by a watch.
#[derive(Debug)]
pub enum Input {
    // Boxed: pods, nodes and volumes are large, and the channel holds many inputs.
    Pod(Box<Event<Pod>>),
    Node(Box<Event<Node>>),
    Pdb(Event<PodDisruptionBudget>),
    Namespace(Event<Namespace>),
    Claim(Box<Event<PersistentVolumeClaim>>),
    Volume(Box<Event<PersistentVolume>>),
    PriorityClass(Event<PriorityClass>),
    StorageClass(Event<k8s_openapi::api::storage::v1::StorageClass>),
}

/// Starts a watch of every `K` that sends its events, wrapped by `wrap`, to `tx`.
/// Transient errors are retried with kube-runtime's default backoff; the task
/// ends when `tx` closes.
pub fn spawn<K>(
    tasks: &mut JoinSet<()>,
    api: Api<K>,
    tx: mpsc::Sender<Input>,
    wrap: fn(Event<K>) -> Input,
    kind: &'static str,
) where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    tasks.spawn(async move {
        let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    if tx.send(wrap(event)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying"),
            }
        }
    });
}

/// The keys of one kind the scheduler knows, so a re-list (after a watch
/// expired) can tell which objects vanished meanwhile.
#[derive(Debug, Default)]
pub struct Tracked {
    known: HashSet<String>,
    relisting: Option<HashSet<String>>,
    /// A complete list has been seen at least once.
    pub synced: bool,
}

impl Tracked {
    pub fn init(&mut self) {
        self.relisting = Some(HashSet::new());
    }

    pub fn applied(&mut self, key: &str) {
        if let Some(seen) = &mut self.relisting {
            seen.insert(key.to_string());
        }
        self.known.insert(key.to_string());
    }

    pub fn deleted(&mut self, key: &str) {
        self.known.remove(key);
    }

    /// The list is complete; returns the keys that were not in it.
    pub fn init_done(&mut self) -> Vec<String> {
        let seen = self.relisting.take().unwrap_or_default();
        let gone = self.known.difference(&seen).cloned().collect();
        self.known = seen;
        self.synced = true;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relist_reports_vanished_keys() {
        let mut t = Tracked::default();
        t.init();
        t.applied("a");
        t.applied("b");
        assert!(t.init_done().is_empty());
        assert!(t.synced);
        t.applied("c");
        t.init();
        t.applied("a");
        let mut gone = t.init_done();
        gone.sort();
        assert_eq!(gone, ["b", "c"]);
    }
}
