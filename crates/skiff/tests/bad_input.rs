//! Hostile and malformed requests get a 4xx `Status` — never a 5xx, a panic or a
//! hang — and the server keeps serving afterwards.

mod common;

use std::process::Command;

use common::Cluster;

/// Sends a request with the admin client certificate through curl; returns the
/// status code and the body.
fn request(c: &Cluster, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let tls = c.data_dir().join("tls");
    let body_file = c.data_dir().join("body.bin");
    std::fs::write(&body_file, body).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-X", method, "-w", "\n%{http_code}", "--max-time", "30"])
        .arg("--cacert")
        .arg(tls.join("ca.crt"))
        .arg("--cert")
        .arg(tls.join("admin.crt"))
        .arg("--key")
        .arg(tls.join("admin.key"))
        .args(["-H", &format!("Content-Type: {content_type}"), "-H", "Accept: application/json"])
        .arg("--data-binary")
        .arg(format!("@{}", body_file.display()))
        .arg(format!("https://127.0.0.1:{}{path}", c.port))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn assert_status(c: &Cluster, what: &str, method: &str, path: &str, content_type: &str, body: &[u8], code: u16) {
    let (got, text) = request(c, method, path, content_type, body);
    assert_eq!(got, code, "{what}: {text}");
    let status: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    assert_eq!(status["kind"], "Status", "{what}: {text}");
    assert_eq!(status["code"], code, "{what}: {text}");
    assert!(!status["message"].as_str().unwrap_or("").is_empty(), "{what}: {text}");
}

const CM: &str = "/api/v1/namespaces/default/configmaps";
const JSON: &str = "application/json";

#[test]
fn malformed_and_hostile_requests_get_4xx_status() {
    let c = Cluster::start();
    assert_status(&c, "malformed JSON", "POST", CM, JSON, b"{\"kind\": ", 400);
    assert_status(&c, "JSON array body", "POST", CM, JSON, b"[1,2,3]", 400);
    assert_status(&c, "malformed YAML", "POST", CM, "application/yaml", b"kind: [ConfigMap\n  x: {", 400);
    assert_status(
        &c,
        "garbage protobuf",
        "POST",
        CM,
        "application/vnd.kubernetes.protobuf",
        b"k8s\x00\xff\xff\xff",
        400,
    );
    assert_status(&c, "protobuf without magic", "POST", CM, "application/vnd.kubernetes.protobuf", b"hello", 400);
    let deep = format!("{{\"metadata\":{{\"name\":\"x\"}},\"data\":{}{}}}", "[".repeat(20_000), "]".repeat(20_000));
    assert_status(&c, "deep nesting", "POST", CM, JSON, deep.as_bytes(), 400);
    let wrong_kind = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}"#;
    assert_status(&c, "wrong kind for the URL", "POST", CM, JSON, wrong_kind, 400);
    let wrong_version = br#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
    assert_status(&c, "wrong apiVersion for the URL", "POST", CM, JSON, wrong_version, 400);
    let unknown = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1}"#;
    assert_status(
        &c,
        "unknown field under Strict",
        "POST",
        &format!("{CM}?fieldValidation=Strict"),
        JSON,
        unknown,
        400,
    );
    let bad_name = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#;
    assert_status(&c, "invalid name", "POST", CM, JSON, bad_name, 422);
    let no_name = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#;
    assert_status(&c, "missing name", "POST", CM, JSON, no_name, 422);
    let huge = vec![b' '; 4 << 20];
    assert_status(&c, "body over 3 MiB", "POST", CM, JSON, &huge, 413);
    let big_object = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"a\":\"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    // Upstream's validation bounds a ConfigMap's data at 1 MiB (422) ...
    assert_status(&c, "ConfigMap data over 1 MiB", "POST", CM, JSON, big_object.as_bytes(), 422);
    // ... and the store bounds any object at 1.5 MiB (413), here one with free-form data.
    let big_revision = format!(
        "{{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\",\"metadata\":{{\"name\":\"big\"}},\"revision\":1,\"data\":{{\"a\":\"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    let revisions = "/apis/apps/v1/namespaces/default/controllerrevisions";
    assert_status(&c, "object over 1.5 MiB", "POST", revisions, JSON, big_revision.as_bytes(), 413);
    assert_status(&c, "unsupported media type", "POST", CM, "text/plain", b"hello", 415);
    assert_status(&c, "bad patch type", "PATCH", &format!("{CM}/x"), "application/json", b"{}", 415);
    assert_status(
        &c,
        "hostile label selector",
        "GET",
        &format!("{CM}?labelSelector=a%20in%20(((%2C%2C"),
        JSON,
        b"",
        400,
    );
    let long = "a".repeat(10_000);
    assert_status(&c, "overlong label key", "GET", &format!("{CM}?labelSelector={long}%3Db"), JSON, b"", 400);
    assert_status(&c, "bad limit", "GET", &format!("{CM}?limit=abc"), JSON, b"", 400);
    assert_status(
        &c,
        "bad resourceVersion",
        "GET",
        &format!("{CM}?resourceVersion=abc&resourceVersionMatch=Exact"),
        JSON,
        b"",
        400,
    );
    assert_status(&c, "bad continue token", "GET", &format!("{CM}?limit=1&continue=%%%%"), JSON, b"", 400);
    assert_status(&c, "unknown resource", "GET", "/api/v1/namespaces/default/widgets", JSON, b"", 404);
    assert_status(&c, "unknown group", "GET", "/apis/example.com/v1/things", JSON, b"", 404);
    assert_status(&c, "no deletecollection for namespaces", "DELETE", "/api/v1/namespaces", JSON, b"", 405);
    assert_status(&c, "bad dryRun", "POST", &format!("{CM}?dryRun=Sometimes"), JSON, bad_name, 400);

    // Still healthy, and nothing was stored by any of the above.
    let (code, body) = request(&c, "GET", "/healthz", JSON, b"");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let names = c.ok(&["get", "configmaps", "-o", "name"]);
    assert!(!names.contains("configmap/x") && !names.contains("configmap/big"), "{names}");
    assert!(c.ok(&["get", "controllerrevisions", "-o", "name"]).trim().is_empty());
}

