//! Completion indexes of Indexed Jobs: the pod annotation that carries one and
//! `status.completedIndexes`, a compressed list like `0-2,5,7-9`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) naming a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The pod's completion index, when it has a valid one.
pub fn of_pod(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let value = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
        .or_else(|| meta.labels.as_ref().and_then(|l| l.get(COMPLETION_INDEX)))?;
    value.parse().ok().filter(|i: &i32| *i >= 0)
}

/// Parses `completedIndexes`; malformed parts are skipped, indexes at or beyond
/// `completions` are dropped (the spec may have been scaled down).
pub fn parse(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(first), Ok(last)) = (first, last) {
            out.extend((first.max(0)..=last.min(completions - 1)).filter(|_| first <= last));
        }
    }
    out
}

/// Formats indexes as upstream does: ascending, runs of consecutive indexes
/// written `first-last`.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last = iter.next().unwrap_or(last);
        }
        parts.push(if first == last { first.to_string() } else { format!("{first}-{last}") });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_round_trip() {
        let set = parse("0-2,5,7-8", 10);
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 5, 7, 8]);
        assert_eq!(format(&set), "0-2,5,7-8");
        assert_eq!(format(&parse("3,4", 10)), "3-4");
        assert_eq!(format(&parse("", 10)), "");
        assert_eq!(format(&parse("0-9", 4)), "0-3", "indexes beyond completions are dropped");
        assert_eq!(format(&parse("x,2,5-3", 10)), "2", "malformed parts are skipped");
    }
}
