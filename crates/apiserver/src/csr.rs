//! CertificateSigningRequests' strategy (upstream's `registry/certificates`): the
//! requester comes from the request's user, never from the body; the spec never
//! changes after creation; the `approval` subresource writes only the conditions, and
//! the `status` subresource may not touch the Approved and Denied ones (those are
//! decisions, made through `approval`).

use serde_json::{json, Map, Value};

use crate::authn::UserInfo;
use crate::strategy::now;

/// Whether `group`/`kind` is a CertificateSigningRequest.
pub fn is_csr(group: &str, kind: &str) -> bool {
    group == "certificates.k8s.io" && kind == "CertificateSigningRequest"
}

/// On create: the requester is who sent the request, whatever the body said.
pub fn prepare_for_create(obj: &mut Value, user: &UserInfo) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
    spec.insert("username".into(), json!(user.name));
    for (field, value) in [("uid", json!(user.uid)), ("groups", json!(user.groups)), ("extra", json!(user.extra))] {
        let empty = value.as_str() == Some("")
            || value.as_array().is_some_and(Vec::is_empty)
            || value.as_object().is_some_and(Map::is_empty);
        if empty {
            spec.remove(field);
        } else {
            spec.insert(field.into(), value);
        }
    }
}

/// On update through `subresource` ("" for the object itself).
pub fn prepare_for_update(subresource: &str, new: &mut Value, old: &Value) {
    let conditions = new.pointer("/status/conditions").cloned();
    let status = new.get("status").cloned();
    let metadata = new.get("metadata").cloned();
    *new = old.clone();
    if let Some(m) = metadata {
        new["metadata"] = m;
    }
    match subresource {
        "approval" => set_conditions(new, conditions),
        "status" => {
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            keep_decisions(new, old);
        }
        _ => {}
    }
    stamp_conditions(new, old);
}

fn set_conditions(obj: &mut Value, conditions: Option<Value>) {
    let status = obj.as_object_mut().map(|m| m.entry("status").or_insert_with(|| json!({})));
    let Some(status) = status.and_then(Value::as_object_mut) else { return };
    match conditions {
        Some(c) if !c.is_null() => {
            status.insert("conditions".into(), c);
        }
        _ => {
            status.remove("conditions");
        }
    }
}

fn is_decision(condition: &Value) -> bool {
    matches!(condition.get("type").and_then(Value::as_str), Some("Approved" | "Denied"))
}

/// The old Approved and Denied conditions replace whatever a status write sent.
fn keep_decisions(new: &mut Value, old: &Value) {
    let old_decisions: Vec<Value> = conditions(old).into_iter().filter(|c| is_decision(c)).cloned().collect();
    let others: Vec<Value> = conditions(new).into_iter().filter(|c| !is_decision(c)).cloned().collect();
    let all: Vec<Value> = old_decisions.into_iter().chain(others).collect();
    set_conditions(new, (!all.is_empty()).then_some(Value::Array(all)));
}

fn conditions(obj: &Value) -> Vec<&Value> {
    obj.pointer("/status/conditions").and_then(Value::as_array).map(|c| c.iter().collect()).unwrap_or_default()
}

/// Upstream's `populateConditionTimestamps`: a condition without `lastUpdateTime` gets
/// now; without `lastTransitionTime`, that of an old condition of the same type and
/// status, else now.
fn stamp_conditions(new: &mut Value, old: &Value) {
    let now = now();
    let old_conditions = conditions(old);
    let Some(list) = new.pointer_mut("/status/conditions").and_then(Value::as_array_mut) else { return };
    for c in list.iter_mut().filter_map(Value::as_object_mut) {
        if c.get("lastUpdateTime").is_none_or(Value::is_null) {
            c.insert("lastUpdateTime".into(), json!(now));
        }
        if c.get("lastTransitionTime").is_none_or(Value::is_null) {
            let same =
                old_conditions.iter().find(|o| o.get("type") == c.get("type") && o.get("status") == c.get("status"));
            let at = same.and_then(|o| o.get("lastTransitionTime")).filter(|t| !t.is_null()).cloned();
            c.insert("lastTransitionTime".into(), at.unwrap_or_else(|| json!(now)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(conditions: Value) -> Value {
        json!({"metadata": {"name": "jane", "resourceVersion": "5"},
            "spec": {"request": "UkVR", "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"],
                "username": "jane"},
            "status": {"conditions": conditions}})
    }

    #[test]
    fn the_requester_is_the_user_not_the_body() {
        let mut obj = json!({"spec": {"username": "admin", "groups": ["system:masters"], "uid": "forged"}});
        let user = UserInfo { name: "jane".into(), groups: vec!["dev".into()], ..UserInfo::default() };
        prepare_for_create(&mut obj, &user);
        assert_eq!(obj["spec"], json!({"username": "jane", "groups": ["dev"]}));
    }

    #[test]
    fn approval_writes_only_the_conditions() {
        let old = csr(json!([]));
        let mut new = csr(json!([{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]));
        new["spec"]["username"] = json!("admin");
        new["status"]["certificate"] = json!("Q0VSVA==");
        prepare_for_update("approval", &mut new, &old);
        assert_eq!(new["spec"], old["spec"]);
        assert!(new["status"].get("certificate").is_none());
        let c = &new["status"]["conditions"][0];
        assert_eq!((c["type"].as_str(), c["reason"].as_str()), (Some("Approved"), Some("KubectlApprove")));
        assert!(c["lastUpdateTime"].is_string() && c["lastTransitionTime"].is_string());
    }

    #[test]
    fn status_writes_keep_the_decisions_and_updates_keep_spec_and_status() {
        let approved = json!({"type": "Approved", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z",
            "lastUpdateTime": "2026-01-01T00:00:00Z"});
        let old = csr(json!([approved]));
        let mut new = csr(json!([{"type": "Denied", "status": "True"}, {"type": "Failed", "status": "True"}]));
        new["status"]["certificate"] = json!("Q0VSVA==");
        prepare_for_update("status", &mut new, &old);
        let types: Vec<&str> = conditions(&new).iter().filter_map(|c| c["type"].as_str()).collect();
        assert_eq!(types, ["Approved", "Failed"]);
        assert_eq!(new["status"]["certificate"], "Q0VSVA==");
        assert_eq!(new["status"]["conditions"][0]["lastTransitionTime"], "2026-01-01T00:00:00Z");

        let mut new = csr(json!([]));
        new["spec"]["usages"] = json!(["server auth"]);
        new["metadata"]["labels"] = json!({"a": "b"});
        prepare_for_update("", &mut new, &old);
        assert_eq!(new["spec"], old["spec"]);
        assert_eq!(new["status"], old["status"]);
        assert_eq!(new["metadata"]["labels"], json!({"a": "b"}));
    }
}
