//! OpenAPI 3.0 documents, one per group-version (`/openapi/v3/apis/apps/v1`), in the shape
//! client-go's `openapi3` package and kubectl's `explain` templates read.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use skiff_api::registry;

use super::definitions::{self, closure, definitions, INT_OR_STRING, QUANTITY, REF_PREFIX};
use super::operations::{self, Operation, PathItem, Payload};
use super::params::{In, Param};
use crate::handlers::discovery::GIT_VERSION;

pub(super) const SCHEMAS_PREFIX: &str = "#/components/schemas/";

/// The key of every document `/openapi/v3` lists (`api/v1`, `apis/apps/v1`, `apis/apps`,
/// `api`, `apis`, `version`).
pub(super) fn keys() -> Vec<String> {
    let mut keys = vec!["api".to_string(), "apis".to_string(), "version".to_string()];
    for (group, versions) in registry::groups() {
        if !group.is_empty() {
            keys.push(format!("apis/{group}"));
        }
        for version in versions {
            keys.push(operations::prefix(group, version).trim_start_matches('/').to_string());
        }
    }
    keys
}

/// The document of one key of [`keys`]; `None` for anything else.
pub(super) fn document(key: &str) -> Option<Value> {
    let segments: Vec<&str> = key.split('/').collect();
    let (items, tag) = match segments.as_slice() {
        ["api"] => {
            let item = operations::discovery(
                "/api/",
                "getCoreAPIVersions".into(),
                "get available API versions",
                definitions::meta_definition("APIVersions"),
            );
            (vec![item], "core".to_string())
        }
        ["apis"] => {
            let item = operations::discovery(
                "/apis/",
                "getAPIVersions".into(),
                "get available API versions",
                definitions::meta_definition("APIGroupList"),
            );
            (vec![item], "apis".to_string())
        }
        ["version"] => {
            let definition = "io.k8s.apimachinery.pkg.version.Info".to_string();
            let item = operations::discovery(
                "/version/",
                "getCodeVersion".into(),
                "get the version information for this server",
                definition,
            );
            (vec![item], "version".to_string())
        }
        ["api", version] => served("", version)?,
        ["apis", group] => {
            registry::groups().iter().find(|(g, _)| g == group)?;
            (operations::group_paths(group), operations::tag(group, "").trim_end_matches('_').to_string())
        }
        ["apis", group, version] if !group.is_empty() => served(group, version)?,
        _ => return None,
    };
    Some(render(&items, &tag))
}

fn served(group: &str, version: &str) -> Option<(Vec<PathItem>, String)> {
    registry::resources_of(group, version).next()?;
    Some((operations::paths(group, version), operations::tag(group, version)))
}

fn render(items: &[PathItem], tag: &str) -> Value {
    let mut roots = BTreeSet::new();
    let mut paths = Map::new();
    for item in items {
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
    let schemas: Map<String, Value> = closure(defs, roots.iter().map(String::as_str))
        .into_iter()
        .map(|name| {
            let schema = schema(&name, &defs[&name]);
            (name, schema)
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"},
            },
        },
        "security": [{"BearerToken": []}],
    })
}

fn parameter(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "description": p.description,
        "schema": {"type": p.kind, "uniqueItems": true},
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
    });
    if !op.params.is_empty() {
        out["parameters"] = op.params.iter().map(parameter).collect();
    }
    if let Some((definition, media_types)) = &op.body {
        roots.insert(definition.clone());
        let content: Map<String, Value> =
            media_types.iter().map(|t| (t.to_string(), json!({"schema": reference(definition)}))).collect();
        out["requestBody"] = json!({"content": content, "required": true});
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
        let content: Map<String, Value> =
            op.produces.iter().map(|t| (t.to_string(), json!({"schema": schema.clone()}))).collect();
        responses.insert(code.to_string(), json!({"description": describe(*code), "content": content}));
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

pub(super) fn describe(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "",
    }
}

fn reference(definition: &str) -> Value {
    json!({ "$ref": format!("{SCHEMAS_PREFIX}{definition}") })
}

/// One definition as OpenAPI 3.0 publishes it: references under `#/components/schemas/`,
/// a reference with siblings wrapped in `allOf` (3.0 ignores a `$ref`'s siblings; upstream
/// wraps, and kubectl's patch metadata lookup and `explain` follow `allOf[0]`), and the
/// `oneOf` shapes upstream gives `IntOrString` and `Quantity`.
pub(super) fn schema(name: &str, neutral: &Value) -> Value {
    let description = neutral.get("description").cloned().unwrap_or(Value::Null);
    match name {
        INT_OR_STRING => json!({
            "description": description,
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
        }),
        QUANTITY => json!({
            "description": description,
            "oneOf": [{"type": "string"}, {"type": "number"}],
        }),
        _ => convert(neutral),
    }
}

fn convert(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "$ref" => match value.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                Some(name) => json!(format!("{SCHEMAS_PREFIX}{name}")),
                None => value.clone(),
            },
            "properties" => match value {
                Value::Object(props) => props.iter().map(|(k, v)| (k.clone(), convert(v))).collect(),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => convert(value),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(list) => list.iter().map(convert).collect(),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if out.len() > 1 {
        if let Some(reference) = out.remove("$ref") {
            out.insert("allOf".into(), json!([{ "$ref": reference }]));
        }
    }
    Value::Object(out)
}
