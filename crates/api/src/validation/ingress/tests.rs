use serde_json::{json, Value};

use super::{ingress, ingress_class, CLASS_ANNOTATION};
use crate::Cause;

const NONE: [String; 0] = [];

fn backend() -> Value {
    json!({"service": {"name": "web", "port": {"number": 80}}})
}

fn check(spec: Value) -> Vec<String> {
    check_with(json!({ "spec": spec }), None)
}

fn check_with(obj: Value, old: Option<Value>) -> Vec<String> {
    let mut causes = Vec::new();
    ingress(&obj, old.as_ref(), &mut causes);
    causes.iter().map(Cause::summary).collect()
}

fn path(p: Value) -> Vec<String> {
    check(json!({"rules": [{"host": "foo.com", "http": {"paths": [p]}}]}))
}

#[test]
fn valid_ingresses_pass() {
    assert_eq!(check(json!({"defaultBackend": backend()})), NONE);
    assert_eq!(
        check(json!({
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["foo.com", "*.bar.com"], "secretName": "tls"}],
            "rules": [
                {"host": "*.bar.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend()},
                    {"path": "/api/v1", "pathType": "Exact",
                     "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
                    {"pathType": "ImplementationSpecific",
                     "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}}},
                ]}},
                {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend()}]}},
            ],
        })),
        NONE
    );
}

#[test]
fn an_ingress_routes_somewhere() {
    assert_eq!(
        check(json!({})),
        ["spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"]
    );
    assert_eq!(
        check(json!({"rules": [{"host": "foo.com", "http": {"paths": []}}]})),
        ["spec.rules[0].http.paths: Required value"]
    );
}

#[test]
fn hosts_are_dns_names_with_a_leading_wildcard_at_most() {
    assert_eq!(
        check(json!({"rules": [{"host": "1.2.3.4"}, {"host": "*"}, {"host": "foo.*.com"}, {"host": "Foo.com"}]})),
        [
            r#"spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address"#,
            r#"spec.rules[1].host: Invalid value: "*": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
            r#"spec.rules[2].host: Invalid value: "foo.*.com": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
            r#"spec.rules[3].host: Invalid value: "Foo.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
        ]
    );
    assert_eq!(
        check(json!({"defaultBackend": backend(), "tls": [{"hosts": ["a_b.com"], "secretName": "Bad"}]})).len(),
        2
    );
}

#[test]
fn paths_are_typed_and_absolute() {
    assert_eq!(
        path(json!({"path": "/", "backend": backend()})),
        ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]
    );
    assert_eq!(
        path(json!({"path": "foo", "pathType": "Prefix", "backend": backend()})),
        [r#"spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path"#]
    );
    assert_eq!(
        path(json!({"path": "/a//b/..", "pathType": "Exact", "backend": backend()})),
        [
            r#"spec.rules[0].http.paths[0].path: Invalid value: "/a//b/..": must not contain '//'"#,
            r#"spec.rules[0].http.paths[0].path: Invalid value: "/a//b/..": cannot end with '/..'"#,
        ]
    );
    assert_eq!(
        path(json!({"path": "/", "pathType": "Regex", "backend": backend()})),
        [
            r#"spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix""#
        ]
    );
}

