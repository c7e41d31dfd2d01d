use std::collections::BTreeSet;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use skiff_api::registry::{self, RESOURCES};

use super::*;
use crate::request::FieldValidation;

fn v3(key: &str) -> Value {
    serde_json::from_slice(&v3_documents()[key].bytes).unwrap()
}

fn schemas(doc: &Value) -> &serde_json::Map<String, Value> {
    doc["components"]["schemas"].as_object().unwrap()
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// Follows `allOf[0]` and `$ref` the way client-go's `PatchMetaFromOpenAPIV3` does.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    if let Some(first) = schema.get("allOf").and_then(|a| a.get(0)) {
        schema = first;
    }
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &schemas(doc)[r.strip_prefix("#/components/schemas/").unwrap()],
        None => schema,
    }
}

#[test]
fn index_lists_every_group_version() {
    let index: Value = serde_json::from_slice(&v3_index().bytes).unwrap();
    let paths = index["paths"].as_object().unwrap();
    for (group, versions) in registry::groups() {
        for version in versions {
            let key = if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
            let url = paths[&key]["serverRelativeURL"].as_str().unwrap();
            assert_eq!(url, format!("/openapi/v3/{key}?hash={}", v3_documents()[&key].hash));
        }
    }
    for key in ["api", "apis", "version", "apis/apps"] {
        assert!(paths.contains_key(key), "{key}");
    }
}

#[test]
fn apps_v1_document_has_what_kubectl_reads() {
    let doc = v3("apis/apps/v1");
    assert_eq!(doc["openapi"], "3.0.0");
    let deployment = &schemas(&doc)["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(deployment["x-kubernetes-group-version-kind"], json!([gvk("apps", "v1", "Deployment")]));
    assert!(deployment.get("required").is_none(), "upstream does not require metadata");
    let containers = &schemas(&doc)["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let strategy = &schemas(&doc)["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");

    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(patch["x-kubernetes-group-version-kind"], gvk("apps", "v1", "Deployment"));
    let params: Vec<&str> =
        patch["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(params.contains(&"fieldValidation") && params.contains(&"dryRun") && params.contains(&"fieldManager"));
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(scale["x-kubernetes-group-version-kind"], gvk("autoscaling", "v1", "Scale"));
    let list = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"];
    assert_eq!(list["operationId"], "listAppsV1NamespacedDeployment");
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentList"
    );
    assert_eq!(
        schemas(&doc)["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"],
        json!([gvk("apps", "v1", "DeploymentList")])
    );
}

#[test]
fn core_v1_operations_are_named_as_upstream() {
    let doc = v3("api/v1");
    let ids: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op.get("operationId").and_then(Value::as_str).map(String::from))
        .collect();
    for id in [
        "readCoreV1NamespacedPod",
        "listCoreV1PodForAllNamespaces",
        "deleteCoreV1CollectionNamespacedPod",
        "patchCoreV1NamespacedPodStatus",
        "readCoreV1NamespacedPodLog",
        "createCoreV1NamespacedPodEviction",
        "connectCoreV1GetNamespacedPodExec",
        "connectCoreV1PostNamespacedPodPortforward",
        "connectCoreV1GetNamespacedServiceProxyWithPath",
        "createCoreV1NamespacedServiceAccountToken",
        "replaceCoreV1NamespaceFinalize",
        "watchCoreV1NamespacedPodList",
        "watchCoreV1PodListForAllNamespaces",
        "getCoreV1APIResources",
        "readCoreV1Node",
    ] {
        assert!(ids.contains(id), "{id}");
    }
    let rbac = v3("apis/rbac.authorization.k8s.io/v1");
    assert_eq!(
        rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["get"]["operationId"],
        "readRbacAuthorizationV1ClusterRole"
    );
}

#[test]
fn every_served_kind_has_a_schema_with_its_gvk_and_a_patch_operation_with_field_validation() {
    for res in RESOURCES {
        let key = if res.group.is_empty() {
            format!("api/{}", res.version)
        } else {
            format!("apis/{}/{}", res.group, res.version)
        };
        let doc = v3(&key);
        let want = gvk(res.group, res.version, res.kind);
        let found = schemas(&doc).values().any(|s| {
            s.get("x-kubernetes-group-version-kind").and_then(Value::as_array).is_some_and(|l| l.contains(&want))
        });
        assert!(found, "no schema for {want}");
        if res.has_verb("patch") {
            // What kubectl's query parameter verifier looks for.
            let supports = doc["paths"].as_object().unwrap().values().any(|item| {
                let Some(op) = item.get("patch") else { return false };
                op["x-kubernetes-group-version-kind"] == want
                    && op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
            });
            assert!(supports, "no PATCH operation with fieldValidation for {want}");
        }
    }
}

/// Every `$ref` of every document names a schema of that document, and none has siblings
/// (OpenAPI 3.0 ignores them; upstream wraps such references in `allOf`).
#[test]
fn references_resolve_within_each_document() {
    fn check(value: &Value, prefix: &str, names: &serde_json::Map<String, Value>, key: &str) {
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    let name = r.strip_prefix(prefix).unwrap_or_else(|| panic!("{key}: {r}"));
                    assert!(names.contains_key(name), "{key}: unresolved {r}");
                    assert_eq!(map.len(), 1, "{key}: $ref with siblings: {value}");
                }
                map.values().for_each(|v| check(v, prefix, names, key));
            }
            Value::Array(items) => items.iter().for_each(|v| check(v, prefix, names, key)),
            _ => {}
        }
    }
    for key in v3_documents().keys() {
        let doc = v3(key);
        check(&doc, "#/components/schemas/", schemas(&doc), key);
    }
    let v2: Value = serde_json::from_slice(&v2_document().bytes).unwrap();
    let definitions = v2["definitions"].as_object().unwrap();
    fn check_v2(value: &Value, names: &serde_json::Map<String, Value>) {
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    assert!(names.contains_key(r.strip_prefix("#/definitions/").unwrap()), "v2: unresolved {r}");
                }
                map.values().for_each(|v| check_v2(v, names));
            }
            Value::Array(items) => items.iter().for_each(|v| check_v2(v, names)),
            _ => {}
        }
    }
    check_v2(&v2, definitions);
}

