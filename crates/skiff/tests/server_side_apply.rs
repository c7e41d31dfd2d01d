//! Server-side apply and `managedFields` with the real kubectl against `skiff server`:
//! conflicts between managers, `--force-conflicts`, the migration from client-side
//! apply, and ownership recorded for every other kind of write.

mod common;

use common::Cluster;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"#;

const CONFIGMAP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
  size: large
"#;

/// `manager/operation[/subresource]` of every managedFields entry, in order,
/// except the controller manager's (the Deployment controller writes status and
/// the revision annotation while the test runs).
fn managers(c: &Cluster, resource: &str) -> Vec<String> {
    let template = r#"jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}/{.subresource}{"\n"}{end}"#;
    let out = c.ok(&["get", resource, "-o", template, "--show-managed-fields"]);
    out.lines()
        .filter(|l| !l.starts_with("kube-controller-manager/"))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

/// The `fieldsV1` of one manager's entry, as kubectl prints it (JSON).
fn fields_of(c: &Cluster, resource: &str, manager: &str) -> String {
    let template = format!(r#"jsonpath={{.metadata.managedFields[?(@.manager=="{manager}")].fieldsV1}}"#);
    c.ok(&["get", resource, "-o", &template, "--show-managed-fields"])
}

#[test]
fn second_manager_conflicts_then_forces_ownership() {
    let c = Cluster::start();
    let v1 = c.manifest("web.yaml", DEPLOYMENT);
    let v3 = c.manifest("web-3.yaml", &DEPLOYMENT.replace("replicas: 1", "replicas: 3"));

    let out = c.ok(&["apply", "--server-side", "-f", &v1]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    assert_eq!(managers(&c, "deployment/web"), ["kubectl/Apply"]);
    let yaml = c.ok(&["get", "deployment", "web", "-o", "yaml", "--show-managed-fields"]);
    for line in
        ["manager: kubectl", "operation: Apply", "fieldsType: FieldsV1", "f:replicas: {}", "k:{\"name\":\"nginx\"}:"]
    {
        assert!(yaml.contains(line), "{line} missing from:\n{yaml}");
    }
    // Defaulted fields belong to nobody.
    assert!(!yaml.contains("f:imagePullPolicy"), "{yaml}");
    let plain = c.ok(&["get", "deployment", "web", "-o", "yaml"]);
    assert!(!plain.contains("managedFields"), "kubectl hides managedFields by default:\n{plain}");

    // Re-applying the same configuration is not a conflict with oneself.
    c.ok(&["apply", "--server-side", "-f", &v1]);

    let err = c.fails(&["apply", "--server-side", "--field-manager=other", "-f", &v3]);
    assert!(err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"), "{err}");
    assert!(err.contains("--force-conflicts"), "kubectl explains the way out: {err}");
    assert_eq!(c.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "1");

    let out = c.ok(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", &v3]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    assert_eq!(c.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
    assert_eq!(managers(&c, "deployment/web"), ["kubectl/Apply", "other/Apply"]);
    assert!(fields_of(&c, "deployment/web", "other").contains("\"f:replicas\""));
    assert!(!fields_of(&c, "deployment/web", "kubectl").contains("\"f:replicas\""), "the field moved");

    // The first manager no longer owns replicas: dropping it from its configuration
    // leaves the value alone.
    let without = c.manifest("web-no-replicas.yaml", &DEPLOYMENT.replace("  replicas: 1\n", ""));
    c.ok(&["apply", "--server-side", "-f", &without]);
    assert_eq!(c.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
}

#[test]
fn client_side_apply_is_tracked_and_migrates_to_server_side() {
    let c = Cluster::start();
    let blue = c.manifest("cm.yaml", CONFIGMAP);
    let small = c.manifest("cm-small.yaml", &CONFIGMAP.replace("large", "small"));
    let red = c.manifest("cm-red.yaml", &CONFIGMAP.replace("blue", "red"));

    assert_eq!(c.ok(&["apply", "-f", &blue]).trim(), "configmap/settings created");
    assert_eq!(c.ok(&["apply", "-f", &small]).trim(), "configmap/settings configured");
    assert_eq!(managers(&c, "configmap/settings"), ["kubectl-client-side-apply/Update"]);
    let fields = fields_of(&c, "configmap/settings", "kubectl-client-side-apply");
    assert!(fields.contains("\"f:kubectl.kubernetes.io/last-applied-configuration\""), "{fields}");

    // Another applier changing the values conflicts with the client-side apply manager.
    let err = c.fails(&["apply", "--server-side", "--field-manager=other", "-f", &red]);
    assert!(
        err.contains("Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using v1:"),
        "{err}"
    );
    assert!(err.contains("- .data.color") && err.contains("- .data.size"), "{err}");

    // kubectl itself switching to server-side apply takes the fields over without
    // conflicts, and kubectl moves the client-side ownership to itself.
    let out = c.ok(&["apply", "--server-side", "-f", &small]);
    assert_eq!(out.trim(), "configmap/settings serverside-applied");
    assert_eq!(managers(&c, "configmap/settings"), ["kubectl/Apply", "kubectl-last-applied/Apply"]);
    assert_eq!(c.ok(&["get", "configmap", "settings", "-o", "jsonpath={.data.color}/{.data.size}"]), "blue/small");
    let annotation = c.ok(&[
        "get",
        "configmap",
        "settings",
        "-o",
        r#"jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}"#,
    ]);
    assert!(
        annotation.contains("\"size\":\"small\""),
        "the annotation follows the applied configuration: {annotation}"
    );

    // And back: client-side apply still works on the migrated object.
    assert_eq!(c.ok(&["apply", "-f", &red]).trim(), "configmap/settings configured");
    assert_eq!(c.ok(&["get", "configmap", "settings", "-o", "jsonpath={.data.color}"]), "red");
}

#[test]
fn every_write_records_its_manager() {
    let c = Cluster::start();
    let web = c.manifest("web.yaml", DEPLOYMENT);
    c.ok(&["create", "-f", &web]);
    c.ok(&["label", "deployment", "web", "tier=frontend"]);
    c.ok(&["scale", "deployment", "web", "--replicas=2"]);
    c.ok(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"minReadySeconds":5}}"#]);
    let got = managers(&c, "deployment/web");
    for expected in ["kubectl-create/Update", "kubectl-label/Update", "kubectl-patch/Update"] {
        assert!(got.iter().any(|m| m == expected), "{expected} missing: {got:?}");
    }
    assert!(got.iter().any(|m| m.ends_with("/Update/scale")), "the scale subresource is its own entry: {got:?}");
    assert!(fields_of(&c, "deployment/web", "kubectl-label").contains("\"f:tier\""));
    // The creator no longer owns what later writers changed.
    assert!(!fields_of(&c, "deployment/web", "kubectl-create").contains("\"f:replicas\""));

    // managedFields cannot be edited away by accident (a plain update keeps them) but can be
    // reset on purpose with a list holding one empty entry.
    c.ok(&["annotate", "deployment", "web", "note=kept"]);
    assert!(managers(&c, "deployment/web").len() >= 4);
    let reset = r#"[{"op":"replace","path":"/metadata/managedFields","value":[{}]}]"#;
    c.ok(&["patch", "deployment", "web", "--type=json", "-p", reset]);
    assert_eq!(managers(&c, "deployment/web"), Vec::<String>::new());
}
