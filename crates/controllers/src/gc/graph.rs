//! The garbage collector's view of ownership, and its decisions (upstream's
//! `GraphBuilder` and `attemptToDeleteItem` / `processDeletingDependentsItem` /
//! `orphanDependents`), pure: nodes by uid with their owners, the reverse
//! index of dependents, and what to do for one node given the state of its
//! owners.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// One object.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Index of its resource in the collector's resource list.
    pub resource: usize,
    pub namespace: String,
    pub name: String,
    pub owners: Vec<OwnerReference>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
}

impl Node {
    pub fn from_meta(resource: usize, meta: &ObjectMeta) -> Node {
        Node {
            resource,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            owners: meta.owner_references.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn dependents(&self, uid: &str) -> Vec<String> {
        let mut d: Vec<String> = self.dependents.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        d.sort();
        d
    }

    /// Stores `node`; returns the uids to look at again: the node when it has
    /// owners or is being deleted with a GC finalizer, and owners it dropped.
    pub fn upsert(&mut self, uid: &str, node: Node) -> Vec<String> {
        let mut again = Vec::new();
        let old_owners: Vec<String> =
            self.nodes.get(uid).map(|n| n.owners.iter().map(|o| o.uid.clone()).collect()).unwrap_or_default();
        for o in &old_owners {
            if !node.owners.iter().any(|n| &n.uid == o) {
                if let Some(set) = self.dependents.get_mut(o) {
                    set.remove(uid);
                }
                again.push(o.clone());
            }
        }
        for o in &node.owners {
            self.dependents.entry(o.uid.clone()).or_default().insert(uid.to_string());
        }
        if !node.owners.is_empty() || (node.deleting && (node.has(ORPHAN) || node.has(FOREGROUND))) {
            again.push(uid.to_string());
        }
        self.nodes.insert(uid.to_string(), node);
        again
    }

    /// Forgets a deleted object; returns its dependents (their owner is gone)
    /// and its owners (one may be waiting for it).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut again = self.dependents(uid);
        if let Some(node) = self.nodes.remove(uid) {
            for o in node.owners {
                if let Some(set) = self.dependents.get_mut(&o.uid) {
                    set.remove(uid);
                    if set.is_empty() && !self.nodes.contains_key(&o.uid) {
                        self.dependents.remove(&o.uid);
                    }
                }
                again.push(o.uid);
            }
        }
        again
    }
}

/// What an owner reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists and is not being deleted in the foreground.
    Solid,
    /// Gone (or replaced by another object with the same name).
    Dangling,
    /// Being deleted in the foreground: waits for its dependents.
    Waiting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Delete the object with this propagation policy.
    Delete { uid: String, policy: &'static str },
    /// Remove the owner references with these uids from the object.
    RemoveOwners { uid: String, owners: Vec<String> },
    /// Remove a finalizer from the object.
    RemoveFinalizer { uid: String, finalizer: &'static str },
}

/// Decides for the object `uid`. `owner_state` tells what each of its owner
/// references points at (the shell checks absent owners against the API
/// before calling this: deleting on a stale cache is not undoable).
pub fn decide(graph: &Graph, uid: &str, owner_state: &dyn Fn(&OwnerReference) -> OwnerState) -> Vec<Action> {
    let Some(node) = graph.node(uid) else { return Vec::new() };
    let dependents = graph.dependents(uid);
    if node.deleting && node.has(ORPHAN) {
        // Orphan: unlink every dependent, then let the owner go.
        let mut actions: Vec<Action> = dependents
            .iter()
            .filter(|d| graph.node(d).is_some())
            .map(|d| Action::RemoveOwners { uid: d.clone(), owners: vec![uid.to_string()] })
            .collect();
        actions.push(Action::RemoveFinalizer { uid: uid.to_string(), finalizer: ORPHAN });
        return actions;
    }
    if node.deleting && node.has(FOREGROUND) {
        // Foreground: delete every dependent; go once no blocking one is left.
        let mut actions = Vec::new();
        let mut blocked = false;
        for d in &dependents {
            let Some(dep) = graph.node(d) else { continue };
            let blocks = dep.owners.iter().any(|o| o.uid == uid && o.block_owner_deletion == Some(true));
            blocked |= blocks;
            if !dep.deleting {
                let policy = if graph.dependents(d).is_empty() { "Background" } else { "Foreground" };
                actions.push(Action::Delete { uid: d.clone(), policy });
            }
        }
        if !blocked {
            actions.push(Action::RemoveFinalizer { uid: uid.to_string(), finalizer: FOREGROUND });
        }
        return actions;
    }
    if node.owners.is_empty() || node.deleting {
        return Vec::new();
    }
    let states: Vec<(&OwnerReference, OwnerState)> = node.owners.iter().map(|o| (o, owner_state(o))).collect();
    let solid = states.iter().any(|(_, s)| *s == OwnerState::Solid);
    if solid {
        let stale: Vec<String> =
            states.iter().filter(|(_, s)| *s != OwnerState::Solid).map(|(o, _)| o.uid.clone()).collect();
        if stale.is_empty() {
            return Vec::new();
        }
        return vec![Action::RemoveOwners { uid: uid.to_string(), owners: stale }];
    }
    let waiting = states.iter().any(|(_, s)| *s == OwnerState::Waiting);
    // With an owner waiting in the foreground, this object's own dependents go
    // first too.
    let policy = if waiting && !dependents.is_empty() { "Foreground" } else { "Background" };
    vec![Action::Delete { uid: uid.to_string(), policy }]
}

#[cfg(test)]
mod tests;
