//! The thin shell that keeps the index current: one watch each on Services,
//! EndpointSlices and Pods (all namespaces), applied event by event. A relist
//! (first start, or after the watch expired) replaces that kind wholesale.
//!
//! Pods are watched only while they have an IP and their own network: the index
//! names no other pod, and a pod's earlier updates (created, scheduled, its
//! containers being made) would each be a decode here for nothing. A pod that
//! stops matching arrives as a delete, as with any field selector.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};

use tokio_util::sync::CancellationToken;

use crate::index::Index;
use crate::server::State;
use crate::watched_pod::WatchedPod;

/// A kind the index is built from.
trait Indexed: Resource<DynamicType = ()> + Clone + Debug + serde::de::DeserializeOwned + Send + Sync + 'static {
    const BIT: u8;
    /// The field selector of the watch, if the index needs only some objects.
    const FIELDS: Option<&'static str> = None;
    fn apply(index: &mut Index, o: &Self);
    fn delete(index: &mut Index, o: &Self);
    fn replace(index: &mut Index, all: &[Self]);
}

impl Indexed for Service {
    const BIT: u8 = 1;
    fn apply(index: &mut Index, o: &Self) {
        index.apply_service(o)
    }
    fn delete(index: &mut Index, o: &Self) {
        index.delete_service(o)
    }
    fn replace(index: &mut Index, all: &[Self]) {
        index.replace_services(all)
    }
}

impl Indexed for EndpointSlice {
    const BIT: u8 = 2;
    fn apply(index: &mut Index, o: &Self) {
        index.apply_slice(o)
    }
    fn delete(index: &mut Index, o: &Self) {
        index.delete_slice(o)
    }
    fn replace(index: &mut Index, all: &[Self]) {
        index.replace_slices(all)
    }
}

/// Pods are decoded with only the fields the index reads ([`WatchedPod`]).
impl Indexed for WatchedPod {
    const BIT: u8 = 4;
    const FIELDS: Option<&'static str> = Some(POD_FIELDS);
    fn apply(index: &mut Index, o: &Self) {
        index.apply_pod(&o.0)
    }
    fn delete(index: &mut Index, o: &Self) {
        index.delete_pod(&o.0)
    }
    fn replace(index: &mut Index, all: &[Self]) {
        index.replace_pods(all.iter().map(|p| &p.0))
    }
}

/// The pods [`Index::apply_pod`] indexes: those with an IP, not on the host's network.
const POD_FIELDS: &str = "status.podIP!=,spec.hostNetwork=false";

const ALL: u8 = 1 | 2 | 4;

/// Watches until `shutdown`; marks `state` ready once every kind was listed.
/// Watch errors are retried with kube's default back-off.
pub async fn run(client: Client, state: Arc<State>, shutdown: CancellationToken) {
    let synced = Arc::new(AtomicU8::new(0));
    let watches = async {
        tokio::join!(
            watch::<Service>(Api::all(client.clone()), &state, &synced),
            watch::<EndpointSlice>(Api::all(client.clone()), &state, &synced),
            watch::<WatchedPod>(Api::all(client), &state, &synced),
        )
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = watches => {}
    }
}

async fn watch<K: Indexed>(api: Api<K>, state: &State, synced: &AtomicU8) {
    let mut config = watcher::Config::default();
    if let Some(fields) = K::FIELDS {
        config = config.fields(fields);
    }
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut relist: Option<Vec<K>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(Vec::new()),
            Ok(watcher::Event::InitApply(o)) => relist.get_or_insert_with(Vec::new).push(o),
            Ok(watcher::Event::InitDone) => {
                let all = relist.take().unwrap_or_default();
                state.update(|idx| K::replace(idx, &all));
                if synced.fetch_or(K::BIT, Ordering::AcqRel) | K::BIT == ALL {
                    state.set_ready();
                }
            }
            Ok(watcher::Event::Apply(o)) => state.update(|idx| K::apply(idx, &o)),
            Ok(watcher::Event::Delete(o)) => state.update(|idx| K::delete(idx, &o)),
            Err(e) => tracing::debug!("dns: watching {}: {e}", K::plural(&())),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;
    use skiff_api::selector::FieldSelector;

    use super::*;

    /// The watch's selector lets through exactly the pods the index would name.
    #[test]
    fn the_pod_selector_keeps_exactly_the_pods_the_index_names() {
        let selector = FieldSelector::parse(POD_FIELDS).unwrap();
        let pod = |spec: serde_json::Value, status: serde_json::Value| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
                "spec": spec, "status": status})
        };
        let containers = json!([{"name": "c", "image": "busybox"}]);
        let ip = json!({"podIP": "10.42.0.7", "podIPs": [{"ip": "10.42.0.7"}]});
        let cases = [
            ("pending, no IP", pod(json!({"containers": containers}), json!({"phase": "Pending"}))),
            ("running with an IP", pod(json!({"containers": containers}), ip.clone())),
            ("explicitly not host network", pod(json!({"containers": containers, "hostNetwork": false}), ip.clone())),
            ("host network", pod(json!({"containers": containers, "hostNetwork": true}), ip)),
            ("no status", pod(json!({"containers": containers}), json!(null))),
        ];
        for (what, json) in cases {
            let mut index = Index::default();
            index.apply_pod(&serde_json::from_value::<Pod>(json.clone()).unwrap());
            let named = index.owner("10.42.0.7".parse().unwrap()).is_some();
            assert_eq!(selector.matches("", "Pod", &json), named, "{what}");
        }
    }
}
