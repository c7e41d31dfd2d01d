//! The pods watch's decoding: only what a pod's PTR record needs (its name,
//! namespace, IPs and whether it uses the host's network), plus what the watch
//! itself reads (uid, resourceVersion).
//!
//! Why not decode whole pods: DNS watches every pod of the cluster, and a pod's
//! spec (containers, volumes, tolerations) and managedFields are most of its
//! bytes. Decoding them cost more than any other part of the DNS server while a
//! scheduler bound thousands of pods a second. The rest is skipped without being
//! built ([`skiff_api::prune`]).

use k8s_openapi::api::core::v1::Pod;
use skiff_api::prune::{PruneRule, Pruned, Rule};

/// A pod from the watch with only the fields the index reads set.
pub type WatchedPod = Pruned<Pod, DnsPod>;

/// What of a pod DNS decodes. Container names stay only because a pod spec
/// without containers does not decode.
pub struct DnsPod;

static META: Rule = Rule { only: Some(&["name", "namespace", "uid", "resourceVersion"]), ..Rule::ALL };
static CONTAINER: Rule = Rule { only: Some(&["name"]), ..Rule::ALL };
static SPEC: Rule = Rule { only: Some(&["hostNetwork"]), descend: &[("containers", &CONTAINER)], ..Rule::ALL };
static STATUS: Rule = Rule { only: Some(&["podIP", "podIPs"]), ..Rule::ALL };
static POD: Rule =
    Rule { only: Some(&[]), descend: &[("metadata", &META), ("spec", &SPEC), ("status", &STATUS)], ..Rule::ALL };

impl PruneRule for DnsPod {
    fn rule() -> &'static Rule {
        &POD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;

    fn full_pod(host_network: bool) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
            "spec": {"hostNetwork": host_network, "nodeName": "n1",
                "containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "b"}]}],
                "volumes": [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]},
            "status": {"phase": "Running", "podIP": "10.42.0.7",
                "podIPs": [{"ip": "10.42.0.7"}, {"ip": "fd00::7"}],
                "conditions": [{"type": "Ready", "status": "True"}]}
        })
    }

    #[test]
    fn keeps_what_the_index_and_the_watch_read() {
        let pod = serde_json::from_value::<WatchedPod>(full_pod(false)).unwrap().0;
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(pod.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(pod.spec.as_ref().and_then(|s| s.host_network), Some(false));
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("10.42.0.7"));
        assert_eq!(status.pod_ips.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn indexes_like_the_whole_pod() {
        for host_network in [false, true] {
            let json = full_pod(host_network);
            let full: Pod = serde_json::from_value(json.clone()).unwrap();
            let lean = serde_json::from_value::<WatchedPod>(json).unwrap().0;
            let (mut a, mut b) = (Index::default(), Index::default());
            a.apply_pod(&full);
            b.apply_pod(&lean);
            assert_eq!(a.counts(), b.counts(), "hostNetwork {host_network}");
            for ip in ["10.42.0.7", "fd00::7"] {
                let ip = ip.parse().unwrap();
                assert_eq!(a.owner(ip), b.owner(ip), "{ip}");
            }
        }
    }

    #[test]
    fn a_pod_without_spec_or_status_decodes() {
        let pod = serde_json::from_value::<WatchedPod>(serde_json::json!({"kind": "Pod"})).unwrap().0;
        assert_eq!(pod, Pod::default());
    }
}
