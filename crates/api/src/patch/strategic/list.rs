//! Merging lists: upstream's `mergeSlice` (merge-strategy lists and scalar deletions) and
//! `mergePatchIntoOriginal` (lists ordered by `$setElementOrder`).

use serde_json::{Map, Value};

use super::order::{no_merge_key, normalize, not_an_object, partition, require_keys, Order};
use super::{
    malformed_primitive_list, merge_map, remove_directives, unknown_directive, Field, Node, PATCH, SET_ELEMENT_ORDER,
};
use crate::patch::{json_eq, PatchError, Result};

/// What a list holds; upstream requires one kind per list, and no lists of lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Object,
}

/// The one kind of item in `lists` taken together; `None` when they are all empty.
fn element_kind(lists: &[&[Value]]) -> Result<Option<Kind>> {
    let mut kind = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let this = match item {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Object(_) => Kind::Object,
            Value::Array(_) => return Err(PatchError::ListOfLists),
        };
        if kind.is_some_and(|k| k != this) {
            return Err(PatchError::Invalid("list element types are not identical".into()));
        }
        kind = Some(this);
    }
    Ok(kind)
}

/// Merges `patch` into the merge-strategy list `current` (or, with `delete`, removes the
/// scalars of `patch` from it).
pub(super) fn merge_list(current: Vec<Value>, patch: Vec<Value>, field: Field, delete: bool) -> Result<Vec<Value>> {
    match element_kind(&[&current, &patch])? {
        None => Ok(current),
        Some(_) if delete && patch.iter().any(Value::is_object) => Err(malformed_primitive_list()),
        Some(_) if delete => Ok(current.into_iter().filter(|c| !patch.iter().any(|p| json_eq(c, p))).collect()),
        Some(Kind::Object) => match field.merge_key() {
            Some(key) => merge_objects(current, patch, key, field.item_node()),
            None => Err(PatchError::Invalid("cannot merge lists of objects without a merge key".into())),
        },
        Some(_) => merge_scalars(current, patch, field.merge_key()),
    }
}

/// A union without duplicates, ordered like any merged list.
fn merge_scalars(current: Vec<Value>, patch: Vec<Value>, key: Option<&'static str>) -> Result<Vec<Value>> {
    if let (Some(_), Some(item)) = (key, current.first().or(patch.first())) {
        // A keyed list of scalars: upstream fails the same way when partitioning it.
        return Err(not_an_object(item));
    }
    let server_order = Order::of(&current, None);
    let patch_order = Order::of(&patch, None);
    let mut merged: Vec<Value> = Vec::with_capacity(current.len() + patch.len());
    for item in current.into_iter().chain(patch) {
        if !merged.iter().any(|m| json_eq(m, &item)) {
            merged.push(item);
        }
    }
    let (patch_items, server_only) = partition(merged, &patch_order);
    Ok(normalize(patch_items, server_only, &patch_order, &server_order))
}

/// Merges a list of objects item by item on `key`.
fn merge_objects(current: Vec<Value>, patch: Vec<Value>, key: &'static str, node: Node) -> Result<Vec<Value>> {
    let (current, patch) = apply_item_directives(current, patch, key)?;
    require_keys(&current, key)?;
    require_keys(&patch, key)?;
    let server_order = Order::of(&current, Some(key));
    let patch_order = Order::of(&patch, Some(key));
    let mut merged = current;
    for item in patch {
        let Value::Object(item) = item else { return Err(not_an_object(&item)) };
        let id = item.get(key).cloned().unwrap_or_default();
        match merged.iter().position(|m| m.get(key).is_some_and(|v| json_eq(v, &id))) {
            Some(i) => {
                let Value::Object(existing) = merged[i].take() else { return Err(not_an_object(&merged[i])) };
                merged[i] = Value::Object(merge_map(existing, item, node)?);
            }
            None => merged.push(Value::Object(item)),
        }
    }
    let (patch_items, server_only) = partition(merged, &patch_order);
    Ok(normalize(patch_items, server_only, &patch_order, &server_order))
}

