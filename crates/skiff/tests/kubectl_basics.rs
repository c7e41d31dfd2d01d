//! The real kubectl against `skiff server`: the everyday commands, asserted on their
//! output as a user would read it.

mod common;

use common::{Cluster, DEPLOYMENT};

#[test]
fn api_resources_and_discovery() {
    let c = Cluster::start();
    let out = c.ok(&["api-resources"]);
    for line in ["pods ", "deployments ", "horizontalpodautoscalers ", "leases ", "priorityclasses "] {
        assert!(out.contains(line), "api-resources lacks {line}: {out}");
    }
    assert!(out.lines().any(|l| l.starts_with("deployments") && l.contains("deploy") && l.contains("apps/v1")));
    let versions = c.ok(&["api-versions"]);
    for gv in ["v1", "apps/v1", "batch/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1", "events.k8s.io/v1"] {
        assert!(versions.lines().any(|l| l == gv), "api-versions lacks {gv}");
    }
    let version = c.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"minor\": \"32\""), "{version}");
}

#[test]
fn namespaces_exist_and_system_ones_cannot_be_deleted() {
    let c = Cluster::start();
    let out = c.ok(&["get", "namespaces"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.lines().any(|l| l.starts_with(ns) && l.contains("Active")), "{out}");
    }
    let err = c.fails(&["delete", "namespace", "kube-system"]);
    assert!(err.contains("forbidden"), "{err}");
    let svc = c.ok(&["get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]);
    assert_eq!(svc, "10.43.0.1");
}

#[test]
fn create_get_describe_and_output_formats() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "demo"]);
    let path = c.manifest("deploy.yaml", DEPLOYMENT);
    let out = c.ok(&["create", "-n", "demo", "-f", &path]);
    assert_eq!(out.trim(), "deployment.apps/web created");
    let err = c.fails(&["create", "-n", "demo", "-f", &path]);
    assert!(err.contains("AlreadyExists") || err.contains("already exists"), "{err}");

    let wide = c.ok(&["get", "deploy", "-n", "demo", "-o", "wide"]);
    let header = wide.lines().next().unwrap();
    for column in ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"] {
        assert!(header.contains(column), "{wide}");
    }
    assert!(wide.contains("busybox:1.36") && wide.contains("app=web"), "{wide}");

    let all = c.ok(&["get", "deployments", "-A"]);
    assert!(all.lines().any(|l| l.starts_with("demo") && l.contains("web")), "{all}");
    let labels = c.ok(&["get", "deploy", "-n", "demo", "--show-labels"]);
    assert!(labels.contains("app=web"), "{labels}");

    let yaml = c.ok(&["get", "deploy", "web", "-n", "demo", "-o", "yaml"]);
    for expected in [
        "resourceVersion:",
        "uid:",
        "creationTimestamp:",
        "generation: 1",
        "maxSurge: 25%",
        "imagePullPolicy: IfNotPresent",
    ] {
        assert!(yaml.contains(expected), "missing {expected} in {yaml}");
    }
    let described = c.ok(&["describe", "deploy", "web", "-n", "demo"]);
    assert!(described.contains("Replicas:") && described.contains("busybox:1.36"), "{described}");

    let missing = c.fails(&["get", "deploy", "nope", "-n", "demo"]);
    assert!(missing.contains("NotFound") && missing.contains("\"nope\" not found"), "{missing}");
}

