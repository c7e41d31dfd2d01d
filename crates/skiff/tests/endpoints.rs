//! The Endpoints and EndpointSlice controllers against a running `skiff server`
//! with real kubectl. No kubelet: the test writes the pods' status itself
//! (distinct IPs, ready or not) through `pods/status`.

mod common;

use common::kubelet::wait_for;
use common::Cluster;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: front}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#;

/// A pod of app `web` whose container port `http` is `port`.
fn pod(name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec:\n  containers: [{{name: c, image: busybox, ports: [{{name: http, containerPort: {port}}}]}}]\n"
    )
}

/// Sets the pod Running with `ip`, Ready or not, as a kubelet would.
fn set_status(c: &Cluster, name: &str, ip: &str, ready: bool) {
    let ready = if ready { "True" } else { "False" };
    let status = format!(
        r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"{ready}"}}]}}}}"#
    );
    c.ok(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p", &status]);
}

#[test]
fn kubernetes_service_points_at_the_api_server() {
    let c = Cluster::start();
    let port = c.port.to_string();
    let ep = c.ok(&[
        "get",
        "endpoints",
        "kubernetes",
        "-n",
        "default",
        "-o",
        "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
    ]);
    assert_eq!(ep, format!("127.0.0.1:{port}"));
    let slice = c.ok(&[
        "get",
        "endpointslice",
        "kubernetes",
        "-n",
        "default",
        "-o",
        "jsonpath={.addressType} {.endpoints[0].addresses[0]}:{.ports[0].port} {.metadata.labels.kubernetes\\.io/service-name}",
    ]);
    assert_eq!(slice, format!("IPv4 127.0.0.1:{port} kubernetes"));
    // The controllers leave the selectorless Service's objects to the server:
    // no managed slice appears for it.
    let managed = c.ok(&[
        "get",
        "endpointslices",
        "-n",
        "default",
        "-l",
        "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io",
        "-o",
        "name",
    ]);
    assert_eq!(managed.trim(), "");
}

