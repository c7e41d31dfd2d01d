//! How server-side apply sees each part of a built-in type, derived from the patch
//! metadata ([`patch_meta`]) and types ([`field_type`]) the strategic merge patch uses,
//! plus upstream's `+structType=atomic` / `+mapType=atomic` markers, which the patch
//! tables do not carry.
//!
//! The rules are upstream's (`kube-openapi/pkg/schemaconv`): a list is atomic unless it
//! says `listType: set` or `map`, or (without a list type) has `patchStrategy: merge`, in
//! which case its patch merge key identifies items. Structs and maps are granular unless
//! marked atomic. Parts without a schema (custom resources, `RawExtension`) are deduced
//! from the value: objects granular, lists atomic.

use serde_json::Value;

use super::path::PathElement;
use crate::patch::{field_type, patch_meta, root_type, FieldType, PatchMeta};

/// The schema position of a value.
#[derive(Clone, Copy, Debug)]
pub enum Node {
    /// A struct with named fields; merged field by field.
    Struct(&'static str),
    /// A `map[string]T`; merged key by key, each key a member of the field set.
    Map(Option<&'static FieldType>),
    /// A list whose items are identified by key fields (a list-map) or, with no keys, by
    /// their value (a set).
    List(ListNode),
    /// Owned and replaced as a whole: scalars and atomic structs, maps and lists.
    Atomic,
    /// No schema: objects are granular maps, everything else atomic.
    Deduced,
}

#[derive(Clone, Copy, Debug)]
pub struct ListNode {
    item: Option<&'static FieldType>,
    /// The list-map keys; empty for a set.
    keys: &'static [&'static str],
}

/// What a value is at its schema position. A null where the schema expects an object or a
/// list takes that shape, as an empty one (upstream's typed values read nulls that way).
pub enum Shape {
    Leaf,
    /// An object merged key by key; the node gives each key's position.
    Object(Node),
    List(ListNode),
}

/// Struct types upstream marks `+structType=atomic` (from k8s-pb 0.7's doc comments; those
/// absent from k8s-openapi v1_32 are left out). A test checks every name is known.
const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.admissionregistration.v1.MatchResources",
    "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1.ParamKind",
    "io.k8s.api.admissionregistration.v1.ParamRef",
    "io.k8s.api.admissionregistration.v1.Variable",
    "io.k8s.api.admissionregistration.v1beta1.MatchResources",
    "io.k8s.api.admissionregistration.v1beta1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1beta1.ParamKind",
    "io.k8s.api.admissionregistration.v1beta1.ParamRef",
    "io.k8s.api.admissionregistration.v1beta1.Variable",
    "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.EndpointAddress",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.networking.v1.ServiceBackendPort",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.rbac.v1.Subject",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
];

/// Map fields upstream marks `+mapType=atomic`: (type, field).
const ATOMIC_MAPS: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.PodSpec", "nodeSelector"),
    ("io.k8s.api.core.v1.ReplicationControllerSpec", "selector"),
    ("io.k8s.api.core.v1.ServiceSpec", "selector"),
    ("io.k8s.api.node.v1.Scheduling", "nodeSelector"),
];

/// List-map key fields that have a default upstream (`+default="TCP"` on `protocol` of
/// container and service ports): an item without the field is keyed by the default, as
/// the defaulted live object will be.
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

impl Node {
    /// The position of a whole object of `group/version` `kind`.
    pub fn root(group: &str, version: &str, kind: &str) -> Node {
        root_type(group, version, kind).map_or(Node::Deduced, struct_node)
    }

    /// The position of `key` in an object at this position.
    pub fn field(self, key: &str) -> Node {
        match self {
            Node::Struct(name) => {
                let atomic_map = ATOMIC_MAPS.contains(&(name, key));
                of_type(field_type(name, key), patch_meta(name, key), atomic_map)
            }
            Node::Map(values) => of_type(values, None, false),
            Node::Deduced => Node::Deduced,
            Node::List(_) | Node::Atomic => Node::Atomic,
        }
    }

    /// How `value` is walked at this position.
    pub fn shape(self, value: &Value) -> Shape {
        match (self, value) {
            (Node::Struct(_) | Node::Map(_) | Node::Deduced, Value::Object(_)) => Shape::Object(self),
            (Node::Struct(_) | Node::Map(_), Value::Null) => Shape::Object(self),
            (Node::List(list), Value::Array(_) | Value::Null) => Shape::List(list),
            _ => Shape::Leaf,
        }
    }
}

impl ListNode {
    pub fn item(self) -> Node {
        of_type(self.item, None, false)
    }

    /// The path element of `item`, the `index`th element of the list: its key fields, its
    /// value for a set, or its index when it has none of the keys.
    pub fn element(self, index: usize, item: &Value) -> PathElement {
        if self.keys.is_empty() {
            return PathElement::value(item);
        }
        let Value::Object(fields) = item else { return PathElement::Index(index) };
        let defaults: Vec<(&str, Value)> = self
            .keys
            .iter()
            .filter(|k| !fields.contains_key(**k))
            .filter_map(|k| Some((*k, key_default(k)?)))
            .collect();
        let present: Vec<(&str, &Value)> =
            self.keys.iter().filter_map(|k| fields.get(*k).map(|v| (*k, v))).filter(|(_, v)| !v.is_null()).collect();
        if present.is_empty() {
            return PathElement::Index(index);
        }
        PathElement::key(present.into_iter().chain(defaults.iter().map(|(k, v)| (*k, v))))
    }
}

