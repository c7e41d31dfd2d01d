//! Strategic merge patch as upstream's API server applies it
//! (`strategicpatch.StrategicMergeMapPatch` with `MergeParallelList` and
//! `IgnoreUnmatchedNulls`), following apimachinery v0.33+ including its fixes for
//! `$deleteFromPrimitiveList` on absent lists and directives inside added values.
//!
//! Maps merge key by key and `null` deletes a key. A list is replaced unless its field
//! has `patchStrategy: merge`: then lists of objects merge item by item on the field's
//! `patchMergeKey`, and lists of scalars are unioned. A merged list keeps the live order
//! of the items the patch does not mention and the patch's order for the others; items
//! the live list lacks come first unless `$setElementOrder` places them (upstream's
//! ordering, surprising as it is). Directives:
//!
//! - `$patch: replace` in a map replaces the map; `$patch: delete` empties it. As a list
//!   item, `{"$patch": "replace"}` replaces the whole list with the other items and
//!   `{"<key>": v, "$patch": "delete"}` removes the items whose merge key is `v`.
//! - `$retainKeys: [k...]` clears every key of the map not listed.
//! - `$setElementOrder/<field>: [...]` fixes the order of the merged list `<field>`.
//! - `$deleteFromPrimitiveList/<field>: [...]` removes those scalars from `<field>`.
//!
//! Where the schema says nothing (fields of custom resources, `RawExtension` contents,
//! fields newer than our k8s-openapi) the same rules run without strategies, which is
//! RFC 7386 merge patch plus the directives. Upstream refuses strategic patches for
//! custom resources (415); [`root_type`] tells the caller whether the kind is built in.
//!
//! Deliberate differences from upstream, all where upstream errors, panics or does
//! something no client asks for: `$patch: merge` is accepted as "merge as usual" (upstream
//! rejects it); `$deleteFromPrimitiveList/<f>` must be a list of scalars (upstream treats
//! other values as additions or, for `null`, deletes `<f>`); `$setElementOrder` on a field
//! without the merge strategy, or on lists that are empty on both sides, only orders
//! nothing (upstream panics or errors).

mod list;
mod order;

use serde_json::{Map, Value};

use super::strategies::{field_type, patch_meta, root_type, FieldType, PatchMeta};
use super::{nesting_depth, remove_key, PatchError, Result, MAX_DEPTH};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge patch to `doc`, an object of `group/version` `kind`, and
/// returns the result; `doc` is left untouched.
///
/// Kinds without a built-in type (see [`root_type`]) are patched without strategies.
///
/// # Errors
/// [`PatchError::Malformed`] when `patch` is not an object or a directive is malformed,
/// [`PatchError::ListOfLists`], [`PatchError::TooDeep`], and [`PatchError::Invalid`] for
/// the rest (an item without its merge key, list items of different types, an unknown
/// `$patch`, a `$setElementOrder` list that contradicts the patch).
pub fn strategic_merge_patch(doc: &Value, patch: &Value, group: &str, version: &str, kind: &str) -> Result<Value> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed("a strategic merge patch must be a JSON object".into()));
    };
    let Value::Object(original) = doc else {
        return Err(PatchError::Invalid("the object to patch is not a JSON object".into()));
    };
    // Every recursion below follows the patch's nesting, so bounding it bounds them all.
    let patch_depth = 1 + patch.values().map(nesting_depth).max().unwrap_or(0);
    if nesting_depth(doc).max(patch_depth) > MAX_DEPTH {
        return Err(PatchError::TooDeep);
    }
    let node = root_type(group, version, kind).map_or(Node::Unknown, Node::Struct);
    merge_map(original.clone(), patch.clone(), node).map(Value::Object)
}

