//! Bodies captured from a real kubectl (tools/protobuf/capture_kubectl.py) decode to
//! exactly the JSON kubectl itself renders for the same object
//! (`--dry-run=client -o json`, nulls dropped), which is Go's encoding/json of it.

use std::path::PathBuf;

use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf")
}

fn decode_fixture(name: &str) -> Value {
    let body = std::fs::read(fixtures().join(format!("{name}.pb"))).expect("fixture exists");
    assert!(body.starts_with(b"k8s\0"), "{name} is a protobuf body");
    skiff_api::protobuf::decode(&body).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn every_captured_body_decodes_to_kubectls_own_json() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "pb") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let decoded = decode_fixture(&name);
        let Ok(expected) = std::fs::read_to_string(path.with_extension("json")) else {
            continue; // no -o json for this command: checked by hand below
        };
        let expected: Value = serde_json::from_str(&expected).unwrap();
        assert_eq!(decoded, expected, "{name}:\n{}", serde_json::to_string_pretty(&decoded).unwrap());
        checked += 1;
    }
    assert!(checked >= 16, "only {checked} fixtures compared");
}

#[test]
fn captured_requests_are_listed_in_the_index() {
    let index: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("index.json")).unwrap()).unwrap();
    let requests = index["requests"].as_object().unwrap();
    for (name, request) in requests {
        let protobuf = request["content_type"] == "application/vnd.kubernetes.protobuf";
        assert_eq!(fixtures().join(format!("{name}.pb")).exists(), protobuf, "{name}");
    }
    // What kubectl 1.32 sends as JSON rather than protobuf, so the server must take both.
    assert_eq!(requests["run_pod"]["content_type"], "application/json");
    assert_eq!(requests["delete_namespace"]["content_type"], "application/json");
}

#[test]
fn create_deployment_keeps_explicit_zero_replicas() {
    let deployment = decode_fixture("create_deployment");
    assert_eq!(deployment["spec"]["replicas"], 0);
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["ports"], json!([{"containerPort": 8080}]));
}

#[test]
fn auth_can_i_self_subject_access_review() {
    assert_eq!(
        decode_fixture("auth_can_i"),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
            "status": {"allowed": false},
        })
    );
}

#[test]
fn create_token_request() {
    assert_eq!(
        decode_fixture("create_token"),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {},
            "spec": {"audiences": ["api"], "expirationSeconds": 3600},
            "status": {"token": ""},
        })
    );
}

#[test]
fn certificate_approve_puts_the_csr_with_times_from_go() {
    // Read from the fake server as JSON, converted and re-encoded by kubectl's Go code:
    // the Times here went through upstream's own protobuf marshaller.
    assert_eq!(
        decode_fixture("certificate_approve"),
        json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {
                "name": "csr1",
                "uid": "0b6c2c43-0000-4000-8000-000000000002",
                "resourceVersion": "9",
                "creationTimestamp": "2024-01-02T03:04:05Z",
            },
            "spec": {
                "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
                "signerName": "kubernetes.io/kube-apiserver-client",
                "expirationSeconds": 86400,
                "usages": ["client auth"],
                "username": "alice",
                "groups": ["system:authenticated"],
                "extra": {"scopes": ["a", "b"]},
            },
            "status": {"conditions": [{
                "type": "Approved",
                "status": "True",
                "reason": "KubectlApprove",
                "message": "This CSR was approved by kubectl certificate approve.",
                "lastUpdateTime": "2026-11-26T23:15:42Z",
                // lastTransitionTime is Go's zero time (null in Go's JSON): left out.
            }]},
        })
    );
}
