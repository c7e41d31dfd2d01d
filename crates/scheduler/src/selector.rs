//! Label selectors (`LabelSelector`) and node selectors (`NodeSelector`), compiled
//! once per pod and matched many times.
//!
//! Upstream's edge cases are kept: a missing (`None`) label selector matches
//! nothing, an empty one matches everything; a node selector term with no
//! requirements matches nothing; an invalid selector matches nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match &self.op {
            Op::In(values) => value.is_some_and(|v| values.contains(v)),
            Op::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt(n) => value.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v > *n),
            Op::Lt(n) => value.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v < *n),
        }
    }

    /// `None` for an operator or value list the API would reject.
    fn new(key: &str, operator: &str, values: Option<&Vec<String>>) -> Option<Requirement> {
        let values = values.cloned().unwrap_or_default();
        let single_int = || if values.len() == 1 { values[0].parse::<i64>().ok() } else { None };
        let op = match operator {
            "In" if !values.is_empty() => Op::In(values),
            "NotIn" if !values.is_empty() => Op::NotIn(values),
            "Exists" if values.is_empty() => Op::Exists,
            "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
            "Gt" => Op::Gt(single_int()?),
            "Lt" => Op::Lt(single_int()?),
            _ => return None,
        };
        Some(Requirement { key: key.to_string(), op })
    }
}

/// A compiled label selector: every requirement must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    /// Set for a missing or invalid selector, which selects nothing.
    nothing: bool,
}

impl Selector {
    /// Matches every label set.
    pub fn everything() -> Selector {
        Selector { requirements: Vec::new(), nothing: false }
    }

    /// Matches no label set.
    pub fn nothing() -> Selector {
        Selector { requirements: Vec::new(), nothing: true }
    }

    /// Compiles an API label selector; `None` selects nothing (upstream's
    /// `LabelSelectorAsSelector(nil)`).
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Selector {
        let Some(selector) = selector else { return Selector::nothing() };
        let mut requirements = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement { key: k.clone(), op: Op::In(vec![v.clone()]) });
        }
        for e in selector.match_expressions.iter().flatten() {
            // Label selectors know only the four set operators.
            if matches!(e.operator.as_str(), "Gt" | "Lt") {
                return Selector::nothing();
            }
            match Requirement::new(&e.key, &e.operator, e.values.as_ref()) {
                Some(r) => requirements.push(r),
                None => return Selector::nothing(),
            }
        }
        Selector { requirements, nothing: false }
    }

    /// Adds `key in (value)` (how `matchLabelKeys` narrows a selector).
    pub fn with_label(mut self, key: &str, value: &str) -> Selector {
        self.requirements.push(Requirement { key: key.to_string(), op: Op::In(vec![value.to_string()]) });
        self
    }

    /// Whether the selector matches `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True for a selector with no requirements that selects everything.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for a selector that can never match.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }
}

/// One compiled `NodeSelectorTerm`: label expressions and `metadata.name` fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTerm {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
    valid: bool,
}

impl NodeTerm {
    pub fn new(term: &NodeSelectorTerm) -> NodeTerm {
        let compile = |reqs: Option<&Vec<NodeSelectorRequirement>>, fields: bool| -> Option<Vec<Requirement>> {
            reqs.into_iter()
                .flatten()
                .map(|r| {
                    if fields && (r.key != "metadata.name" || !matches!(r.operator.as_str(), "In" | "NotIn")) {
                        return None;
                    }
                    Requirement::new(&r.key, &r.operator, r.values.as_ref())
                })
                .collect()
        };
        match (compile(term.match_expressions.as_ref(), false), compile(term.match_fields.as_ref(), true)) {
            (Some(labels), Some(fields)) => {
                let valid = !labels.is_empty() || !fields.is_empty();
                NodeTerm { labels, fields, valid }
            }
            _ => NodeTerm { labels: Vec::new(), fields: Vec::new(), valid: false },
        }
    }

