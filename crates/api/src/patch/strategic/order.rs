//! The order of merged lists (upstream's `normalizeElementOrder` and helpers): items the
//! patch mentions come in the patch's order (or `$setElementOrder`'s), the others keep
//! the live object's order, and the two are interleaved so that a server-only item stays
//! ahead of the patch items that followed it on the server.

use serde_json::Value;

use super::super::{json_eq, PatchError, Result};

/// The identities of a list's items, in list order: the merge key's value for objects of a
/// keyed list, the item itself otherwise. `None` stands for an object without the key.
pub(super) struct Order {
    key: Option<&'static str>,
    ids: Vec<Option<Value>>,
}

impl Order {
    pub(super) fn of(items: &[Value], key: Option<&'static str>) -> Order {
        Order { key, ids: items.iter().map(|item| identity(item, key).cloned()).collect() }
    }

    /// Where `item` sits in this order, compared by identity.
    pub(super) fn position(&self, item: &Value) -> Option<usize> {
        let id = identity(item, self.key);
        self.ids.iter().position(|other| match (other, id) {
            (Some(a), Some(b)) => json_eq(a, b),
            (None, None) => true,
            _ => false,
        })
    }
}

fn identity<'a>(item: &'a Value, key: Option<&str>) -> Option<&'a Value> {
    match key {
        Some(key) => item.get(key),
        None => Some(item),
    }
}

/// Splits `items` into those `by` mentions and the rest, keeping their order.
pub(super) fn partition(items: Vec<Value>, by: &Order) -> (Vec<Value>, Vec<Value>) {
    items.into_iter().partition(|item| by.position(item).is_some())
}

/// upstream's `normalizeElementOrder`: `patch_items` sorted by `patch_order`, `server_only`
/// sorted by `server_order`, then merged by the server order.
pub(super) fn normalize(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &Order,
    server_order: &Order,
) -> Vec<Value> {
    let right = sorted(patch_items, patch_order);
    let left = sorted(server_only, server_order);
    // upstream's `mergeSortedSlice`: take the server-only item first only when both are on
    // the server and it came first there; otherwise the patch item leads.
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let server_first = matches!(
            (server_order.position(l), server_order.position(r)),
            (Some(a), Some(b)) if a < b
        );
        let next = if server_first { left.next() } else { right.next() };
        out.extend(next);
    }
    out.extend(left);
    out.extend(right);
    out
}

/// A stable sort by position in `order`. Items `order` does not know go last; upstream's
/// comparator is not a strict order for them, but its callers never produce any.
fn sorted(mut items: Vec<Value>, order: &Order) -> Vec<Value> {
    items.sort_by_key(|item| order.position(item).unwrap_or(usize::MAX));
    items
}

/// Checks that every item is an object carrying `key`, as upstream's
/// `validateMergeKeyInLists` does before ordering a keyed list.
pub(super) fn require_keys(items: &[Value], key: &str) -> Result<()> {
    items.iter().try_for_each(|item| match item {
        Value::Object(map) if map.contains_key(key) => Ok(()),
        Value::Object(_) => Err(no_merge_key(item, key)),
        other => Err(not_an_object(other)),
    })
}

/// upstream's `ErrNoMergeKey`.
pub(super) fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::Invalid(format!("map: {item} does not contain declared merge key: {key}"))
}

/// upstream's `ErrBadArgType` for a list item that should be an object.
pub(super) fn not_an_object(item: &Value) -> PatchError {
    PatchError::Invalid(format!("expected a map[string]interface {{}}, but received {item}"))
}