#[test]
fn endpoints_and_slices_follow_pods() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", SERVICE)]);
    // An empty Service: empty Endpoints and a placeholder slice.
    wait_for(&c, &["get", "endpoints", "web", "-o", "name"], "empty endpoints", |s| s.contains("endpoints/web"));
    wait_for(
        &c,
        &["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].metadata.name}"],
        "the placeholder slice",
        |s| s.starts_with("web-"),
    );

    for (name, port) in [("a", 8080), ("b", 9090), ("c", 8080)] {
        c.ok(&["apply", "-f", &c.manifest(&format!("{name}.yaml"), &pod(name, port))]);
    }
    set_status(&c, "a", "10.42.0.11", true);
    set_status(&c, "b", "10.42.0.12", true);
    set_status(&c, "c", "10.42.0.13", false);

    // Endpoints: the named target port resolved per pod, c not ready.
    let table = wait_for(&c, &["get", "endpoints", "web"], "ready addresses", |s| {
        s.contains("10.42.0.11:8080") && s.contains("10.42.0.12:9090")
    });
    assert!(!table.contains("10.42.0.13"), "a not-ready pod is not listed as ready: {table}");
    let not_ready = c.ok(&["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].notReadyAddresses[*].ip}"]);
    assert_eq!(not_ready, "10.42.0.13");
    let target = c.ok(&[
        "get",
        "endpoints",
        "web",
        "-o",
        "jsonpath={.subsets[*].addresses[?(@.ip==\"10.42.0.11\")].targetRef.name}",
    ]);
    assert_eq!(target, "a");

    // EndpointSlices: one per resolved port list, conditions per pod.
    let sel = "kubernetes.io/service-name=web";
    let slices = wait_for(
        &c,
        &["get", "endpointslices", "-l", sel, "-o", "jsonpath={range .items[*]}{.ports[0].port}={range .endpoints[*]}{.addresses[0]}/{.conditions.ready}/{.conditions.serving}/{.conditions.terminating},{end};{end}"],
        "slices for three pods",
        |s| s.contains("10.42.0.11") && s.contains("10.42.0.12") && s.contains("10.42.0.13"),
    );
    let mut groups: Vec<&str> = slices.split(';').filter(|s| !s.is_empty()).collect();
    groups.sort();
    assert_eq!(groups.len(), 2, "{slices}");
    assert!(groups[0].starts_with("8080="), "{slices}");
    assert!(
        groups[0].contains("10.42.0.11/true/true/false") && groups[0].contains("10.42.0.13/false/false/false"),
        "{slices}"
    );
    assert_eq!(groups[1], "9090=10.42.0.12/true/true/false,", "{slices}");
    let meta = c.ok(&[
        "get",
        "endpointslices",
        "-l",
        sel,
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.metadata.labels.tier} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}\n{end}",
    ]);
    for line in meta.lines() {
        assert_eq!(line, "endpointslice-controller.k8s.io front Service/web/true");
    }
    let both = c.ok(&["get", "endpoints,endpointslices", "-l", "tier=front"]);
    assert!(both.contains("endpoints/web") || both.contains("web"), "{both}");
    assert!(both.contains("IPv4"), "{both}");

    // c turns ready: it moves to the ready addresses and its slice condition flips.
    set_status(&c, "c", "10.42.0.13", true);
    wait_for(&c, &["get", "endpoints", "web"], "c ready", |s| s.contains("10.42.0.13:8080"));
    wait_for(
        &c,
        &[
            "get",
            "endpointslices",
            "-l",
            sel,
            "-o",
            "jsonpath={.items[*].endpoints[?(@.addresses[0]==\"10.42.0.13\")].conditions.ready}",
        ],
        "c ready in its slice",
        |s| s == "true",
    );

    // publishNotReadyAddresses: a not-ready pod counts as ready.
    set_status(&c, "b", "10.42.0.12", false);
    wait_for(
        &c,
        &["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].notReadyAddresses[*].ip}"],
        "b not ready",
        |s| s == "10.42.0.12",
    );
    c.ok(&["patch", "service", "web", "--type=merge", "-p", r#"{"spec":{"publishNotReadyAddresses":true}}"#]);
    wait_for(&c, &["get", "endpoints", "web"], "b published", |s| s.contains("10.42.0.12:9090"));

    // A pod that leaves the selector leaves the endpoints.
    c.ok(&["label", "pod", "a", "app=other", "--overwrite"]);
    wait_for(&c, &["get", "endpoints", "web"], "a gone", |s| !s.contains("10.42.0.11"));
    wait_for(
        &c,
        &["get", "endpointslices", "-l", sel, "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}"],
        "a gone from slices",
        |s| !s.contains("10.42.0.11") && s.contains("10.42.0.13"),
    );

    // Deleting the Service removes its Endpoints and (owner references) its slices.
    c.ok(&["delete", "service", "web"]);
    wait_for(&c, &["get", "endpoints", "-o", "name"], "endpoints deleted", |s| !s.contains("endpoints/web"));
    wait_for(&c, &["get", "endpointslices", "-l", sel, "-o", "name"], "slices collected", |s| s.trim().is_empty());
}

#[test]
fn disabled_controllers_write_nothing() {
    let c = Cluster::start_with(&["--disable-controllers", "endpoints,endpointslice"]);
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", SERVICE)]);
    c.ok(&["apply", "-f", &c.manifest("a.yaml", &pod("a", 8080))]);
    assert!(c.startup.iter().any(|l| l.contains("controllers:") && !l.contains("endpoint")), "{:?}", c.startup);
    set_status(&c, "a", "10.42.0.11", true);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = c.ok(&["get", "endpoints,endpointslices", "-l", "tier=front", "-o", "name"]);
    assert_eq!(out.trim(), "", "{out}");
}
