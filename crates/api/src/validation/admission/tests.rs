use serde_json::{json, Value};

use super::*;
use crate::names::DNS1123_SUBDOMAIN_MESSAGE;

use crate::validation::testing::summaries;

/// A webhook as it is stored after upstream's defaulting.
fn hook() -> Value {
    json!({
        "name": "pods.policy.example.com",
        "clientConfig": {"service": {"namespace": "system", "name": "webhook", "path": "/validate", "port": 443}},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["pods", "pods/status"], "scope": "*"}],
        "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None", "timeoutSeconds": 10,
        "namespaceSelector": {}, "objectSelector": {}, "admissionReviewVersions": ["v1"],
        "matchConditions": [{"name": "not-system", "expression": "request.namespace != 'kube-system'"}]
    })
}

fn config(hooks: Vec<Value>) -> Value {
    json!({"metadata": {"name": "policy"}, "webhooks": hooks})
}

fn with(patch: Value) -> Value {
    let mut h = hook();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            h.as_object_mut().unwrap().remove(k);
        } else {
            h[k] = v.clone();
        }
    }
    h
}

fn check(mutating: bool, obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut causes = Vec::new();
    webhook_configuration(mutating, obj, old, &mut causes);
    summaries(&causes)
}

#[test]
fn valid_webhook_configurations_pass() {
    assert_eq!(check(false, &config(vec![hook()]), None), Vec::<String>::new());
    let url_hook = with(json!({"clientConfig": {"url": "https://hooks.example.com:8443/mutate"},
        "reinvocationPolicy": "IfNeeded", "sideEffects": "NoneOnDryRun", "admissionReviewVersions": ["v2", "v1beta1"]}));
    assert_eq!(check(true, &config(vec![url_hook]), None), Vec::<String>::new());
    let wildcards = with(json!({"rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
        "resources": ["*/*"], "scope": "Namespaced"}]}));
    assert_eq!(check(false, &config(vec![wildcards]), None), Vec::<String>::new());
    assert_eq!(check(false, &json!({"metadata": {"name": "empty"}}), None), Vec::<String>::new());
}

