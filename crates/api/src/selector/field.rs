//! Field selectors (`metadata.name=web,status.phase!=Running`) and the fields each
//! kind supports, as upstream's per-type `GetAttrs` / field label conversion define.

use serde_json::Value;

use crate::meta;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldRequirement {
    Equals(String, String),
    NotEquals(String, String),
}

/// A parsed field selector: every requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    Syntax(String, String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses `key=value`, `key==value` and `key!=value` terms separated by commas.
    /// `\` escapes `,`, `=`, `!` and `\` in values.
    pub fn parse(input: &str) -> Result<Self, FieldSelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(input, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let (key, op, value) =
                split_term(&term).ok_or_else(|| FieldSelectorError::Syntax(input.to_string(), term.to_string()))?;
            let key = key.trim().to_string();
            let value = unescape(value);
            requirements.push(if op == "!=" {
                FieldRequirement::NotEquals(key, value)
            } else {
                FieldRequirement::Equals(key, value)
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The first requirement on `field` that is an equality, if any (used to narrow
    /// lists, e.g. `metadata.name=x` to a single key).
    pub fn equals(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find_map(|r| match r {
            FieldRequirement::Equals(k, v) if k == field => Some(v.as_str()),
            _ => None,
        })
    }

    /// Checks that every field is one `kind` supports.
    pub fn check_supported(&self, group: &str, kind: &str) -> Result<(), FieldSelectorError> {
        for r in &self.requirements {
            let (FieldRequirement::Equals(k, _) | FieldRequirement::NotEquals(k, _)) = r;
            if !supported_fields(group, kind).contains(&k.as_str()) {
                return Err(FieldSelectorError::UnsupportedField(k.clone()));
            }
        }
        Ok(())
    }

    pub fn matches(&self, group: &str, kind: &str, obj: &Value) -> bool {
        self.requirements.iter().all(|r| match r {
            FieldRequirement::Equals(k, v) => field_value(group, kind, obj, k).as_deref() == Some(v.as_str()),
            FieldRequirement::NotEquals(k, v) => field_value(group, kind, obj, k).as_deref() != Some(v.as_str()),
        })
    }

    /// Whether fields whose values were worked out before (with [`field_value`]) match:
    /// `value(field)` gives a field's value.
    pub fn matches_with<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| match r {
            FieldRequirement::Equals(k, v) => value(k) == Some(v.as_str()),
            FieldRequirement::NotEquals(k, v) => value(k) != Some(v.as_str()),
        })
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.last_mut().unwrap().push('\\');
            out.last_mut().unwrap().push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(String::new());
        } else {
            out.last_mut().unwrap().push(c);
        }
    }
    if escaped {
        out.last_mut().unwrap().push('\\');
    }
    out
}

/// Splits at the first unescaped operator.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], "!=", &term[i + 2..])),
            b'=' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], "==", &term[i + 2..])),
            b'=' => return Some((&term[..i], "=", &term[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The fields a kind can be selected by (beyond none: every kind has
/// `metadata.name` and, if namespaced, `metadata.namespace`).
pub fn supported_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "Event") => &[
            "metadata.name",
            "metadata.namespace",
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "Secret") => &["metadata.name", "metadata.namespace", "type"],
        ("", "Namespace") => &["metadata.name", "status.phase"],
        ("", "Node") => &["metadata.name", "spec.unschedulable"],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => {
            &["metadata.name", "metadata.namespace", "status.replicas"]
        }
        ("batch", "Job") => &["metadata.name", "metadata.namespace", "status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => &["metadata.name", "spec.signerName"],
        ("", "PersistentVolume") => &["metadata.name", "name"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// The value of a selectable field, rendered as upstream renders it (booleans and
/// numbers as text, a missing string as "").
pub fn field_value(group: &str, kind: &str, obj: &Value, field: &str) -> Option<String> {
    let text = |path: &[&str]| -> String {
        match meta::path(obj, path) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    Some(match field {
        "metadata.name" | "name" => meta::name(obj).to_string(),
        "metadata.namespace" => meta::namespace(obj).to_string(),
        "spec.hostNetwork" | "spec.unschedulable" => {
            meta::path(obj, &field.split('.').collect::<Vec<_>>()).and_then(Value::as_bool).unwrap_or(false).to_string()
        }
        "status.replicas" | "status.successful" => {
            meta::path(obj, &field.split('.').collect::<Vec<_>>()).and_then(Value::as_i64).unwrap_or(0).to_string()
        }
        "status.podIPs" => text(&["status", "podIP"]),
        "source" if (group, kind) == ("", "Event") => text(&["source", "component"]),
        _ => text(&field.split('.').collect::<Vec<_>>()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_matches() {
        let pod = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap();
        assert!(s.matches("", "Pod", &pod));
        assert!(!FieldSelector::parse("spec.nodeName==n2").unwrap().matches("", "Pod", &pod));
        assert!(FieldSelector::parse("spec.nodeName=").unwrap().matches("", "Pod", &json!({})));
        assert_eq!(FieldSelector::parse("metadata.name=a").unwrap().equals("metadata.name"), Some("a"));
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(matches!(FieldSelector::parse("novalue"), Err(FieldSelectorError::Syntax(..))));
        let escaped = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(escaped.equals("metadata.name"), Some("a,b"));
    }

    #[test]
    fn only_supported_fields() {
        let s = FieldSelector::parse("spec.nodeName=x").unwrap();
        assert!(s.check_supported("", "Pod").is_ok());
        assert_eq!(
            s.check_supported("", "ConfigMap"),
            Err(FieldSelectorError::UnsupportedField("spec.nodeName".into()))
        );
        let e = FieldSelector::parse("involvedObject.uid=u,involvedObject.kind=Pod").unwrap();
        assert!(e.check_supported("", "Event").is_ok());
        assert!(e.matches("", "Event", &json!({"involvedObject": {"uid": "u", "kind": "Pod"}})));
    }
}
