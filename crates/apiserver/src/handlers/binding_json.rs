//! A binding's edit of a pod, made on the watch cache's JSON of it: `spec.nodeName`
//! set and the `PodScheduled` condition replaced, everything else copied as bytes.
//!
//! Why: decoding the cached pod into a `serde_json::Value`, encoding it again and
//! dropping the `Value` was 13 % of the server's CPU while its scheduler bound pods
//! (each `Value` is hundreds of small allocations). Only the three objects on the
//! paths that change (`metadata`, `spec`, `status`) are split into members here.
//!
//! Anything not shaped as the store writes pods (a key with an escape, a `spec` or
//! `status` that is not an object, `conditions` that are not an array) gives `None`,
//! and the caller edits a decoded `Value` instead, so odd objects keep the general
//! path's behaviour.

use serde::Deserialize;

use crate::storage::raw::{self, Member};

/// A pod as the watch cache holds it (JSON with its resourceVersion), split where a
/// binding looks and writes.
pub struct CachedPod<'a> {
    json: &'a [u8],
    top: Vec<Member>,
    metadata: Vec<Member>,
    spec: Vec<Member>,
}

impl<'a> CachedPod<'a> {
    pub fn parse(json: &'a [u8]) -> Option<CachedPod<'a>> {
        let open = raw::skip_ws(json, 0);
        let (top, end) = raw::members(json, open)?;
        if raw::skip_ws(json, end) != json.len() || top.iter().any(|m| has_escape(json, m)) {
            return None;
        }
        let object = |name: &str| -> Option<Vec<Member>> {
            let (members, _) = raw::members(json, member(json, &top, name)?.value.start)?;
            (!members.iter().any(|m| has_escape(json, m))).then_some(members)
        };
        Some(CachedPod { json, metadata: object("metadata")?, spec: object("spec")?, top })
    }

    fn string(&self, members: &[Member], name: &str) -> Option<String> {
        let m = member(self.json, members, name)?;
        serde_json::from_slice::<Option<String>>(&self.json[m.value.clone()]).ok().flatten()
    }

    pub fn resource_version(&self) -> Option<String> {
        self.string(&self.metadata, "resourceVersion")
    }

    pub fn uid(&self) -> String {
        self.string(&self.metadata, "uid").unwrap_or_default()
    }

    pub fn deleting(&self) -> bool {
        member(self.json, &self.metadata, "deletionTimestamp").is_some_and(|m| &self.json[m.value.clone()] != b"null")
    }

    pub fn node_name(&self) -> String {
        self.string(&self.spec, "nodeName").unwrap_or_default()
    }

    /// The pod as the store keeps it (no resourceVersion) once bound to `node` at
    /// `now`: what the general path's `spec.nodeName = node` and
    /// `set_condition(PodScheduled, True)` make of it. `None` for a shape that path
    /// must handle.
    pub fn bound(&self, node: &str, now: &str) -> Option<Vec<u8>> {
        let b = self.json;
        let mut out = Vec::with_capacity(b.len() + node.len() + 160);
        let condition = scheduled_condition(now);
        out.push(b'{');
        let mut first = true;
        // A new `status` goes where the store's sorted keys put it; a pod that has
        // one gets it edited in its place, wherever that is.
        let mut status_done = member(b, &self.top, "status").is_some();
        for m in &self.top {
            match key(b, m) {
                b"metadata" => {
                    let kept: Vec<Piece> =
                        self.metadata.iter().filter(|m| key(b, m) != b"resourceVersion").map(Piece::Copied).collect();
                    push_member(&mut out, &mut first, b"metadata", |out| write_object(out, b, &kept));
                }
                b"spec" => {
                    let node_json = serde_json::to_vec(node).ok()?;
                    let pieces = replaced(b, &self.spec, b"nodeName", node_json);
                    push_member(&mut out, &mut first, b"spec", |out| write_object(out, b, &pieces));
                }
                b"status" => {
                    let (status, _) = raw::members(b, m.value.start)?;
                    if status.iter().any(|m| has_escape(b, m)) {
                        return None;
                    }
                    let conditions = match member(b, &status, "conditions") {
                        Some(c) => kept_conditions(b, c.value.start)?,
                        None => Vec::new(),
                    };
                    let conditions = conditions_json(b, &conditions, &condition);
                    let pieces = replaced(b, &status, b"conditions", conditions);
                    push_member(&mut out, &mut first, b"status", |out| write_object(out, b, &pieces));
                }
                name => {
                    if !status_done && name > b"status".as_slice() {
                        status_done = true;
                        push_member(&mut out, &mut first, b"status", |out| new_status(out, &condition));
                    }
                    push_member(&mut out, &mut first, name, |out| out.extend_from_slice(&b[m.value.clone()]));
                }
            }
        }
        if !status_done {
            push_member(&mut out, &mut first, b"status", |out| new_status(out, &condition));
        }
        out.push(b'}');
        Some(out)
    }
}

/// A member of an object being written: one copied from the source, or a new one.
enum Piece<'m> {
    Copied(&'m Member),
    New(&'static [u8], Vec<u8>),
}

fn key<'b>(b: &'b [u8], m: &Member) -> &'b [u8] {
    &b[m.key.clone()]
}