/// The schema position of a JSON object being merged.
#[derive(Clone, Copy, Debug)]
enum Node {
    /// A struct: fields have types and patch metadata.
    Struct(&'static str),
    /// A `map[string]T`: every value has the given type, no metadata.
    Map(&'static FieldType),
    /// No schema: merge without strategies.
    Unknown,
}

impl Node {
    fn of(ty: Option<&'static FieldType>) -> Node {
        match ty {
            Some(FieldType::Struct(name)) => Node::Struct(name),
            Some(FieldType::Map(values)) => Node::Map(values),
            _ => Node::Unknown,
        }
    }

    fn field(self, key: &str) -> Field {
        match self {
            Node::Struct(name) => Field { ty: field_type(name, key), meta: patch_meta(name, key) },
            Node::Map(values) => Field { ty: Some(values), meta: None },
            Node::Unknown => Field { ty: None, meta: None },
        }
    }
}

/// One field of a [`Node`]: its type and upstream's patch metadata.
#[derive(Clone, Copy, Debug)]
struct Field {
    ty: Option<&'static FieldType>,
    meta: Option<&'static PatchMeta>,
}

impl Field {
    fn merges(&self) -> bool {
        self.meta.is_some_and(PatchMeta::merges)
    }

    fn replaces(&self) -> bool {
        self.meta.is_some_and(PatchMeta::replaces)
    }

    fn merge_key(&self) -> Option<&'static str> {
        self.meta.and_then(|m| m.merge_key)
    }

    /// The node of this field's value when it is an object.
    fn node(&self) -> Node {
        Node::of(self.ty)
    }

    /// The node of this field's list items when they are objects.
    fn item_node(&self) -> Node {
        match self.ty {
            Some(FieldType::List(items)) => Node::of(Some(items)),
            _ => Node::Unknown,
        }
    }
}

/// upstream's `mergeMap`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    node: Node,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(PATCH) {
        match directive.as_str() {
            Some("replace") => {
                patch.remove(PATCH);
                return Ok(patch);
            }
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {
                patch.remove(PATCH);
            }
            _ => return Err(unknown_directive(directive, &patch)),
        }
    }
    apply_retain_keys(&mut original, &mut patch)?;
    list::merge_ordered_lists(&mut original, &mut patch, node)?;

    // Deletions from scalar lists go last, after additions to the same list, as they do
    // when `$setElementOrder` accompanies them (the way kubectl sends them).
    let (deletions, changes): (Vec<_>, Vec<_>) =
        patch.into_iter().partition(|(k, _)| k.starts_with(DELETE_FROM_PRIMITIVE_LIST));
    for (key, value) in changes {
        merge_field(&mut original, key, value, node)?;
    }
    for (key, value) in deletions {
        let field = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST).and_then(|k| k.strip_prefix('/')) {
            Some(field) => field.to_string(),
            None => return Err(malformed_primitive_list()),
        };
        delete_from_list(&mut original, &field, value, node)?;
    }
    Ok(original)
}

fn merge_field(original: &mut Map<String, Value>, key: String, patch: Value, node: Node) -> Result<()> {
    if patch.is_null() {
        remove_key(original, &key);
        return Ok(());
    }
    let Some(slot) = original.get_mut(&key) else {
        if let Some(value) = fresh(patch) {
            original.insert(key, value);
        }
        return Ok(());
    };
    let field = node.field(&key);
    let merged = match (slot.take(), patch) {
        (Value::Object(current), Value::Object(patch)) if !field.replaces() => {
            Some(Value::Object(merge_map(current, patch, field.node())?))
        }
        (Value::Array(current), Value::Array(patch)) if field.merges() => {
            Some(Value::Array(list::merge_list(current, patch, field, false)?))
        }
        // Replace strategy, or a scalar: the patch value as sent.
        (current, patch) if same_kind(&current, &patch) => Some(patch),
        // A changed type is a new value: cleaned like any value the original lacked.
        (_, patch) => fresh(patch),
    };
    match merged {
        Some(value) => *slot = value,
        None => {
            remove_key(original, &key);
        }
    }
    Ok(())
}

/// `$deleteFromPrimitiveList/<field>`: removes the listed scalars from the list `field`.
/// A missing field stays missing (upstream used to add the "deleted" items).
fn delete_from_list(original: &mut Map<String, Value>, field: &str, patch: Value, node: Node) -> Result<()> {
    let Value::Array(delete) = patch else { return Err(malformed_primitive_list()) };
    if delete.iter().any(|v| v.is_array() || v.is_object()) {
        return Err(malformed_primitive_list());
    }
    if let Some(Value::Array(current)) = original.get_mut(field) {
        let kept = list::merge_list(std::mem::take(current), delete, node.field(field), true)?;
        *current = kept;
    }
    Ok(())
}

/// upstream's `applyRetainKeysDirective`: drops the keys of `original` not listed, after
/// checking that the patch itself sets no key outside the list.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retain) = retain else {
        return Err(PatchError::Malformed("invalid patch format of retainKeys".into()));
    };
    let kept = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    let outside = patch.iter().any(|(k, v)| {
        !v.is_null() && !k.starts_with(DELETE_FROM_PRIMITIVE_LIST) && !k.starts_with(SET_ELEMENT_ORDER) && !kept(k)
    });
    if outside {
        return Err(PatchError::Malformed("invalid patch format of retainKeys".into()));
    }
    original.retain(|k, _| kept(k));
    Ok(())
}

/// A patch value going where the original has nothing comparable: `null`s inside it
/// mean nothing (there is nothing to delete) and objects carrying `$patch` are dropped,
/// as upstream's `discardNullValuesFromPatch` and `removeDirectives` do. `None` when the
/// value itself is dropped.
fn fresh(mut value: Value) -> Option<Value> {
    discard_nulls(&mut value);
    remove_directives(value)
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(PATCH) => None,
        Value::Object(map) => {
            Some(Value::Object(map.into_iter().filter_map(|(k, v)| remove_directives(v).map(|v| (k, v))).collect()))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(remove_directives).collect())),
        other => Some(other),
    }
}

/// Whether two values decode to the same Go type (all numbers are float64).
fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn unknown_directive(directive: &Value, patch: &Map<String, Value>) -> PatchError {
    PatchError::Invalid(format!("unknown patch type: {directive} in map: {}", Value::Object(patch.clone())))
}

fn malformed_primitive_list() -> PatchError {
    PatchError::Malformed("invalid patch format of primitive list".into())
}
