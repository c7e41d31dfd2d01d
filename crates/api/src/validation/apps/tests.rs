use super::*;

/// Sets each key of `patch` in `obj.spec` (null removes it), deeply for objects.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if v.is_object() && t.get(k).is_some_and(Value::is_object) {
                    merge(t.get_mut(k).unwrap(), v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// A workload of `kind` with `spec_patch` applied, defaulted as the server stores it.
fn object(kind: &str, spec_patch: Value) -> Value {
    let mut obj = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
    if kind == "StatefulSet" {
        obj["spec"]["serviceName"] = json!("web");
        obj["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
    }
    merge(obj.get_mut("spec").unwrap(), &spec_patch);
    crate::defaults::apply("apps", kind, &mut obj);
    obj
}

fn check(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut causes = Vec::new();
    workload(kind, obj, old, &mut causes);
    causes.iter().map(Cause::summary).collect()
}

fn case(kind: &str, patch: Value) -> Vec<String> {
    check(kind, &object(kind, patch), None)
}

#[test]
fn valid_workloads_pass() {
    for kind in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"] {
        let obj = object(kind, json!({}));
        assert_eq!(check(kind, &obj, None), Vec::<String>::new(), "{kind}");
        assert_eq!(check(kind, &obj, Some(&obj)), Vec::<String>::new(), "{kind}");
    }
    assert_eq!(
        case("Deployment", json!({"strategy": {"type": "Recreate"}, "minReadySeconds": 5})),
        Vec::<String>::new()
    );
    assert_eq!(
        case("StatefulSet", json!({"updateStrategy": {"type": "OnDelete"}, "ordinals": {"start": 3}})),
        Vec::<String>::new()
    );
    assert_eq!(
        case("DaemonSet", json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "10%"}}})),
        Vec::<String>::new()
    );
    // Upstream leaves a StatefulSet's pod spec to pod creation.
    assert_eq!(case("StatefulSet", json!({"template": {"spec": {"containers": []}}})), Vec::<String>::new());
}

#[test]
fn deployments() {
    let zero = "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0";
    let percent = format!("spec.strategy.rollingUpdate.maxSurge: Invalid value: x%: {PERCENT}");
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!({"strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}}), vec![zero.into()]),
        (
            json!({"strategy": {"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x%"}}}),
            vec![percent, "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater than 100%".into()],
        ),
        (
            json!({"strategy": {"rollingUpdate": {"maxUnavailable": -1}}}),
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0".into()],
        ),
        (
            json!({"strategy": {"type": "Canary"}}),
            vec![r#"spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"Canary", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate""#.into()],
        ),
        (
            json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}),
            vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'".into()],
        ),
        (
            json!({"revisionHistoryLimit": -1, "minReadySeconds": 10, "progressDeadlineSeconds": 10, "replicas": -2}),
            vec![
                "spec.replicas: Invalid value: -2: must be greater than or equal to 0".into(),
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0".into(),
                "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds".into(),
            ],
        ),
        (
            json!({"selector": null}),
            vec![
                "spec.selector: Required value".into(),
                r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#.into(),
            ],
        ),
        (
            json!({"selector": {"matchLabels": null}}),
            vec!["spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment".into()],
        ),
        (
            json!({"selector": {"matchLabels": {"app": "db"}}}),
            vec![r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#.into()],
        ),
        (
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "Has"}]}, "template": {"spec": {"containers": []}}}),
            vec![
                r#"spec.selector.matchExpressions[0].operator: Invalid value: "Has": not a valid selector operator"#.into(),
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:app,Operator:Has,Values:[],},},}: invalid label selector".into(),
            ],
        ),
        (
            json!({"template": {"spec": {"restartPolicy": "OnFailure", "activeDeadlineSeconds": 30}}}),
            vec![
                r#"spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always""#.into(),
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported".into(),
            ],
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(case("Deployment", patch.clone()), want, "{patch}");
    }
    let old = object("Deployment", json!({}));
    let moved = object(
        "Deployment",
        json!({"selector": {"matchLabels": {"tier": "web"}}, "template": {"metadata": {"labels": {"tier": "web"}}}}),
    );
    assert_eq!(
        check("Deployment", &moved, Some(&old)),
        ["spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web,tier: web,},MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable"]
    );
}

#[test]
fn replica_sets() {
    assert_eq!(
        case("ReplicaSet", json!({"selector": {"matchLabels": null}, "minReadySeconds": -1})),
        [
            "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment",
        ]
    );
}