fn has_escape(b: &[u8], m: &Member) -> bool {
    key(b, m).contains(&b'\\')
}

fn member<'m>(b: &[u8], members: &'m [Member], name: &str) -> Option<&'m Member> {
    members.iter().find(|m| key(b, m) == name.as_bytes())
}

/// `members` with `name` set to `value`: in its place if present, else where the
/// store's sorted keys would put it.
fn replaced<'m>(b: &[u8], members: &'m [Member], name: &'static [u8], value: Vec<u8>) -> Vec<Piece<'m>> {
    let mut pieces = Vec::with_capacity(members.len() + 1);
    let mut value = Some(value);
    for m in members {
        let k = key(b, m);
        if k == name {
            if let Some(v) = value.take() {
                pieces.push(Piece::New(name, v));
            }
            continue;
        }
        if k > name {
            if let Some(v) = value.take() {
                pieces.push(Piece::New(name, v));
            }
        }
        pieces.push(Piece::Copied(m));
    }
    if let Some(v) = value {
        pieces.push(Piece::New(name, v));
    }
    pieces
}

fn push_member(out: &mut Vec<u8>, first: &mut bool, name: &[u8], value: impl FnOnce(&mut Vec<u8>)) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    value(out);
}

fn write_object(out: &mut Vec<u8>, b: &[u8], pieces: &[Piece<'_>]) {
    out.push(b'{');
    let mut first = true;
    for piece in pieces {
        match piece {
            Piece::Copied(m) => {
                push_member(out, &mut first, key(b, m), |out| out.extend_from_slice(&b[m.value.clone()]))
            }
            Piece::New(name, value) => push_member(out, &mut first, name, |out| out.extend_from_slice(value)),
        }
    }
    out.push(b'}');
}

/// The conditions array at `open` without any `PodScheduled` one.
fn kept_conditions(b: &[u8], open: usize) -> Option<Vec<std::ops::Range<usize>>> {
    #[derive(Deserialize)]
    struct Condition {
        #[serde(rename = "type", default)]
        kind: Option<String>,
    }
    let mut kept = raw::elements(b, open)?;
    kept.retain(|e| {
        serde_json::from_slice::<Condition>(&b[e.clone()]).map_or(true, |c| c.kind.as_deref() != Some("PodScheduled"))
    });
    Some(kept)
}

fn conditions_json(b: &[u8], kept: &[std::ops::Range<usize>], condition: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(kept.iter().map(|r| r.len() + 1).sum::<usize>() + condition.len() + 2);
    out.push(b'[');
    for r in kept {
        out.extend_from_slice(&b[r.clone()]);
        out.push(b',');
    }
    out.extend_from_slice(condition);
    out.push(b']');
    out
}

fn new_status(out: &mut Vec<u8>, condition: &[u8]) {
    out.extend_from_slice(b"{\"conditions\":[");
    out.extend_from_slice(condition);
    out.extend_from_slice(b"]}");
}

/// `{"lastProbeTime":null,"lastTransitionTime":now,"status":"True","type":"PodScheduled"}`,
/// keys in the order the store's encoding sorts them.
fn scheduled_condition(now: &str) -> Vec<u8> {
    let mut out = b"{\"lastProbeTime\":null,\"lastTransitionTime\":".to_vec();
    serde_json::to_writer(&mut out, now).expect("a string encodes");
    out.extend_from_slice(b",\"status\":\"True\",\"type\":\"PodScheduled\"}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const NOW: &str = "2026-11-28T12:00:00Z";

    /// What the general path makes of `pod` (as the store holds it, plus its
    /// resourceVersion): `spec.nodeName` set, `PodScheduled` replaced, encoded
    /// without resourceVersion.
    fn by_value(pod: &Value, node: &str) -> Value {
        let mut pod = pod.clone();
        pod["spec"]["nodeName"] = json!(node);
        super::super::pods::set_condition_at(&mut pod, "PodScheduled", "True", NOW);
        skiff_api::meta::remove_meta(&mut pod, "resourceVersion");
        pod
    }

    fn cached(stored: &Value, rv: skiff_store::Revision) -> Vec<u8> {
        raw::with_resource_version(&serde_json::to_vec(stored).unwrap(), rv).unwrap()
    }

    fn by_bytes(stored: &Value, node: &str) -> Option<Vec<u8>> {
        let json = cached(stored, 7);
        CachedPod::parse(&json)?.bound(node, NOW)
    }

    fn pods() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "a", "namespace": "default", "uid": "u-1", "labels": {"app": "x"}},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}], "schedulerName": "default-scheduler"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"},
                   "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": ""},
                   "status": {"phase": "Pending", "qosClass": "BestEffort",
                              "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                                             {"type": "Other", "status": "True"}, {"status": "True"}]}}),
            // Odd but valid strings: quotes, braces and escapes inside values.
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "c", "annotations": {"x": "}\"{,\\\"status\":[", "spec": "{}"}},
                   "spec": {"containers": [{"name": "c", "image": "i", "args": ["\"nodeName\":", "\u{e9}\n"]}],
                            "zzz": [1, 2.5e-3, null, true, {"a": []}]},
                   "status": {"conditions": []}}),
            // No status, and a top-level member sorted after it.
            json!({"metadata": {"name": "d"}, "spec": {}, "zz": 1}),
            // A status without conditions.
            json!({"metadata": {"name": "e"}, "spec": {"priority": 5}, "status": {"phase": "Pending"}}),
        ]
    }

    #[test]
    fn the_edit_matches_the_general_path() {
        for pod in pods() {
            let bytes = by_bytes(&pod, "node-\"1\"").unwrap_or_else(|| panic!("{pod} was not edited in place"));
            let edited: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(edited, by_value(&pod, "node-\"1\""), "{pod}");
            // The store's encoding, key order included.
            assert_eq!(bytes, serde_json::to_vec(&edited).unwrap(), "{pod}");
        }
    }

    #[test]
    fn members_out_of_order_are_edited_in_place() {
        // Not what the store writes (its keys are sorted), but still one `status`.
        let json = br#"{"zz":1,"status":{"phase":"Pending"},"spec":{"nodeName":"","a":1},"metadata":{"resourceVersion":"3","name":"p"}}"#;
        let bytes = CachedPod::parse(json).unwrap().bound("n", NOW).unwrap();
        let (top, _) = raw::members(&bytes, 0).unwrap();
        let keys: Vec<&[u8]> = top.iter().map(|m| key(&bytes, m)).collect();
        assert_eq!(keys, [&b"zz"[..], b"status", b"spec", b"metadata"]);
        let (spec, _) = raw::members(&bytes, member(&bytes, &top, "spec").unwrap().value.start).unwrap();
        assert_eq!(spec.iter().filter(|m| key(&bytes, m) == b"nodeName").count(), 1);
        let edited: Value = serde_json::from_slice(&bytes).unwrap();
        let expected = by_value(&serde_json::from_slice(json).unwrap(), "n");
        assert_eq!(edited, expected);
    }

    #[test]
    fn what_the_checks_read() {
        let pods = pods();
        let json = cached(&pods[0], 42);
        let pod = CachedPod::parse(&json).unwrap();
        let read = (pod.resource_version(), pod.uid(), pod.deleting(), pod.node_name());
        assert_eq!(read, (Some("42".into()), "u-1".into(), false, "".into()));
        let mut deleting = pods[1].clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        deleting["spec"]["nodeName"] = json!("n1");
        let json = cached(&deleting, 3);
        let pod = CachedPod::parse(&json).unwrap();
        assert_eq!((pod.uid(), pod.deleting(), pod.node_name()), ("".into(), true, "n1".into()));
    }

    #[test]
    fn odd_shapes_go_to_the_general_path() {
        for odd in [
            json!({"metadata": {"name": "a"}}),
            json!({"metadata": {"name": "a"}, "spec": []}),
            json!({"metadata": {"name": "a"}, "spec": {}, "status": "x"}),
            json!({"metadata": {"name": "a"}, "spec": {}, "status": {"conditions": {}}}),
            json!({"metadata": {"name": "a"}, "spec": {"node\"Name": "x"}}),
            json!({"metadata": {"name": "a"}, "sp\\ec": {}, "spec": {}}),
        ] {
            assert_eq!(by_bytes(&odd, "n"), None, "{odd}");
        }
        assert!(CachedPod::parse(b"{\"metadata\":{},\"spec\":{}} x").is_none());
        assert!(CachedPod::parse(b"[1]").is_none());
    }
}