fn struct_node(name: &'static str) -> Node {
    if ATOMIC_STRUCTS.contains(&name) {
        Node::Atomic
    } else {
        Node::Struct(name)
    }
}

fn of_type(ty: Option<&'static FieldType>, meta: Option<&'static PatchMeta>, atomic_map: bool) -> Node {
    match ty {
        None | Some(FieldType::Unknown) => Node::Deduced,
        Some(FieldType::Scalar(_) | FieldType::Quantity) => Node::Atomic,
        Some(FieldType::Struct(name)) => struct_node(name),
        Some(FieldType::Map(_)) if atomic_map => Node::Atomic,
        Some(FieldType::Map(values)) => Node::Map(Some(values)),
        Some(FieldType::List(item)) => list_node(item, meta),
    }
}

fn list_node(item: &'static FieldType, meta: Option<&'static PatchMeta>) -> Node {
    let Some(meta) = meta else { return Node::Atomic };
    let keys: &'static [&'static str] = match (meta.list_type, meta.merge_key) {
        (Some("map"), _) => meta.list_map_keys,
        (Some("set"), _) => &[],
        (Some(_), _) => return Node::Atomic,
        (None, _) if meta.merges() => match &meta.merge_key {
            Some(key) => std::slice::from_ref(key),
            None => &[],
        },
        (None, _) => return Node::Atomic,
    };
    Node::List(ListNode { item: Some(item), keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(node: Node) -> String {
        match node {
            Node::Struct(name) => format!("struct {name}"),
            Node::Map(_) => "map".into(),
            Node::List(l) => format!("list {:?}", l.keys),
            Node::Atomic => "atomic".into(),
            Node::Deduced => "deduced".into(),
        }
    }

    fn at(root: Node, path: &[&str]) -> Node {
        path.iter().fold(root, |node, step| match (node, *step) {
            (Node::List(l), "[]") => l.item(),
            (n, s) => n.field(s),
        })
    }

    #[test]
    fn classifies_well_known_fields() {
        let deploy = Node::root("apps", "v1", "Deployment");
        let pod = Node::root("", "v1", "Pod");
        let containers = ["spec", "template", "spec", "containers"];
        let cases: &[(Node, &[&str], &str)] = &[
            (deploy, &[], "struct io.k8s.api.apps.v1.Deployment"),
            (deploy, &["spec", "replicas"], "atomic"),
            (deploy, &["spec", "selector"], "atomic"),
            (deploy, &["metadata", "labels"], "map"),
            (deploy, &["metadata", "finalizers"], "list []"),
            (deploy, &["metadata", "ownerReferences"], r#"list ["uid"]"#),
            (deploy, &["metadata", "managedFields"], "atomic"),
            (deploy, &containers, r#"list ["name"]"#),
            (deploy, &[&containers[..], &["[]"]].concat(), "struct io.k8s.api.core.v1.Container"),
            (deploy, &[&containers[..], &["[]", "ports"]].concat(), r#"list ["containerPort", "protocol"]"#),
            (deploy, &[&containers[..], &["[]", "args"]].concat(), "atomic"),
            (pod, &["spec", "nodeSelector"], "atomic"),
            (pod, &["spec", "tolerations"], "atomic"),
            (Node::root("", "v1", "Service"), &["spec", "selector"], "atomic"),
            (Node::root("", "v1", "ConfigMap"), &["data"], "map"),
            (Node::root("example.com", "v1", "Widget"), &["spec", "anything"], "deduced"),
            (Node::root("batch", "v1", "Job"), &["status", "conditions"], "atomic"),
        ];
        for (root, path, expected) in cases {
            assert_eq!(kind(at(*root, path)), *expected, "{path:?}");
        }
    }

    #[test]
    fn atomic_tables_name_known_types() {
        // Every atomic struct has one of these fields; a misspelt name has none.
        let fields = ["name", "kind", "matchLabels", "nodeSelectorTerms", "matchExpressions", "fieldPath", "resource"];
        let more = ["port", "ip", "number", "namespaceSelector", "matchLabelExpressions", "selector", "resourceNames"];
        for name in ATOMIC_STRUCTS {
            let known = fields.iter().chain(&more).any(|f| field_type(name, f).is_some());
            assert!(known, "{name} is not a known struct");
        }
        for (name, field) in ATOMIC_MAPS {
            assert!(matches!(field_type(name, field), Some(FieldType::Map(_))), "{name}.{field}");
        }
    }

    #[test]
    fn list_elements() {
        let deploy = Node::root("apps", "v1", "Deployment");
        let Node::List(ports) = at(deploy, &["spec", "template", "spec", "containers", "[]", "ports"]) else {
            panic!("ports is a list-map")
        };
        let cases = [
            (json!({"containerPort": 80}), r#"k:{"containerPort":80,"protocol":"TCP"}"#),
            (json!({"containerPort": 53, "protocol": "UDP"}), r#"k:{"containerPort":53,"protocol":"UDP"}"#),
            (json!({"name": "http"}), "i:4"),
            (json!("scalar"), "i:4"),
        ];
        for (item, expected) in cases {
            assert_eq!(ports.element(4, &item).encode(), expected, "{item}");
        }
        let Node::List(finalizers) = at(deploy, &["metadata", "finalizers"]) else { panic!("finalizers is a set") };
        assert_eq!(finalizers.element(0, &json!("a/b")).encode(), r#"v:"a/b""#);
    }
}
