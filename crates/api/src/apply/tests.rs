//! Whole-sequence tests: objects written by several managers through applies and updates,
//! checking the object, each manager's fields and the conflicts, against upstream's
//! behaviour (structured-merge-diff's `merge` tests and `managedfields` tests).

use serde_json::{json, Value};

use super::*;

/// An object and its managed fields, written to in turns; the clock ticks per write.
struct World {
    scope: Scope,
    api_version: &'static str,
    obj: Option<Value>,
    managed: ManagedFields,
    clock: u32,
}

impl World {
    fn new(group: &str, version: &str, kind: &str, api_version: &'static str) -> World {
        World { scope: Scope::new(group, version, kind), api_version, obj: None, managed: Default::default(), clock: 0 }
    }

    fn deployment() -> World {
        World::new("apps", "v1", "Deployment", "apps/v1")
    }

    fn tick(&mut self) -> String {
        self.clock += 1;
        format!("2025-01-01T00:00:{:02}Z", self.clock)
    }

    fn apply(&mut self, manager: &str, config: Value, force: bool) -> Result<(), ApplyError> {
        let now = self.tick();
        let who = Manager { manager, api_version: self.api_version, subresource: "" };
        let obj = super::apply(self.obj.as_ref(), &config, &mut self.managed, &self.scope, &who, force, &now)?;
        self.obj = Some(obj);
        Ok(())
    }

    fn update(&mut self, manager: &str, new: Value) {
        self.update_via(manager, "", new);
    }

    fn update_via(&mut self, manager: &str, subresource: &str, new: Value) {
        let now = self.tick();
        let who = Manager { manager, api_version: self.api_version, subresource };
        record_update(&mut self.managed, self.obj.as_ref(), &new, &self.scope, &who, &now);
        self.obj = Some(new);
    }

    fn obj(&self) -> &Value {
        self.obj.as_ref().expect("written")
    }

    /// `manager (operation[/subresource]) → fieldsV1`, sorted, for comparing in one assert.
    fn owners(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = self
            .managed
            .entries
            .iter()
            .map(|e| {
                let sub = if e.subresource.is_empty() { String::new() } else { format!("/{}", e.subresource) };
                (format!("{} ({}{sub})", e.manager, e.operation.as_str()), e.fields.to_fields_v1())
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn owners(list: &[(&str, Value)]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = list.iter().map(|(m, v)| (m.to_string(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn deploy(replicas: i64, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels}, "spec": {"replicas": replicas}})
}

fn conflicts(err: ApplyError) -> Vec<(String, String)> {
    match err {
        ApplyError::Conflicts(c) => c.into_iter().map(|c| (c.manager, display_path(&c.path))).collect(),
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn first_apply_creates_and_owns_exactly_what_it_applied() {
    let mut w = World::deployment();
    w.apply("kubectl", deploy(1, json!({"app": "web"})), false).unwrap();
    assert_eq!(w.obj(), &deploy(1, json!({"app": "web"})));
    let fields = json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}});
    assert_eq!(w.owners(), owners(&[("kubectl (Apply)", fields)]));
    let entry = &w.managed.entries[0];
    assert_eq!((entry.api_version.as_str(), entry.time.as_deref()), ("apps/v1", Some("2025-01-01T00:00:01Z")));
}

#[test]
fn appliers_conflict_on_values_they_disagree_on() {
    struct Case {
        name: &'static str,
        second: Value,
        force: bool,
        conflicts: Vec<(&'static str, &'static str)>,
        replicas: i64,
        owners: Vec<(&'static str, Value)>,
    }
    let labels = json!({"app": "web"});
    let cases = [
        Case {
            name: "same value: shared ownership",
            second: deploy(1, json!({})),
            force: false,
            conflicts: vec![],
            replicas: 1,
            owners: vec![
                ("a (Apply)", json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}})),
                ("b (Apply)", json!({"f:metadata": {"f:labels": {}}, "f:spec": {"f:replicas": {}}})),
            ],
        },
        Case {
            name: "different value: conflict",
            second: deploy(3, json!({})),
            force: false,
            conflicts: vec![("\"a\"", ".spec.replicas")],
            replicas: 1,
            owners: vec![(
                "a (Apply)",
                json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}}),
            )],
        },
        Case {
            name: "forced: the field moves",
            second: deploy(3, json!({})),
            force: true,
            conflicts: vec![],
            replicas: 3,
            owners: vec![
                ("a (Apply)", json!({"f:metadata": {"f:labels": {"f:app": {}}}})),
                ("b (Apply)", json!({"f:metadata": {"f:labels": {}}, "f:spec": {"f:replicas": {}}})),
            ],
        },
    ];
    for case in cases {
        let mut w = World::deployment();
        w.apply("a", deploy(1, labels.clone()), false).unwrap();
        let got = w.apply("b", case.second, case.force).map_err(conflicts).err().unwrap_or_default();
        let want: Vec<(String, String)> = case.conflicts.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        assert_eq!(got, want, "{}", case.name);
        assert_eq!(w.obj()["spec"]["replicas"], case.replicas, "{}", case.name);
        assert_eq!(w.owners(), owners(&case.owners), "{}", case.name);
    }
}