/// Walks the document as client-go's `PatchMetaFromOpenAPIV3` and kubectl's `explain`
/// templates do: find the kind's schema by its GVK, then follow fields through `allOf`,
/// `$ref` and `items`.
#[test]
fn document_shape_is_what_kubectl_walks() {
    let doc = v3("apis/apps/v1");
    let want = gvk("apps", "v1", "Deployment");
    let (_, deployment) = schemas(&doc)
        .iter()
        .find(|(_, s)| s["x-kubernetes-group-version-kind"].as_array().is_some_and(|l| l.contains(&want)))
        .unwrap();
    let spec_field = &deployment["properties"]["spec"];
    assert!(spec_field["description"].is_string(), "a field keeps its own description");
    let spec = resolve(&doc, spec_field);
    let template = resolve(&doc, &resolve(&doc, &spec["properties"]["template"])["properties"]["spec"]);
    let containers = &template["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    let container = resolve(&doc, &containers["items"]);
    assert!(container["properties"]["image"].is_object());
    let strategy = resolve(&doc, &spec["properties"]["strategy"]);
    assert!(strategy["properties"]["rollingUpdate"].is_object());
    assert_eq!(strategy["properties"]["type"]["type"], "string");

    let int_or_string = &schemas(&doc)["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["format"], "int-or-string");
    assert_eq!(int_or_string["oneOf"], json!([{"type": "integer"}, {"type": "string"}]));
    assert!(int_or_string.get("type").is_none());
    let quantity = &schemas(&doc)["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert_eq!(quantity["oneOf"], json!([{"type": "string"}, {"type": "number"}]));
    let time = &schemas(&doc)["io.k8s.apimachinery.pkg.apis.meta.v1.Time"];
    assert_eq!((&time["type"], &time["format"]), (&json!("string"), &json!("date-time")));
    // `explain` looks the GVK up on the operations of these paths.
    for method in ["get", "post"] {
        assert_eq!(
            doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"][method]["x-kubernetes-group-version-kind"],
            want
        );
    }
}

#[test]
fn v2_document_is_swagger_with_the_same_extensions() {
    let doc: Value = serde_json::from_slice(&v2_document().bytes).unwrap();
    assert_eq!(doc["swagger"], "2.0");
    let definitions = &doc["definitions"];
    assert_eq!(definitions["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"], json!([gvk("", "v1", "Pod")]));
    assert_eq!(definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"], "string");
    assert_eq!(definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"], "int-or-string");
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"], gvk("", "v1", "Pod"));
    assert!(patch["consumes"].as_array().unwrap().contains(&json!("application/strategic-merge-patch+json")));
    assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    assert!(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"].is_object());
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    h
}

#[test]
fn documents_are_served_with_etags_and_cache_headers() {
    let hash = v3_documents()["apis/apps/v1"].hash.clone();
    let segments = ["v3", "apis", "apps", "v1"];
    let resp = serve(&segments, Some(&hash), &HeaderMap::new()).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
    assert_eq!(resp.headers()[header::ETAG], format!("\"{hash}\""));

    let plain = serve(&segments, None, &HeaderMap::new()).unwrap();
    assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-cache, private");

    let cached = serve(&segments, None, &headers(&[(header::IF_NONE_MATCH, &format!("\"{hash}\""))])).unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    let stale = serve(&segments, Some("0BAD"), &HeaderMap::new()).unwrap();
    assert_eq!(stale.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(stale.headers()[header::LOCATION], format!("/openapi/v3/apis/apps/v1?hash={hash}"));

    let kubectl_json = headers(&[(header::ACCEPT, "application/json")]);
    assert_eq!(serve(&["v3"], None, &kubectl_json).unwrap().status(), StatusCode::OK);
    assert_eq!(serve(&["v2"], None, &kubectl_json).unwrap().status(), StatusCode::OK);
    let protobuf = headers(&[(header::ACCEPT, V2_PROTOBUF)]);
    let v2 = serve(&["v2"], None, &protobuf).unwrap();
    assert_eq!(v2.headers()[header::CONTENT_TYPE], V2_PROTOBUF_DOTTED);
    let v3_protobuf = headers(&[(header::ACCEPT, "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")]);
    assert_eq!(serve(&segments, None, &v3_protobuf).unwrap_err().code(), 406);
    assert_eq!(serve(&["v3", "apis", "nope", "v1"], None, &HeaderMap::new()).unwrap_err().code(), 404);
}

fn deployment(extra_spec: Value) -> Value {
    let mut obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "any-key": "x"}, "annotations": {"a/b": "c"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
                     "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                     "readinessProbe": {"httpGet": {"port": "http", "path": "/"}}},
                    {"name": "b", "image": "busybox", "bogus": true},
                ]},
            },
        },
        "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]},
    });
    obj["spec"].as_object_mut().unwrap().extend(extra_spec.as_object().unwrap().clone());
    obj
}

#[test]
fn unknown_fields_are_found_where_the_schema_has_no_such_field() {
    let obj = deployment(json!({"foo": 1}));
    assert_eq!(
        unknown_fields("apps", "v1", "Deployment", &obj),
        vec!["spec.foo".to_string(), "spec.template.spec.containers[1].bogus".to_string()]
    );
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "bogus": 1},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}], "selector": {"a": "b"}},
    });
    assert_eq!(unknown_fields("", "v1", "Service", &service), vec!["metadata.bogus".to_string()]);
    let revision = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
        "revision": 1, "data": {"anything": {"goes": [1, 2]}}});
    assert!(unknown_fields("apps", "v1", "ControllerRevision", &revision).is_empty(), "RawExtension is free-form");
    assert!(unknown_fields("example.com", "v1", "Widget", &json!({"spec": {"x": 1}})).is_empty());
    assert_eq!(unknown_fields("", "v1", "ConfigMap", &json!({"data": {"k": "v"}, "extra": null})), vec!["extra"]);
}

