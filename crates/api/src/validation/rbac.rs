//! RBAC validation, as upstream's `pkg/apis/rbac/validation`: every rule has verbs
//! and targets either resources or (cluster-wide only) non-resource URLs; a binding
//! refers to a role of its own API group, never to another one later, and to
//! subjects of a known kind. Upstream's paths here have no `spec.` prefix.

use serde_json::{json, Value};

use super::rules;
use crate::Cause;

const GROUP: &str = "rbac.authorization.k8s.io";

pub fn role(obj: &Value, namespaced: bool, causes: &mut Vec<Cause>) {
    for (i, rule) in items(obj.get("rules")).enumerate() {
        policy_rule(rule, namespaced, &format!("rules[{i}]"), causes);
    }
    if namespaced {
        return;
    }
    if let Some(aggregation) = obj.get("aggregationRule").filter(|a| !a.is_null()) {
        let selectors: Vec<&Value> = items(aggregation.get("clusterRoleSelectors")).collect();
        if selectors.is_empty() {
            causes.push(Cause::required_because(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, selector) in selectors.into_iter().enumerate() {
            let at = format!("aggregationRule.clusterRoleSelectors[{i}]");
            let before = causes.len();
            rules::label_selector(selector, &at, causes);
            // Upstream also fails to convert such a selector, and says so (with the
            // nil selector that conversion returned as the value).
            if causes.len() > before {
                causes.push(Cause::invalid(at, &json!("null"), "invalid label selector."));
            }
        }
    }
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn non_empty(rule: &Value, field: &str) -> bool {
    rule.get(field).and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

fn policy_rule(rule: &Value, namespaced: bool, at: &str, causes: &mut Vec<Cause>) {
    if !non_empty(rule, "verbs") {
        causes.push(Cause::required_because(format!("{at}.verbs"), "verbs must contain at least one value"));
    }
    if non_empty(rule, "nonResourceURLs") {
        let urls = super::gostr::strings("[]string", rule.get("nonResourceURLs"));
        let field = format!("{at}.nonResourceURLs");
        if namespaced {
            causes.push(super::common::invalid_shown(
                &field,
                &urls,
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if ["apiGroups", "resources", "resourceNames"].iter().any(|f| non_empty(rule, f)) {
            causes.push(super::common::invalid_shown(
                &field,
                &urls,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if !non_empty(rule, "apiGroups") {
        causes.push(Cause::required_because(
            format!("{at}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if !non_empty(rule, "resources") {
        causes.push(Cause::required_because(
            format!("{at}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
}

/// A RoleBinding (`namespaced`) or ClusterRoleBinding.
pub fn binding(obj: &Value, old: Option<&Value>, namespaced: bool, causes: &mut Vec<Cause>) {
    let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
    let text = |field: &str| role_ref.get(field).and_then(Value::as_str).unwrap_or("");
    if text("apiGroup") != GROUP {
        causes.push(Cause::not_supported("roleRef.apiGroup", &json!(text("apiGroup")), &[GROUP]));
    }
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&text("kind")) {
        causes.push(Cause::not_supported("roleRef.kind", &json!(text("kind")), kinds));
    }
    match text("name") {
        "" => causes.push(Cause::required("roleRef.name")),
        name => rules::invalid_each("roleRef.name", name, rules::path_segment_name(name), causes),
    }
    for (i, subject) in items(obj.get("subjects")).enumerate() {
        binding_subject(subject, namespaced, &format!("subjects[{i}]"), causes);
    }
    if let Some(old) = old {
        let old_ref = old.get("roleRef").unwrap_or(&Value::Null);
        let was = |field: &str| old_ref.get(field).and_then(Value::as_str).unwrap_or("");
        if ["apiGroup", "kind", "name"].iter().any(|f| was(f) != text(f)) {
            let value = format!(
                "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
                text("apiGroup"),
                text("kind"),
                text("name")
            );
            causes.push(super::common::invalid_shown("roleRef", &value, "cannot change roleRef"));
        }
    }
}

fn binding_subject(subject: &Value, namespaced: bool, at: &str, causes: &mut Vec<Cause>) {
    let text = |field: &str| subject.get(field).and_then(Value::as_str).unwrap_or("");
    let name = text("name");
    if name.is_empty() {
        causes.push(Cause::required(format!("{at}.name")));
    }
    let group = text("apiGroup");
    match text("kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                rules::invalid_each(&format!("{at}.name"), name, rules::dns1123_subdomain(name), causes);
            }
            if !group.is_empty() {
                causes.push(Cause::not_supported(format!("{at}.apiGroup"), &json!(group), &[""]));
            }
            if !namespaced && text("namespace").is_empty() {
                causes.push(Cause::required(format!("{at}.namespace")));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                causes.push(Cause::not_supported(format!("{at}.apiGroup"), &json!(group), &[GROUP]));
            }
        }
        other => {
            causes.push(Cause::not_supported(format!("{at}.kind"), &json!(other), &["ServiceAccount", "User", "Group"]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [String; 0] = [];

    fn check_role(obj: Value, namespaced: bool) -> Vec<String> {
        let mut causes = Vec::new();
        role(&obj, namespaced, &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    fn check_binding(obj: Value, old: Option<Value>, namespaced: bool) -> Vec<String> {
        let mut causes = Vec::new();
        binding(&obj, old.as_ref(), namespaced, &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    #[test]
    fn valid_roles_pass() {
        let rules = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["*"]},
        ]});
        assert_eq!(check_role(rules.clone(), true), NONE);
        assert_eq!(check_role(rules, false), NONE);
        assert_eq!(
            check_role(json!({"rules": [{"nonResourceURLs": ["/healthz", "/version"], "verbs": ["get"]}]}), false),
            NONE
        );
        assert_eq!(
            check_role(
                json!({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-view": "true"}}]}}),
                false
            ),
            NONE
        );
    }

    #[test]
    fn rules_need_verbs_and_targets() {
        assert_eq!(
            check_role(json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"]}]}), true),
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[1].resources: Required value: resource rules must supply at least one resource",
            ]
        );
    }

    #[test]
    fn non_resource_urls_are_cluster_wide_and_alone() {
        assert_eq!(
            check_role(json!({"rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}), true),
            [
                r#"rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs"#
            ]
        );
        assert_eq!(
            check_role(
                json!({"rules": [{"nonResourceURLs": ["/healthz"], "resources": ["pods"], "verbs": ["get"]}]}),
                false
            ),
            [
                r#"rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: rules cannot apply to both regular resources and non-resource URLs"#
            ]
        );
    }

    #[test]
    fn aggregation_rules_need_valid_selectors() {
        assert_eq!(
            check_role(json!({"aggregationRule": {}}), false),
            ["aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"]
        );
        assert_eq!(
            check_role(json!({"aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}]}}), false),
            [
                "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                r#"aggregationRule.clusterRoleSelectors[0]: Invalid value: "null": invalid label selector."#,
            ]
        );
    }

    /// skiff creates no RBAC objects of its own (its authorizer allows every
    /// authenticated user); upstream's bootstrap `cluster-admin` pair stands in for
    /// the roles a cluster starts with.
    #[test]
    fn upstream_bootstrap_cluster_admin_passes() {
        let role = json!({"rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ]});
        assert_eq!(check_role(role, false), NONE);
        let binding = json!({
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": "system:masters"}],
        });
        assert_eq!(check_binding(binding, None, false), NONE);
    }

    fn valid_binding() -> Value {
        json!({
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:view"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "default", "namespace": "ns"},
                {"kind": "User", "apiGroup": GROUP, "name": "alice@example.com"},
                {"kind": "Group", "apiGroup": GROUP, "name": "system:authenticated"},
            ],
        })
    }

    #[test]
    fn valid_bindings_pass() {
        assert_eq!(check_binding(valid_binding(), None, true), NONE);
        assert_eq!(check_binding(valid_binding(), None, false), NONE);
        assert_eq!(check_binding(valid_binding(), Some(valid_binding()), false), NONE);
    }

    #[test]
    fn role_refs_point_at_rbac_roles() {
        let bad_ref = json!({"roleRef": {"apiGroup": "example.com", "kind": "Role", "name": "a/b"}});
        assert_eq!(
            check_binding(bad_ref.clone(), None, false),
            [
                r#"roleRef.apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io""#,
                r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#,
                r#"roleRef.name: Invalid value: "a/b": may not contain '/'"#,
            ]
        );
        assert_eq!(
            check_binding(json!({"roleRef": {"apiGroup": GROUP, "kind": "Thing"}}), None, true),
            [
                r#"roleRef.kind: Unsupported value: "Thing": supported values: "Role", "ClusterRole""#,
                "roleRef.name: Required value",
            ]
        );
    }

    #[test]
    fn role_refs_never_change() {
        let mut changed = valid_binding();
        changed["roleRef"]["name"] = json!("edit");
        assert_eq!(
            check_binding(changed, Some(valid_binding()), true),
            [
                r#"roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef"#
            ]
        );
    }

    #[test]
    fn subjects_are_of_a_known_kind() {
        let with = |subject: Value, namespaced: bool| {
            let mut b = valid_binding();
            b["subjects"] = json!([subject]);
            check_binding(b, None, namespaced)
        };
        assert_eq!(
            with(json!({"kind": "ServiceAccount", "name": "Default", "apiGroup": GROUP}), false),
            [
                r#"subjects[0].name: Invalid value: "Default": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
                r#"subjects[0].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: """#,
                "subjects[0].namespace: Required value",
            ]
        );
        assert_eq!(with(json!({"kind": "ServiceAccount", "name": "default"}), true), NONE);
        assert_eq!(
            with(json!({"kind": "User", "name": "bob"}), true),
            [r#"subjects[0].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io""#]
        );
        assert_eq!(
            with(json!({"kind": "Robot"}), true),
            [
                "subjects[0].name: Required value",
                r#"subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group""#,
            ]
        );
    }
}
