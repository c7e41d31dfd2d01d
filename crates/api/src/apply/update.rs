//! Ownership after a write that is not an apply (create, update, patch, subresources):
//! the writer owns what it changed, and nobody else does any more (structured-merge-diff's
//! `Updater.Update`).

use serde_json::Value;

use super::compare::{compare, created};
use super::managed::{ManagedFields, ManagedFieldsEntry, Operation};
use super::set::FieldSet;
use super::{baseline, Manager, Scope, MAX_UPDATE_MANAGERS};

/// Records that `writer` turned `live` into `new` (`live` is `None` for a create).
///
/// # Guarantees
/// When nothing but system fields changed, `managed` is untouched. Otherwise the writer's
/// `Update` entry gains every added or modified field and its time becomes `now`; added,
/// modified and removed fields leave every other entry; entries left empty are dropped and
/// at most [`MAX_UPDATE_MANAGERS`] `Update` entries remain.
pub fn record_update(
    managed: &mut ManagedFields,
    live: Option<&Value>,
    new: &Value,
    scope: &Scope,
    writer: &Manager<'_>,
    now: &str,
) {
    let base = match live {
        Some(live) => live.clone(),
        None => baseline(new, scope.root),
    };
    let cmp = compare(Some(&base), Some(new), scope.root).without(scope.strip, &scope.ignored);
    if cmp.is_same() {
        return;
    }
    let changed = cmp.changed();
    for entry in &mut managed.entries {
        entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
    }
    let previous = managed.find(writer.manager, Operation::Update, writer.subresource, writer.api_version);
    let fields = previous.map_or_else(FieldSet::new, |e| e.fields.clone()).union(&changed);
    managed.put(update_entry(writer, now, fields));
    managed.prune_empty();
    managed.cap_updaters(MAX_UPDATE_MANAGERS);
}

/// [`record_update`] for a create by one manager into empty `managed` (the request
/// sent no `managedFields`): the creator owns exactly the fields it set, found in one
/// walk of `new`. Same result as `record_update(managed, None, ..)`, for a fraction
/// of the work.
pub fn record_create(managed: &mut ManagedFields, new: &Value, scope: &Scope, writer: &Manager<'_>, now: &str) {
    if !managed.entries.is_empty() {
        return record_update(managed, None, new, scope, writer, now);
    }
    let mut fields = created(new, scope.root);
    fields.remove(scope.strip);
    fields.remove_prefixes(&scope.ignored);
    if fields.is_empty() {
        return;
    }
    managed.put(update_entry(writer, now, fields));
}

/// The `Update` entry `writer` owns after its write at `now`.
fn update_entry(writer: &Manager<'_>, now: &str, fields: FieldSet) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: writer.manager.to_string(),
        operation: Operation::Update,
        api_version: writer.api_version.to_string(),
        time: Some(now.to_string()),
        subresource: writer.subresource.to_string(),
        fields,
    }
}