#[test]
fn field_validation_directives() {
    let mut obj = deployment(json!({"foo": 1}));
    let err = check_body(FieldValidation::Strict, "apps", "v1", "Deployment", &mut obj).unwrap_err();
    assert_eq!(err.code(), 400);
    assert_eq!(
        err.message(),
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: \
         unknown field \"spec.foo\", unknown field \"spec.template.spec.containers[1].bogus\""
    );

    let mut obj = deployment(json!({"foo": 1}));
    let warnings = check_body(FieldValidation::Warn, "apps", "v1", "Deployment", &mut obj).unwrap();
    assert_eq!(
        warnings,
        vec!["unknown field \"spec.foo\"", "unknown field \"spec.template.spec.containers[1].bogus\""]
    );
    assert!(obj["spec"].get("foo").is_none(), "unknown fields are dropped, as upstream's decoding does");
    assert!(obj["spec"]["template"]["spec"]["containers"][1].get("bogus").is_none());
    assert_eq!(obj["status"]["replicas"], 2);

    let mut obj = deployment(json!({"foo": 1}));
    assert!(check_body(FieldValidation::Ignore, "apps", "v1", "Deployment", &mut obj).unwrap().is_empty());
    assert!(obj["spec"].get("foo").is_none());

    let mut patched = deployment(json!({"foo": 1}));
    let err =
        check_patched(FieldValidation::Strict, "apps", "v1", "Deployment", &json!({"spec": {"foo": 1}}), &mut patched)
            .unwrap_err();
    assert_eq!(err.code(), 422);
    assert!(err.message().contains("strict decoding error: unknown field \"spec.foo\""), "{}", err.message());
}

