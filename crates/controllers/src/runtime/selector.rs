//! Label selectors on typed objects: `matchLabels` + `matchExpressions`
//! (ReplicaSet, Deployment) and plain maps (ReplicationController).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A parsed selector. `Nothing` matches no object (a nil or invalid selector on
/// a workload selects nothing, as upstream).
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    Nothing,
    Terms(Vec<Term>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// From a `LabelSelector`; an empty one matches everything, `None` nothing.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Selector {
        let Some(s) = selector else { return Selector::Nothing };
        let mut terms: Vec<Term> =
            s.match_labels.iter().flatten().map(|(k, v)| Term::Equals(k.clone(), v.clone())).collect();
        for e in s.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            terms.push(match e.operator.as_str() {
                "In" => Term::In(e.key.clone(), values),
                "NotIn" => Term::NotIn(e.key.clone(), values),
                "Exists" => Term::Exists(e.key.clone()),
                "DoesNotExist" => Term::DoesNotExist(e.key.clone()),
                _ => return Selector::Nothing,
            });
        }
        Selector::Terms(terms)
    }

    /// From a map selector (ReplicationController); an empty map selects nothing.
    pub fn from_map(selector: Option<&BTreeMap<String, String>>) -> Selector {
        match selector {
            Some(m) if !m.is_empty() => {
                Selector::Terms(m.iter().map(|(k, v)| Term::Equals(k.clone(), v.clone())).collect())
            }
            _ => Selector::Nothing,
        }
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let Selector::Terms(terms) = self else { return false };
        let get = |k: &str| labels.and_then(|l| l.get(k));
        terms.iter().all(|t| match t {
            Term::Equals(k, v) => get(k) == Some(v),
            Term::In(k, vs) => get(k).is_some_and(|v| vs.contains(v)),
            Term::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(v)),
            Term::Exists(k) => get(k).is_some(),
            Term::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_match_like_upstream() {
        let s = Selector::from_label_selector(Some(&LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        }));
        assert!(s.matches(Some(&labels(&[("app", "web")]))));
        assert!(s.matches(Some(&labels(&[("app", "web"), ("tier", "fe")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "db")]))));
        assert!(!s.matches(None));
        assert!(Selector::from_label_selector(Some(&LabelSelector::default())).matches(None), "empty matches all");
        assert!(!Selector::from_label_selector(None).matches(None));
        assert!(!Selector::from_map(Some(&BTreeMap::new())).matches(None), "an empty RC selector selects nothing");
    }
}