#[test]
fn apply_twice_diff_and_edit() {
    let c = Cluster::start();
    let path = c.manifest("deploy.yaml", DEPLOYMENT);
    assert_eq!(c.ok(&["apply", "-f", &path]).trim(), "deployment.apps/web created");
    assert_eq!(c.ok(&["apply", "-f", &path]).trim(), "deployment.apps/web unchanged");
    let changed = c.manifest("deploy2.yaml", &DEPLOYMENT.replace("replicas: 2", "replicas: 4"));
    // diff exits 1 when there are differences.
    let diff = c.kubectl(&["diff", "-f", &changed]);
    assert_eq!(diff.status.code(), Some(1), "{}", String::from_utf8_lossy(&diff.stderr));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("+  replicas: 4"));
    assert_eq!(c.ok(&["apply", "-f", &changed]).trim(), "deployment.apps/web configured");
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "4");
    let annotation = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.annotations}"]);
    assert!(annotation.contains("kubectl.kubernetes.io/last-applied-configuration"), "{annotation}");
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.generation}"]), "2");

    // edit, with a sed script as the editor.
    let editor = c.manifest("editor.sh", "#!/bin/sh\nsed -i 's/replicas: 4/replicas: 5/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = c.kubectl_env(&["edit", "deploy", "web"], &[("EDITOR", &editor), ("KUBE_EDITOR", &editor)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "5");
}

#[test]
fn patch_label_scale_and_conflicts() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    c.ok(&["patch", "configmap", "cfg", "--type=merge", "-p", r#"{"data":{"b":"2"}}"#]);
    c.ok(&["patch", "configmap", "cfg", "--type=json", "-p", r#"[{"op":"add","path":"/data/c","value":"3"}]"#]);
    c.ok(&["patch", "configmap", "cfg", "-p", r#"{"data":{"a":null}}"#]);
    assert_eq!(c.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data}"]), r#"{"b":"2","c":"3"}"#);
    let bad = c.fails(&["patch", "configmap", "cfg", "--type=json", "-p", r#"[{"op":"remove","path":"/data/zzz"}]"#]);
    assert!(bad.contains("Invalid") || bad.contains("invalid"), "{bad}");

    let path = c.manifest("deploy.yaml", DEPLOYMENT);
    c.ok(&["apply", "-f", &path]);
    c.ok(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"busybox:1.37"}]}}}}"#,
    ]);
    let image = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(image, "busybox:1.37", "a strategic merge patch merges containers by name");
    c.ok(&["set", "image", "deploy/web", "httpd=busybox:1.38"]);

    c.ok(&["label", "cm", "cfg", "tier=backend"]);
    let rv = c.ok(&["get", "cm", "cfg", "-o", "jsonpath={.metadata.resourceVersion}"]);
    c.ok(&["label", "cm", "cfg", "other=1"]);
    let stale = c.fails(&["label", "cm", "cfg", "third=1", "--resource-version", &rv]);
    assert!(stale.contains("the object has been modified"), "{stale}");

    assert_eq!(c.ok(&["scale", "deploy", "web", "--replicas=7"]).trim(), "deployment.apps/web scaled");
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "7");
    let status = c.ok(&["get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"]);
    assert!(status.contains(r#""kind":"Scale""#) && status.contains(r#""replicas":7"#), "{status}");
}

#[test]
fn invalid_objects_get_422_with_causes() {
    let c = Cluster::start();
    let bad = c.manifest(
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: c\n",
    );
    let err = c.fails(&["create", "-f", &bad]);
    assert!(err.contains("is invalid"), "{err}");
    assert!(err.contains("metadata.name"), "{err}");
    assert!(err.contains("spec.containers[0].image: Required value"), "{err}");
    let err = c.fails(&["get", "pods", "-l", "a in (b"]);
    assert!(err.contains("unable to parse requirement") || err.contains("BadRequest"), "{err}");
    let err = c.fails(&["get", "pods", "--field-selector", "spec.bogus=x"]);
    assert!(err.contains("field label not supported"), "{err}");
}

#[test]
fn delete_and_wait() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "a"]);
    c.ok(&["create", "configmap", "b", "--from-literal=x=y"]);
    assert_eq!(c.ok(&["delete", "configmap", "a"]).trim(), "configmap \"a\" deleted");
    assert!(c.ok(&["get", "cm", "-o", "name"]).contains("configmap/b"));
    let out = c.kubectl(&["wait", "--for=delete", "configmap/b", "--timeout=20s"]);
    // b still exists: the wait must time out (exit 1) rather than pass.
    assert!(!out.status.success());
    c.ok(&["delete", "configmap", "b", "--wait=false"]);
    c.ok(&["wait", "--for=delete", "configmap/b", "--timeout=20s"]);
    c.ok(&["create", "configmap", "c1"]);
    c.ok(&["create", "configmap", "c2"]);
    c.ok(&["label", "cm", "c1", "c2", "group=x"]);
    let out = c.ok(&["delete", "cm", "-l", "group=x"]);
    assert!(out.contains("\"c1\" deleted") && out.contains("\"c2\" deleted"), "{out}");
}

