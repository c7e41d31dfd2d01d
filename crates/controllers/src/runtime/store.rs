//! The in-memory copy of one resource that an informer keeps: objects by
//! namespace and name, shared as `Arc`s so readers never copy them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kube::Resource;

/// `namespace/name`, or `name` for cluster-scoped objects (client-go's key).
pub fn key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// The key of an object.
pub fn key_of<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    key(meta.namespace.as_deref(), meta.name.as_deref().unwrap_or(""))
}

/// Splits a key into `(namespace, name)`; the namespace is "" for
/// cluster-scoped keys.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// Objects of one kind, by namespace ("" for cluster-scoped) then name.
#[derive(Debug)]
pub struct Store<K> {
    by_namespace: HashMap<String, BTreeMap<String, Arc<K>>>,
    len: usize,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store { by_namespace: HashMap::new(), len: 0 }
    }
}

impl<K: Resource> Store<K> {
    fn place(obj: &K) -> (String, String) {
        let meta = obj.meta();
        (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
    }

    /// Stores `obj`; returns the version it replaced.
    pub fn insert(&mut self, obj: Arc<K>) -> Option<Arc<K>> {
        let (ns, name) = Store::place(obj.as_ref());
        let old = self.by_namespace.entry(ns).or_default().insert(name, obj);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes the object with `obj`'s namespace and name; returns what was stored.
    pub fn remove(&mut self, obj: &K) -> Option<Arc<K>> {
        let (ns, name) = Store::place(obj);
        let names = self.by_namespace.get_mut(&ns)?;
        let old = names.remove(&name);
        if names.is_empty() {
            self.by_namespace.remove(&ns);
        }
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.by_namespace.get(namespace)?.get(name).cloned()
    }

    /// Every object in `namespace`, by name.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_namespace.get(namespace).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn list(&self) -> Vec<Arc<K>> {
        self.by_namespace.values().flat_map(|m| m.values().cloned()).collect()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether any object is stored in `namespace`.
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.by_namespace.contains_key(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(ns: &str, name: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        Arc::new(p)
    }

    #[test]
    fn objects_are_found_by_namespace_and_name() {
        let mut s = Store::default();
        assert!(s.insert(pod("a", "x")).is_none());
        assert!(s.insert(pod("a", "y")).is_none());
        assert!(s.insert(pod("b", "x")).is_none());
        assert!(s.insert(pod("a", "x")).is_some(), "replacing returns the old version");
        assert_eq!(s.len(), 3);
        assert_eq!(s.list_namespace("a").len(), 2);
        assert!(s.get("b", "x").is_some());
        assert!(s.remove(&pod("b", "x")).is_some());
        assert!(!s.has_namespace("b"));
        assert_eq!(s.list().len(), 2);
    }

    #[test]
    fn keys_split_back() {
        assert_eq!(split_key(&key(Some("ns"), "n")), ("ns", "n"));
        assert_eq!(split_key(&key(None, "n")), ("", "n"));
    }
}
