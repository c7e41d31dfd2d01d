//! The Swagger 2.0 document (`/openapi/v2`): every group-version in one, for older
//! clients and tools. kubectl 1.27+ reads v3 whenever `/openapi/v3` exists.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use skiff_api::registry;

use super::definitions::{closure, definitions, meta_definition, reference, INT_OR_STRING};
use super::operations::{self, Operation, PathItem, Payload};
use super::params::{In, Param};
use super::v3::describe;
use crate::handlers::discovery::GIT_VERSION;

pub(super) fn document() -> Value {
    let mut tagged: Vec<(PathItem, String)> = vec![
        (
            operations::discovery(
                "/api/",
                "getCoreAPIVersions".into(),
                "get available API versions",
                meta_definition("APIVersions"),
            ),
            "core".into(),
        ),
        (
            operations::discovery(
                "/apis/",
                "getAPIVersions".into(),
                "get available API versions",
                meta_definition("APIGroupList"),
            ),
            "apis".into(),
        ),
    ];
    for (group, versions) in registry::groups() {
        if !group.is_empty() {
            let tag = operations::tag(group, "").trim_end_matches('_').to_string();
            tagged.extend(operations::group_paths(group).into_iter().map(|p| (p, tag.clone())));
        }
        for version in versions {
            let tag = operations::tag(group, version);
            tagged.extend(operations::paths(group, version).into_iter().map(|p| (p, tag.clone())));
        }
    }
    let mut roots = BTreeSet::new();
    let mut paths = Map::new();
    for (item, tag) in &tagged {
        let mut path = Map::new();
        if !item.params.is_empty() {
            path.insert("parameters".into(), item.params.iter().map(parameter).collect());
        }
        for op in &item.operations {
            path.insert(op.method.key().into(), operation(op, tag, &mut roots));
        }
        paths.insert(item.path.clone(), Value::Object(path));
    }
    let defs = definitions();
    let definitions: Map<String, Value> = closure(defs, roots.iter().map(String::as_str))
        .into_iter()
        .map(|name| {
            let schema = schema(&name, &defs[&name]);
            (name, schema)
        })
        .collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"},
        },
        "security": [{"BearerToken": []}],
    })
}

fn parameter(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "description": p.description,
        "type": p.kind,
        "uniqueItems": true,
    });
    if p.location == In::Path {
        v["required"] = json!(true);
    }
    v
}

fn operation(op: &Operation, tag: &str, roots: &mut BTreeSet<String>) -> Value {
    let mut out = json!({
        "description": op.description,
        "operationId": op.id,
        "tags": [tag],
        "produces": op.produces,
        "schemes": ["https"],
    });
    let mut parameters: Vec<Value> = Vec::new();
    if let Some((definition, media_types)) = &op.body {
        roots.insert(definition.clone());
        out["consumes"] = json!(media_types);
        parameters.push(json!({"name": "body", "in": "body", "required": true, "schema": reference(definition)}));
    }
    parameters.extend(op.params.iter().map(parameter));
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    let schema = match &op.response {
        Payload::Schema(definition) => {
            roots.insert(definition.clone());
            reference(definition)
        }
        Payload::Text => json!({"type": "string"}),
    };
    let mut responses = Map::new();
    for code in op.codes {
        responses.insert(code.to_string(), json!({"description": describe(*code), "schema": schema}));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    out["responses"] = Value::Object(responses);
    if !op.action.is_empty() {
        out["x-kubernetes-action"] = json!(op.action);
    }
    if let Some(gvk) = &op.gvk {
        out["x-kubernetes-group-version-kind"] = json!({"group": gvk.group, "kind": gvk.kind, "version": gvk.version});
    }
    out
}

/// Swagger 2.0 has no `oneOf`: upstream publishes `IntOrString` as a string of format
/// `int-or-string` there (and `Quantity` as a plain string, as k8s-openapi has it).
fn schema(name: &str, neutral: &Value) -> Value {
    match name {
        INT_OR_STRING => json!({
            "description": neutral.get("description").cloned().unwrap_or(Value::Null),
            "type": "string",
            "format": "int-or-string",
        }),
        _ => neutral.clone(),
    }
}