#[test]
fn stateful_sets() {
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            json!({"podManagementPolicy": "Random", "updateStrategy": {"rollingUpdate": {"partition": -1}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep"}, "ordinals": {"start": -1}}),
            vec![
                r#"spec.podManagementPolicy: Invalid value: "Random": must be 'OrderedReady' or 'Parallel'"#.into(),
                "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0".into(),
                r#"spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": supported values: "Retain", "Delete""#.into(),
                "spec.ordinals.start: Invalid value: -1: must be greater than or equal to 0".into(),
            ],
        ),
        (
            json!({"updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 2}}}),
            vec!["spec.updateStrategy.rollingUpdate: Invalid value: apps.RollingUpdateStatefulSetStrategy{Partition:2, MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy 'RollingUpdate'".into()],
        ),
        (
            json!({"updateStrategy": {"type": "BlueGreen"}}),
            vec![r#"spec.updateStrategy: Invalid value: apps.StatefulSetUpdateStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}: must be 'RollingUpdate' or 'OnDelete'"#.into()],
        ),
        (
            json!({"selector": {"matchLabels": null}, "template": {"spec": {"restartPolicy": "Never"}}}),
            vec![
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for statefulset".into(),
                r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#.into(),
            ],
        ),
        (
            json!({"selector": {"matchLabels": {"bad key": "x"}}}),
            vec![
                r#"spec.selector.matchLabels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#.into(),
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web,bad key: x,},MatchExpressions:[]LabelSelectorRequirement{},}".into(),
            ],
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(case("StatefulSet", patch.clone()), want, "{patch}");
    }
    let old = object("StatefulSet", json!({}));
    let scaled = object(
        "StatefulSet",
        json!({"replicas": 5, "minReadySeconds": 3, "updateStrategy": {"rollingUpdate": {"partition": 2}},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}, "ordinals": {"start": 1},
        "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}}),
    );
    assert_eq!(check("StatefulSet", &scaled, Some(&old)), Vec::<String>::new());
    let renamed = object("StatefulSet", json!({"serviceName": "other", "revisionHistoryLimit": 3}));
    assert_eq!(
        check("StatefulSet", &renamed, Some(&old)),
        ["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]
    );
}

#[test]
fn daemon_sets() {
    let at = "spec.updateStrategy.rollingUpdate";
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}}),
            vec![format!("{at}.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero")],
        ),
        (
            json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": "0%", "maxSurge": "200%"}}}),
            vec![format!("{at}.maxSurge: Invalid value: 200%: must not be greater than 100%")],
        ),
        (
            json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}),
            vec![format!("{at}.maxUnavailable: Required value: cannot be 0 when maxSurge is 0")],
        ),
        (
            json!({"updateStrategy": {"type": "Surge"}}),
            vec![r#"spec.updateStrategy: Unsupported value: apps.DaemonSetUpdateStrategy{Type:"Surge", RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: "RollingUpdate", "OnDelete""#.into()],
        ),
        (
            json!({"selector": null, "template": {"spec": {"activeDeadlineSeconds": 1}}}),
            vec![
                r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#.into(),
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported".into(),
            ],
        ),
        (
            json!({"selector": {"matchLabels": null}, "revisionHistoryLimit": -1}),
            vec![
                "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for daemonset".into(),
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0".into(),
            ],
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(case("DaemonSet", patch.clone()), want, "{patch}");
    }
}

#[test]
fn replication_controllers() {
    let rc = |spec: Value| {
        let mut obj = json!({"metadata": {"name": "rc"}, "spec": spec});
        crate::defaults::apply("", "ReplicationController", &mut obj);
        let mut causes = Vec::new();
        replication_controller(&obj, &mut causes);
        causes.iter().map(Cause::summary).collect::<Vec<_>>()
    };
    let template =
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    assert_eq!(rc(json!({"template": template})), Vec::<String>::new());
    assert_eq!(rc(json!({"selector": {}})), ["spec.selector: Required value", "spec.template: Required value"]);
    let mut odd = template.clone();
    odd["spec"]["restartPolicy"] = json!("Never");
    odd["metadata"]["labels"] = json!({"app": "web", "bad": "a b"});
    assert_eq!(
        rc(json!({"selector": {"app": "db"}, "template": odd, "minReadySeconds": -1})),
        [
            "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0".to_string(),
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web", "bad":"a b"}: `selector` does not match template `labels`"#.into(),
            r#"spec.template.labels: Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#.into(),
            r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#.into(),
        ]
    );
}

#[test]
fn controller_revisions() {
    let check = |obj: &Value, old: Option<&Value>| {
        let mut causes = Vec::new();
        controller_revision(obj, old, &mut causes);
        causes.iter().map(Cause::summary).collect::<Vec<_>>()
    };
    // As skiff's controllers write them: the template as a patch, numbered from 1.
    let revision = json!({"metadata": {"name": "web-5d4c8b7f9"}, "revision": 1,
        "data": {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": "web"}}}}}});
    assert_eq!(check(&revision, None), Vec::<String>::new());
    let mut renumbered = revision.clone();
    renumbered["revision"] = json!(4);
    assert_eq!(check(&renumbered, Some(&revision)), Vec::<String>::new());
    assert_eq!(
        check(&json!({"revision": -1, "data": null}), None),
        ["data: Required value: data is mandatory", "revision: Invalid value: -1: must be greater than or equal to 0"]
    );
    let mut changed = revision.clone();
    changed["data"] = json!({"a": 1});
    assert_eq!(
        check(&changed, Some(&revision)),
        ["data: Invalid value: &Unknown{TypeMeta:TypeMeta{APIVersion:,Kind:,},Raw:*[123 34 97 34 58 49 125],ContentEncoding:,ContentType:application/json,}: field is immutable"]
    );
}