#[test]
fn each_invalid_webhook_gives_upstream_causes() {
    let cases: Vec<(Value, Vec<String>)> = vec![
        (with(json!({"name": ""})), vec!["webhooks[0].name: Required value".into()]),
        (
            with(json!({"name": "example.com"})),
            vec![r#"webhooks[0].name: Invalid value: "example.com": should be a domain with at least three segments separated by dots"#.into()],
        ),
        (
            with(json!({"name": "Bad.Example.com"})),
            vec![format!(r#"webhooks[0].name: Invalid value: "Bad.Example.com": {DNS1123_SUBDOMAIN_MESSAGE}"#)],
        ),
        (
            with(json!({"failurePolicy": "Crash", "matchPolicy": "Loose", "timeoutSeconds": 31})),
            vec![
                r#"webhooks[0].failurePolicy: Unsupported value: "Crash": supported values: "Fail", "Ignore""#.into(),
                r#"webhooks[0].matchPolicy: Unsupported value: "Loose": supported values: "Equivalent", "Exact""#.into(),
                "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds".into(),
            ],
        ),
        (
            with(json!({"sideEffects": null})),
            vec!["webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun".into()],
        ),
        (
            with(json!({"sideEffects": "Some"})),
            vec![r#"webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun""#.into()],
        ),
        (
            with(json!({"admissionReviewVersions": []})),
            vec!["webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1".into()],
        ),
        (
            with(json!({"admissionReviewVersions": ["v2", "v2", "V3"]})),
            vec![
                r#"webhooks[0].admissionReviewVersions[1]: Invalid value: "v2": duplicate version"#.into(),
                r#"webhooks[0].admissionReviewVersions[2]: Invalid value: "V3": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#.into(),
                r#"webhooks[0].admissionReviewVersions: Invalid value: []string{"v2", "v2", "V3"}: must include at least one of v1, v1beta1"#.into(),
            ],
        ),
        (
            with(json!({"clientConfig": {}})),
            vec!["webhooks[0].clientConfig: Required value: exactly one of url or service is required".into()],
        ),
        (
            with(json!({"clientConfig": {"url": "http://user@h/p?x=1#f"}})),
            vec![
                r#"webhooks[0].clientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme; desired format: https://host[/path]"#.into(),
                r#"webhooks[0].clientConfig.url: Invalid value: "user": user information is not permitted in the URL"#.into(),
                r#"webhooks[0].clientConfig.url: Invalid value: "f": fragments are not permitted in the URL"#.into(),
                r#"webhooks[0].clientConfig.url: Invalid value: "x=1": query parameters are not permitted in the URL"#.into(),
            ],
        ),
        (
            with(json!({"clientConfig": {"url": "https:///path"}})),
            vec![r#"webhooks[0].clientConfig.url: Invalid value: "": host must be specified; desired format: https://host[/path]"#.into()],
        ),
        (
            with(json!({"clientConfig": {"url": "https://h:port"}})),
            vec![r#"webhooks[0].clientConfig.url: Required value: url must be a valid URL: parse "https://h:port": invalid port ":port" after host; desired format: https://host[/path]"#.into()],
        ),
        (
            with(json!({"clientConfig": {"service": {"name": "", "namespace": "", "port": 0, "path": "/a//B"}}})),
            vec![
                "webhooks[0].clientConfig.service.name: Required value".into(),
                "webhooks[0].clientConfig.service.namespace: Required value".into(),
                "webhooks[0].clientConfig.service.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive".into(),
                r#"webhooks[0].clientConfig.service.path: Invalid value: "/a//B": segment[1] may not be empty"#.into(),
                format!(r#"webhooks[0].clientConfig.service.path: Invalid value: "/a//B": segment[2]: {DNS1123_SUBDOMAIN_MESSAGE}"#),
            ],
        ),
        (
            with(json!({"clientConfig": {"service": {"name": "svc", "path": "xy/z"}}})),
            vec![
                "webhooks[0].clientConfig.service.name: Required value".into(),
                r#"webhooks[0].clientConfig.service.path: Invalid value: "xy/z": must start with a '/'"#.into(),
            ],
        ),
        (
            with(json!({"matchConditions": [{"name": "a", "expression": " "}, {"name": "a", "expression": "true"},
                {"name": "", "expression": "true"}, {"name": "b/c/d", "expression": "true"}]})),
            vec![
                "webhooks[0].matchConditions[0].expression: Required value".into(),
                r#"webhooks[0].matchConditions[1].name: Duplicate value: "a""#.into(),
                "webhooks[0].matchConditions[2].name: Required value".into(),
                r#"webhooks[0].matchConditions[3].name: Invalid value: "b/c/d": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"#.into(),
            ],
        ),
        (
            with(json!({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["a b"]}]}})),
            vec![r#"webhooks[0].namespaceSelector.matchExpressions[0].values[0]: Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#.into()],
        ),
    ];
    for (hook, want) in cases {
        assert_eq!(check(false, &config(vec![hook.clone()]), None), want, "{hook}");
    }
}

#[test]
fn rules_follow_upstreams_wildcard_rules() {
    let rule = |r: Value| with(json!({"rules": [r]}));
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            json!({}),
            vec![
                "webhooks[0].rules[0].operations: Required value".into(),
                "webhooks[0].rules[0].apiGroups: Required value".into(),
                "webhooks[0].rules[0].apiVersions: Required value".into(),
                "webhooks[0].rules[0].resources: Required value".into(),
            ],
        ),
        (
            json!({"operations": ["*", "PATCH"], "apiGroups": ["*", "apps"], "apiVersions": ["v1", ""],
                "resources": ["pods"], "scope": "Global"}),
            vec![
                r#"webhooks[0].rules[0].operations: Invalid value: []admissionregistration.OperationType{"*", "PATCH"}: if '*' is present, must not specify other operations"#.into(),
                r#"webhooks[0].rules[0].operations[1]: Unsupported value: "PATCH": supported values: "*", "CONNECT", "CREATE", "DELETE", "UPDATE""#.into(),
                r#"webhooks[0].rules[0].apiGroups: Invalid value: []string{"*", "apps"}: if '*' is present, must not specify other API groups"#.into(),
                "webhooks[0].rules[0].apiVersions[1]: Required value".into(),
                r#"webhooks[0].rules[0].scope: Unsupported value: "Global": supported values: "*", "Cluster", "Namespaced""#.into(),
            ],
        ),
        (
            json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["pods/*", "pods/log", "*/status", "nodes/status", "", "*", "pods"]}),
            vec![
                r#"webhooks[0].rules[0].resources[1]: Invalid value: "pods/log": if 'pods/*' is present, must not specify pods/log"#.into(),
                r#"webhooks[0].rules[0].resources[3]: Invalid value: "nodes/status": if '*/status' is present, must not specify nodes/status"#.into(),
                "webhooks[0].rules[0].resources[4]: Required value".into(),
                r#"webhooks[0].rules[0].resources: Invalid value: []string{"pods/*", "pods/log", "*/status", "nodes/status", "", "*", "pods"}: if '*' is present, must not specify other resources without subresources"#.into(),
            ],
        ),
        (
            json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["*/*", "pods"]}),
            vec![r#"webhooks[0].rules[0].resources: Invalid value: []string{"*/*", "pods"}: if '*/*' is present, must not specify other resources"#.into()],
        ),
    ];
    for (r, want) in cases {
        assert_eq!(check(false, &config(vec![rule(r.clone())]), None), want, "{r}");
    }
}

