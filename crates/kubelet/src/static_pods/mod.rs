//! Static pods: pods the kubelet runs from manifest files in a directory
//! (`--pod-manifest-path`), without the API server, as upstream's file source.
//! Each is mirrored into the API as a mirror pod so that `kubectl` sees it.
//!
//! Pure core here: a manifest becomes a static pod ([`parse`]: name
//! `<name>-<node>`, uid the hash of its content, node and file, the
//! `kubernetes.io/config.*` annotations), the mirror pod it is shown as
//! ([`mirror_pod`]), and what to create or delete in the API so the mirrors
//! match the files ([`reconcile`]). The shell, [`source::StaticPodSource`],
//! reads the directory and feeds the pod manager.

pub mod source;
pub mod starts;

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Pod, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sha2::{Digest, Sha256};

/// Where a pod came from (`file` for static pods; upstream also has `http`).
pub const CONFIG_SOURCE: &str = "kubernetes.io/config.source";
/// The static pod's hash (its uid).
pub const CONFIG_HASH: &str = "kubernetes.io/config.hash";
/// When the kubelet first saw this version of the manifest.
pub const CONFIG_SEEN: &str = "kubernetes.io/config.seen";
/// On a mirror pod: the hash of the static pod it shows.
pub const CONFIG_MIRROR: &str = "kubernetes.io/config.mirror";
/// On the static pod handed to the pod worker only (never sent to the API):
/// the uid of its mirror pod, so the worker writes the status again to a
/// mirror that was recreated.
pub const MIRROR_UID: &str = "skiff.dev/mirror-uid";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("not YAML or JSON: {0}")]
    Syntax(String),
    #[error("kind {0:?} is not a Pod (one v1 Pod per file)")]
    NotAPod(String),
    #[error("not a valid Pod: {0}")]
    Invalid(String),
    #[error("metadata.name is required")]
    NoName,
}

/// Whether the file at `path` is read as a manifest: not hidden (editors'
/// swap files, `..data`), as upstream's file source.
pub fn is_manifest_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.'))
}

/// Whether `pod` is a mirror pod (the API's copy of a static pod): the
/// kubelet never runs those itself.
pub fn is_mirror(pod: &Pod) -> bool {
    annotation(pod, CONFIG_MIRROR).is_some()
}

/// Whether `pod` is a static pod this kubelet read from a file.
pub fn is_static(pod: &Pod) -> bool {
    !is_mirror(pod) && annotation(pod, CONFIG_SOURCE).is_some_and(|s| s != "api")
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The static pod of manifest `bytes` read from `path` on node `node`, as
/// upstream's applyDefaults: name `<name>-<node>`, namespace `default` when
/// unset, bound to the node, tolerating every NoExecute taint, uid and
/// `config.hash` a hash of the pod, the node and the file.
pub fn parse(bytes: &[u8], path: &Path, node: &str) -> Result<Pod, Error> {
    let value: serde_json::Value = serde_yaml::from_slice(bytes).map_err(|e| Error::Syntax(e.to_string()))?;
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
    if kind != "Pod" {
        return Err(Error::NotAPod(kind.to_string()));
    }
    let mut pod: Pod = serde_json::from_value(value).map_err(|e| Error::Invalid(e.to_string()))?;
    let name = pod.metadata.name.clone().filter(|n| !n.is_empty()).ok_or(Error::NoName)?;
    // The hash covers the parsed pod, so reformatting a file changes nothing.
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&pod).unwrap_or_default());
    h.update(format!("host:{node}file:{}", path.display()));
    let uid = hex::encode(&h.finalize()[..16]);
    let m = &mut pod.metadata;
    m.name = Some(format!("{name}-{}", node.to_lowercase()));
    m.namespace = Some(m.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into()));
    m.uid = Some(uid.clone());
    m.resource_version = None;
    let a = m.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(CONFIG_HASH.into(), uid);
    a.insert(CONFIG_SOURCE.into(), "file".into());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node.to_string());
    let tolerate_all =
        Toleration { operator: Some("Exists".into()), effect: Some("NoExecute".into()), ..Default::default() };
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    if !tolerations.contains(&tolerate_all) {
        tolerations.push(tolerate_all);
    }
    pod.status = None;
    Ok(pod)
}

/// The mirror pod that shows `static_pod` in the API: its metadata and spec,
/// `config.mirror` set to its hash, owned by the Node (`node_uid`), as
/// upstream's mirror client.
pub fn mirror_pod(static_pod: &Pod, node: &str, node_uid: &str) -> Pod {
    let m = &static_pod.metadata;
    let mut annotations = m.annotations.clone().unwrap_or_default();
    annotations.remove(MIRROR_UID);
    let hash = annotations.get(CONFIG_HASH).cloned().unwrap_or_default();
    annotations.insert(CONFIG_MIRROR.into(), hash);
    Pod {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            labels: m.labels.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.into(),
                uid: node_uid.into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: static_pod.spec.clone(),
        status: None,
    }
}

/// A change to the API's mirror pods.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorAction {
    /// Create the mirror of the static pod with this uid.
    Create { static_uid: String },
    /// Delete (grace 0, uid precondition) a mirror that is stale, being
    /// deleted (`kubectl delete`: it is recreated next round) or whose file is
    /// gone.
    Delete { namespace: String, name: String, uid: String },
}

/// What to do so that the API's pods on this node (`api_pods`) show exactly
/// the static pods (`static_pods`). A pod of the same name that is not a
/// mirror is left alone (the static pod then has no mirror).
pub fn reconcile(static_pods: &[Pod], api_pods: &[Pod]) -> Vec<MirrorAction> {
    let key = |p: &Pod| (p.metadata.namespace.clone().unwrap_or_default(), p.metadata.name.clone().unwrap_or_default());
    let api: BTreeMap<_, &Pod> = api_pods.iter().map(|p| (key(p), p)).collect();
    let mut out = Vec::new();
    let delete = |p: &Pod| {
        let (namespace, name) = key(p);
        MirrorAction::Delete { namespace, name, uid: p.metadata.uid.clone().unwrap_or_default() }
    };
    for s in static_pods {
        let hash = annotation(s, CONFIG_HASH).unwrap_or_default();
        match api.get(&key(s)) {
            None => out.push(MirrorAction::Create { static_uid: s.metadata.uid.clone().unwrap_or_default() }),
            Some(m) if !is_mirror(m) => {}
            Some(m) if annotation(m, CONFIG_MIRROR) != Some(hash) || m.metadata.deletion_timestamp.is_some() => {
                out.push(delete(m))
            }
            Some(_) => {}
        }
    }
    let wanted: Vec<_> = static_pods.iter().map(key).collect();
    for m in api_pods.iter().filter(|p| is_mirror(p) && !wanted.contains(&key(p))) {
        out.push(delete(m));
    }
    out
}

#[cfg(test)]
mod tests;