#[test]
fn updaters_conflict_too_and_are_named_with_their_version() {
    let mut w = World::deployment();
    w.update("kubectl-client-side-apply", deploy(1, json!({"app": "web"})));
    let err = w.apply("other", deploy(2, json!({"app": "web"})), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    let status = ApiError::from(err).status();
    assert_eq!(status["code"], 409);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["details"],
        json!({"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"}]})
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let mut w = World::deployment();
    w.apply("a", deploy(1, json!({"x": "1"})), false).unwrap();
    w.apply("b", json!({"metadata": {"labels": {"y": "1"}}}), false).unwrap();
    let err = w.apply("c", deploy(2, json!({"x": "2", "y": "2"})), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .metadata.labels.x\n- .spec.replicas\nconflicts with \"b\":\n- .metadata.labels.y"
    );
}

#[test]
fn fields_no_longer_applied_are_removed_unless_someone_else_owns_them() {
    struct Case {
        name: &'static str,
        /// What happens between the two applies of manager "a".
        meanwhile: fn(&mut World),
        labels: Value,
    }
    let cases = [
        Case { name: "nobody else: removed", meanwhile: |_| {}, labels: json!({"keep": "1"}) },
        Case {
            name: "another applier set the same value: kept",
            meanwhile: |w| w.apply("b", json!({"metadata": {"labels": {"drop": "1"}}}), false).unwrap(),
            labels: json!({"keep": "1", "drop": "1"}),
        },
        Case {
            name: "an updater changed it: kept, it is theirs",
            meanwhile: |w| {
                let mut changed = w.obj().clone();
                changed["metadata"]["labels"]["drop"] = json!("2");
                w.update("kubectl-edit", changed);
            },
            labels: json!({"keep": "1", "drop": "2"}),
        },
    ];
    for case in cases {
        let mut w = World::deployment();
        w.apply("a", deploy(1, json!({"keep": "1", "drop": "1"})), false).unwrap();
        (case.meanwhile)(&mut w);
        w.apply("a", deploy(1, json!({"keep": "1"})), false).unwrap();
        assert_eq!(w.obj()["metadata"]["labels"], case.labels, "{}", case.name);
    }
}

#[test]
fn dropping_every_label_removes_the_emptied_map() {
    let mut w = World::deployment();
    w.apply("a", deploy(1, json!({"app": "web"})), false).unwrap();
    w.apply("a", json!({"spec": {"replicas": 1}}), false).unwrap();
    assert_eq!(
        w.obj(),
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}})
    );
}

