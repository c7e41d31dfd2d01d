use serde_json::{json, Value};

use super::event;
use crate::conversion::convert;
use crate::Cause;

const NONE: [String; 0] = [];

/// Validates a core/v1 write.
fn core(obj: Value, old: Option<Value>) -> Vec<String> {
    let mut causes = Vec::new();
    event(false, &obj, old.as_ref(), &mut causes);
    causes.iter().map(Cause::summary).collect()
}

/// Validates an events.k8s.io/v1 write: the server checks the stored (core) shape.
fn new_api(obj: Value, old: Option<Value>) -> Vec<String> {
    let obj = convert(&obj, "Event", "v1");
    let mut causes = Vec::new();
    event(true, &obj, old.map(|o| convert(&o, "Event", "v1")).as_ref(), &mut causes);
    causes.iter().map(Cause::summary).collect()
}

fn pod_ref() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "resourceVersion": "7"})
}

/// An events.k8s.io/v1 event as `kubectl events` tooling or client-go's new recorder writes it.
fn new_event() -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.17a", "namespace": "default"},
        "eventTime": "2024-05-01T10:00:00.123456Z", "reportingController": "example.com/operator",
        "reportingInstance": "operator-7d9f", "action": "Reconcile", "reason": "Synced", "type": "Normal",
        "regarding": pod_ref(), "note": "all good"})
}

#[test]
fn events_as_skiff_components_write_them_pass() {
    // Controllers: old style; events about cluster-scoped objects go to "default".
    let node_event = json!({"metadata": {"name": "node-1.17a", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "n1"},
        "reason": "RegisteredNode", "message": "Node node-1 event: Registered Node", "type": "Normal",
        "source": {"component": "node-controller"}, "firstTimestamp": "2024-05-01T10:00:00Z",
        "lastTimestamp": "2024-05-01T10:00:00Z", "count": 1,
        "reportingComponent": "node-controller", "reportingInstance": "node-controller"});
    assert_eq!(core(node_event.clone(), None), NONE);
    // The controllers' repeat: a merge patch of count and lastTimestamp.
    let mut repeat = node_event.clone();
    repeat["count"] = json!(2);
    repeat["lastTimestamp"] = json!("2024-05-01T10:05:00Z");
    assert_eq!(core(repeat, Some(node_event)), NONE);
    // The kubelet: old style, about a pod of the event's namespace.
    let kubelet = json!({"metadata": {"generateName": "web.", "name": "web.x1", "namespace": "team-a"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "team-a", "uid": "p1"},
        "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"}, "count": 1,
        "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:00:00Z",
        "reportingComponent": "kubelet", "reportingInstance": "node-1"});
    assert_eq!(core(kubelet, None), NONE);
    // The scheduler: new style through core/v1, with the deprecated fields too.
    let scheduler = json!({"metadata": {"name": "web.17b", "namespace": "team-a"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "team-a", "uid": "p1"},
        "reason": "Scheduled", "action": "Binding", "message": "Successfully assigned team-a/web to node-1",
        "type": "Normal", "count": 1, "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:00:00Z",
        "eventTime": "2024-05-01T10:00:00.000001Z", "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-node-1"});
    assert_eq!(core(scheduler, None), NONE);
}

