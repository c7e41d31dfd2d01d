//! Node updates: a podCIDR, once set, stays (upstream's ValidateNodeUpdate). The
//! node IPAM controller relies on this: a write made from a stale view of a
//! Node can never move a range its kubelet already uses.

use serde_json::Value;

use crate::Cause;

const MESSAGE: &str = "node updates may not change podCIDR except from \"\" to valid";

pub fn node_update(obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let old_cidr = old.pointer("/spec/podCIDR").and_then(Value::as_str).unwrap_or("");
    if !old_cidr.is_empty() && obj.pointer("/spec/podCIDR").and_then(Value::as_str) != Some(old_cidr) {
        causes.push(Cause::forbidden("spec.podCIDR", MESSAGE));
    }
    let cidrs = |v: &Value| v.pointer("/spec/podCIDRs").and_then(Value::as_array).cloned().unwrap_or_default();
    let (old_cidrs, new_cidrs) = (cidrs(old), cidrs(obj));
    if old_cidrs.is_empty() {
        return;
    }
    if old_cidrs.len() != new_cidrs.len() {
        causes.push(Cause::forbidden("spec.podCIDRs", MESSAGE));
        return;
    }
    for (i, (o, n)) in old_cidrs.iter().zip(&new_cidrs).enumerate() {
        if o != n {
            causes.push(Cause::forbidden(format!("spec.podCIDRs[{i}]"), MESSAGE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(new: Value, old: Value) -> Vec<String> {
        let mut c = Vec::new();
        node_update(&new, &old, &mut c);
        c.into_iter().map(|c| c.field).collect()
    }

    #[test]
    fn a_pod_cidr_is_set_once() {
        let none = json!({"spec": {}});
        let one = json!({"spec": {"podCIDR": "10.42.1.0/24", "podCIDRs": ["10.42.1.0/24"]}});
        let other = json!({"spec": {"podCIDR": "10.42.2.0/24", "podCIDRs": ["10.42.2.0/24"]}});
        assert!(check(one.clone(), none.clone()).is_empty(), "from unset to a value");
        assert!(check(one.clone(), one.clone()).is_empty(), "unchanged");
        assert_eq!(check(other, one.clone()), ["spec.podCIDR", "spec.podCIDRs[0]"]);
        assert_eq!(check(none, one), ["spec.podCIDR", "spec.podCIDRs"]);
    }
}