#[test]
fn list_maps_are_shared_item_by_item() {
    let containers = |names: &[&str]| {
        let items: Vec<Value> = names.iter().map(|n| json!({"name": n, "image": format!("{n}:1")})).collect();
        json!({"spec": {"template": {"spec": {"containers": items}}}})
    };
    let names = |w: &World| -> Vec<String> {
        let items = w.obj()["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
        items.iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    let mut w = World::deployment();
    w.apply("a", containers(&["main"]), false).unwrap();
    w.apply("b", containers(&["sidecar"]), false).unwrap();
    assert_eq!(names(&w), ["main", "sidecar"]);
    w.apply("a", containers(&[]), false).unwrap();
    assert_eq!(names(&w), ["sidecar"]);
    w.apply("b", json!({"spec": {"replicas": 1}}), false).unwrap();
    assert!(w.obj()["spec"].get("template").is_none(), "{}", w.obj());
}

#[test]
fn sets_are_unioned_and_pruned_by_value() {
    let finalizers = |f: &[&str]| json!({"metadata": {"finalizers": f}});
    let mut w = World::deployment();
    w.apply("a", finalizers(&["x", "y"]), false).unwrap();
    w.apply("b", finalizers(&["z"]), false).unwrap();
    assert_eq!(w.obj()["metadata"]["finalizers"], json!(["x", "y", "z"]));
    w.apply("a", finalizers(&["y"]), false).unwrap();
    assert_eq!(w.obj()["metadata"]["finalizers"], json!(["y", "z"]));
}

#[test]
fn updates_take_fields_from_everyone_and_empty_entries_go() {
    let mut w = World::deployment();
    w.apply("a", deploy(1, json!({"app": "web"})), false).unwrap();
    w.update("hpa", deploy(5, json!({"app": "web"})));
    assert_eq!(
        w.owners(),
        owners(&[
            ("a (Apply)", json!({"f:metadata": {"f:labels": {"f:app": {}}}})),
            ("hpa (Update)", json!({"f:spec": {"f:replicas": {}}})),
        ])
    );
    // Removing the label removes it from its owner; "a" then owns nothing and goes.
    w.update(
        "kubectl-edit",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}}),
    );
    assert_eq!(w.owners(), owners(&[("hpa (Update)", json!({"f:spec": {"f:replicas": {}}}))]));
    // A write that changes nothing changes no ownership, not even times.
    let before = w.managed.clone();
    let same = w.obj().clone();
    w.update("someone", same);
    assert_eq!(w.managed, before);
}

#[test]
fn updates_through_subresources_are_separate_entries() {
    let mut w = World::deployment();
    w.update("kube-controller-manager", deploy(1, json!({})));
    let mut with_status = w.obj().clone();
    with_status["status"] = json!({"replicas": 1});
    w.update_via("kube-controller-manager", "status", with_status);
    let keys: Vec<String> = w.owners().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["kube-controller-manager (Update)", "kube-controller-manager (Update/status)"]);
}

#[test]
fn creation_claims_new_maps_and_lists_but_not_structs_or_system_fields() {
    let mut w = World::new("", "v1", "Pod", "v1");
    w.scope = Scope::new("", "v1", "Pod").ignoring(&["status"]);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": "u", "creationTimestamp": "t", "labels": {"run": "p"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], "restartPolicy": "Always"},
        "status": {"phase": "Pending"},
    });
    w.update("kubectl-run", pod);
    let fields = json!({
        "f:metadata": {"f:labels": {".": {}, "f:run": {}}},
        "f:spec": {
            "f:containers": {".": {}, r#"k:{"name":"c"}"#: {".": {}, "f:image": {}, "f:name": {}}},
            "f:restartPolicy": {},
        },
    });
    assert_eq!(w.owners(), owners(&[("kubectl-run (Update)", fields)]));
}

#[test]
fn ignored_fields_are_never_owned_by_appliers() {
    let mut w = World::deployment();
    w.scope = Scope::new("apps", "v1", "Deployment").ignoring(&["status"]);
    w.apply("a", json!({"spec": {"replicas": 1}, "status": {"replicas": 9}}), false).unwrap();
    assert_eq!(w.owners(), owners(&[("a (Apply)", json!({"f:spec": {"f:replicas": {}}}))]));
}

