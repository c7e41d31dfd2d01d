//! What the strategic merge patch needs to know about the built-in types: each field's
//! patch strategy and merge key (from the generated table) and each field's type (from
//! k8s-openapi's schemars schemas), so the walker knows the type at every depth.
//!
//! Types are named by their OpenAPI definition name, `io.k8s.api.core.v1.PodSpec`, the
//! same names the OpenAPI document uses.

use std::sync::OnceLock;

// k8s-openapi's own re-export: the schemars its impls were built against, no extra crate.
use k8s_openapi::schemars;
use schemars::schema::{InstanceType, Schema, SchemaObject, SingleOrVec};

use super::strategies_generated::{add_root_schemas, FIELDS, ROOTS};

/// Upstream's patch and list markers for one field of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchMeta {
    /// `patchStrategy` verbatim: `merge`, `retainKeys`, `merge,retainKeys` or `replace`.
    /// This is what OpenAPI publishes as `x-kubernetes-patch-strategy`.
    pub strategy: Option<&'static str>,
    /// `patchMergeKey` (`x-kubernetes-patch-merge-key`): the key that identifies an item of
    /// a merged list of objects.
    pub merge_key: Option<&'static str>,
    /// `listType`: `atomic`, `set` or `map` (server-side apply's view of a list).
    pub list_type: Option<&'static str>,
    /// `listMapKey`s of a `listType=map` list, in declaration order.
    pub list_map_keys: &'static [&'static str],
}

impl PatchMeta {
    /// True when a strategic merge patch merges this list instead of replacing it.
    pub fn merges(&self) -> bool {
        self.strategies().any(|s| s == "merge")
    }

    /// True when a patch that sets this field clears the field's other keys (`retainKeys`).
    pub fn retains_keys(&self) -> bool {
        self.strategies().any(|s| s == "retainKeys")
    }

    /// True when a strategic merge patch replaces this map wholesale.
    pub fn replaces(&self) -> bool {
        self.strategies().any(|s| s == "replace")
    }

    fn strategies(&self) -> impl Iterator<Item = &'static str> {
        self.strategy.into_iter().flat_map(|s| s.split(','))
    }
}

/// The shape of a field's value, as k8s-openapi's schemas describe it.
#[derive(Debug, PartialEq, Eq)]
pub enum FieldType {
    /// An object with named fields, by OpenAPI definition name.
    Struct(String),
    /// A list whose items all have this type.
    List(Box<FieldType>),
    /// A `map[string]T`: free-form keys, values of one type.
    Map(Box<FieldType>),
    /// A string, number, boolean, or a type serialized as one (`Time`, `IntOrString`).
    Scalar(Scalar),
    /// A resource quantity (`500m`, `1Gi`): a scalar whose text the API server checks.
    Quantity,
    /// Free-form content without a schema (`RawExtension`, `JSON`).
    Unknown,
}

/// The JSON value a scalar field takes, as the Go type it decodes into requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// A string, or a type written as one (`Time`, `Duration`).
    String,
    /// `[]byte`: a base64 string.
    Bytes,
    Boolean,
    Int32,
    Int64,
    /// A float (`float64`), or an integer type whose width the schema does not say.
    Number,
    /// `IntOrString`: an `int32` or a string.
    IntOrString,
}

impl Scalar {
    /// The Go type's name, as upstream's decoding errors print it.
    pub fn go_type(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Bytes => "[]uint8",
            Scalar::Boolean => "bool",
            Scalar::Int32 | Scalar::IntOrString => "int32",
            Scalar::Int64 => "int64",
            Scalar::Number => "float64",
        }
    }
}

/// The patch metadata of `field` of `type_name`, if upstream declares any.
pub fn patch_meta(type_name: &str, field: &str) -> Option<&'static PatchMeta> {
    FIELDS.binary_search_by(|(t, f, _)| (*t, *f).cmp(&(type_name, field))).ok().map(|i| &FIELDS[i].2)
}

/// The `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` of a field, for the
/// OpenAPI document: `None` when the field has no patch strategy (lists are replaced).
pub fn patch_strategy(type_name: &str, field: &str) -> Option<(&'static str, Option<&'static str>)> {
    let meta = patch_meta(type_name, field)?;
    Some((meta.strategy?, meta.merge_key))
}

/// The OpenAPI definition name of the top-level type served as `group/version` `kind`
/// (`("apps", "v1", "Deployment")` → `io.k8s.api.apps.v1.Deployment`). `None` for kinds
/// k8s-openapi does not know, such as custom resources.
pub fn root_type(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    ROOTS.binary_search_by(|(g, v, k, _)| (*g, *v, *k).cmp(&(group, version, kind))).ok().map(|i| ROOTS[i].3)
}

/// The type of `field` of the struct `type_name`; `None` when either is unknown.
///
/// The schemas of every root type are built once, on first use.
pub fn field_type(type_name: &str, field: &str) -> Option<&'static FieldType> {
    struct_fields(type_name)?.get(field)
}