#[test]
fn quantities_must_parse_whatever_the_field_validation() {
    let pod = |cpu: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}})
    };
    for directive in [FieldValidation::Ignore, FieldValidation::Warn, FieldValidation::Strict] {
        let err = check_body(directive, "", "v1", "Pod", &mut pod(json!("abc"))).unwrap_err();
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.message(),
            "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression \
             '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }
    let err = check_body(FieldValidation::Warn, "", "v1", "Pod", &mut pod(json!("1ki"))).unwrap_err();
    assert_eq!(err.message(), "Pod in version \"v1\" cannot be handled as a Pod: unable to parse quantity's suffix");
    let err = check_body(FieldValidation::Warn, "", "v1", "Pod", &mut pod(json!(true))).unwrap_err();
    assert_eq!(err.code(), 400);

    // `cpu: 2` in YAML arrives as a number and is stored as upstream stores it.
    let mut obj = pod(json!(2));
    check_body(FieldValidation::Strict, "", "v1", "Pod", &mut obj).unwrap();
    assert_eq!(obj["spec"]["containers"][0]["resources"]["requests"]["cpu"], "2");
    let mut obj = pod(json!(0.5));
    check_body(FieldValidation::Strict, "", "v1", "Pod", &mut obj).unwrap();
    assert_eq!(obj["spec"]["containers"][0]["resources"]["requests"]["cpu"], "0.5");
    // A negative quantity parses; validation rejects it later (422).
    check_body(FieldValidation::Strict, "", "v1", "Pod", &mut pod(json!("-1"))).unwrap();

    let mut patched = pod(json!("1.2.3"));
    let err = check_patched(FieldValidation::Ignore, "", "v1", "Pod", &json!({}), &mut patched).unwrap_err();
    assert_eq!(err.code(), 422);
    assert!(err.message().contains("patch: Invalid value: "), "{}", err.message());
    assert!(err.message().contains("quantities must match the regular expression"), "{}", err.message());
}

