//! Sets of field paths, stored as a trie like structured-merge-diff's `fieldpath.Set`, and
//! their `fieldsV1` JSON form:
//!
//! ```json
//! {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
//! ```
//!
//! A key maps to the set below that element; `"."` marks the element itself as a member,
//! and an empty object marks a member with nothing below it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

/// A set of paths. Every path in it is a *member*; a member may also have members below
/// it (a list item and its fields). Empty subtrees are never stored, so two sets holding
/// the same paths are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> FieldSet {
        let mut set = FieldSet::new();
        for p in paths {
            set.insert(p);
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds `path`; the empty path is not a field and is ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether `element` (one step below this set's root) is a member.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The members below `element`, if any.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not paths of `other` (exactly: a member of `other` does
    /// not remove what lies below it; see [`FieldSet::without_prefixes`]).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(theirs) => child.difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let common = child.intersection(other.children.get(pe)?);
                (!common.is_empty()).then(|| (pe.clone(), common))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of `self` that do not start with a member of `prefixes`: removes whole
    /// subtrees, as upstream removes the fields a strategy resets (`status` on the main
    /// resource).
    pub fn without_prefixes(&self, prefixes: &FieldSet) -> FieldSet {
        let members = self.members.difference(&prefixes.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !prefixes.members.contains(pe))
            .filter_map(|(pe, child)| {
                let rest = match prefixes.children.get(pe) {
                    Some(theirs) => child.without_prefixes(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every path, members of a node before the paths below it, each group sorted
    /// (structured-merge-diff's iteration order).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON object.
    pub fn to_fields_v1(&self) -> Value {
        let mut out = Map::new();
        for pe in &self.members {
            out.insert(pe.encode(), Value::Object(Map::new()));
        }
        for (pe, child) in &self.children {
            let mut below = match child.to_fields_v1() {
                Value::Object(m) => m,
                _ => unreachable!("to_fields_v1 returns an object"),
            };
            if self.members.contains(pe) {
                below.insert(".".into(), Value::Object(Map::new()));
            }
            out.insert(pe.encode(), Value::Object(below));
        }
        Value::Object(out)
    }

    /// Reads a `fieldsV1` object.
    ///
    /// # Errors
    /// A description of the first key or value that is not valid `fieldsV1`.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = value else {
            return Err("fieldsV1 must be an object".into());
        };
        let mut set = FieldSet::new();
        for (key, below) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::decode(key).ok_or_else(|| format!("invalid fieldsV1 key {key:?}"))?;
            let Value::Object(inner) = below else {
                return Err(format!("fieldsV1 value of {key:?} must be an object"));
            };
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let child = FieldSet::from_fields_v1(below)?;
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    fn set(paths: &[&[&str]]) -> FieldSet {
        let owned: Vec<Path> = paths.iter().map(|p| p.iter().map(|s| f(s)).collect()).collect();
        FieldSet::from_paths(owned.iter().map(Vec::as_slice))
    }

    #[test]
    fn fields_v1_round_trip() {
        let item = PathElement::key([("name", &json!("c"))]);
        let mut s = set(&[&["metadata", "labels"], &["metadata", "labels", "app"], &["spec", "replicas"]]);
        s.insert(&[f("spec"), f("containers"), item.clone()]);
        s.insert(&[f("spec"), f("containers"), item, f("image")]);
        let v1 = s.to_fields_v1();
        assert_eq!(
            v1,
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}}}},
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&v1).unwrap(), s);
    }

    #[test]
    fn malformed_fields_v1_is_an_error() {
        for bad in [json!([]), json!({"x:y": {}}), json!({"f:a": 1}), json!({"f:a": {"k:nope": {}}})] {
            assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_operations() {
        let a = set(&[&["a"], &["b", "c"], &["b", "d"]]);
        let b = set(&[&["b", "c"], &["e"]]);
        // (left, right, union, difference, intersection)
        let cases: [(&FieldSet, &FieldSet, FieldSet, FieldSet, FieldSet); 3] = [
            (
                &a,
                &b,
                set(&[&["a"], &["b", "c"], &["b", "d"], &["e"]]),
                set(&[&["a"], &["b", "d"]]),
                set(&[&["b", "c"]]),
            ),
            (&b, &a, set(&[&["a"], &["b", "c"], &["b", "d"], &["e"]]), set(&[&["e"]]), set(&[&["b", "c"]])),
            (&a, &a, a.clone(), FieldSet::new(), a.clone()),
        ];
        for (l, r, union, difference, intersection) in cases {
            assert_eq!(l.union(r), union);
            assert_eq!(l.difference(r), difference);
            assert_eq!(l.intersection(r), intersection);
        }
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn difference_is_exact_but_without_prefixes_removes_subtrees() {
        let s = set(&[&["status"], &["status", "phase"], &["spec", "x"]]);
        let status = set(&[&["status"]]);
        assert_eq!(s.difference(&status), set(&[&["status", "phase"], &["spec", "x"]]));
        assert_eq!(s.without_prefixes(&status), set(&[&["spec", "x"]]));
    }

    #[test]
    fn membership_and_paths() {
        let s = set(&[&["b", "c"], &["a"], &["b"]]);
        assert!(s.has(&[f("b")]) && s.has(&[f("b"), f("c")]) && !s.has(&[f("c")]) && !s.has(&[]));
        let shown: Vec<String> = s.paths().iter().map(|p| super::super::path::display(p)).collect();
        assert_eq!(shown, [".a", ".b", ".b.c"]);
    }
}