    /// Whether a node with this name and these labels matches the term. A term with
    /// no requirements matches nothing.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if !self.valid {
            return false;
        }
        let name_labels: Labels;
        let fields_ok = if self.fields.is_empty() {
            true
        } else {
            name_labels = Labels::from([("metadata.name".to_string(), node_name.to_string())]);
            self.fields.iter().all(|r| r.matches(&name_labels))
        };
        fields_ok && self.labels.iter().all(|r| r.matches(labels))
    }
}

/// A compiled `NodeSelector`: its terms are ORed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSelectorTerms(Vec<NodeTerm>);

impl NodeSelectorTerms {
    pub fn new(selector: &NodeSelector) -> NodeSelectorTerms {
        NodeSelectorTerms(selector.node_selector_terms.iter().map(NodeTerm::new).collect())
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.0.iter().any(|t| t.matches(node_name, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() { None } else { Some(values.iter().map(|v| v.to_string()).collect()) },
        }
    }

    #[test]
    fn label_selector_table() {
        let empty = LabelSelector::default();
        let app_web = LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() };
        let in_set =
            LabelSelector { match_expressions: Some(vec![expr("tier", "In", &["a", "b"])]), ..Default::default() };
        let not_in =
            LabelSelector { match_expressions: Some(vec![expr("tier", "NotIn", &["a"])]), ..Default::default() };
        let exists = LabelSelector { match_expressions: Some(vec![expr("gpu", "Exists", &[])]), ..Default::default() };
        let absent =
            LabelSelector { match_expressions: Some(vec![expr("gpu", "DoesNotExist", &[])]), ..Default::default() };
        let bad = LabelSelector { match_expressions: Some(vec![expr("x", "Gt", &["1"])]), ..Default::default() };
        let cases: Vec<(Option<&LabelSelector>, Labels, bool)> = vec![
            (None, labels(&[("app", "web")]), false),
            (Some(&empty), labels(&[]), true),
            (Some(&app_web), labels(&[("app", "web"), ("x", "y")]), true),
            (Some(&app_web), labels(&[("app", "db")]), false),
            (Some(&in_set), labels(&[("tier", "b")]), true),
            (Some(&in_set), labels(&[]), false),
            (Some(&not_in), labels(&[]), true),
            (Some(&not_in), labels(&[("tier", "a")]), false),
            (Some(&exists), labels(&[("gpu", "")]), true),
            (Some(&absent), labels(&[("gpu", "")]), false),
            (Some(&bad), labels(&[("x", "5")]), false),
        ];
        for (i, (sel, l, want)) in cases.into_iter().enumerate() {
            assert_eq!(Selector::from_label_selector(sel).matches(&l), want, "case {i}");
        }
    }

    #[test]
    fn node_terms_table() {
        let req = |key: &str, op: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let gt = NodeSelectorTerm { match_expressions: Some(vec![req("cores", "Gt", &["4"])]), ..Default::default() };
        let name =
            NodeSelectorTerm { match_fields: Some(vec![req("metadata.name", "In", &["n1"])]), ..Default::default() };
        let empty = NodeSelectorTerm::default();
        let cases = [
            (&gt, "n", labels(&[("cores", "8")]), true),
            (&gt, "n", labels(&[("cores", "4")]), false),
            (&gt, "n", labels(&[("cores", "x")]), false),
            (&name, "n1", labels(&[]), true),
            (&name, "n2", labels(&[]), false),
            (&empty, "n1", labels(&[]), false),
        ];
        for (i, (term, node, l, want)) in cases.into_iter().enumerate() {
            assert_eq!(NodeTerm::new(term).matches(node, &l), want, "case {i}");
        }
        let sel = NodeSelector { node_selector_terms: vec![gt.clone(), name.clone()] };
        assert!(NodeSelectorTerms::new(&sel).matches("n1", &labels(&[])));
    }
}
