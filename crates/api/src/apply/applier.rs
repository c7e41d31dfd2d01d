//! Server-side apply of one configuration by one manager (structured-merge-diff's
//! `Updater.Apply`, with upstream's kubectl client-side-apply upgrade on top).

use std::collections::BTreeSet;

use serde_json::Value;

use super::compare::compare;
use super::fieldset::field_set;
use super::last_applied;
use super::managed::{ManagedFields, ManagedFieldsEntry, Operation};
use super::merge::{empty, merge, remove};
use super::path::{self, Path};
use super::schema::{Node, Shape};
use super::{baseline, ApplyError, Conflict, Manager, Scope, MAX_UPDATE_MANAGERS};

/// Applies `config` for `applier` to `live` (`None`: the object does not exist yet) and
/// returns the new object; `managed` becomes the new managed fields.
///
/// # Guarantees
/// - The applier's `Apply` entry holds exactly the fields `config` sets (less system
///   fields and `scope`'s ignored ones).
/// - Fields the applier set last time and no longer sets are removed from the object,
///   unless another manager owns them.
/// - Without `force`, nothing changes when the apply would change a field another manager
///   owns; with `force`, those fields move to the applier.
/// - The manager `kubectl` takes over, without conflict, fields kubectl's client-side apply
///   set (per the `last-applied-configuration` annotation) and keeps that annotation in
///   step with what it applies, as upstream does for `kubectl apply --server-side`.
///
/// # Errors
/// [`ApplyError::Conflicts`], one per conflicting (manager, field), or
/// [`ApplyError::Invalid`] when `config` repeats a list item key.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    managed: &mut ManagedFields,
    scope: &Scope,
    applier: &Manager<'_>,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    check_duplicates(config, scope.root, &mut Vec::new())?;
    let result = match apply_once(live, config, managed, scope, applier, force, now) {
        Err(ApplyError::Conflicts(conflicts)) if applier.manager == last_applied::KUBECTL => {
            let allowed = live.and_then(|l| last_applied::allowed_conflicts(l, scope, applier.api_version));
            let Some(allowed) = allowed else { return Err(ApplyError::Conflicts(conflicts)) };
            let remaining: Vec<Conflict> = conflicts.into_iter().filter(|c| !allowed.has(&c.path)).collect();
            if !remaining.is_empty() {
                return Err(ApplyError::Conflicts(remaining));
            }
            apply_once(live, config, managed, scope, applier, true, now)
        }
        other => other,
    };
    let (mut obj, new_managed) = result?;
    *managed = new_managed;
    if applier.manager == last_applied::KUBECTL {
        last_applied::sync(&mut obj, config);
    }
    Ok(obj)
}

fn apply_once(
    live: Option<&Value>,
    config: &Value,
    managed: &ManagedFields,
    scope: &Scope,
    applier: &Manager<'_>,
    force: bool,
    now: &str,
) -> Result<(Value, ManagedFields), ApplyError> {
    let mut managed = managed.clone();
    let applied = field_set(config, scope.root).difference(scope.strip).without_prefixes(&scope.ignored);
    let previous = managed.find(applier.manager, Operation::Apply, applier.subresource, "").cloned();
    let me = ManagedFieldsEntry {
        manager: applier.manager.to_string(),
        operation: Operation::Apply,
        api_version: applier.api_version.to_string(),
        time: previous.as_ref().and_then(|p| p.time.clone()),
        subresource: applier.subresource.to_string(),
        fields: applied.clone(),
    };

    // Merge, then drop what this applier set before, sets no more, and nobody else owns.
    let mut merged = merge(live.unwrap_or(&empty()), config, scope.root);
    let others = managed.owned_by_others(&me);
    if let Some(previous) = &previous {
        let dropped = previous.fields.difference(&applied).difference(&others);
        remove(&mut merged, &dropped, &applied.union(&others), scope.root);
    }

    let base = live.cloned().unwrap_or_else(|| baseline(&merged, scope.root));
    let cmp = compare(Some(&base), Some(&merged), scope.root).without(scope.strip, &scope.ignored);
    let changed = cmp.changed();
    let conflicts: Vec<Conflict> = managed
        .entries
        .iter()
        .filter(|e| !e.same_manager(&me))
        .flat_map(|e| {
            let manager = e.describe();
            e.fields
                .intersection(&changed)
                .paths()
                .into_iter()
                .map(move |path| Conflict { manager: manager.clone(), path })
        })
        .collect();
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for entry in managed.entries.iter_mut().filter(|e| !e.same_manager(&me)) {
        entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
    }
    let changed_object = live != Some(&merged);
    let time = if changed_object || me.time.is_none() { Some(now.to_string()) } else { me.time.clone() };
    managed.put(ManagedFieldsEntry { time, ..me });
    managed.prune_empty();
    managed.cap_updaters(MAX_UPDATE_MANAGERS);
    Ok((merged, managed))
}

/// Refuses a configuration that names one list item twice: which one would it mean?
fn check_duplicates(value: &Value, node: Node, at: &mut Path) -> Result<(), ApplyError> {
    match (node.shape(value), value) {
        (Shape::Object(n), Value::Object(map)) => {
            for (key, child) in map {
                at.push(path::PathElement::field(key.as_str()));
                check_duplicates(child, n.field(key), at)?;
                at.pop();
            }
        }
        (Shape::List(list), Value::Array(items)) => {
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = list.element(i, item);
                if !seen.insert(pe.clone()) {
                    return Err(ApplyError::Invalid(format!(
                        "failed to create typed patch object: {}: duplicate entries for key {pe}",
                        path::display(at)
                    )));
                }
                at.push(pe);
                check_duplicates(item, list.item(), at)?;
                at.pop();
            }
        }
        _ => {}
    }
    Ok(())
}