#[test]
fn mutating_hooks_check_reinvocation_and_names_are_unique() {
    let obj = config(vec![with(json!({"reinvocationPolicy": "Always"})), hook()]);
    assert_eq!(
        check(true, &obj, None),
        [
            r#"webhooks[0].reinvocationPolicy: Unsupported value: "Always": supported values: "IfNeeded", "Never""#,
            r#"webhooks[1].name: Duplicate value: "pods.policy.example.com""#,
        ]
    );
}

#[test]
fn updates_tolerate_what_the_stored_object_already_had() {
    let legacy = with(json!({"sideEffects": "Unknown", "admissionReviewVersions": ["v2"],
        "objectSelector": {"matchExpressions": [{"key": "k", "operator": "In", "values": ["bad value"]}]},
        "matchConditions": [{"name": "x", "expression": " "}]}));
    let old = config(vec![legacy.clone(), legacy.clone()]);
    assert_eq!(check(false, &old, Some(&old)), Vec::<String>::new());
    let created = check(false, &old, None);
    assert_eq!(created.len(), 2 * 4 + 1, "{created:?}");
    let mut changed = old.clone();
    changed["webhooks"][1]["matchConditions"] = json!([{"name": "x", "expression": ""}]);
    assert_eq!(
        check(false, &changed, Some(&old)),
        [
            "webhooks[0].matchConditions[0].expression: Required value",
            "webhooks[1].matchConditions[0].expression: Required value"
        ]
    );
    let strict_old = config(vec![hook()]);
    assert_eq!(
        check(false, &config(vec![with(json!({"sideEffects": "Some"}))]), Some(&strict_old)),
        [r#"webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun""#]
    );
}

fn vap() -> Value {
    json!({"metadata": {"name": "replicas.example.com"}, "spec": {
        "failurePolicy": "Fail",
        "paramKind": {"apiVersion": "example.com/v1", "kind": "ReplicaLimit"},
        "matchConstraints": {"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
            "resourceRules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                "resources": ["deployments"], "scope": "*", "resourceNames": ["web"]}]},
        "variables": [{"name": "replicas", "expression": "object.spec.replicas"}],
        "validations": [{"expression": "variables.replicas <= params.maxReplicas", "reason": "Invalid"}],
        "auditAnnotations": [{"key": "high-replicas", "valueExpression": "'x'"}]
    }})
}

fn vap_with(spec_patch: Value) -> Value {
    let mut p = vap();
    for (k, v) in spec_patch.as_object().unwrap() {
        if v.is_null() {
            p["spec"].as_object_mut().unwrap().remove(k);
        } else {
            p["spec"][k] = v.clone();
        }
    }
    p
}

fn check_policy(obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut causes = Vec::new();
    policy(obj, old, &mut causes);
    summaries(&causes)
}

#[test]
fn admission_policies_need_their_required_fields() {
    assert_eq!(check_policy(&vap(), None), Vec::<String>::new());
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            json!({"failurePolicy": null, "matchConstraints": null, "validations": null, "auditAnnotations": null}),
            vec![
                "spec.failurePolicy: Required value".into(),
                "spec.matchConstraints: Required value".into(),
                "spec.validations: Required value: validations or auditAnnotations must contain at least one item".into(),
                "spec.auditAnnotations: Required value: validations or auditAnnotations must contain at least one item".into(),
            ],
        ),
        (
            json!({"paramKind": {"apiVersion": "a/b/c", "kind": "my_kind"}, "matchConstraints": {"resourceRules": []}}),
            vec![
                r#"spec.paramKind.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#.into(),
                r#"spec.paramKind.kind: Invalid value: "my_kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#.into(),
                "spec.matchConstraints.matchPolicy: Required value".into(),
                "spec.matchConstraints.namespaceSelector: Required value".into(),
                "spec.matchConstraints.objectSelector: Required value".into(),
                "spec.matchConstraints.resourceRules: Required value".into(),
            ],
        ),
        (
            json!({"paramKind": {"apiVersion": "example.com/", "kind": ""}}),
            vec![
                r#"spec.paramKind.apiVersion: Invalid value: "example.com/": version must be specified"#.into(),
                "spec.paramKind.kind: Required value".into(),
            ],
        ),
        (
            json!({"variables": [{"name": "", "expression": ""}, {"name": "in", "expression": "1"}],
                "validations": [{"expression": " ", "message": "a\nb", "messageExpression": " ", "reason": "Teapot"}],
                "auditAnnotations": [{"key": "a/b", "valueExpression": ""}, {"key": "a/b", "valueExpression": "'v'"}]}),
            vec![
                "spec.variables[0].name: Required value: name is not specified".into(),
                "spec.variables[0].expression: Required value: expression is not specified".into(),
                r#"spec.variables[1].name: Invalid value: "in": name is not a valid CEL identifier"#.into(),
                "spec.validations[0].expression: Required value: expression is not specified".into(),
                r#"spec.validations[0].messageExpression: Invalid value: " ": must be non-empty if specified"#.into(),
                r#"spec.validations[0].message: Invalid value: "a\nb": message must not contain line breaks"#.into(),
                r#"spec.validations[0].reason: Unsupported value: "Teapot": supported values: "Forbidden", "Invalid", "RequestEntityTooLarge""#.into(),
                r#"spec.auditAnnotations[0].key: Invalid value: "replicas.example.com/a/b": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"#.into(),
                "spec.auditAnnotations[0].valueExpression: Required value: valueExpression is not specified".into(),
                r#"spec.auditAnnotations[1].key: Invalid value: "replicas.example.com/a/b": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"#.into(),
                r#"spec.auditAnnotations[1].key: Duplicate value: "a/b""#.into(),
            ],
        ),
        (
            json!({"matchConstraints": {"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
                "resourceRules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                    "resources": ["pods"], "resourceNames": ["a/b", "x", "x"]}]}}),
            vec![
                r#"spec.matchConstraints.resourceRules[0].resourceNames[0]: Invalid value: "a/b": may not contain '/'"#.into(),
                r#"spec.matchConstraints.resourceRules[0].resourceNames[2]: Duplicate value: "x""#.into(),
            ],
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(check_policy(&vap_with(patch.clone()), None), want, "{patch}");
    }
}

#[test]
fn policy_bindings_need_a_policy_and_actions() {
    let check = |spec: Value| {
        let mut causes = Vec::new();
        binding(&json!({"metadata": {"name": "b"}, "spec": spec}), &mut causes);
        summaries(&causes)
    };
    let valid = json!({"policyName": "replicas.example.com", "validationActions": ["Deny", "Audit"],
        "paramRef": {"name": "limits", "namespace": "default", "parameterNotFoundAction": "Deny"},
        "matchResources": {"matchPolicy": "Exact", "namespaceSelector": {"matchLabels": {"env": "prod"}}, "objectSelector": {}}});
    assert_eq!(check(valid), Vec::<String>::new());
    assert_eq!(
        check(json!({"paramRef": {}, "matchResources": {}})),
        [
            "spec.policyName: Required value",
            "spec.paramRef: Required value: one of name or selector must be specified",
            "spec.paramRef.parameterNotFoundAction: Required value",
            "spec.matchResouces.matchPolicy: Required value",
            "spec.matchResouces.namespaceSelector: Required value",
            "spec.matchResouces.objectSelector: Required value",
            "spec.validationActions: Required value: at least one validation action is required",
        ]
    );
    assert_eq!(
        check(json!({"policyName": "P", "validationActions": ["Deny", "Warn", "Deny", "Block"],
            "paramRef": {"name": "n", "selector": {}, "parameterNotFoundAction": "Ignore"}})),
        [
            format!(r#"spec.policyName: Invalid value: "P": {DNS1123_SUBDOMAIN_MESSAGE}"#),
            "spec.paramRef.name: Forbidden: name and selector are mutually exclusive".into(),
            "spec.paramRef.selector: Forbidden: name and selector are mutually exclusive".into(),
            r#"spec.paramRef.parameterNotFoundAction: Unsupported value: "Ignore": supported values: "Deny", "Allow""#.into(),
            r#"spec.validationActions[2]: Duplicate value: "Deny""#.into(),
            r#"spec.validationActions[3]: Unsupported value: "Block": supported values: "Audit", "Deny", "Warn""#.into(),
            r#"spec.validationActions: Invalid value: []admissionregistration.ValidationAction{"Deny", "Warn", "Deny", "Block"}: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"#.to_string(),
        ]
    );
}
