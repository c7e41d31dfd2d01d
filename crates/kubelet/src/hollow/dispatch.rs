//! One pod watch for all the hollow nodes of a process, dispatched by
//! `spec.nodeName` (1,000 nodes would otherwise be 1,000 watches), and one
//! Node watch that hands each node its podCIDR. [`route`] is the pure part.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::pod::manager::PodEvent;

/// Where one event of the shared pod watch goes.
#[derive(Debug)]
pub enum Route {
    /// To every node: the start and end of a (re-)list, which each node's pod
    /// manager needs to tell which of its pods are gone.
    All(PodEvent),
    /// To the node the pod is bound to.
    One(String, PodEvent),
    /// Not a pod of ours.
    Drop,
}

fn node_of(p: &Pod) -> &str {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

/// Routes one event of the watch on bound pods to the nodes in `ours`.
pub fn route(event: PodEvent, ours: &HashSet<String>) -> Route {
    let name = match &event {
        PodEvent::Init | PodEvent::InitDone => return Route::All(event),
        PodEvent::InitApply(p) | PodEvent::Apply(p) | PodEvent::Delete(p) => node_of(p),
    };
    if ours.contains(name) {
        Route::One(name.to_string(), event)
    } else {
        Route::Drop
    }
}

/// Watches every bound pod (`spec.nodeName!=`) and forwards each event to its
/// node's pod manager, until `shutdown`. A node whose manager is gone is skipped.
pub async fn dispatch_pods(
    client: kube::Client,
    nodes: HashMap<String, mpsc::Sender<PodEvent>>,
    shutdown: CancellationToken,
) {
    let ours: HashSet<String> = nodes.keys().cloned().collect();
    let pods: Api<Pod> = Api::all(client);
    let cfg = watcher::Config::default().fields("spec.nodeName!=");
    let mut stream = Box::pin(watcher(pods, cfg).default_backoff());
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => match e { Some(e) => e, None => return },
        };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("hollow nodes' pod watch: {e}");
                continue;
            }
        };
        match route(crate::pod::manager::slim(event), &ours) {
            Route::All(e) => {
                for tx in nodes.values() {
                    let _ = tx.send(e.clone()).await;
                }
            }
            Route::One(name, e) => {
                if let Some(tx) = nodes.get(&name) {
                    let _ = tx.send(e).await;
                }
            }
            Route::Drop => {}
        }
    }
}

/// Watches the Nodes matching `label_selector` and publishes each one's
/// podCIDR to its channel in `nodes`, until `shutdown`.
pub async fn watch_pod_cidrs(
    client: kube::Client,
    label_selector: String,
    nodes: HashMap<String, watch::Sender<Option<String>>>,
    shutdown: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut stream = Box::pin(watcher(api, watcher::Config::default().labels(&label_selector)).default_backoff());
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => match e { Some(e) => e, None => return },
        };
        let node = match event {
            Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => n,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!("hollow nodes' node watch: {e}");
                continue;
            }
        };
        let cidr = node.spec.and_then(|s| s.pod_cidr);
        if let (Some(tx), Some(cidr)) = (node.metadata.name.as_deref().and_then(|n| nodes.get(n)), cidr) {
            tx.send_if_modified(|c| {
                let changed = c.as_deref() != Some(cidr.as_str());
                *c = Some(cidr);
                changed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [], "nodeName": node}
        }))
        .unwrap()
    }

    #[test]
    fn pods_go_to_their_node_and_list_boundaries_to_all() {
        let ours: HashSet<String> = ["hollow-0".to_string(), "hollow-1".to_string()].into();
        assert!(matches!(route(PodEvent::Init, &ours), Route::All(PodEvent::Init)));
        assert!(matches!(route(PodEvent::InitDone, &ours), Route::All(PodEvent::InitDone)));
        for e in [
            PodEvent::InitApply(pod(Some("hollow-1"))),
            PodEvent::Apply(pod(Some("hollow-1"))),
            PodEvent::Delete(pod(Some("hollow-1"))),
        ] {
            assert!(matches!(route(e, &ours), Route::One(n, _) if n == "hollow-1"));
        }
        assert!(matches!(route(PodEvent::Apply(pod(Some("real-node"))), &ours), Route::Drop));
        assert!(matches!(route(PodEvent::Apply(pod(None)), &ours), Route::Drop));
    }
}