#[test]
fn kubectl_takes_over_from_client_side_apply_without_conflicts() {
    let config = deploy(1, json!({"app": "web"}));
    let mut live = config.clone();
    live["metadata"]["annotations"] = json!({(LAST_APPLIED): config.to_string()});
    let mut w = World::deployment();
    w.update("kubectl-client-side-apply", live);
    // Another manager changing the value still conflicts.
    assert_eq!(
        conflicts(w.apply("other", deploy(2, json!({})), false).unwrap_err()),
        [("\"kubectl-client-side-apply\" using apps/v1".to_string(), ".spec.replicas".to_string())]
    );
    // kubectl applying its client-side configuration, changed, takes the fields over.
    w.apply(KUBECTL, deploy(2, json!({"app": "web"})), false).unwrap();
    assert_eq!(w.obj()["spec"]["replicas"], 2);
    let annotation: Value =
        serde_json::from_str(w.obj()["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap()).unwrap();
    assert_eq!(annotation, deploy(2, json!({"app": "web"})), "the annotation follows the applied configuration");
    let kubectl = w.managed.find(KUBECTL, Operation::Apply, "", "").unwrap();
    assert!(kubectl.fields.has(&[PathElement::field("spec"), PathElement::field("replicas")]));
}

#[test]
fn repeated_list_keys_are_refused() {
    let mut w = World::deployment();
    let config = json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "c"}]}}}});
    let err = w.apply("a", config, false).unwrap_err();
    assert_eq!(
        err,
        ApplyError::Invalid(
            "failed to create typed patch object: .spec.template.spec.containers: duplicate entries for key [name=\"c\"]"
                .into()
        )
    );
    assert_eq!(ApiError::from(err).code(), 400);
}

#[test]
fn a_no_op_apply_keeps_the_time() {
    let mut w = World::deployment();
    w.apply("a", deploy(1, json!({})), false).unwrap();
    w.apply("a", deploy(1, json!({})), false).unwrap();
    assert_eq!(w.managed.entries[0].time.as_deref(), Some("2025-01-01T00:00:01Z"));
    w.apply("a", deploy(2, json!({})), false).unwrap();
    assert_eq!(w.managed.entries[0].time.as_deref(), Some("2025-01-01T00:00:03Z"));
}

#[test]
fn managers_from_user_agents() {
    let cases = [
        ("kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd", "kubectl"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
        ("", "unknown"),
        ("/x", "unknown"),
    ];
    for (agent, manager) in cases {
        assert_eq!(manager_from_user_agent(agent), manager, "{agent}");
    }
    assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
}

#[test]
fn kubectl_migration_from_client_side_apply_keeps_data_and_annotation() {
    // What `kubectl apply --server-side` does to an object made by `kubectl apply`: apply,
    // record the annotation as "kubectl-last-applied", move the client-side-apply fields
    // to "kubectl" by rewriting managedFields, and apply again.
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"color": "blue", "size": "small"}});
    let mut w = World::new("", "v1", "ConfigMap", "v1");
    let mut created = config.clone();
    created["data"]["size"] = json!("large");
    created["metadata"]["annotations"] = json!({(LAST_APPLIED): created.to_string()});
    w.update("kubectl-client-side-apply", created);
    w.apply(KUBECTL, config.clone(), false).unwrap();
    let annotation = w.obj()["metadata"]["annotations"][LAST_APPLIED].clone();
    let annotation_only = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {(LAST_APPLIED): annotation}}});
    w.apply("kubectl-last-applied", annotation_only, false).unwrap();
    let migrated = json!({"metadata": {"managedFields": [
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {
            "f:data": {".": {}, "f:color": {}, "f:size": {}},
            "f:metadata": {"f:annotations": {".": {}, (format!("f:{LAST_APPLIED}")): {}}},
        }},
        {"manager": "kubectl-last-applied", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {
            "f:metadata": {"f:annotations": {(format!("f:{LAST_APPLIED}")): {}}},
        }},
    ]}});
    w.managed = ManagedFields::from_object(&migrated).unwrap();
    w.apply(KUBECTL, config, false).unwrap();
    assert_eq!(w.obj()["data"], json!({"color": "blue", "size": "small"}));
    assert!(w.obj()["metadata"]["annotations"][LAST_APPLIED].is_string(), "{}", w.obj());
    assert_eq!(
        w.owners(),
        owners(&[
            ("kubectl (Apply)", json!({"f:data": {"f:color": {}, "f:size": {}}})),
            (
                "kubectl-last-applied (Apply)",
                json!({"f:metadata": {"f:annotations": {(format!("f:{LAST_APPLIED}")): {}}}})
            ),
        ])
    );
}
