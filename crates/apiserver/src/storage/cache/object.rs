//! How the watch cache keeps an object: its JSON bytes, ready to send, plus what
//! label and field selectors look at. A decoded `serde_json::Value` of a 1.5 KB
//! ConfigMap took ~7 KB and had to be encoded again for every list and watch event;
//! the bytes are sent as they are and decoded only for the rare reader that needs a
//! `Value` (tables, metadata-only output, kinds served in another version).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use skiff_api::registry::Resource;
use skiff_api::selector::{field_value, selectable_part, supported_fields};
use skiff_api::{ApiError, ApiResult};
use skiff_store::Revision;

use crate::storage::{present, raw, Filter};

/// One object in the watch cache.
#[derive(Debug)]
pub struct CachedObject {
    /// The object as JSON in its storage version, with its resourceVersion.
    pub json: Bytes,
    labels: Box<[(Box<str>, Box<str>)]>,
    /// The values of the kind's selectable fields, in the order of
    /// `supported_fields(group, kind)`; empty for kinds served in a version other
    /// than the stored one (their fields are looked up in the converted object).
    fields: Box<[Box<str>]>,
}

/// The part of an object that every kind's selectors need, read without building
/// a `Value` of the whole object.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: HeadMeta,
}

#[derive(Deserialize, Default)]
struct HeadMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Value>>,
}

impl CachedObject {
    /// Builds the cache entry of `stored` (the store's bytes, without
    /// resourceVersion) at `revision`.
    ///
    /// # Errors
    /// 500 when the stored bytes are not a JSON object.
    pub fn from_stored(res: &Resource, stored: &[u8], revision: Revision) -> ApiResult<CachedObject> {
        let invalid = |e: serde_json::Error| ApiError::Internal(format!("stored object is not valid JSON: {e}"));
        let json = raw::with_resource_version(stored, revision)
            .ok_or_else(|| ApiError::Internal("stored object is not valid JSON".into()))?;
        let names = supported_fields(res.group, res.kind);
        let converted = skiff_api::conversion::storage_version(res.group, res.kind).is_some();
        let plain = names.iter().all(|f| matches!(*f, "metadata.name" | "metadata.namespace"));
        let (labels, fields) = if plain || converted {
            let head: Head = serde_json::from_slice(stored).map_err(invalid)?;
            let m = head.metadata;
            let fields = if converted {
                Vec::new()
            } else {
                names
                    .iter()
                    .map(|f| match *f {
                        "metadata.name" => m.name.as_deref().unwrap_or(""),
                        _ => m.namespace.as_deref().unwrap_or(""),
                    })
                    .map(Box::from)
                    .collect()
            };
            (string_labels(m.labels.iter().flatten()), fields)
        } else {
            // Only what selectors read: a whole pod as a `Value` cost a
            // hundred times the allocations.
            let obj = selectable_part(res.group, res.kind, stored).map_err(invalid)?;
            let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
            let fields = names
                .iter()
                .map(|f| Box::from(field_value(res.group, res.kind, &obj, f).unwrap_or_default()))
                .collect();
            (string_labels(labels.into_iter().flatten()), fields)
        };
        Ok(CachedObject { json: Bytes::from(json), labels, fields: fields.into_boxed_slice() })
    }

    /// The object as a `Value` (storage version, with resourceVersion).
    pub fn decode(&self) -> ApiResult<Value> {
        serde_json::from_slice(&self.json)
            .map_err(|e| ApiError::Internal(format!("cached object is not valid JSON: {e}")))
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.binary_search_by(|(k, _)| (**k).cmp(key)).ok().map(|i| &*self.labels[i].1)
    }

    /// Whether `filter` keeps this object, as [`Filter::matches`] would on its `Value`.
    pub fn matches(&self, filter: &Filter<'_>) -> bool {
        if !filter.labels.matches(|k| self.label(k)) {
            return false;
        }
        if filter.fields.is_empty() {
            return true;
        }
        let res = filter.resource;
        if self.fields.is_empty() {
            // A kind served in several versions: its fields are the served version's.
            return self.decode().is_ok_and(|obj| filter.fields.matches(res.group, res.kind, &present(res, &obj)));
        }
        let names = supported_fields(res.group, res.kind);
        filter
            .fields
            .matches_with(|f| names.iter().position(|n| *n == f).and_then(|i| self.fields.get(i)).map(|v| &**v))
    }
}

/// Labels with string values (others never match a selector), sorted by key.
fn string_labels<'a>(labels: impl Iterator<Item = (&'a String, &'a Value)>) -> Box<[(Box<str>, Box<str>)]> {
    // BTreeMap iteration is already in key order.
    labels.filter_map(|(k, v)| v.as_str().map(|v| (Box::from(k.as_str()), Box::from(v)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skiff_api::selector::{FieldSelector, LabelSelector};

    fn filter_matches(res: &'static Resource, obj: &Value, labels: &str, fields: &str) -> (bool, bool) {
        let labels = LabelSelector::parse(labels).unwrap();
        let fields = FieldSelector::parse(fields).unwrap();
        let filter = Filter { resource: res, labels: &labels, fields: &fields };
        let mut stored = obj.clone();
        skiff_api::meta::remove_meta(&mut stored, "resourceVersion");
        let cached = CachedObject::from_stored(res, &serde_json::to_vec(&stored).unwrap(), 5).unwrap();
        (cached.matches(&filter), filter.matches(obj))
    }

    #[test]
    fn selectors_match_cached_objects_as_they_match_values() {
        let pods = skiff_api::registry::find("", "v1", "pods").unwrap();
        let cms = skiff_api::registry::find("", "v1", "configmaps").unwrap();
        let events = skiff_api::registry::find("", "v1", "events").unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "tier": "1", "odd": 3}},
            "spec": {"nodeName": "n1", "hostNetwork": true}, "status": {"phase": "Running"}});
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": {"a": "b"}});
        let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Scheduled"});
        let cases: &[(&'static Resource, &Value, &str, &str)] = &[
            (pods, &pod, "", ""),
            (pods, &pod, "app=web", "spec.nodeName=n1"),
            (pods, &pod, "app in (web,db),tier>0", "status.phase!=Pending,spec.hostNetwork=true"),
            (pods, &pod, "app=db", ""),
            (pods, &pod, "odd", ""),
            (pods, &pod, "!odd", "spec.nodeName="),
            (pods, &pod, "", "metadata.namespace=ns,metadata.name=p"),
            (cms, &cm, "", "metadata.name=c"),
            (cms, &cm, "", "metadata.name!=c"),
            (cms, &cm, "x!=y", "metadata.namespace=other"),
            (events, &event, "", "involvedObject.name=p,reason=Scheduled"),
            (events, &event, "", "involvedObject.kind=Node"),
        ];
        for (res, obj, labels, fields) in cases {
            let (cached, value) = filter_matches(res, obj, labels, fields);
            assert_eq!(cached, value, "{labels} / {fields} on {obj}");
        }
    }

    #[test]
    fn cached_json_is_the_object_with_its_resource_version() {
        let cms = skiff_api::registry::find("", "v1", "configmaps").unwrap();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
        let cached = CachedObject::from_stored(cms, &serde_json::to_vec(&cm).unwrap(), 12).unwrap();
        let mut expected = cm.clone();
        expected["metadata"]["resourceVersion"] = json!("12");
        assert_eq!(cached.decode().unwrap(), expected);
    }
}