#[test]
fn watch_prints_changes() {
    let c = Cluster::start();
    c.ok(&["create", "configmap", "first"]);
    let cache = tempfile::tempdir().unwrap();
    let mut watch = std::process::Command::new(common::kubectl_binary())
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["get", "configmaps", "-w", "--request-timeout=0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    c.ok(&["create", "configmap", "second"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    watch.kill().unwrap();
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("first")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("second")), "the watch did not show the new object: {text}");
}

#[test]
fn auth_whoami_and_can_i() {
    let c = Cluster::start();
    let out = c.ok(&["auth", "whoami"]);
    assert!(out.contains("system:admin") && out.contains("system:masters"), "{out}");
    assert_eq!(c.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    let list = c.ok(&["auth", "can-i", "--list"]);
    assert!(list.contains("*.*"), "{list}");
}

#[test]
fn anonymous_requests_only_reach_health_and_version() {
    let c = Cluster::start();
    let client = |path: &str| {
        std::process::Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("https://127.0.0.1:{}{path}", c.port))
            .output()
            .expect("curl")
    };
    for (path, code) in [
        ("/healthz", "200"),
        ("/livez", "200"),
        ("/readyz", "200"),
        ("/version", "200"),
        ("/api", "401"),
        ("/api/v1/namespaces", "401"),
    ] {
        let out = client(path);
        assert_eq!(String::from_utf8_lossy(&out.stdout), code, "{path}");
    }
}

#[test]
fn explain_and_openapi() {
    let c = Cluster::start();
    let out = c.ok(&["explain", "deployment.spec.strategy"]);
    assert!(out.contains("KIND:") && out.contains("Deployment") && out.contains("rollingUpdate"), "{out}");
    let out = c.ok(&["explain", "pods.spec.containers.image"]);
    assert!(out.contains("string"), "{out}");
    let index = c.ok(&["get", "--raw", "/openapi/v3"]);
    assert!(index.contains("\"apis/apps/v1\"") && index.contains("serverRelativeURL"), "{index}");
    // Strict field validation through kubectl: an unknown field is refused.
    let typo = c.manifest("typo.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta:\n  a: b\n");
    let err = c.fails(&["create", "-f", &typo]);
    assert!(err.contains("unknown field") && err.contains("datta"), "{err}");
}

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (rv, ip) = {
        let c = Cluster::start_in_path(dir.path(), &[]);
        c.ok(&["create", "configmap", "kept", "--from-literal=a=1"]);
        c.ok(&["create", "service", "clusterip", "svc1", "--tcp=80:8080"]);
        let rv = c.ok(&["get", "cm", "kept", "-o", "jsonpath={.metadata.resourceVersion}"]);
        (rv, c.ok(&["get", "svc", "svc1", "-o", "jsonpath={.spec.clusterIP}"]))
    };
    let c = Cluster::start_in_path(dir.path(), &[]);
    assert_eq!(c.ok(&["get", "cm", "kept", "-o", "jsonpath={.metadata.resourceVersion}"]), rv);
    // The allocation survived: asking for the same IP again is refused.
    let taken = c.manifest(
        "taken.yaml",
        &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc2\nspec:\n  clusterIP: {ip}\n  ports:\n  - port: 80\n"),
    );
    let err = c.fails(&["create", "-f", &taken]);
    assert!(err.contains("already allocated"), "{err}");
}

