//! Paths to fields, as structured-merge-diff names them: one [`PathElement`] per step,
//! written `f:spec`, `k:{"name":"c"}`, `v:"x"` or `i:0` in `fieldsV1`, and
//! `.spec.containers[name="c"].image` in conflict messages.

use std::fmt;

use serde_json::{Map, Value};

/// One step from a value to one of its parts. The variant order (fields, keys, values,
/// indexes) is structured-merge-diff's order, so sorted sets serialize as upstream's do.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or a map key: `f:<name>`.
    Field(String),
    /// An item of a list-map, by its key fields sorted by name: `k:{"name":"c"}`. Values are
    /// compact JSON text, so equal values compare equal whatever produced them.
    Key(Vec<(String, String)>),
    /// An item of a set, by its value as compact JSON text: `v:"x"`.
    Value(String),
    /// An item of a list by position: `i:3` (lists that are neither atomic nor keyed).
    Index(usize),
}

pub type Path = Vec<PathElement>;

impl PathElement {
    pub fn field(name: impl Into<String>) -> PathElement {
        PathElement::Field(name.into())
    }

    /// The key element of a list-map item from its key fields, in name order.
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let mut pairs: Vec<(String, String)> = fields.into_iter().map(|(k, v)| (k.to_string(), json_text(v))).collect();
        pairs.sort();
        PathElement::Key(pairs)
    }

    pub fn value(v: &Value) -> PathElement {
        PathElement::Value(json_text(v))
    }

    /// The `fieldsV1` spelling: `f:name`, `k:{...}`, `v:...`, `i:n`.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(pairs) => {
                let body: Vec<String> =
                    pairs.iter().map(|(k, v)| format!("{}:{v}", json_text(&k.as_str().into()))).collect();
                format!("k:{{{}}}", body.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads one `fieldsV1` key; `None` when it is not one of the four forms.
    pub fn decode(s: &str) -> Option<PathElement> {
        let (prefix, rest) = s.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => {
                let keys: Map<String, Value> = serde_json::from_str(rest).ok()?;
                Some(PathElement::key(keys.iter().map(|(k, v)| (k.as_str(), v))))
            }
            "v:" => Some(PathElement::value(&serde_json::from_str(rest).ok()?)),
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

/// `.name`, `[name="c",port=80]`, `[="x"]`, `[3]`: structured-merge-diff's `String()`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(pairs) => {
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", body.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A whole path in conflict-message form: `.spec.replicas`.
pub fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

fn json_text(v: &Value) -> String {
    // serde_json's maps are sorted, so an object's text does not depend on key order.
    serde_json::to_string(v).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_and_decodes_every_form() {
        let cases = [
            (PathElement::field("metadata"), "f:metadata", ".metadata"),
            (PathElement::field("kubectl.kubernetes.io/x"), "f:kubectl.kubernetes.io/x", ".kubectl.kubernetes.io/x"),
            (PathElement::key([("name", &json!("c"))]), r#"k:{"name":"c"}"#, r#"[name="c"]"#),
            (
                PathElement::key([("protocol", &json!("TCP")), ("containerPort", &json!(80))]),
                r#"k:{"containerPort":80,"protocol":"TCP"}"#,
                r#"[containerPort=80,protocol="TCP"]"#,
            ),
            (PathElement::value(&json!("example.com/x")), r#"v:"example.com/x""#, r#"[="example.com/x"]"#),
            (PathElement::Index(3), "i:3", "[3]"),
        ];
        for (element, encoded, shown) in cases {
            assert_eq!(element.encode(), encoded);
            assert_eq!(PathElement::decode(encoded), Some(element.clone()), "{encoded}");
            assert_eq!(element.to_string(), shown);
        }
    }

    #[test]
    fn decoded_keys_do_not_depend_on_their_order() {
        let a = PathElement::decode(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        let b = PathElement::decode(r#"k:{"containerPort":80,"protocol":"TCP"}"#).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_unknown_forms() {
        for bad in ["", "f", "x:y", "k:notjson", "i:-1", "v:"] {
            assert_eq!(PathElement::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn displays_paths_like_upstream() {
        let path = vec![
            PathElement::field("spec"),
            PathElement::field("containers"),
            PathElement::key([("name", &json!("c"))]),
            PathElement::field("image"),
        ];
        assert_eq!(display(&path), r#".spec.containers[name="c"].image"#);
    }
}
