//! The pod manager of one node: one [`worker`] per pod bound to it, fed by
//! watch events on those pods. Where the events come from is the caller's
//! business: a real agent watches `spec.nodeName=<node>` ([`watch_node_pods`]);
//! a process of hollow nodes shares one watch and dispatches by node
//! ([`crate::hollow`]); static pods come from their manifest files
//! ([`crate::static_pods`]). Sandboxes of pods nobody has any more are removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::observed::LABEL_POD_UID;
use super::worker::{self, NodeContext};
use crate::static_pods::starts::StaticStarts;

/// A change to the pods bound to a node, as kube's watcher reports it.
pub type PodEvent = watcher::Event<Pod>;

/// `event` without what no kubelet reads: a pod's managedFields are kept in
/// every worker's copy of its pod otherwise (a few KiB per pod, most of what a
/// hollow pod costs).
pub fn slim(event: PodEvent) -> PodEvent {
    let strip = |mut p: Pod| {
        p.metadata.managed_fields = None;
        p
    };
    match event {
        watcher::Event::InitApply(p) => watcher::Event::InitApply(strip(p)),
        watcher::Event::Apply(p) => watcher::Event::Apply(strip(p)),
        watcher::Event::Delete(p) => watcher::Event::Delete(strip(p)),
        other => other,
    }
}

/// How often sandboxes without a pod are looked for (after a complete list).
pub const ORPHAN_CHECK: Duration = Duration::from_secs(10);

/// Runs the pods' workers until `shutdown` or until `events` ends.
pub async fn run(ctx: Arc<NodeContext>, mut events: mpsc::Receiver<PodEvent>, shutdown: CancellationToken) {
    let mut workers =
        Workers { ctx, shutdown, senders: HashMap::new(), tasks: JoinSet::new(), statics: Default::default() };
    let mut init_seen: Option<HashSet<String>> = None;
    let mut orphan_check = tokio::time::interval(ORPHAN_CHECK);
    // Orphans are judged only against a complete list of the node's pods.
    let mut listed = false;
    loop {
        let event = tokio::select! {
            _ = workers.shutdown.cancelled() => break,
            _ = orphan_check.tick(), if listed => {
                workers.senders.retain(|_, tx| !tx.is_closed());
                remove_orphans(&workers.ctx, &workers.senders).await;
                continue;
            }
            Some(done) = workers.tasks.join_next(), if !workers.tasks.is_empty() => {
                if let Ok(uid) = done {
                    workers.finished(&uid);
                }
                continue;
            }
            e = events.recv() => match e { Some(e) => e, None => break },
        };
        match event {
            watcher::Event::Init => init_seen = Some(HashSet::new()),
            watcher::Event::InitApply(p) => {
                let uid = workers.deliver(p);
                init_seen.get_or_insert_with(HashSet::new).insert(uid);
            }
            watcher::Event::InitDone => {
                // A re-list: pods that vanished meanwhile are gone.
                let seen = init_seen.take().unwrap_or_default();
                listed = true;
                for (uid, tx) in &workers.senders {
                    // Static pods come from files, not from the API's list.
                    if !seen.contains(uid) && !tx.borrow().as_ref().is_some_and(crate::static_pods::is_static) {
                        let _ = tx.send(None);
                    }
                }
            }
            watcher::Event::Apply(p) => {
                workers.deliver(p);
            }
            watcher::Event::Delete(p) => workers.remove(p.metadata.uid.as_deref().unwrap_or("")),
        }
    }
    workers.tasks.shutdown().await;
}

/// The workers of one node's pods, by pod uid.
struct Workers {
    ctx: Arc<NodeContext>,
    shutdown: CancellationToken,
    senders: HashMap<String, watch::Sender<Option<Pod>>>,
    /// Each task ends with its pod's uid.
    tasks: JoinSet<String>,
    /// Static pods held back until an older pod of their name has stopped.
    statics: StaticStarts,
}