/// upstream's `mergeSliceWithSpecialElements`: `{"$patch": "delete", key: v}` items remove
/// every current item whose key is `v`; a `{"$patch": "replace"}` item makes the other
/// patch items the whole list. Returns the new current list and the items left to merge.
fn apply_item_directives(mut current: Vec<Value>, patch: Vec<Value>, key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for mut item in patch {
        let Some(directive) = item.get(PATCH) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(id) = item.get(key) else { return Err(no_merge_key(&item, key)) };
                current.retain(|c| !c.get(key).is_some_and(|v| json_eq(v, id)));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                if let Some(map) = item.as_object_mut() {
                    map.remove(PATCH);
                }
                rest.push(item);
            }
            _ => return Err(unknown_directive(directive, item.as_object().unwrap_or(&Map::new()))),
        }
    }
    Ok(if replace { (rest, Vec::new()) } else { (current, rest) })
}

/// upstream's `mergePatchIntoOriginal`: merges each list named by a `$setElementOrder/<f>`
/// directive (with the patch's `<f>`, if any) and orders it: listed items in the listed
/// order, the live object's other items where they were. Removes the directives and the
/// lists it handled from `patch`.
pub(super) fn merge_ordered_lists(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    node: Node,
) -> Result<()> {
    let directives: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
    for directive in directives {
        let order = patch.remove(&directive).unwrap_or_default();
        let name = directive.strip_prefix(SET_ELEMENT_ORDER).and_then(|k| k.strip_prefix('/'));
        let (Some(name), Value::Array(order)) = (name, order) else {
            return Err(PatchError::Malformed("invalid patch format of setElementOrder list".into()));
        };
        let field = node.field(name);
        let key = field.merge_key();
        let current = list_at(original, name)?;
        let patched = list_at(patch, name)?;
        validate_order(patched.as_deref().unwrap_or_default(), &order, key)?;
        patch.remove(name);

        let kind = element_kind(&[current.as_deref().unwrap_or_default(), patched.as_deref().unwrap_or_default()])?;
        let server_order = Order::of(current.as_deref().unwrap_or_default(), key);
        let merged = match (current, patched) {
            (Some(current), None) => current,
            (None, Some(patched)) => match remove_directives(Value::Array(patched)) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            (Some(current), Some(patched)) if field.merges() => merge_list(current, patched, field, false)?,
            (Some(_), Some(patched)) => patched,
            (None, None) => continue,
        };
        // Only merge-strategy lists with items get ordered (see the module docs).
        let (true, Some(kind)) = (field.merges(), kind) else {
            original.insert(name.to_string(), Value::Array(merged));
            continue;
        };
        if let (Kind::Object, Some(key)) = (kind, key) {
            require_keys(&merged, key)?;
            require_keys(&order, key)?;
        }
        let order = Order::of(&order, key);
        let (listed, unlisted) = partition(merged, &order);
        original.insert(name.to_string(), Value::Array(normalize(listed, unlisted, &order, &server_order)));
    }
    Ok(())
}

/// The list at `map[name]`, cloned; an error when something else is there.
fn list_at(map: &Map<String, Value>, name: &str) -> Result<Option<Vec<Value>>> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(PatchError::Invalid(format!("expected a list at {name:?}, but received {other}"))),
    }
}

/// upstream's `validatePatchWithSetOrderList`: the patch's items (deletions aside) must
/// appear in the order list, in the same relative order.
fn validate_order(patched: &[Value], order: &[Value], key: Option<&str>) -> Result<()> {
    if patched.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(patched.len());
    for item in patched {
        if key.is_some() && !item.is_object() {
            return Err(not_an_object(item));
        }
        if item.get(PATCH).and_then(Value::as_str) != Some("delete") {
            items.push(item);
        }
    }
    let (mut p, mut s) = (0, 0);
    while p < items.len() && s < order.len() {
        if items[p].get(PATCH).is_some() {
            p += 1;
            continue;
        }
        if same_item(items[p], &order[s], key)? {
            p += 1;
        }
        s += 1;
    }
    if p < items.len() {
        let (patched, order) = (Value::Array(patched.to_vec()), Value::Array(order.to_vec()));
        return Err(PatchError::Invalid(format!(
            "the order in patch list:\n{patched}\n doesn't match {SET_ELEMENT_ORDER} list:\n{order}"
        )));
    }
    Ok(())
}

fn same_item(a: &Value, b: &Value, key: Option<&str>) -> Result<bool> {
    let Some(key) = key else { return Ok(json_eq(a, b)) };
    let id = |item: &Value| match item {
        Value::Object(map) => map.get(key).cloned().ok_or_else(|| no_merge_key(item, key)),
        other => Err(not_an_object(other)),
    };
    Ok(json_eq(&id(a)?, &id(b)?))
}
