//! Pod and container defaults (`SetDefaults_Pod`, `SetDefaults_PodSpec`,
//! `SetDefaults_Container`, ...).

use serde_json::{json, Value};

use super::set;

pub fn pod(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        pod_spec(spec);
        // Pods only, not templates (upstream's `SetDefaults_Pod`): a limit without a
        // request is also the request.
        for field in ["containers", "initContainers"] {
            for c in containers_mut(spec, field) {
                requests_from_limits(c);
            }
        }
    }
}

fn requests_from_limits(c: &mut Value) {
    let Some(resources) = c.get_mut("resources").and_then(Value::as_object_mut) else { return };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).filter(|l| !l.is_empty()).cloned() else {
        return;
    };
    let requests = resources.entry("requests").or_insert_with(|| json!({}));
    if requests.is_null() {
        *requests = json!({});
    }
    if let Some(requests) = requests.as_object_mut() {
        for (name, limit) in limits {
            requests.entry(name).or_insert(limit);
        }
    }
}

pub fn pod_spec(spec: &mut Value) {
    set(spec, &["restartPolicy"], json!("Always"));
    set(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set(spec, &["schedulerName"], json!("default-scheduler"));
    set(spec, &["terminationGracePeriodSeconds"], json!(30));
    set(spec, &["securityContext"], json!({}));
    set(spec, &["enableServiceLinks"], json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        // Host-network pods expose their container ports on the host.
        for c in containers_mut(spec, "containers") {
            for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(cp) = p.get("containerPort").cloned() {
                    set(p, &["hostPort"], cp);
                }
            }
        }
    }
    for field in ["containers", "initContainers"] {
        for c in containers_mut(spec, field) {
            container(c);
        }
    }
    for v in spec.get_mut("volumes").and_then(Value::as_array_mut).into_iter().flatten() {
        volume(v);
    }
}

fn containers_mut<'a>(spec: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    spec.get_mut(field).and_then(Value::as_array_mut).into_iter().flatten()
}

fn container(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
    set(c, &["imagePullPolicy"], json!(pull_policy(&image)));
    set(c, &["terminationMessagePath"], json!("/dev/termination-log"));
    set(c, &["terminationMessagePolicy"], json!("File"));
    set(c, &["resources"], json!({}));
    for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        set(p, &["protocol"], json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe) {
            // Upstream defaults these when zero, not only when absent (Go's
            // zero value is both).
            for (key, default) in
                [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)]
            {
                if p.get(key).and_then(Value::as_i64) == Some(0) {
                    p[key] = json!(default);
                }
                set(p, &[key], json!(default));
            }
            if let Some(h) = p.get_mut("httpGet") {
                set(h, &["path"], json!("/"));
                set(h, &["scheme"], json!("HTTP"));
            }
        }
    }
    for e in c.get_mut("env").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(f) = e.pointer_mut("/valueFrom/fieldRef") {
            set(f, &["apiVersion"], json!("v1"));
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn pull_policy(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match name.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn volume(v: &mut Value) {
    for (source, field) in [
        ("configMap", "defaultMode"),
        ("secret", "defaultMode"),
        ("projected", "defaultMode"),
        ("downwardAPI", "defaultMode"),
    ] {
        if let Some(s) = v.get_mut(source) {
            set(s, &[field], json!(420));
        }
    }
    if let Some(h) = v.get_mut("hostPath") {
        set(h, &["type"], json!(""));
    }
    if let Some(e) = v.get_mut("emptyDir") {
        if e.is_null() {
            *e = json!({});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies() {
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("busybox:latest"), "Always");
        assert_eq!(pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("r.io/b@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn pod_defaults() {
        let mut p =
            json!({"spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]}});
        pod(&mut p);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
    }

    #[test]
    fn probe_numbers_left_zero_get_their_defaults() {
        let mut c = json!({"name": "c", "image": "x", "livenessProbe": {"periodSeconds": 0, "failureThreshold": 0, "timeoutSeconds": 5}});
        container(&mut c);
        let p = &c["livenessProbe"];
        assert_eq!((&p["periodSeconds"], &p["failureThreshold"]), (&json!(10), &json!(3)));
        assert_eq!((&p["timeoutSeconds"], &p["successThreshold"]), (&json!(5), &json!(1)));
    }

    #[test]
    fn pod_limits_default_its_requests() {
        let mut p = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}}},
            {"name": "b", "image": "x", "resources": {"limits": {"cpu": "2"}}},
            {"name": "c", "image": "x"}]}});
        pod(&mut p);
        let c = &p["spec"]["containers"];
        assert_eq!(c[0]["resources"]["requests"], json!({"cpu": "100m", "memory": "1Gi"}));
        assert_eq!(c[1]["resources"]["requests"], json!({"cpu": "2"}));
        assert_eq!(c[2]["resources"], json!({}));
        let mut template = json!({"containers": [{"name": "b", "image": "x", "resources": {"limits": {"cpu": "2"}}}]});
        pod_spec(&mut template);
        assert!(template["containers"][0]["resources"].get("requests").is_none(), "templates keep what was sent");
    }
}
