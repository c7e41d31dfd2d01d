//! Rows of bindings, classes, leases, CSRs, webhooks and admission policies.

use serde_json::{json, Value};

use crate::table::printers::testing::{ago, column_names, row};

#[test]
fn role_binding_rows() {
    let rb = json!({"metadata": {"name": "devs", "creationTimestamp": ago(86400)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"}, {"kind": "User", "name": "bob"},
            {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}]});
    let want = json!(["devs", "ClusterRole/edit", "24h", "alice, bob", "devs", "ci/deployer"]);
    assert_eq!(Value::from(row("rbac.authorization.k8s.io", "RoleBinding", &rb)), want);
    assert_eq!(Value::from(row("rbac.authorization.k8s.io", "ClusterRoleBinding", &rb)), want);
    assert_eq!(
        column_names("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ["Name", "Role", "Age", "Users*", "Groups*", "ServiceAccounts*"]
    );
}

#[test]
fn class_and_lease_rows() {
    let pc = json!({"metadata": {"name": "system-node-critical"}, "value": 2000001000, "preemptionPolicy": "PreemptLowerPriority"});
    assert_eq!(
        Value::from(row("scheduling.k8s.io", "PriorityClass", &pc)),
        json!(["system-node-critical", 2000001000, false, "<unknown>", "PreemptLowerPriority"])
    );
    let rc = json!({"metadata": {"name": "gvisor"}, "handler": "runsc"});
    assert_eq!(Value::from(row("node.k8s.io", "RuntimeClass", &rc)), json!(["gvisor", "runsc", "<unknown>"]));
    let lease = json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "cp-1_4f2a"}});
    assert_eq!(
        Value::from(row("coordination.k8s.io", "Lease", &lease)),
        json!(["kube-scheduler", "cp-1_4f2a", "<unknown>"])
    );
    let free = json!({"metadata": {"name": "l"}, "spec": {}});
    assert_eq!(row("coordination.k8s.io", "Lease", &free)[1], "");
}

#[test]
fn csr_rows() {
    assert_eq!(
        column_names("certificates.k8s.io", "CertificateSigningRequest"),
        ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    );
    let issued = json!({"metadata": {"name": "csr-abc", "creationTimestamp": ago(30)},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet", "username": "system:node:node-a",
            "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}});
    assert_eq!(
        Value::from(row("certificates.k8s.io", "CertificateSigningRequest", &issued)),
        json!([
            "csr-abc",
            "30s",
            "kubernetes.io/kube-apiserver-client-kubelet",
            "system:node:node-a",
            "24h",
            "Approved,Issued"
        ])
    );
    let pending = json!({"metadata": {"name": "p"}, "spec": {"username": "u"}});
    assert_eq!(
        Value::from(row("certificates.k8s.io", "CertificateSigningRequest", &pending)),
        json!(["p", "<unknown>", "<none>", "u", "<none>", "Pending"])
    );
    let denied = json!({"metadata": {"name": "d"}, "spec": {}, "status": {"conditions": [
        {"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}});
    assert_eq!(row("certificates.k8s.io", "CertificateSigningRequest", &denied)[5], "Denied,Failed");
}

#[test]
fn admission_rows() {
    let hooks = json!({"metadata": {"name": "istio"}, "webhooks": [{"name": "a"}, {"name": "b"}]});
    for kind in ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] {
        assert_eq!(Value::from(row("admissionregistration.k8s.io", kind, &hooks)), json!(["istio", 2, "<unknown>"]));
    }
    let policy = json!({"metadata": {"name": "replicas"}, "spec": {"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "validations": [{"expression": "object.spec.replicas <= 5"}]}});
    assert_eq!(
        Value::from(row("admissionregistration.k8s.io", "ValidatingAdmissionPolicy", &policy)),
        json!(["replicas", 1, "v1/ConfigMap", "<unknown>"])
    );
    let unparam = json!({"metadata": {"name": "p"}, "spec": {}});
    assert_eq!(row("admissionregistration.k8s.io", "ValidatingAdmissionPolicy", &unparam)[2], "<unset>");

    let binding =
        |param: Value| json!({"metadata": {"name": "b"}, "spec": {"policyName": "replicas", "paramRef": param}});
    let cases = [
        (json!(null), "<unset>"),
        (json!({"name": "limits", "namespace": "prod"}), "prod/limits"),
        (json!({"name": "limits"}), "*/limits"),
        (
            json!({"selector": {"matchLabels": {"env": "prod"}}}),
            "&LabelSelector{MatchLabels:map[string]string{env: prod,},MatchExpressions:[]LabelSelectorRequirement{},}",
        ),
    ];
    for (param, want) in cases {
        let cells = row("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", &binding(param));
        assert_eq!((cells[1].as_str(), cells[2].as_str()), (Some("replicas"), Some(want)));
    }
}
