//! Defaulting for built-in types: the values upstream's `SetDefaults_*` functions
//! fill in when a client leaves a field out. Applied on create and update, so a
//! stored object always carries its defaults (and `kubectl get -o yaml` shows them).

mod admission;
mod endpoints;
mod limit_range;
mod networking;
mod pod;
mod rbac;
mod storage;
mod workloads;

use serde_json::{Map, Value};

/// Fills in the defaults of an object of `group`/`kind`.
pub fn apply(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("", "Pod") => pod::pod(obj),
        ("", "PodTemplate") => template(obj, "/template"),
        ("", "ReplicationController") => workloads::replication_controller(obj),
        ("", "Service") => workloads::service(obj),
        ("", "Secret") => secret(obj),
        ("", "LimitRange") => limit_range::limit_range(obj),
        ("", "Endpoints") => endpoints::endpoints(obj),
        ("discovery.k8s.io", "EndpointSlice") => endpoints::endpoint_slice(obj),
        ("", "Namespace") => set(obj, &["spec", "finalizers"], serde_json::json!(["kubernetes"])),
        ("apps", "Deployment") => workloads::deployment(obj),
        ("apps", "ReplicaSet") => workloads::replica_set(obj),
        ("apps", "StatefulSet") => workloads::stateful_set(obj),
        ("apps", "DaemonSet") => workloads::daemon_set(obj),
        ("batch", "Job") => workloads::job(obj),
        ("batch", "CronJob") => workloads::cron_job(obj),
        ("networking.k8s.io", "NetworkPolicy") => networking::network_policy(obj),
        ("networking.k8s.io", "IngressClass") => networking::ingress_class(obj),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => rbac::binding(obj),
        ("storage.k8s.io", "CSIDriver") => storage::csi_driver(obj),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            admission::webhook_configuration(obj, false)
        }
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => admission::webhook_configuration(obj, true),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => admission::policy(obj),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => admission::binding(obj),
        _ => {}
    }
}

/// `stringData` is write-only: upstream merges it into `data` (base64, overriding a
/// `data` entry of the same key) when it decodes a Secret, and never stores it.
fn secret(obj: &mut Value) {
    use base64::Engine as _;
    set(obj, &["type"], Value::from("Opaque"));
    let Some(map) = obj.as_object_mut() else { return };
    let Some(Value::Object(strings)) = map.remove("stringData") else { return };
    if strings.is_empty() {
        return;
    }
    let data = map.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    let data = data.as_object_mut().expect("made an object above");
    for (key, text) in strings {
        let text = text.as_str().unwrap_or_default();
        data.insert(key, Value::from(base64::engine::general_purpose::STANDARD.encode(text)));
    }
}

/// Defaults the pod template at `pointer` (e.g. `/spec/template`).
pub(crate) fn template(obj: &mut Value, pointer: &str) {
    if let Some(spec) = obj.pointer_mut(&format!("{pointer}/spec")) {
        pod::pod_spec(spec);
    }
}

/// Sets `path` to `value` unless it is already set (creating parents as needed).
pub fn set(obj: &mut Value, path: &[&str], value: Value) {
    let mut cur = obj;
    for (i, key) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let map = cur.as_object_mut().expect("made an object above");
        if i == path.len() - 1 {
            if map.get(*key).is_none_or(Value::is_null) {
                map.insert((*key).to_string(), value);
            }
            return;
        }
        cur = map.entry((*key).to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_only_fills_missing() {
        let mut v = json!({"spec": {"replicas": 3}});
        set(&mut v, &["spec", "replicas"], json!(1));
        set(&mut v, &["spec", "paused"], json!(false));
        assert_eq!(v, json!({"spec": {"replicas": 3, "paused": false}}));
    }

    #[test]
    fn secret_string_data_is_merged_into_data_and_dropped() {
        let mut s = json!({"data": {"a": "YQ==", "b": "Yg=="}, "stringData": {"b": "bee", "c": "see"}});
        apply("", "Secret", &mut s);
        assert_eq!(s, json!({"type": "Opaque", "data": {"a": "YQ==", "b": "YmVl", "c": "c2Vl"}}));
        let mut s = json!({"type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}});
        apply("", "Secret", &mut s);
        assert_eq!(s, json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}));
        let mut s = json!({"stringData": null});
        apply("", "Secret", &mut s);
        assert_eq!(s, json!({"type": "Opaque"}));
    }
}
