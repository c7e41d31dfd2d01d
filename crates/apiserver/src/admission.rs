//! Admission: checks and changes applied to writes after authorization and before
//! storage. The plugins here run in a fixed order; each is a plain function of what
//! it observes, so it can be tested without a server.
//!
//! NamespaceLifecycle: no new objects in a namespace that does not exist or is
//! being deleted, and the system namespaces cannot be deleted.

use serde_json::Value;
use skiff_api::{meta, ApiError, Resource};

use crate::server::Context;
use crate::storage;

/// Namespaces that exist from the first start and cannot be deleted.
pub const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// What NamespaceLifecycle decides for a create in `namespace`, given the
/// namespace object (if it exists).
pub fn namespace_lifecycle_create(kind: &str, namespace: &str, ns: Option<NamespaceState>) -> Result<(), ApiError> {
    // Some objects may still be written into a terminating namespace.
    let exempt =
        matches!(kind, "Event" | "SubjectAccessReview" | "LocalSubjectAccessReview" | "TokenReview" | "Binding");
    match ns {
        None => Err(ApiError::not_found("", "namespaces", namespace)),
        Some(ns) if !exempt && ns.terminating => Err(ApiError::Forbidden {
            target: skiff_api::Target::new("", kind, ""),
            message: format!("unable to create new content in namespace {namespace} because it is being terminated"),
        }),
        Some(_) => Ok(()),
    }
}

/// What NamespaceLifecycle needs to know of a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceState {
    pub terminating: bool,
}

impl NamespaceState {
    /// Reads it from a namespace's JSON without building a `Value` of the object (every
    /// create in a namespace asks; decoding the whole namespace cost ~3% of a create).
    pub fn of(json: &[u8]) -> Option<NamespaceState> {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(default)]
            metadata: HeadMeta,
        }
        #[derive(serde::Deserialize, Default)]
        struct HeadMeta {
            #[serde(default, rename = "deletionTimestamp")]
            deletion_timestamp: Option<serde::de::IgnoredAny>,
        }
        let head: Head = serde_json::from_slice(json).ok()?;
        Some(NamespaceState { terminating: head.metadata.deletion_timestamp.is_some() })
    }

    pub fn of_value(ns: &Value) -> NamespaceState {
        NamespaceState { terminating: meta::deletion_timestamp(ns).is_some() }
    }
}

/// The NoExecute taints DefaultTolerationSeconds gives every pod a bounded
/// toleration for, unless it already tolerates them.
const DEFAULT_TOLERATED: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];
/// Upstream's `--default-not-ready-toleration-seconds` / `--default-unreachable-toleration-seconds`.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Mutating admission on create (before validation): DefaultTolerationSeconds
/// adds `tolerationSeconds: 300` tolerations of the `not-ready` and
/// `unreachable` NoExecute taints to pods that tolerate neither already, so
/// pods of a lost node are evicted after five minutes.
pub fn mutate_create(res: &Resource, obj: &mut Value) {
    if res.group.is_empty() && res.kind == "Pod" {
        default_toleration_seconds(obj);
    }
}

