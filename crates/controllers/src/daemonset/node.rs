//! Which nodes a DaemonSet runs on, and how its pods are tied to a node
//! (upstream's `NodeShouldRunDaemonPod`, `AddOrUpdateDaemonPodTolerations`,
//! `ReplaceDaemonSetPodNodeNameNodeAffinity`, `GetTargetNodeName`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint,
    Toleration,
};

/// Whether a daemon pod should be placed on the node, and whether one already
/// there may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub should_run: bool,
    pub should_continue_running: bool,
}

/// The tolerations every daemon pod gets: it must survive the node
/// conditions that would evict or keep out ordinary pods.
pub fn default_tolerations(spec: &PodSpec) -> Vec<Toleration> {
    let mut keys = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        keys.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    keys.into_iter()
        .map(|(key, effect)| Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        })
        .collect()
}

/// Adds the default tolerations the spec does not have yet.
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let defaults = default_tolerations(spec);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in defaults {
        if !tolerations.iter().any(|have| have.key == t.key && have.effect == t.effect) {
            tolerations.push(t);
        }
    }
}

/// Pins the pod to `node` through required node affinity on `metadata.name`,
/// replacing the required terms (the controller already checked them), so the
/// scheduler places it — upstream's way since daemon pods are scheduled.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.into()]),
        }]),
        ..Default::default()
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution =
        Some(NodeSelector { node_selector_terms: vec![term] });
}

/// The node a daemon pod is for: its `nodeName`, else the `metadata.name` its
/// required node affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let terms = &spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution;
    terms.as_ref()?.node_selector_terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            (r.key == "metadata.name" && r.operator == "In" && r.values.as_ref().is_some_and(|v| v.len() == 1))
                .then(|| r.values.as_ref().and_then(|v| v.first()).map(String::as_str))
                .flatten()
        })
    })
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        };
        effect_ok && key_ok && value_ok
    })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), values.first()) else {
                return false;
            };
            let Ok(bound) = bound.parse::<i64>() else { return false };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, name: &str, labels: &BTreeMap<String, String>) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let name = name.to_string();
    exprs.iter().all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, Some(&name)))
}

/// Whether the DaemonSet's template fits `node`: nodeSelector, required node
/// affinity, and NoSchedule/NoExecute taints against the template's
/// tolerations plus the defaults. An untolerated NoExecute taint also means a
/// pod already there must go.
pub fn fit(template: &PodSpec, node: &Node) -> Fit {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let name = node.metadata.name.as_deref().unwrap_or("");
    let selector_ok = template.node_selector.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let required = template
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    let affinity_ok = required.is_none_or(|s| s.node_selector_terms.iter().any(|t| term_matches(t, name, &labels)));
    let mut tolerations = template.tolerations.clone().unwrap_or_default();
    tolerations.extend(default_tolerations(template));
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
    let untolerated = |effect: &str| taints.iter().any(|t| t.effect == effect && !tolerates(&tolerations, t));
    let no_execute = untolerated("NoExecute");
    let fits = selector_ok && affinity_ok;
    Fit { should_run: fits && !no_execute && !untolerated("NoSchedule"), should_continue_running: fits && !no_execute }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;

    fn node(labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some("n1".into());
        n.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        n.spec = Some(NodeSpec {
            taints: Some(
                taints
                    .iter()
                    .map(|(k, e)| Taint { key: k.to_string(), effect: e.to_string(), ..Default::default() })
                    .collect(),
            ),
            ..Default::default()
        });
        n
    }

    #[test]
    fn nodes_fit_by_selector_affinity_and_taints() {
        let with_selector = PodSpec {
            node_selector: Some(BTreeMap::from([("disk".to_string(), "ssd".to_string())])),
            ..Default::default()
        };
        let with_affinity = PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "zone".into(),
                                operator: "In".into(),
                                values: Some(vec!["a".into()]),
                            }]),
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let tolerant = PodSpec {
            tolerations: Some(vec![Toleration {
                key: Some("dedicated".into()),
                operator: Some("Exists".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let plain = PodSpec::default();
        let run = Fit { should_run: true, should_continue_running: true };
        let stay = Fit { should_run: false, should_continue_running: true };
        let none = Fit { should_run: false, should_continue_running: false };
        let cases = [
            ("no constraints", &plain, node(&[], &[]), run),
            ("selector matches", &with_selector, node(&[("disk", "ssd")], &[]), run),
            ("selector does not", &with_selector, node(&[("disk", "hdd")], &[]), none),
            ("affinity matches", &with_affinity, node(&[("zone", "a")], &[]), run),
            ("affinity does not", &with_affinity, node(&[("zone", "b")], &[]), none),
            ("NoSchedule taint keeps new pods out", &plain, node(&[], &[("dedicated", "NoSchedule")]), stay),
            ("NoExecute taint evicts", &plain, node(&[], &[("dedicated", "NoExecute")]), none),
            ("tolerated taint", &tolerant, node(&[], &[("dedicated", "NoExecute")]), run),
            (
                "unschedulable is tolerated by default",
                &plain,
                node(&[], &[("node.kubernetes.io/unschedulable", "NoSchedule")]),
                run,
            ),
            (
                "not-ready is tolerated by default",
                &plain,
                node(&[], &[("node.kubernetes.io/not-ready", "NoExecute")]),
                run,
            ),
        ];
        for (name, spec, n, want) in cases {
            assert_eq!(fit(spec, &n), want, "{name}");
        }
    }

    #[test]
    fn pods_are_pinned_and_found_by_node_affinity() {
        let mut spec = PodSpec::default();
        pin_to_node(&mut spec, "n7");
        add_default_tolerations(&mut spec);
        add_default_tolerations(&mut spec);
        assert_eq!(spec.tolerations.as_ref().unwrap().len(), 6, "added once");
        let pod = Pod { spec: Some(spec), ..Default::default() };
        assert_eq!(target_node(&pod), Some("n7"));
        let mut bound = pod.clone();
        bound.spec.as_mut().unwrap().node_name = Some("n8".into());
        assert_eq!(target_node(&bound), Some("n8"));
    }
}
