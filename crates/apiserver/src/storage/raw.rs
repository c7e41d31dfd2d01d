//! Stored objects as bytes: the store holds each object's JSON without
//! `resourceVersion`, so serving an object only needs its revision spliced into
//! `metadata` — no decode into a `serde_json::Value` and no encode back. Lists and
//! watch events are built from these bytes.

use serde_json::Value;
use skiff_api::meta;
use skiff_store::Revision;

/// `stored` (an object as the store holds it) with `"resourceVersion":"<revision>"`
/// as the first member of its `metadata`.
///
/// Falls back to decoding and encoding when the bytes are not shaped as expected
/// (no top-level `metadata` object, or one that already has a resourceVersion);
/// `None` only when they are not valid JSON.
pub fn with_resource_version(stored: &[u8], revision: Revision) -> Option<Vec<u8>> {
    match metadata_start(stored) {
        Some((open, empty)) => {
            let rv = revision.to_string();
            let mut out = Vec::with_capacity(stored.len() + rv.len() + 22);
            out.extend_from_slice(&stored[..=open]);
            out.extend_from_slice(b"\"resourceVersion\":\"");
            out.extend_from_slice(rv.as_bytes());
            out.push(b'"');
            if !empty {
                out.push(b',');
            }
            out.extend_from_slice(&stored[open + 1..]);
            Some(out)
        }
        None => {
            let mut obj: Value = serde_json::from_slice(stored).ok()?;
            meta::set_meta(&mut obj, "resourceVersion", revision.to_string());
            serde_json::to_vec(&obj).ok()
        }
    }
}

/// The index of the `{` that opens the top-level `metadata` object, and whether that
/// object is empty; `None` when there is none or it already has a `resourceVersion`.
fn metadata_start(b: &[u8]) -> Option<(usize, bool)> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i)? {
            b'}' => return None,
            b',' => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = string_end(b, i)?;
        let key = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if key == b"metadata" {
            if b.get(i) != Some(&b'{') {
                return None;
            }
            let empty = b.get(skip_ws(b, i + 1)) == Some(&b'}');
            if has_member(b, i, b"resourceVersion")? {
                return None;
            }
            return Some((i, empty));
        }
        i = value_end(b, i)?;
    }
}

/// Whether the object opening at `open` has a member named `name`.
fn has_member(b: &[u8], open: usize, name: &[u8]) -> Option<bool> {
    let mut i = open + 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i)? {
            b'}' => return Some(false),
            b',' => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = string_end(b, i)?;
        if &b[i + 1..key_end - 1] == name {
            return Some(true);
        }
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = value_end(b, skip_ws(b, i + 1))?;
    }
}

/// One member of a JSON object: its key as written (between the quotes, escapes
/// not undone) and where its value lies.
pub(crate) struct Member {
    pub key: std::ops::Range<usize>,
    pub value: std::ops::Range<usize>,
}

/// The members of the object whose `{` is at `open`, in document order, and the
/// index just past its `}`; `None` when the bytes there are not shaped as an object.
pub(crate) fn members(b: &[u8], open: usize) -> Option<(Vec<Member>, usize)> {
    let mut out = Vec::new();
    let end = items(b, open, (b'{', b'}'), |i| {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let colon = skip_ws(b, key_end);
        if b.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, colon + 1);
        let end = value_end(b, start)?;
        out.push(Member { key: i + 1..key_end - 1, value: start..end });
        Some(end)
    })?;
    Some((out, end))
}

/// The elements of the array whose `[` is at `open`, in order.
pub(crate) fn elements(b: &[u8], open: usize) -> Option<Vec<std::ops::Range<usize>>> {
    let mut out = Vec::new();
    items(b, open, (b'[', b']'), |i| {
        let end = value_end(b, i)?;
        out.push(i..end);
        Some(end)
    })?;
    Some(out)
}

/// Walks the container whose opening bracket is at `open`: `item` reads the item
/// starting at each index it is given and returns the index just past it. Returns
/// the index just past the closing bracket.
fn items(
    b: &[u8],
    open: usize,
    (opening, closing): (u8, u8),
    mut item: impl FnMut(usize) -> Option<usize>,
) -> Option<usize> {
    if b.get(open) != Some(&opening) {
        return None;
    }
    let mut i = open + 1;
    let mut first = true;
    loop {
        i = skip_ws(b, i);
        match *b.get(i)? {
            c if c == closing => return Some(i + 1),
            b',' if !first => {
                i += 1;
                continue;
            }
            _ => {}
        }
        i = item(i)?;
        first = false;
    }
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// The index just past the string that starts (with its `"`) at `i`. Jumps from one
/// quote or backslash to the next: stored objects are mostly long strings (ConfigMap
/// data), and this runs on every write and every event.
pub(crate) fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[at] == b'"' {
            return Some(at + 1);
        }
        i = at + 2;
    }
}

