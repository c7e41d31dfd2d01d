//! The part of a stored object that selectors read (`metadata.name`,
//! `metadata.namespace`, `metadata.labels` and the kind's selectable fields),
//! decoded without the rest. The watch cache reads it from every object it
//! takes in; a whole pod as a `Value` (its spec, status and managedFields) is
//! hundreds of allocations, of which selectors look at a dozen values.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::field::supported_fields;
use crate::json_key::JsonKey;

/// The paths `field_value` reads for each of `supported_fields(group, kind)`,
/// with the metadata every kind's selectors use.
fn read_paths(group: &str, kind: &str) -> Vec<&'static str> {
    let mut paths = vec!["metadata.name", "metadata.namespace", "metadata.labels"];
    for field in supported_fields(group, kind) {
        paths.push(match *field {
            // Read from elsewhere by `field_value`.
            "name" => "metadata.name",
            "status.podIPs" => "status.podIP",
            other => other,
        });
    }
    paths
}

/// `json` with only what selectors read kept (objects along the paths, the
/// values at their ends whole): `field_value` and the labels give the same
/// answers on it as on the whole object.
///
/// # Errors
/// When `json` is not valid JSON.
pub fn selectable_part(group: &str, kind: &str, json: &[u8]) -> serde_json::Result<Value> {
    let paths = read_paths(group, kind);
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = Project { paths: &paths }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Keeps, of one JSON value, the members on `paths` (dotted, relative to it).
/// Anything but an object is of no use along a path (`field_value` cannot
/// look into it) and becomes `null`.
struct Project<'p> {
    paths: &'p [&'static str],
}

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Project<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(JsonKey(key)) = map.next_key()? {
            if self.paths.contains(&&*key) {
                out.insert(key.into_owned(), map.next_value::<Value>()?);
                continue;
            }
            let deeper: Vec<&'static str> =
                self.paths.iter().filter_map(|p| p.strip_prefix(&*key)?.strip_prefix('.')).collect();
            if deeper.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                out.insert(key.into_owned(), map.next_value_seed(Project { paths: &deeper })?);
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::field_value;
    use serde_json::json;

    /// Every selectable field and the labels read the same from the part as
    /// from the whole object.
    fn same_answers(group: &str, kind: &str, obj: Value) {
        let part = selectable_part(group, kind, &serde_json::to_vec(&obj).unwrap()).unwrap();
        for field in supported_fields(group, kind) {
            assert_eq!(field_value(group, kind, &part, field), field_value(group, kind, &obj, field), "{kind} {field}");
        }
        assert_eq!(part.pointer("/metadata/labels"), obj.pointer("/metadata/labels"), "{kind} labels");
        assert!(serde_json::to_vec(&part).unwrap().len() <= serde_json::to_vec(&obj).unwrap().len());
    }

    #[test]
    fn selectors_read_the_same_from_the_part() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "n": 3},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"nodeName": "n1", "hostNetwork": true, "restartPolicy": "Always", "schedulerName": "s",
                "serviceAccountName": "default", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                "nominatedNodeName": "n2", "conditions": [{"type": "Ready"}]}});
        same_answers("", "Pod", pod);
        // Missing or oddly typed members along a path.
        same_answers("", "Pod", json!({"metadata": {"name": "p"}, "spec": "odd", "status": [1, 2]}));
        same_answers("", "Pod", json!({"metadata": {"labels": null}, "spec": {"hostNetwork": "yes"}}));
        same_answers("", "Pod", json!({"metadata": {"name": "e\"scaped", "namespace": "ns"}}));
        same_answers(
            "",
            "Event",
            json!({"metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "uid": "u", "fieldPath": "spec"},
            "reason": "Scheduled", "source": {"component": "kube-scheduler", "host": "h"}, "type": "Normal",
            "reportingComponent": "r", "message": "long text"}),
        );
        same_answers(
            "events.k8s.io",
            "Event",
            json!({"metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "reason": "r", "reportingController": "c", "type": "Normal"}),
        );
        same_answers(
            "",
            "Node",
            json!({"metadata": {"name": "n", "labels": {"zone": "a"}}, "spec": {"unschedulable": true},
            "status": {"capacity": {"cpu": "4"}}}),
        );
        same_answers(
            "apps",
            "ReplicaSet",
            json!({"metadata": {"name": "r", "namespace": "ns"}, "status": {"replicas": 3}}),
        );
        same_answers("batch", "Job", json!({"metadata": {"name": "j"}, "status": {"successful": 1, "active": 0}}));
        same_answers(
            "",
            "PersistentVolume",
            json!({"metadata": {"name": "pv"}, "spec": {"capacity": {"storage": "1Gi"}}}),
        );
        same_answers(
            "",
            "Secret",
            json!({"metadata": {"name": "s", "namespace": "ns"}, "type": "Opaque", "data": {"a": "Yg=="}}),
        );
    }

    #[test]
    fn the_rest_is_left_out_and_bad_json_is_an_error() {
        let pod =
            json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"nodeName": "n", "containers": []}, "status": {}});
        let part = selectable_part("", "Pod", &serde_json::to_vec(&pod).unwrap()).unwrap();
        assert_eq!(part, json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n"}, "status": {}}));
        // A key written with an escape is the same key.
        let escaped = selectable_part("", "Pod", br#"{"spec": {"node\u004eame": "n"}}"#).unwrap();
        assert_eq!(field_value("", "Pod", &escaped, "spec.nodeName").as_deref(), Some("n"));
        assert!(selectable_part("", "Pod", b"{\"metadata\": ").is_err());
        assert!(selectable_part("", "Pod", b"{} trailing").is_err());
    }
}
