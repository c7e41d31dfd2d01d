//! The schema definitions behind both OpenAPI documents, built once from k8s-openapi's
//! schemars schemas (never from upstream's published spec files), under upstream's
//! definition names (`io.k8s.api.core.v1.Pod`).
//!
//! On top of what k8s-openapi gives, this adds what upstream publishes and clients read:
//! - `x-kubernetes-patch-strategy` / `-patch-merge-key` / `-list-type` / `-list-map-keys`
//!   on fields, from `skiff_api::patch` (kubectl computes strategic merge patches from them);
//! - `x-kubernetes-group-version-kind` on every served kind (kubectl finds a kind's schema
//!   by it, for `explain` and `apply`);
//! - the `{Kind}List` types, which k8s-openapi models generically and so has no schema for.
//!
//! The definitions are kept in one neutral form, Swagger 2.0's: references are
//! `#/definitions/{name}` and a `$ref` may have a sibling `description`. `v2` serves them
//! as they are; `v3` rewrites them (see `v3::schema`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars;
use serde_json::{json, Value};
use skiff_api::patch;
use skiff_api::registry::{self, Resource, RESOURCES};

/// How references to definitions start in the neutral form.
pub(super) const REF_PREFIX: &str = "#/definitions/";
pub(super) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(super) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

pub(super) type Definitions = BTreeMap<String, Value>;

/// Every definition, by name. Built on first use (it takes a moment: a few hundred types).
pub(super) fn definitions() -> &'static Definitions {
    static DEFINITIONS: OnceLock<Definitions> = OnceLock::new();
    DEFINITIONS.get_or_init(build)
}

/// The definition name of a type served as `group/version` `kind`, if there is a schema
/// for it (the connect options kinds such as `PodExecOptions` have none).
pub(super) fn definition_of(group: &str, version: &str, kind: &str) -> Option<String> {
    patch::root_type(group, version, kind).map(str::to_string)
}

/// The definition name of a resource's list type.
pub(super) fn list_definition_of(res: &Resource) -> Option<String> {
    definition_of(res.group, res.version, res.kind).map(|root| format!("{root}List"))
}

pub(super) fn meta_definition(name: &str) -> String {
    format!("{META}.{name}")
}

/// `{"$ref": "#/definitions/{name}"}`.
pub(super) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

/// The names of `roots` and of every definition they reach through references.
pub(super) fn closure<'a>(defs: &Definitions, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<String> = roots.into_iter().map(str::to_string).collect();
    while let Some(name) = pending.pop() {
        let Some(schema) = defs.get(&name) else { continue };
        if seen.insert(name) {
            references(schema, &mut |r| pending.push(r.to_string()));
        }
    }
    seen
}

/// Calls `found` with the definition name of every reference inside `value`.
pub(super) fn references(value: &Value, found: &mut impl FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.rsplit('/').next() {
                            found(name);
                        }
                    }
                    _ => references(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

fn build() -> Definitions {
    let to_value = |schema: &schemars::schema::Schema| serde_json::to_value(schema).unwrap_or(Value::Null);
    let mut defs: Definitions = patch::schema_definitions().iter().map(|(n, s)| (n.clone(), to_value(s))).collect();
    // Types of request and response bodies around the objects that no root type reaches.
    let mut generator = schemars::gen::SchemaGenerator::default();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::WatchEvent<Value>>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::APIGroup>();
    generator.subschema_for::<meta::APIGroupList>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<meta::APIVersions>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::version::Info>();
    for (name, schema) in generator.take_definitions() {
        defs.entry(name).or_insert_with(|| to_value(&schema));
    }
    for (name, schema) in defs.iter_mut() {
        add_field_extensions(name, schema);
        metadata_is_optional(schema);
    }
    for res in RESOURCES.iter().filter(|r| r.has_verb("list")) {
        if let (Some(root), Some(list)) = (definition_of(res.group, res.version, res.kind), list_definition_of(res)) {
            defs.entry(list).or_insert_with(|| list_schema(res.kind, &root));
        }
    }
    for (name, gvks) in served_kinds() {
        if let Some(Value::Object(schema)) = defs.get_mut(&name) {
            schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
        }
    }
    defs
}

/// Copies upstream's patch and list markers of each field onto the field's schema.
fn add_field_extensions(type_name: &str, schema: &mut Value) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else { return };
    for (field, property) in properties.iter_mut() {
        let (Some(meta), Value::Object(property)) = (patch::patch_meta(type_name, field), property) else { continue };
        if let Some(strategy) = meta.strategy {
            property.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        }
        if let Some(key) = meta.merge_key {
            property.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        if let Some(list_type) = meta.list_type {
            property.insert("x-kubernetes-list-type".into(), json!(list_type));
        }
        if !meta.list_map_keys.is_empty() {
            property.insert("x-kubernetes-list-map-keys".into(), json!(meta.list_map_keys));
        }
    }
}

/// k8s-openapi lists `metadata` as required wherever its Rust field is not an `Option`;
/// upstream requires it nowhere (clients may create objects with `generateName` alone,
/// and `explain` would print `-required-`).
fn metadata_is_optional(schema: &mut Value) {
    let Value::Object(schema) = schema else { return };
    let Some(Value::Array(required)) = schema.get_mut("required") else { return };
    required.retain(|field| field != "metadata");
    if required.is_empty() {
        schema.remove("required");
    }
}

/// `{Kind}List`, shaped as upstream publishes every list type.
fn list_schema(kind: &str, item: &str) -> Value {
    let described = |name: &str, description: String| {
        let mut r = reference(name);
        r["description"] = json!(description);
        r
    };
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("Items is the list of {kind} objects."),
                "type": "array",
                "items": reference(item),
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": described(&meta_definition("ListMeta"), "Standard list metadata.".into()),
        },
    })
}

type Gvk = (String, String, String);

/// Every definition served as a kind, with the (group, kind, version)s it is served as.
fn served_kinds() -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, BTreeSet<Gvk>> = BTreeMap::new();
    let mut add = |name: Option<String>, group: &str, version: &str, kind: &str| {
        if let Some(name) = name {
            out.entry(name).or_default().insert((group.into(), kind.into(), version.into()));
        }
    };
    for res in RESOURCES {
        add(definition_of(res.group, res.version, res.kind), res.group, res.version, res.kind);
        if res.has_verb("list") {
            add(list_definition_of(res), res.group, res.version, &res.list_kind());
        }
        for sub in res.subresources.iter().filter(|s| !s.group.is_empty()) {
            add(definition_of(sub.group, sub.version, sub.kind), sub.group, sub.version, sub.kind);
        }
    }
    add(Some(meta_definition("Status")), "", "v1", "Status");
    // Upstream registers these two in every group-version.
    for (group, versions) in registry::groups() {
        for version in versions {
            add(Some(meta_definition("DeleteOptions")), group, version, "DeleteOptions");
            add(Some(meta_definition("WatchEvent")), group, version, "WatchEvent");
        }
    }
    out.into_iter()
        .map(|(name, gvks)| {
            let gvks = gvks.into_iter().map(|(g, k, v)| json!({"group": g, "kind": k, "version": v})).collect();
            (name, gvks)
        })
        .collect()
}