#[test]
fn versions_that_share_storage_convert() {
    let c = Cluster::start();
    let path = c.manifest("deploy.yaml", DEPLOYMENT);
    c.ok(&["apply", "-f", &path]);
    c.ok(&["autoscale", "deployment", "web", "--min=1", "--max=4", "--cpu-percent=60"]);
    let v1 = c.ok(&["get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web"]);
    assert!(v1.contains(r#""targetCPUUtilizationPercentage":60"#), "{v1}");
    let v2 = c.ok(&["get", "--raw", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web"]);
    assert!(v2.contains(r#""averageUtilization":60"#) && !v2.contains("targetCPUUtilizationPercentage"), "{v2}");
    let table = c.ok(&["get", "hpa"]);
    assert!(table.contains("Deployment/web") && table.contains("60%"), "{table}");

    let event = c.manifest(
        "event.yaml",
        "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: web.1\nregarding:\n  kind: Deployment\n  name: web\n  namespace: default\nreason: Tested\nnote: converted between versions\ntype: Normal\naction: Test\nreportingController: skiff-test\nreportingInstance: test-1\neventTime: \"2024-01-01T00:00:00.000000Z\"\n",
    );
    c.ok(&["create", "-f", &event]);
    // By name: the controllers and the scheduler record events of their own.
    let core = c.ok(&["get", "events", "web.1", "-o", "jsonpath={.message}"]);
    assert_eq!(core, "converted between versions");
    let selected = c.ok(&["get", "events", "--field-selector", "involvedObject.name=web", "-o", "name"]);
    assert!(selected.contains("web.1"), "{selected}");
    let new = c.ok(&["get", "events.v1.events.k8s.io", "web.1", "-o", "jsonpath={.note}"]);
    assert_eq!(new, "converted between versions");
}

/// A client lists (served by the store: a consistent read) and then watches from the
/// list's resourceVersion — what every informer does. The watch must start there,
/// even for a resource nobody had watched before.
#[test]
fn watch_resumes_from_a_store_served_list() {
    let c = Cluster::start();
    let list = c.ok(&["get", "--raw", "/api/v1/namespaces/default/podtemplates"]);
    let list: serde_json::Value = serde_json::from_str(&list).expect("a list");
    let rv = list["metadata"]["resourceVersion"].as_str().expect("a resourceVersion").to_string();
    let tpl = c.manifest(
        "tpl.yaml",
        "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: tpl}\ntemplate:\n  spec:\n    containers: [{name: c, image: busybox}]\n",
    );
    c.ok(&["apply", "-f", &tpl]);
    let path = format!("/api/v1/namespaces/default/podtemplates?watch=1&resourceVersion={rv}&timeoutSeconds=1");
    let events = c.ok(&["get", "--raw", &path]);
    assert!(events.contains(r#""type":"ADDED""#) && events.contains(r#""name":"tpl""#), "{events}");
    assert!(!events.contains("ERROR"), "{events}");
}

#[test]
fn secrets_and_config_maps_as_upstream_keeps_them() {
    let c = Cluster::start();
    // stringData is write-only: merged into data (base64) and not stored.
    let path = c.manifest(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  user: admin\ndata:\n  pw: cGFzcw==\n",
    );
    c.ok(&["apply", "-f", &path]);
    let secret: serde_json::Value = serde_json::from_str(&c.ok(&["get", "secret", "creds", "-o", "json"])).unwrap();
    assert_eq!(secret["data"], serde_json::json!({"pw": "cGFzcw==", "user": "YWRtaW4="}));
    assert!(secret.get("stringData").is_none(), "{secret}");
    assert_eq!(secret["type"], "Opaque");
    // Applying it again (kubectl sends stringData again, as it is never live) keeps it.
    c.ok(&["apply", "-f", &path]);
    let again: serde_json::Value = serde_json::from_str(&c.ok(&["get", "secret", "creds", "-o", "json"])).unwrap();
    assert_eq!(again["data"], secret["data"]);
    assert_eq!(again["metadata"]["resourceVersion"], secret["metadata"]["resourceVersion"]);

    // A typed Secret needs its keys; its type does not change.
    let tls = c.manifest(
        "tls.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: t\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n",
    );
    let err = c.fails(&["create", "-f", &tls]);
    assert!(err.contains("The Secret \"t\" is invalid: data[tls.key]: Required value"), "{err}");
    let err = c.fails(&["patch", "secret", "creds", "-p", r#"{"type":"kubernetes.io/basic-auth"}"#]);
    assert!(err.contains("type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"), "{err}");

    // Once immutable, a ConfigMap's data and the flag itself stay.
    c.ok(&["create", "configmap", "frozen", "--from-literal=a=b"]);
    c.ok(&["patch", "configmap", "frozen", "-p", r#"{"immutable":true}"#]);
    let err = c.fails(&["patch", "configmap", "frozen", "-p", r#"{"data":{"a":"c"}}"#]);
    assert!(err.contains("data: Forbidden: field is immutable when `immutable` is set"), "{err}");
    let err = c.fails(&["patch", "configmap", "frozen", "-p", r#"{"immutable":false}"#]);
    assert!(err.contains("immutable: Forbidden: field is immutable when `immutable` is set"), "{err}");
    assert_eq!(c.ok(&["get", "configmap", "frozen", "-o", "jsonpath={.data.a}"]), "b");
    c.ok(&["delete", "configmap", "frozen"]);
}

#[test]
fn each_kind_is_validated_as_upstream_validates_it() {
    let c = Cluster::start();
    // One invalid object per validated family, through kubectl, and the cause each gets.
    let cases = [
        (
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: b\nspec:\n  minAvailable: 1\n  maxUnavailable: 1\n",
            "spec: Invalid value:",
        ),
        (
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h\nspec:\n  scaleTargetRef: {kind: Deployment, name: x}\n  maxReplicas: 0\n",
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
        ),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules:\n- verbs: []\n  apiGroups: ['']\n  resources: [pods]\n",
            "rules[0].verbs: Required value: verbs must contain at least one value",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\nspec:\n  podSelector: {}\n  policyTypes: [Sideways]\n",
            "spec.policyTypes[0]: Unsupported value: \"Sideways\"",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\nspec:\n  defaultBackend:\n    service: {name: s, port: {number: 70000}}\n",
            "spec.defaultBackend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: p\nvalue: 2000000000\n",
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000",
        ),
        (
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 0}}\n",
            "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
        ),
        (
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  leaseDurationSeconds: 0\n",
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: e\naddressType: Bogus\nendpoints: []\n",
            "addressType: Unsupported value: \"Bogus\"",
        ),
        (
            "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\nspec:\n  limits:\n  - type: Container\n    min: {cpu: 2}\n    max: {cpu: 1}\n",
            "min value 2 is greater than max value 1",
        ),
    ];
    for (i, (yaml, want)) in cases.iter().enumerate() {
        let path = c.manifest(&format!("bad-{i}.yaml"), yaml);
        let err = c.fails(&["create", "-f", &path]);
        assert!(err.contains("is invalid") && err.contains(want), "case {i}: want {want:?} in {err}");
    }
    // None of them was stored.
    for kind in ["pdb", "hpa", "role", "networkpolicy", "ingress", "pvc", "lease", "endpointslice", "limitrange"] {
        let names = c.ok(&["get", kind, "-o", "name"]);
        assert!(
            !names.lines().any(|l| l.ends_with("/b") || l.ends_with("/h") || l.ends_with("/lr")),
            "{kind}: {names}"
        );
    }
    assert!(c.ok(&["get", "priorityclass", "-o", "name"]).lines().all(|l| l != "priorityclass.scheduling.k8s.io/p"));
}
