//! Defaults of the RBAC bindings (upstream's `rbac/v1/defaults.go`): manifests
//! commonly leave out the API groups of the role and of User and Group subjects.

use serde_json::{json, Value};

const GROUP: &str = "rbac.authorization.k8s.io";

pub fn binding(obj: &mut Value) {
    if let Some(role_ref) = obj.get_mut("roleRef").filter(|r| r.is_object()) {
        if role_ref.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty) {
            role_ref["apiGroup"] = json!(GROUP);
        }
    }
    for subject in obj.get_mut("subjects").and_then(Value::as_array_mut).into_iter().flatten() {
        let unset = subject.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty);
        match subject.get("kind").and_then(Value::as_str) {
            Some("User" | "Group") if unset => subject["apiGroup"] = json!(GROUP),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_filled_in() {
        let mut b = json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default", "namespace": "ns"},
            {"kind": "Group", "apiGroup": "", "name": "devs"}]});
        binding(&mut b);
        assert_eq!(b["roleRef"]["apiGroup"], GROUP);
        assert_eq!(b["subjects"][0]["apiGroup"], GROUP);
        assert!(b["subjects"][1].get("apiGroup").is_none());
        assert_eq!(b["subjects"][2]["apiGroup"], GROUP);
    }
}