#[test]
fn values_of_the_wrong_json_type_cannot_be_decoded() {
    let cases = [
        (
            "",
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "x", "b": 1}}),
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
        ),
        (
            "apps",
            "Deployment",
            deployment(json!({"replicas": "three"})),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            "apps",
            "Deployment",
            {
                let mut d = deployment(json!({}));
                d["spec"]["template"]["metadata"]["labels"]["on"] = json!(true);
                d
            },
            "json: cannot unmarshal bool into Go struct field ObjectMeta.spec.template.metadata.labels of type string",
        ),
        (
            "apps",
            "Deployment",
            {
                let mut d = deployment(json!({}));
                d["spec"]["template"]["spec"]["containers"] = json!({"name": "a"});
                d
            },
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container",
        ),
        (
            "apps",
            "Deployment",
            deployment(json!({"replicas": 1.5})),
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            "apps",
            "Deployment",
            deployment(json!({"replicas": 3_000_000_000u64})),
            "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            "apps",
            "Deployment",
            deployment(json!({"template": "x"})),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.template of type v1.PodTemplateSpec",
        ),
        (
            "",
            "Service",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80, "targetPort": true}]}}),
            "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32",
        ),
    ];
    let secret = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data});
    let cases = cases.into_iter().chain([
        ("", "Secret", secret(json!({"k": "!!notbase64"})), "illegal base64 data at input byte 0"),
        ("", "Secret", secret(json!({"k": "YWJj", "l": "YWJjZA"})), "illegal base64 data at input byte 4"),
        (
            "",
            "Secret",
            secret(json!({"k": 5})),
            "json: cannot unmarshal number into Go struct field Secret.data of type []uint8",
        ),
    ]);
    for (group, kind, mut obj, want) in cases {
        let err = check_body(FieldValidation::Ignore, group, "v1", kind, &mut obj).unwrap_err();
        assert_eq!(err.code(), 400, "{want}");
        assert_eq!(err.message(), format!("{kind} in version \"v1\" cannot be handled as a {kind}: {want}"));
    }
}

#[test]
fn values_of_the_right_type_decode_whatever_their_shape() {
    // nulls, int-or-strings both ways, 64-bit integers, free-form content, times and
    // managedFields, and a CRD schema with booleans where a schema may also be.
    let mut obj = deployment(json!({"replicas": null, "progressDeadlineSeconds": 600,
        "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}}));
    obj["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    obj["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
    obj["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(9_000_000_000i64);
    obj["spec"]["template"]["spec"]["containers"][0]["bogus"] = Value::Null;
    obj["spec"]["template"]["spec"]["containers"][1].as_object_mut().unwrap().remove("bogus");
    check_body(FieldValidation::Strict, "apps", "v1", "Deployment", &mut obj).unwrap_err(); // only the unknown field
    obj["spec"]["template"]["spec"]["containers"][0].as_object_mut().unwrap().remove("bogus");
    obj["spec"].as_object_mut().unwrap().remove("foo");
    check_body(FieldValidation::Strict, "apps", "v1", "Deployment", &mut obj).unwrap();

    let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "additionalProperties": false, "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "spec": {"type": "object", "additionalProperties": {"type": "string"},
                        "properties": {"size": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                            "mode": {"type": "string", "enum": ["a", 1, true], "default": 3, "example": {"x": [1]}},
                            "tags": {"type": "array", "items": [{"type": "string"}]}}}}}}}]}});
    check_body(FieldValidation::Strict, "apiextensions.k8s.io", "v1", "CustomResourceDefinition", &mut crd).unwrap();

    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"a": "YWJj", "b": "", "c": "YWJjZA==", "d": "YWJj\nZGVm"}, "stringData": {"e": "plain text"}});
    check_body(FieldValidation::Strict, "", "v1", "Secret", &mut secret).unwrap();
}