/// The fields of the struct `type_name` by name, for callers that look up several
/// fields of one struct; `None` when the type is unknown or has no fields.
pub fn struct_fields(type_name: &str) -> Option<&'static Fields> {
    schemas().get(type_name)
}

/// A struct's fields by name. foldhash: every create and update looks up each of
/// its body's fields here (unknown-field pruning), and SipHash showed in profiles.
pub type Fields = foldhash::HashMap<String, FieldType>;

/// k8s-openapi's schema of every root type and of every type they reference, keyed by
/// OpenAPI definition name, with references as `#/definitions/{name}`. Built once, on
/// first use; the OpenAPI documents are generated from these.
pub fn schema_definitions() -> &'static schemars::Map<String, Schema> {
    static DEFINITIONS: OnceLock<schemars::Map<String, Schema>> = OnceLock::new();
    DEFINITIONS.get_or_init(|| {
        let mut generator = schemars::gen::SchemaGenerator::default();
        add_root_schemas(&mut generator);
        generator.take_definitions()
    })
}

/// The OpenAPI definition name of `resource.Quantity`.
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

type Structs = foldhash::HashMap<String, Fields>;

fn schemas() -> &'static Structs {
    static SCHEMAS: OnceLock<Structs> = OnceLock::new();
    SCHEMAS.get_or_init(build_schemas)
}

fn build_schemas() -> Structs {
    let definitions = schema_definitions();
    let resolve = |schema: &Schema| shape(schema, definitions);
    definitions
        .iter()
        .filter_map(|(name, schema)| {
            let properties = &object(schema)?.object.as_ref()?.properties;
            if properties.is_empty() {
                return None;
            }
            Some((name.clone(), properties.iter().map(|(field, s)| (field.clone(), resolve(s))).collect()))
        })
        .collect()
}

fn object(schema: &Schema) -> Option<&SchemaObject> {
    match schema {
        Schema::Object(o) => Some(o),
        Schema::Bool(_) => None,
    }
}