#[test]
fn backends_name_one_service_port_or_resource() {
    let backend_of = |b: Value| path(json!({"path": "/", "pathType": "Prefix", "backend": b}));
    let at = "spec.rules[0].http.paths[0].backend";
    assert_eq!(backend_of(json!({})), [format!(r#"{at}: Invalid value: "": resource or service backend is required"#)]);
    assert_eq!(
        backend_of(json!({"service": {"name": "web", "port": {"number": 80}}, "resource": {"kind": "K", "name": "n"}})),
        [format!(r#"{at}: Invalid value: "": cannot set both resource and service backends"#)]
    );
    assert_eq!(
        backend_of(json!({"service": {"name": "1web", "port": {}}})),
        [
            format!(
                r#"{at}.service.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#
            ),
            format!("{at}: Required value: port name or number is required"),
        ]
    );
    assert_eq!(
        backend_of(json!({"service": {"name": "web", "port": {"name": "http", "number": 80}}})),
        [format!(r#"{at}: Invalid value: "": cannot set both port name & port number"#)]
    );
    assert_eq!(
        backend_of(json!({"service": {"port": {"number": 70000}}})),
        [
            format!("{at}.service.name: Required value"),
            format!("{at}.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ]
    );
    assert_eq!(
        backend_of(json!({"resource": {"name": "a/b"}})),
        [
            format!("{at}.resource.kind: Required value"),
            format!(r#"{at}.resource.name: Invalid value: "a/b": may not contain '/'"#),
        ]
    );
}

#[test]
fn class_name_and_annotation_agree_on_create() {
    let obj = json!({"metadata": {"annotations": {CLASS_ANNOTATION: "a"}},
        "spec": {"ingressClassName": "b", "defaultBackend": backend()}});
    assert_eq!(
        check_with(obj.clone(), None),
        [
            r#"annotations.kubernetes.io/ingress.class: Invalid value: "a": must match `ingressClassName` when both are specified"#
        ]
    );
    assert_eq!(check_with(obj.clone(), Some(obj)), NONE);
}

#[test]
fn updates_keep_accepting_what_was_stored() {
    let bad = json!({"spec": {"rules": [{"host": "*.foo.com", "http": {"paths": [{"path": "x", "pathType": "Prefix", "backend": backend()}]}}]}});
    assert_eq!(check_with(bad.clone(), None).len(), 1);
    assert_eq!(check_with(bad.clone(), Some(bad)), NONE);
}

fn class(spec: Value, old: Option<Value>) -> Vec<String> {
    let mut causes = Vec::new();
    ingress_class(&json!({ "spec": spec }), old.map(|s| json!({ "spec": s })).as_ref(), &mut causes);
    causes.iter().map(Cause::summary).collect()
}

#[test]
fn ingress_classes_name_a_controller() {
    assert_eq!(class(json!({"controller": "example.com/ingress"}), None), NONE);
    assert_eq!(
        class(
            json!({"controller": "example.com/ingress", "parameters": {"kind": "Params", "name": "p", "scope": "Cluster"}}),
            None
        ),
        NONE
    );
    assert_eq!(class(json!({}), None), ["spec.controller: Required value"]);
    assert_eq!(
        class(json!({"controller": "nginx"}), None),
        [r#"spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")"#]
    );
    assert_eq!(
        class(json!({"controller": "example.com/a b"}), None),
        [
            r#"spec.controller: Invalid value: "a b": Invalid path (regex used for validation is '[A-Za-z0-9/\-._~%!$&'()*+,;=:]+')"#
        ]
    );
    assert_eq!(
        class(json!({"controller": format!("example.com/{}", "a".repeat(250))}), None),
        ["spec.controller: Too long: may not be more than 250 bytes"]
    );
    assert_eq!(
        class(json!({"controller": "example.com/b"}), Some(json!({"controller": "example.com/a"}))),
        [r#"spec.controller: Invalid value: "example.com/b": field is immutable"#]
    );
}

#[test]
fn class_parameters_are_scoped() {
    let with = |p: Value| class(json!({"controller": "example.com/i", "parameters": p}), None);
    assert_eq!(with(json!({"kind": "K", "name": "n"})), ["spec.parameters.scope: Required value"]);
    assert_eq!(
        with(json!({"kind": "K", "name": "n", "scope": "Namespace"})),
        ["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"]
    );
    assert_eq!(
        with(json!({"kind": "K", "name": "n", "scope": "Cluster", "namespace": "ns"})),
        ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"]
    );
    assert_eq!(
        with(json!({"kind": "K", "name": "n", "scope": "World"})),
        [r#"spec.parameters.scope: Unsupported value: "World": supported values: "Cluster", "Namespace""#]
    );
}