fn pod_with_resources(name: &str, resources: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n    resources:\n{resources}"
    )
}

#[test]
fn resource_quantities_are_checked_as_upstream_checks_them() {
    let c = Cluster::start();
    let create = |name: &str, resources: &str| {
        let path = c.manifest(&format!("{name}.yaml"), &pod_with_resources(name, resources));
        c.kubectl(&["create", "-f", &path])
    };
    let stderr = |out: std::process::Output| {
        assert!(!out.status.success(), "should have failed: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    };

    // Malformed: the body cannot be decoded (400), whatever the field validation.
    let err = stderr(create("junk", "      requests:\n        cpu: abc\n"));
    assert!(err.contains("Error from server (BadRequest)"), "{err}");
    assert!(
        err.contains(
            "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression \
             '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        ),
        "{err}"
    );
    let err = stderr(create("suffix", "      limits:\n        memory: 1kb\n"));
    assert!(err.contains("cannot be handled as a Pod: quantities must match"), "{err}");
    let err = stderr(create("suffix2", "      limits:\n        memory: 1ki\n"));
    assert!(err.contains("cannot be handled as a Pod: unable to parse quantity's suffix"), "{err}");

    // Well formed but invalid: 422 with one cause per field.
    let err = stderr(create("negative", "      requests:\n        cpu: \"-1\"\n"));
    assert!(
        err.contains(
            "The Pod \"negative\" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": \
             must be greater than or equal to 0"
        ),
        "{err}"
    );
    let err = stderr(create("over", "      requests:\n        cpu: 2\n      limits:\n        cpu: 1000m\n"));
    assert!(
        err.contains(
            "The Pod \"over\" is invalid: spec.containers[0].resources.requests: Invalid value: \"2\": \
             must be less than or equal to cpu limit of 1"
        ),
        "{err}"
    );
    let err = stderr(create("gpu", "      requests:\n        example.com/gpu: 1\n"));
    assert!(err.contains("Required value: Limit must be set for non overcommitable resources"), "{err}");

    // Templates are checked too, at their own path.
    let deployment = c.manifest(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector:\n    matchLabels: {app: d}\n  \
         template:\n    metadata:\n      labels: {app: d}\n    spec:\n      containers:\n      - name: c\n        \
         image: busybox:1.36\n        resources:\n          limits:\n            memory: -64Mi\n",
    );
    let err = c.fails(&["create", "-f", &deployment]);
    assert!(
        err.contains(
            "spec.template.spec.containers[0].resources.limits[memory]: Invalid value: \"-64Mi\": \
             must be greater than or equal to 0"
        ),
        "{err}"
    );

    // Numbers are quantities too (`cpu: 2` in YAML is a JSON number), stored as strings;
    // a pod's limits default its missing requests.
    assert!(create("fine", "      requests:\n        cpu: 0.5\n      limits:\n        cpu: 2\n        memory: 64Mi\n")
        .status
        .success());
    let resources = c.ok(&["get", "pod", "fine", "-o", "jsonpath={.spec.containers[0].resources}"]);
    let resources: serde_json::Value = serde_json::from_str(&resources).unwrap();
    assert_eq!(
        resources,
        serde_json::json!({"requests": {"cpu": "0.5", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "64Mi"}})
    );

    // A patch that makes a quantity malformed is refused as upstream refuses it (422 on
    // `patch`); a negative quota amount fails validation.
    c.ok(&["create", "quota", "q", "--hard=cpu=4,pods=10"]);
    let err = c.fails(&["patch", "quota", "q", "--type=merge", "-p", r#"{"spec":{"hard":{"cpu":"four"}}}"#]);
    assert!(err.contains("patch: Invalid value:") && err.contains("quantities must match"), "{err}");
    let err = c.fails(&["patch", "quota", "q", "--type=merge", "-p", r#"{"spec":{"hard":{"cpu":"-4"}}}"#]);
    assert!(err.contains("spec.hard[cpu]: Invalid value: \"-4\": must be greater than or equal to 0"), "{err}");
    assert_eq!(c.ok(&["get", "quota", "q", "-o", "jsonpath={.spec.hard.cpu}"]), "4");

    let names = c.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(names.trim(), "pod/fine");
    assert!(c.ok(&["get", "deployments", "-o", "name"]).trim().is_empty());
}

#[test]
fn values_of_the_wrong_type_are_refused_not_stored() {
    let c = Cluster::start();
    // YAML's `1` is a number, and a ConfigMap holds strings.
    let path = c.manifest("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\ndata:\n  a: 1\n");
    let err = c.fails(&["create", "-f", &path]);
    assert!(
        err.contains(
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go \
             struct field ConfigMap.data of type string"
        ),
        "{err}"
    );
    let path = c.manifest(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: typed\nspec:\n  ports:\n  - port: \"eighty\"\n",
    );
    let err = c.fails(&["create", "-f", &path]);
    assert!(
        err.contains("json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"),
        "{err}"
    );
    // A patch that would store a wrong type is refused too, and the object is unchanged.
    c.ok(&["create", "configmap", "kept", "--from-literal=a=b"]);
    let err = c.fails(&["patch", "configmap", "kept", "--type=merge", "-p", r#"{"data":{"a":{"nested":true}}}"#]);
    assert!(err.contains("cannot unmarshal object into Go struct field ConfigMap.data of type string"), "{err}");
    assert_eq!(c.ok(&["get", "configmap", "kept", "-o", "jsonpath={.data.a}"]), "b");
    assert!(!c.ok(&["get", "configmaps", "-o", "name"]).contains("typed"));
    assert!(!c.ok(&["get", "services", "-o", "name"]).contains("typed"));
}