/// Classifies one schema; `$ref`s are resolved one level (a reference to a struct stays a
/// name, so recursive types such as `JSONSchemaProps` are fine).
fn shape(schema: &Schema, definitions: &schemars::Map<String, Schema>) -> FieldType {
    let Some(o) = object(schema) else { return FieldType::Unknown };
    if let Some(reference) = &o.reference {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        if name == QUANTITY {
            return FieldType::Quantity;
        }
        return match definitions.get(name).and_then(object) {
            Some(def) if def.object.as_ref().is_some_and(|obj| !obj.properties.is_empty()) => {
                FieldType::Struct(name.to_string())
            }
            // A named non-struct (`Quantity`, `RawExtension`): classify its definition, which
            // is never itself a bare reference in k8s-openapi (guarded to rule out cycles).
            Some(def) if def.reference.is_none() => shape(&definitions[name], definitions),
            _ => FieldType::Unknown,
        };
    }
    if let Some(items) = o.array.as_ref().and_then(|a| a.items.as_ref()) {
        return match items {
            SingleOrVec::Single(item) => FieldType::List(Box::new(shape(item, definitions))),
            SingleOrVec::Vec(_) => FieldType::List(Box::new(FieldType::Unknown)),
        };
    }
    if let Some(obj) = &o.object {
        if obj.properties.is_empty() {
            if let Some(values) = &obj.additional_properties {
                return FieldType::Map(Box::new(shape(values, definitions)));
            }
        }
    }
    let scalar = match &o.instance_type {
        Some(SingleOrVec::Single(t)) => match **t {
            InstanceType::String if o.format.as_deref() == Some("byte") => Scalar::Bytes,
            InstanceType::String => Scalar::String,
            InstanceType::Boolean => Scalar::Boolean,
            InstanceType::Integer => match o.format.as_deref() {
                Some("int32") => Scalar::Int32,
                Some("int64") => Scalar::Int64,
                _ => Scalar::Number,
            },
            InstanceType::Number => Scalar::Number,
            _ => return FieldType::Unknown,
        },
        None if o.extensions.contains_key("x-kubernetes-int-or-string") => Scalar::IntOrString,
        _ => return FieldType::Unknown,
    };
    FieldType::Scalar(scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = "io.k8s.api.core.v1";
    const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

    fn strategy(type_name: &str, field: &str) -> Option<(&'static str, Option<&'static str>)> {
        patch_strategy(type_name, field)
    }

    #[test]
    fn generated_tables_are_sorted_for_binary_search() {
        assert!(FIELDS.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        assert!(ROOTS.windows(2).all(|w| (w[0].0, w[0].1, w[0].2) < (w[1].0, w[1].1, w[1].2)));
    }

    #[test]
    fn upstream_strategies_of_well_known_fields() {
        let pod_spec = format!("{CORE}.PodSpec");
        let container = format!("{CORE}.Container");
        assert_eq!(strategy(&pod_spec, "containers"), Some(("merge", Some("name"))));
        assert_eq!(strategy(&pod_spec, "volumes"), Some(("merge,retainKeys", Some("name"))));
        assert_eq!(strategy(&pod_spec, "tolerations"), None);
        assert_eq!(strategy(&container, "ports"), Some(("merge", Some("containerPort"))));
        assert_eq!(strategy(&container, "env"), Some(("merge", Some("name"))));
        assert_eq!(strategy(&container, "volumeMounts"), Some(("merge", Some("mountPath"))));
        assert_eq!(strategy(&format!("{CORE}.EphemeralContainer"), "env"), Some(("merge", Some("name"))));
        assert_eq!(strategy(&format!("{META}.ObjectMeta"), "finalizers"), Some(("merge", None)));
        assert_eq!(strategy(&format!("{META}.ObjectMeta"), "ownerReferences"), Some(("merge", Some("uid"))));
        assert_eq!(strategy(&format!("{CORE}.ServiceSpec"), "ports"), Some(("merge", Some("port"))));
        assert_eq!(strategy(&format!("{CORE}.PodStatus"), "conditions"), Some(("merge", Some("type"))));
        assert_eq!(strategy("io.k8s.api.apps.v1.DeploymentSpec", "strategy"), Some(("retainKeys", None)));
        assert_eq!(strategy("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "selector"), Some(("replace", None)));
    }

    #[test]
    fn list_map_keys_are_kept_for_server_side_apply() {
        let ports = patch_meta(&format!("{CORE}.Container"), "ports").unwrap();
        assert_eq!(ports.list_type, Some("map"));
        assert_eq!(ports.list_map_keys, &["containerPort", "protocol"]);
        let finalizers = patch_meta(&format!("{META}.ObjectMeta"), "finalizers").unwrap();
        assert_eq!(finalizers.list_type, Some("set"));
        assert!(finalizers.merges() && !finalizers.retains_keys());
    }

    #[test]
    fn every_registry_resource_has_a_root_type() {
        for r in crate::registry::RESOURCES {
            assert!(root_type(r.group, r.version, r.kind).is_some(), "{}/{} {}", r.group, r.version, r.kind);
            for s in r.subresources.iter().filter(|s| !s.group.is_empty()) {
                assert!(root_type(s.group, s.version, s.kind).is_some(), "{}/{} {}", s.group, s.version, s.kind);
            }
        }
        assert_eq!(root_type("apps", "v1", "Deployment"), Some("io.k8s.api.apps.v1.Deployment"));
        assert_eq!(root_type("example.com", "v1", "Widget"), None);
    }

    #[test]
    fn field_types_follow_refs_lists_and_maps() {
        let struct_of = |name: &str| FieldType::Struct(name.to_string());
        assert_eq!(
            field_type("io.k8s.api.apps.v1.Deployment", "spec"),
            Some(&struct_of("io.k8s.api.apps.v1.DeploymentSpec"))
        );
        assert_eq!(
            field_type("io.k8s.api.apps.v1.DeploymentSpec", "template"),
            Some(&struct_of(&format!("{CORE}.PodTemplateSpec")))
        );
        assert_eq!(
            field_type(&format!("{CORE}.PodSpec"), "containers"),
            Some(&FieldType::List(Box::new(struct_of(&format!("{CORE}.Container")))))
        );
        assert_eq!(
            field_type(&format!("{META}.ObjectMeta"), "labels"),
            Some(&FieldType::Map(Box::new(FieldType::Scalar(Scalar::String))))
        );
        assert_eq!(
            field_type(&format!("{CORE}.ResourceRequirements"), "limits"),
            Some(&FieldType::Map(Box::new(FieldType::Quantity)))
        );
        assert_eq!(
            field_type(&format!("{CORE}.ResourceQuotaSpec"), "hard"),
            Some(&FieldType::Map(Box::new(FieldType::Quantity)))
        );
        assert_eq!(field_type("io.k8s.api.autoscaling.v2.MetricTarget", "averageValue"), Some(&FieldType::Quantity));
        assert_eq!(
            field_type(&format!("{CORE}.ContainerPort"), "containerPort"),
            Some(&FieldType::Scalar(Scalar::Int32))
        );
        assert_eq!(
            field_type(&format!("{CORE}.ServicePort"), "targetPort"),
            Some(&FieldType::Scalar(Scalar::IntOrString))
        );
        assert_eq!(field_type(&format!("{CORE}.PodSpec"), "hostNetwork"), Some(&FieldType::Scalar(Scalar::Boolean)));
        assert_eq!(
            field_type(&format!("{CORE}.PodSpec"), "activeDeadlineSeconds"),
            Some(&FieldType::Scalar(Scalar::Int64))
        );
        assert_eq!(
            field_type(&format!("{META}.ObjectMeta"), "creationTimestamp"),
            Some(&FieldType::Scalar(Scalar::String))
        );
        assert_eq!(field_type("io.k8s.api.apps.v1.ControllerRevision", "data"), Some(&FieldType::Unknown));
        assert_eq!(field_type(&format!("{CORE}.PodSpec"), "noSuchField"), None);
    }
}
