//! The ServiceAccount admission plugin (upstream's `ServiceAccount`), on pod
//! create: a pod without `serviceAccountName` runs as `default`; the
//! ServiceAccount must exist; and unless `automountServiceAccountToken` is
//! false (on the pod, else on the ServiceAccount) the pod gets the
//! `kube-api-access-<5 random>` projected volume — a bound token (3607 s),
//! `ca.crt` from the `kube-root-ca.crt` ConfigMap and the namespace — mounted
//! read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every
//! container (init containers too) that mounts nothing there already.

use std::time::Duration;

use serde_json::{json, Value};
use skiff_api::{meta, registry, ApiError};

use crate::storage::Objects;

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
pub const VOLUME_PREFIX: &str = "kube-api-access-";
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The lifetime the kubelet asks for (upstream's `WarnOnlyBoundTokenExpirationSeconds`).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Upstream's `utilrand.String` alphabet (no vowels, no confusable digits).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A 5-character suffix from upstream's alphabet.
pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().as_bytes()[..5].iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// The ServiceAccount a pod runs as (`default` when unset).
pub fn service_account_name(pod: &Value) -> &str {
    pod.pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SERVICE_ACCOUNT)
}

/// Whether the plugin leaves `pod` alone: mirror pods of static pods cannot
/// use ServiceAccounts.
pub fn exempt(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations").and_then(|a| a.get(MIRROR_ANNOTATION)).is_some()
}

/// The projected volume upstream 1.32 adds, named `name`.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

/// Applies the plugin to `pod` given its ServiceAccount: names the account and,
/// when tokens are mounted, adds the volume (named with `suffix` unless one is
/// there already) and its mounts.
pub fn mutate(pod: &mut Value, service_account: &Value, suffix: &str) {
    let name = service_account_name(pod).to_string();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    spec.insert("serviceAccountName".into(), json!(name));
    spec.insert("serviceAccount".into(), json!(name));
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| service_account.get("automountServiceAccountToken").and_then(Value::as_bool))
        .unwrap_or(true);
    if !automount {
        return;
    }
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().filter_map(|v| v.get("name")?.as_str()).find(|n| n.starts_with(VOLUME_PREFIX)))
        .map(String::from);
    let volume_name = existing.clone().unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH});
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else { continue };
            if !mounts.iter().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH)) {
                mounts.push(mount.clone());
                needed = true;
            }
        }
    }
    if needed && existing.is_none() {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(vs) = volumes.as_array_mut() {
            vs.push(token_volume(&volume_name));
        }
    }
}

/// Looks the pod's ServiceAccount up (the `default` one, which a controller
/// makes right after its namespace, is retried for up to ~2 s as upstream
/// does) and applies [`mutate`].
///
/// # Errors
/// 403 Forbidden when the ServiceAccount does not exist, as upstream.
pub async fn admit(objects: &Objects, pod: &mut Value) -> Result<(), ApiError> {
    if exempt(pod) {
        return Ok(());
    }
    let namespace = meta::namespace(pod).to_string();
    let name = service_account_name(pod).to_string();
    let res = registry::find("", "v1", "serviceaccounts").expect("registered");
    let attempts = if name == DEFAULT_SERVICE_ACCOUNT { 10 } else { 1 };
    let mut found = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        match objects.get(res, &namespace, &name).await {
            Ok(sa) => {
                found = Some(sa);
                break;
            }
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let Some(sa) = found else {
        return Err(ApiError::Forbidden {
            target: skiff_api::Target::new("", "pods", meta::name(pod)),
            message: format!(
                "pods \"{}\" is forbidden: error looking up service account {namespace}/{name}: serviceaccount \"{name}\" not found",
                meta::name(pod)
            ),
        });
    };
    mutate(pod, &sa, &random_suffix());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"},
               "spec": {"initContainers": [{"name": "i"}],
                        "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}]}})
    }

    #[test]
    fn pods_get_the_default_account_and_the_token_volume_in_every_container() {
        let mut p = pod();
        mutate(&mut p, &json!({}), "x2b4z");
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        assert_eq!(p["spec"]["serviceAccount"], "default");
        let want = json!({"name": "kube-api-access-x2b4z", "readOnly": true, "mountPath": MOUNT_PATH});
        assert_eq!(p["spec"]["initContainers"][0]["volumeMounts"], json!([want]));
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], json!([want]));
        assert_eq!(p["spec"]["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1, "its own mount wins");
        assert_eq!(p["spec"]["volumes"], json!([token_volume("kube-api-access-x2b4z")]));
        let sources = &p["spec"]["volumes"][0]["projected"]["sources"];
        assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
        assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
        let again = p.clone();
        mutate(&mut p, &json!({}), "other");
        assert_eq!(p, again, "applying twice changes nothing");
    }

    #[test]
    fn automount_false_on_the_pod_or_the_account_mounts_nothing() {
        let mut p = pod();
        mutate(&mut p, &json!({"automountServiceAccountToken": false}), "abcde");
        assert!(p["spec"].get("volumes").is_none());
        assert!(p["spec"]["containers"][0].get("volumeMounts").is_none());
        let mut p = pod();
        p["spec"]["automountServiceAccountToken"] = json!(true);
        p["spec"]["serviceAccountName"] = json!("builder");
        mutate(&mut p, &json!({"automountServiceAccountToken": false}), "abcde");
        assert_eq!(p["spec"]["volumes"][0]["name"], "kube-api-access-abcde", "the pod's choice wins");
        assert_eq!(p["spec"]["serviceAccount"], "builder");
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| ALPHABET.contains(&b)));
        assert!(exempt(&json!({"metadata": {"annotations": {MIRROR_ANNOTATION: "x"}}})));
    }
}
