//! The kubectl commands that read the server's OpenAPI documents, against `skiff server`:
//! client-side `apply` (strategic merge patches computed from the published patch
//! strategies), field validation of `create`/`apply`/`replace`/`patch`, and `explain`.

mod common;

use common::Cluster;

fn deployment(replicas: u32, env: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
spec:
  replicas: {replicas}{extra_spec}
  selector:
    matchLabels: {{app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 1}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: httpd
        image: busybox:1.36
        ports: [{{containerPort: 8080, name: http}}]
        env: [{env}]
"#
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn apply_patches_with_the_strategies_the_v3_documents_publish() {
    let c = Cluster::start();
    let first = c.manifest("v1.yaml", &deployment(2, "{name: A, value: '1'}", ""));
    assert_eq!(c.ok(&["apply", "-f", &first]).trim(), "deployment.apps/web created");
    // A change apply does not own: a strategic merge patch leaves it alone.
    c.ok(&["label", "deployment", "web", "owner=someone-else"]);

    let second = c.manifest("v2.yaml", &deployment(3, "{name: A, value: '2'}, {name: B, value: '3'}", ""));
    let out = c.kubectl(&["apply", "-f", &second, "-v=6"]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployment.apps/web configured"));
    assert!(log.contains("/openapi/v3/apis/apps/v1?hash="), "kubectl read the apps/v1 document: {log}");
    assert!(log.contains("fieldValidation=Strict"), "kubectl found server-side field validation: {log}");
    assert!(!log.contains("error calculating patch"), "{log}");

    let got = c.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].env[*].value} {.metadata.labels.owner}",
    ]);
    assert_eq!(got, "3 2 3 someone-else");
    // Nothing to change: the three-way patch is empty. (`strategy` is `retainKeys`: had the
    // manifest left out `type`, which the server defaults, kubectl would send `$retainKeys`
    // and say "configured" every time, against upstream servers too.)
    assert_eq!(c.ok(&["apply", "-f", &second]).trim(), "deployment.apps/web unchanged");
}

#[test]
fn unknown_fields_fail_strict_writes_and_warn_otherwise() {
    let c = Cluster::start();
    let typo = c.manifest("typo.yaml", &deployment(1, "{name: A, value: '1'}", "\n  replicaz: 2"));
    let err = c.fails(&["create", "-f", &typo]);
    assert!(err.contains(r#"strict decoding error: unknown field "spec.replicaz""#), "{err}");
    let err = c.fails(&["apply", "-f", &typo]);
    assert!(err.contains(r#"unknown field "spec.replicaz""#), "{err}");

    let out = c.kubectl(&["create", "-f", &typo, "--validate=warn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(r#"Warning: unknown field "spec.replicaz""#), "{}", stderr(&out));
    let spec = c.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec}"]);
    assert!(!spec.contains("replicaz"), "unknown fields are dropped: {spec}");

    // kubectl patch asks for no validation: the server's default, Warn.
    let out = c.kubectl(&["patch", "deployment", "web", "-p", r#"{"spec":{"bogus":1}}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(r#"Warning: unknown field "spec.bogus""#), "{}", stderr(&out));

    let err = c.fails(&["replace", "-f", &typo]);
    assert!(err.contains(r#"strict decoding error: unknown field "spec.replicaz""#), "{err}");
}

#[test]
fn explain_renders_the_published_schemas() {
    let c = Cluster::start();
    let strategy = c.ok(&["explain", "deployment.spec.strategy"]);
    assert!(strategy.contains("FIELD: strategy <DeploymentStrategy>"), "{strategy}");
    assert!(strategy.contains("rollingUpdate\t<RollingUpdateDeployment>"), "{strategy}");

    let pods = c.ok(&["explain", "pods", "--recursive"]);
    let lines: Vec<&str> = pods.lines().collect();
    assert!(lines.contains(&"  metadata\t<ObjectMeta>"), "metadata is not required: {pods}");
    assert!(lines.contains(&"    containers\t<[]Container> -required-"), "{pods}");

    let port = c.ok(&["explain", "service.spec.ports.targetPort"]);
    assert!(port.contains("FIELD: targetPort <IntOrString>"), "{port}");
    let limits = c.ok(&["explain", "pod.spec.containers.resources.limits"]);
    assert!(limits.contains("<map[string]Quantity>"), "{limits}");

    // The Swagger 2.0 document, which kubectl reads in gnostic's protobuf encoding.
    let v2 = c.ok(&["explain", "deployment.spec", "--output", "plaintext-openapiv2"]);
    assert!(v2.contains("KIND:     Deployment") && v2.contains("strategy"), "{v2}");
}