#[test]
fn old_style_events_match_their_objects_namespace() {
    let ev = |ns: &str, object_ns: Option<&str>| {
        let mut e = json!({"metadata": {"name": "e", "namespace": ns}, "involvedObject": {"kind": "Pod", "name": "p"}});
        if let Some(o) = object_ns {
            e["involvedObject"]["namespace"] = json!(o);
        }
        core(e, None)
    };
    assert_eq!(
        ev("team-a", Some("team-b")),
        [r#"involvedObject.namespace: Invalid value: "team-b": does not match event.namespace"#]
    );
    assert_eq!(ev("team-a", None), [r#"involvedObject.namespace: Invalid value: "": does not match event.namespace"#]);
    assert_eq!(ev("default", None), NONE);
    assert_eq!(ev("team-a", Some("team-a")), NONE);
}

#[test]
fn new_style_events_through_core_say_who_reported_what() {
    let e = json!({"metadata": {"name": "e", "namespace": "team-a"}, "eventTime": "2024-05-01T10:00:00.000000Z",
        "involvedObject": {"kind": "Node", "name": "n"}, "message": "x".repeat(1025),
        "reportingInstance": "i".repeat(129), "reason": "r".repeat(129)});
    assert_eq!(
        core(e, None),
        [
            r#"involvedObject.namespace: Invalid value: "": does not match event.namespace"#,
            "reportingComponent: Required value",
            r#"reportingComponent: Invalid value: "": name part must be non-empty"#,
            r#"reportingComponent: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#,
            r#"reportingInstance: Invalid value: "": can have at most 128 characters"#,
            "action: Required value",
            r#"reason: Invalid value: "": can have at most 128 characters"#,
            r#"message: Invalid value: "": can have at most 1024 characters"#,
        ]
    );
    // Cluster-scoped objects' new-style events live in default or kube-system.
    let e = json!({"metadata": {"name": "e", "namespace": "kube-system"}, "eventTime": "2024-05-01T10:00:00.000000Z",
        "involvedObject": {"kind": "Node", "name": "n"}, "reportingComponent": "c", "reportingInstance": "i",
        "action": "a", "reason": "r"});
    assert_eq!(core(e, None), NONE);
}

#[test]
fn core_updates_may_change_anything() {
    let old = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": pod_ref(), "message": "a", "reason": "A"});
    let new = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": pod_ref(), "message": "b", "reason": "B"});
    assert_eq!(core(new, Some(old)), NONE);
}

#[test]
fn new_api_events_pass_and_need_the_new_fields() {
    assert_eq!(new_api(new_event(), None), NONE);
    let mut e = new_event();
    e["series"] = json!({"count": 3, "lastObservedTime": "2024-05-01T10:01:00.000000Z"});
    assert_eq!(new_api(e, None), NONE);
    let bare = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
        "regarding": pod_ref(), "reason": "R", "type": "Info",
        "deprecatedCount": 2, "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z", "deprecatedSource": {"host": "n"},
        "series": {"count": 1}});
    assert_eq!(
        new_api(bare, None),
        [
            r#"series.count: Invalid value: "": should be at least 2"#,
            "series.lastObservedTime: Required value",
            "eventTime: Required value",
            r#"type: Invalid value: "": has invalid value: Info"#,
            r#"firstTimestamp: Invalid value: "": needs to be unset"#,
            r#"count: Invalid value: "": needs to be unset"#,
            r#"source: Invalid value: "": needs to be unset"#,
        ]
    );
    let mut e = new_event();
    e["reportingController"] = json!("bad controller");
    e.as_object_mut().unwrap().remove("action");
    assert_eq!(
        new_api(e, None),
        [
            r#"reportingController: Invalid value: "bad controller": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#,
            "action: Required value",
        ]
    );
}

#[test]
fn new_api_updates_may_change_only_the_series() {
    let old = new_event();
    let mut new = new_event();
    new["series"] = json!({"count": 2, "lastObservedTime": "2024-05-01T10:01:00.000000Z"});
    // A client that keeps nanoseconds rewrites the time without changing it.
    new["eventTime"] = json!("2024-05-01T10:00:00.123456789Z");
    assert_eq!(new_api(new, Some(old.clone())), NONE);

    let mut new = new_event();
    new["note"] = json!("changed");
    new["reason"] = json!("Other");
    new["regarding"]["name"] = json!("db");
    new["eventTime"] = json!("2024-05-01T10:00:01Z");
    new["deprecatedCount"] = json!(5);
    new["related"] = pod_ref();
    new["series"] = json!({"count": 1});
    assert_eq!(
        new_api(new, Some(old)),
        [
            r#"series.count: Invalid value: "": should be at least 2"#,
            "series.lastObservedTime: Required value",
            r#"involvedObject: Invalid value: core.ObjectReference{Kind:"Pod", Namespace:"default", Name:"db", UID:"u1", APIVersion:"v1", ResourceVersion:"7", FieldPath:""}: field is immutable"#,
            r#"reason: Invalid value: "Other": field is immutable"#,
            r#"message: Invalid value: "changed": field is immutable"#,
            "count: Invalid value: 5: field is immutable",
            r#"reason: Invalid value: "Other": field is immutable"#,
            "eventTime: Invalid value: 2024-05-01 10:00:01 +0000 UTC: field is immutable",
            r#"related: Invalid value: core.ObjectReference{Kind:"Pod", Namespace:"default", Name:"web", UID:"u1", APIVersion:"v1", ResourceVersion:"7", FieldPath:""}: field is immutable"#,
        ]
    );
}

#[test]
fn an_old_style_event_read_and_written_back_through_the_new_api_passes() {
    let stored = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": pod_ref(), "reason": "BackOff", "message": "m", "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"}, "count": 3,
        "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:05:00Z"});
    let read = convert(&stored, "Event", "events.k8s.io/v1");
    assert_eq!(read["reportingController"], "kubelet");
    let mut written = read.clone();
    written["metadata"]["labels"] = json!({"seen": "yes"});
    let mut causes = Vec::new();
    event(true, &convert(&written, "Event", "v1"), Some(&stored), &mut causes);
    assert_eq!(causes, []);
    let mut changed = read;
    changed["reportingController"] = json!("someone-else");
    let mut causes = Vec::new();
    event(true, &convert(&changed, "Event", "v1"), Some(&stored), &mut causes);
    let got: Vec<String> = causes.iter().map(Cause::summary).collect();
    assert_eq!(got, [r#"reportingController: Invalid value: "someone-else": field is immutable"#]);
}

#[test]
fn times_print_as_go_does() {
    assert_eq!(super::go_time(Some(&json!("2024-05-01T12:00:00.120000+02:00"))), "2024-05-01 10:00:00.12 +0000 UTC");
    assert_eq!(super::go_time(None), "0001-01-01 00:00:00 +0000 UTC");
}
