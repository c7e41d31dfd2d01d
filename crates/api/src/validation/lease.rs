//! Leases (`ValidateLeaseSpec`): a positive duration and a transition count that
//! is not negative. Holder and times are free-form upstream.

use serde_json::{json, Value};

use super::common::set;
use crate::Cause;

pub fn lease(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    if let Some(d) = set(spec, "leaseDurationSeconds").and_then(Value::as_i64).filter(|d| *d <= 0) {
        causes.push(Cause::invalid("spec.leaseDurationSeconds", &json!(d), "must be greater than 0"));
    }
    if let Some(t) = set(spec, "leaseTransitions").and_then(Value::as_i64).filter(|t| *t < 0) {
        causes.push(Cause::invalid("spec.leaseTransitions", &json!(t), "must be greater than or equal to 0"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: Value) -> Vec<String> {
        let mut causes = Vec::new();
        lease(&json!({"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": spec}), &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    #[test]
    fn leases_as_skiff_writes_them_pass() {
        // The kubelet's node lease, a leader-election lease, and an empty one.
        assert!(check(json!({"holderIdentity": "node-1", "leaseDurationSeconds": 40,
            "renewTime": "2024-01-02T03:04:05.123456Z"}))
        .is_empty());
        assert!(check(json!({"holderIdentity": "a_1", "leaseDurationSeconds": 15, "leaseTransitions": 0,
            "acquireTime": "2024-01-02T03:04:05.000000Z", "renewTime": "2024-01-02T03:04:05.000000Z"}))
        .is_empty());
        assert!(check(json!({})).is_empty());
    }

    #[test]
    fn durations_are_positive_and_transitions_not_negative() {
        assert_eq!(
            check(json!({"leaseDurationSeconds": 0, "leaseTransitions": -1})),
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        assert_eq!(
            check(json!({"leaseDurationSeconds": -5})),
            ["spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0"]
        );
    }
}