/// The index just past the JSON value that starts at `i`.
pub(crate) fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                i += 1;
            }
            Some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spliced(stored: &Value, rv: Revision) -> Value {
        let bytes = with_resource_version(&serde_json::to_vec(stored).unwrap(), rv).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn resource_version_is_spliced_into_metadata() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "data": {"a": "x\"}{,metadata\\", "metadata": "{\"not\": 1}"},
            "binaryData": [1, {"metadata": {}}, [true, null, -1.5e3]],
            "metadata": {"name": "n", "namespace": "default", "labels": {"resourceVersion": "no"}},
        });
        let mut expected = obj.clone();
        expected["metadata"]["resourceVersion"] = json!("42");
        assert_eq!(spliced(&obj, 42), expected);
    }

    #[test]
    fn empty_or_missing_metadata_and_odd_shapes() {
        assert_eq!(spliced(&json!({"metadata": {}}), 7), json!({"metadata": {"resourceVersion": "7"}}));
        assert_eq!(spliced(&json!({"kind": "X"}), 7), json!({"kind": "X", "metadata": {"resourceVersion": "7"}}));
        // An existing resourceVersion is replaced, not duplicated.
        assert_eq!(
            spliced(&json!({"metadata": {"name": "a", "resourceVersion": "1"}}), 9),
            json!({"metadata": {"name": "a", "resourceVersion": "9"}})
        );
        let spaced = br#" { "a" : [ 1 , 2 ] , "metadata" : { } } "#;
        let out: Value = serde_json::from_slice(&with_resource_version(spaced, 3).unwrap()).unwrap();
        assert_eq!(out, json!({"a": [1, 2], "metadata": {"resourceVersion": "3"}}));
        assert!(with_resource_version(b"{\"metadata\": {\"a\"", 1).is_none());
        assert!(with_resource_version(b"not json", 1).is_none());
    }

    #[test]
    fn members_and_elements_are_found_in_place() {
        let b = br#"{"a":1, "b" : {"c":[1,"]",2]} ,"d\"e":"}"}"#;
        let (found, end) = members(b, 0).unwrap();
        assert_eq!(end, b.len());
        let pairs: Vec<(&[u8], &[u8])> = found.iter().map(|m| (&b[m.key.clone()], &b[m.value.clone()])).collect();
        assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", br#"{"c":[1,"]",2]}"#), (br#"d\"e"#, br#""}""#)]);
        let list = br#"[ 1, "x,]", {"a":[]} ,null]"#;
        let items: Vec<&[u8]> = elements(list, 0).unwrap().into_iter().map(|r| &list[r]).collect();
        assert_eq!(items, [&b"1"[..], br#""x,]""#, br#"{"a":[]}"#, b"null"]);
        assert_eq!(elements(b"[]", 0).unwrap(), Vec::<std::ops::Range<usize>>::new());
        assert!(members(b"[1]", 0).is_none());
        assert!(elements(b"{}", 0).is_none());
        assert!(members(br#"{"a" 1}"#, 0).is_none());
        assert!(members(br#"{"a":1"#, 0).is_none());
        assert!(members(br#"{,"a":1}"#, 0).is_none());
    }

    #[test]
    fn strings_end_at_the_first_unescaped_quote() {
        assert_eq!(string_end(b"\"abc\" x", 0), Some(5));
        assert_eq!(string_end(b"\"a\\\"b\\\\\" x", 0), Some(8));
        assert_eq!(string_end(b"\"\\\\\\\"\" x", 0), Some(6));
        assert_eq!(string_end(b"\"abc", 0), None);
        assert_eq!(string_end(b"\"abc\\", 0), None);
        assert_eq!(string_end(b"\"abc\\\"", 0), None);
        let long = format!("\"{}\\\"{}\" tail", "x".repeat(5000), "y".repeat(70));
        assert_eq!(string_end(long.as_bytes(), 0), Some(long.len() - 5));
    }
}
