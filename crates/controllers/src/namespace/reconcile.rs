//! What the namespace controller reports while it empties a namespace
//! (upstream's deletion conditions), pure: from what deleting each resource
//! left behind, the status conditions and whether the namespace may be
//! finalized.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What one resource looked like after its delete pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remaining {
    /// `pods` or `replicasets.apps` (upstream's GroupResource spelling).
    pub resource: String,
    pub count: usize,
    /// Finalizers on the remaining objects, with how many objects carry each.
    pub finalizers: BTreeMap<String, usize>,
    /// The delete or list failed.
    pub error: Option<String>,
}

/// The outcome of one pass.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    pub conditions: Vec<NamespaceCondition>,
    /// Nothing is left: the `kubernetes` finalizer may go.
    pub empty: bool,
}

fn condition(type_: &str, status: bool, reason: &str, message: String) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: None,
    }
}

/// The conditions for this pass; each keeps its old transition time when its
/// status did not change.
pub fn verdict(
    discovery_error: Option<&str>,
    results: &[Remaining],
    old: &[NamespaceCondition],
    now: DateTime<Utc>,
) -> Verdict {
    let mut conditions = Vec::new();
    conditions.push(match discovery_error {
        None => condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        Some(e) => {
            condition("NamespaceDeletionDiscoveryFailure", true, "DiscoveryFailed", format!("Discovery failed: {e}"))
        }
    });
    conditions.push(condition(
        "NamespaceDeletionGroupVersionParsingFailure",
        false,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed".into(),
    ));
    let failed: Vec<String> =
        results.iter().filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.resource))).collect();
    conditions.push(if failed.is_empty() {
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        )
    } else {
        condition(
            "NamespaceDeletionContentFailure",
            true,
            "ContentDeletionFailed",
            format!("Failed to delete all resource types, {} remaining: {}", failed.len(), failed.join(", ")),
        )
    });
    let mut remaining: Vec<&Remaining> = results.iter().filter(|r| r.count > 0).collect();
    remaining.sort_by(|a, b| a.resource.cmp(&b.resource));
    conditions.push(if remaining.is_empty() {
        condition("NamespaceContentRemaining", false, "ContentRemoved", "All content successfully removed".into())
    } else {
        let parts: Vec<String> =
            remaining.iter().map(|r| format!("{} has {} resource instances", r.resource, r.count)).collect();
        condition(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        )
    });
    let mut finalizers: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &remaining {
        for (f, n) in &r.finalizers {
            *finalizers.entry(f.as_str()).or_default() += n;
        }
    }
    conditions.push(if finalizers.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        )
    } else {
        let parts: Vec<String> = finalizers.iter().map(|(f, n)| format!("{f} in {n} resource instances")).collect();
        condition(
            "NamespaceFinalizersRemaining",
            true,
            "SomeFinalizersRemain",
            format!("Some content in the namespace has finalizers remaining: {}", parts.join(", ")),
        )
    });
    for c in &mut conditions {
        let same = old.iter().find(|o| o.type_ == c.type_ && o.status == c.status);
        c.last_transition_time = Some(same.and_then(|o| o.last_transition_time.clone()).unwrap_or(Time(now)));
    }
    let empty = discovery_error.is_none() && failed.is_empty() && remaining.is_empty();
    Verdict { conditions, empty }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    fn status_of<'a>(v: &'a Verdict, type_: &str) -> (&'a str, &'a str) {
        let c = v.conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.as_str(), c.message.as_deref().unwrap())
    }

    #[test]
    fn conditions_say_what_is_still_pending() {
        let pods = Remaining { resource: "pods".into(), count: 2, ..Default::default() };
        let cms = Remaining {
            resource: "configmaps".into(),
            count: 1,
            finalizers: [("example.com/hold".to_string(), 1)].into(),
            error: None,
        };
        let table: Vec<(Vec<Remaining>, bool, &str, &str)> = vec![
            (vec![], true, "All content successfully removed", "All content-preserving finalizers finished"),
            (
                vec![pods.clone(), cms.clone()],
                false,
                "Some resources are remaining: configmaps has 1 resource instances, pods has 2 resource instances",
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
            ),
        ];
        for (results, empty, content, finalizers) in table {
            let v = verdict(None, &results, &[], now());
            assert_eq!(v.empty, empty);
            assert_eq!(status_of(&v, "NamespaceContentRemaining").1, content);
            assert_eq!(status_of(&v, "NamespaceFinalizersRemaining").1, finalizers);
        }
    }

    #[test]
    fn failures_keep_the_namespace_and_are_reported() {
        let failed = Remaining { resource: "secrets".into(), error: Some("forbidden".into()), ..Default::default() };
        let v = verdict(None, &[failed], &[], now());
        assert!(!v.empty);
        assert_eq!(status_of(&v, "NamespaceDeletionContentFailure").0, "True");
        let v = verdict(Some("timeout"), &[], &[], now());
        assert!(!v.empty);
        assert_eq!(status_of(&v, "NamespaceDeletionDiscoveryFailure").0, "True");
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time() {
        let first = verdict(None, &[], &[], now());
        let later = verdict(None, &[], &first.conditions, now() + chrono::Duration::seconds(60));
        assert_eq!(first, later);
    }
}