fn default_toleration_seconds(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let tolerations = spec.entry("tolerations").or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = tolerations.as_array_mut() else { return };
    for key in DEFAULT_TOLERATED {
        // Upstream: any toleration that would tolerate the NoExecute taint counts.
        let tolerated = list.iter().any(|t| {
            let t_key = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let exists = t.get("operator").and_then(Value::as_str) == Some("Exists");
            (effect.is_empty() || effect == "NoExecute") && (t_key == key || (t_key.is_empty() && exists))
        });
        if !tolerated {
            list.push(serde_json::json!({
                "key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
}

pub async fn admit_create(ctx: &Context, res: &Resource, obj: &Value) -> Result<(), ApiError> {
    if res.namespaced {
        let namespace = meta::namespace(obj);
        let ns = ctx.namespace_state(namespace).await?;
        namespace_lifecycle_create(res.kind, namespace, ns)?;
    }
    Ok(())
}

pub async fn admit_update(_ctx: &Context, _res: &Resource, _new: &Value, _old: &Value) -> Result<(), ApiError> {
    Ok(())
}

pub async fn admit_delete(_ctx: &Context, res: &Resource, obj: &Value) -> Result<(), ApiError> {
    if res.group.is_empty() && res.kind == "Namespace" && SYSTEM_NAMESPACES.contains(&meta::name(obj)) {
        return Err(ApiError::Forbidden {
            target: skiff_api::Target::new("", "namespaces", meta::name(obj)),
            message: format!("namespace \"{}\" is forbidden: this namespace may not be deleted", meta::name(obj)),
        });
    }
    Ok(())
}

/// Creates the system namespaces and the `kubernetes` Service if they are missing
/// (first start).
pub async fn ensure_system_namespaces(objects: &storage::Objects) -> Result<(), ApiError> {
    let res = skiff_api::registry::find("", "v1", "namespaces").expect("namespaces are registered");
    for name in SYSTEM_NAMESPACES {
        let mut ns = serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
        });
        crate::strategy::prepare_for_create(res, &mut ns);
        match objects.create(res, ns).await {
            Ok(_) | Err(ApiError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    ensure_kubernetes_service(objects).await
}

/// The `kubernetes` Service in `default`, at the first Service IP, through which
/// pods reach the API server.
async fn ensure_kubernetes_service(objects: &storage::Objects) -> Result<(), ApiError> {
    let res = skiff_api::registry::find("", "v1", "services").expect("services are registered");
    if objects.get(res, "default", "kubernetes").await.is_ok() {
        return Ok(());
    }
    let mut svc = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": crate::allocator::service_ip(1).to_string(),
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None", "type": "ClusterIP",
        },
    });
    crate::strategy::prepare_for_create(res, &mut svc);
    skiff_api::defaults::apply("", "Service", &mut svc);
    let store = objects.store().clone();
    let taken = crate::allocator::allocate(store.as_ref(), &mut svc, None).await?;
    match objects.create(res, svc).await {
        Ok(_) | Err(ApiError::AlreadyExists(_)) => Ok(()),
        Err(e) => {
            crate::allocator::release(store.as_ref(), &taken).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_toleration_seconds_fills_in_what_is_missing() {
        let pods = skiff_api::registry::find("", "v1", "pods").unwrap();
        let mut pod = json!({"spec": {"containers": []}});
        mutate_create(pods, &mut pod);
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ])
        );
        let own = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2});
        let mut pod = json!({"spec": {"tolerations": [own.clone()]}});
        mutate_create(pods, &mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(pod["spec"]["tolerations"][0], own, "a pod's own toleration is kept");
        let mut everything = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        mutate_create(pods, &mut everything);
        assert_eq!(everything["spec"]["tolerations"].as_array().unwrap().len(), 1);
        let mut cm = json!({"data": {}});
        mutate_create(skiff_api::registry::find("", "v1", "configmaps").unwrap(), &mut cm);
        assert_eq!(cm, json!({"data": {}}));
    }

    #[test]
    fn namespace_lifecycle() {
        assert_eq!(namespace_lifecycle_create("Pod", "x", None).unwrap_err().code(), 404);
        let terminating =
            NamespaceState::of(br#"{"metadata":{"name":"x","deletionTimestamp":"2024-01-01T00:00:00Z"}}"#);
        assert_eq!(terminating, Some(NamespaceState { terminating: true }));
        let e = namespace_lifecycle_create("Pod", "x", terminating).unwrap_err();
        assert_eq!(e.code(), 403);
        assert!(e.message().contains("being terminated"));
        assert!(namespace_lifecycle_create("Event", "x", terminating).is_ok());
        let live =
            NamespaceState::of(br#"{"metadata":{"name":"x","deletionTimestamp":null,"labels":{"a":"b"}},"spec":{}}"#);
        assert_eq!(live, Some(NamespaceState { terminating: false }));
        assert!(namespace_lifecycle_create("Pod", "x", live).is_ok());
        assert_eq!(NamespaceState::of(b"not json"), None);
    }
}