impl Workers {
    /// Hands `pod` to its worker, starting one if need be; returns its uid.
    fn deliver(&mut self, pod: Pod) -> String {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        // A mirror pod only shows a static pod, whose worker runs it.
        if crate::static_pods::is_mirror(&pod) {
            return uid;
        }
        if let Some(tx) = self.senders.get(&uid).filter(|tx| !tx.is_closed()) {
            let _ = tx.send(Some(pod));
            return uid;
        }
        if crate::static_pods::is_static(&pod) {
            match self.statics.admit(pod) {
                Some(pod) => self.spawn(pod),
                None => tracing::info!(%uid, "static pod waits for the previous version to stop"),
            }
        } else {
            self.spawn(pod);
        }
        uid
    }

    fn spawn(&mut self, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let (tx, rx) = watch::channel(Some(pod));
        self.senders.insert(uid.clone(), tx);
        let (ctx, shutdown) = (self.ctx.clone(), self.shutdown.clone());
        self.tasks.spawn(async move {
            worker::run(ctx, rx, shutdown).await;
            uid
        });
    }

    /// The pod with `uid` is gone: its worker stops it (or it never starts).
    fn remove(&mut self, uid: &str) {
        if self.statics.is_waiting(uid) {
            self.statics.withdraw(uid);
        } else if let Some(tx) = self.senders.get(uid) {
            let _ = tx.send(None);
        }
    }

    /// The worker of `uid` ended; a static pod waiting for it starts.
    fn finished(&mut self, uid: &str) {
        if self.senders.get(uid).is_some_and(|tx| tx.is_closed()) {
            self.senders.remove(uid);
        }
        if let Some(next) = self.statics.finished(uid) {
            self.spawn(next);
        }
    }
}

/// Watches the pods with `spec.nodeName=<node>` and forwards the events to
/// `tx` until `shutdown` or the receiver is gone. Watch errors are logged and
/// retried with kube's default back-off.
pub async fn watch_node_pods(
    client: kube::Client,
    node_name: String,
    tx: mpsc::Sender<PodEvent>,
    shutdown: CancellationToken,
) {
    let pods: Api<Pod> = Api::all(client);
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node_name}"));
    let mut stream = Box::pin(watcher(pods, cfg).default_backoff());
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => match e { Some(e) => e, None => return },
        };
        match event {
            Ok(e) => {
                if tx.send(slim(e)).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!("pod watch: {e}"),
        }
    }
}

/// Stops and removes sandboxes labelled with a pod uid that has no worker (pods
/// deleted while the agent was down).
async fn remove_orphans(ctx: &NodeContext, workers: &HashMap<String, watch::Sender<Option<Pod>>>) {
    let Ok(sandboxes) = ctx.runtime.list_pod_sandbox(None).await else { return };
    let orphans: BTreeMap<String, String> = sandboxes
        .into_iter()
        .filter_map(|s| s.labels.get(LABEL_POD_UID).cloned().map(|uid| (s.id, uid)))
        .filter(|(_, uid)| !workers.contains_key(uid))
        .collect();
    for (id, uid) in orphans {
        tracing::info!(%uid, "removing sandbox {id} of a pod that no longer exists");
        let _ = ctx.runtime.stop_pod_sandbox(&id).await;
        if ctx.runtime.remove_pod_sandbox(&id).await.is_ok() && ctx.cgroups {
            super::cgroups::remove_pod_cgroups(&uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_drops_managed_fields_and_keeps_the_rest() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u", "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
            "spec": {"containers": [{"name": "c"}], "nodeName": "n1"}
        }))
        .unwrap();
        let watcher::Event::Apply(slimmed) = slim(watcher::Event::Apply(pod.clone())) else { panic!("not an Apply") };
        assert_eq!(slimmed.metadata.managed_fields, None);
        assert_eq!(slimmed.spec, pod.spec);
        assert_eq!(slimmed.metadata.uid, pod.metadata.uid);
        assert!(matches!(slim(watcher::Event::InitDone), watcher::Event::InitDone));
    }
}
