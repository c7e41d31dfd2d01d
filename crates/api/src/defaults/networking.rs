//! Defaults of the `networking.k8s.io` kinds (upstream's `networking/v1/defaults.go`).

use serde_json::{json, Value};

use super::set;

/// Ports default to TCP; a policy without `policyTypes` is an Ingress policy, and
/// an Egress one too when it has egress rules.
pub fn network_policy(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else { return };
    for direction in ["ingress", "egress"] {
        for rule in spec.get_mut(direction).and_then(Value::as_array_mut).into_iter().flatten() {
            for port in rule.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                set(port, &["protocol"], json!("TCP"));
            }
        }
    }
    if spec.get("policyTypes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        let egress = spec.get("egress").and_then(Value::as_array).is_some_and(|e| !e.is_empty());
        spec["policyTypes"] = if egress { json!(["Ingress", "Egress"]) } else { json!(["Ingress"]) };
    }
}

/// Parameters without a scope are cluster-scoped.
pub fn ingress_class(obj: &mut Value) {
    if let Some(params) = obj.pointer_mut("/spec/parameters").filter(|p| p.is_object()) {
        set(params, &["scope"], json!("Cluster"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_policy_defaults() {
        let mut p = json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}});
        network_policy(&mut p);
        assert_eq!(p["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(p["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        let mut q = json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        network_policy(&mut q);
        assert_eq!(q["spec"]["policyTypes"], json!(["Egress"]));
    }

    #[test]
    fn ingress_class_parameters_default_to_cluster_scope() {
        let mut c = json!({"spec": {"controller": "example.com/i", "parameters": {"kind": "K", "name": "n"}}});
        ingress_class(&mut c);
        assert_eq!(c["spec"]["parameters"]["scope"], "Cluster");
    }
}
