//! The pods watch's decoding: only what a pod's PTR record needs (its name,
//! namespace, IPs and whether it uses the host's network), plus what the watch
//! itself reads (uid, resourceVersion).
//!
//! Why not decode whole pods: DNS watches every pod of the cluster, and a pod's
//! spec (containers, volumes, tolerations) and managedFields are most of its
//! bytes. Decoding them cost more than any other part of the DNS server while a
//! scheduler bound thousands of pods a second; unknown fields are skipped
//! without being built.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Pod, PodIP, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

/// A pod from the watch with only the fields the index reads set.
#[derive(Clone, Debug)]
pub struct WatchedPod(pub Pod);

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    host_network: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pod_ips: Option<Vec<PodIP>>,
}

#[derive(Deserialize)]
struct Shadow {
    metadata: Option<Meta>,
    spec: Option<Spec>,
    status: Option<Status>,
}

impl<'de> Deserialize<'de> for WatchedPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Shadow { metadata, spec, status } = Shadow::deserialize(d)?;
        let m = metadata.unwrap_or_default();
        let metadata = ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            ..ObjectMeta::default()
        };
        let spec = spec.map(|s| PodSpec { host_network: s.host_network, ..PodSpec::default() });
        let status = status.map(|s| PodStatus { pod_ip: s.pod_ip, pod_ips: s.pod_ips, ..PodStatus::default() });
        Ok(WatchedPod(Pod { metadata, spec, status }))
    }
}

impl kube::Resource for WatchedPod {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
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
        let WatchedPod(pod) = serde_json::from_value(full_pod(false)).unwrap();
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
            let WatchedPod(lean) = serde_json::from_value(json).unwrap();
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
        let WatchedPod(pod) = serde_json::from_value(serde_json::json!({"kind": "Pod"})).unwrap();
        assert_eq!(pod, Pod::default());
    }
}
