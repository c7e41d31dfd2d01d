//! Decoding watched objects without their `metadata.managedFields`.
//!
//! Informers drop managedFields (upstream's controller manager does too,
//! kubernetes#118455), but dropping them after decoding still paid for parsing
//! them: the ownership tree is often as large as the rest of the object, and its
//! `fieldsV1` parses into nested maps. [`Lean`] decodes any object type through a
//! deserializer that skips that one field unparsed: half of the controllers' decoding of each
//! watched ConfigMap during a burst of creates.
//!
//! The skipping is [`skiff_api::prune`]'s, with its rule for managedFields (and
//! for pods, its rule for the control plane).

use std::any::TypeId;
use std::marker::PhantomData;

use k8s_openapi::api::core::v1::Pod;
use skiff_api::prune::{PruneRule, Pruned, Rule, CONTROL_PLANE_POD, WITHOUT_MANAGED_FIELDS};

/// `K`, decoded with `metadata.managedFields` skipped (left `None`); pods also
/// without what no controller reads ([`Informed`]).
pub type Lean<K> = Pruned<K, Informed<K>>;

/// What the informers leave out of a `K`. Pods are the one kind controllers watch
/// in bulk whose spec is mostly of no use to them (commands, environment, probes,
/// projected volumes): they get [`CONTROL_PLANE_POD`], which keeps what the
/// controllers read (containers' ports and resources for Endpoints and quotas,
/// claim volumes for StatefulSets, and all of metadata and status).
pub struct Informed<K>(PhantomData<fn() -> K>);

impl<K: 'static> PruneRule for Informed<K> {
    fn rule() -> &'static Rule {
        if TypeId::of::<K>() == TypeId::of::<Pod>() {
            &CONTROL_PLANE_POD
        } else {
            &WITHOUT_MANAGED_FIELDS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use kube::api::{DynamicObject, ObjectList};
    use kube::core::WatchEvent;
    use kube::Resource;
    use serde_json::json;

    fn object() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "namespace": "d", "labels": {"managedFields": "a label, kept"},
                "managedFields": [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:data": {"f:k": {}}}}],
                "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "o", "uid": "u"}]
            },
            "data": {"k": "v", "managedFields": "a data key, kept"}
        })
    }

    /// What decoding fully and then dropping managedFields gives.
    fn expected<K: serde::de::DeserializeOwned + Resource>(value: &serde_json::Value) -> K {
        let mut full: K = serde_json::from_value(value.clone()).unwrap();
        assert!(full.meta().managed_fields.is_some(), "the input has managedFields");
        full.meta_mut().managed_fields = None;
        full
    }

    #[test]
    fn objects_decode_as_in_full_but_for_managed_fields() {
        let text = object().to_string();
        let lean: Lean<ConfigMap> = serde_json::from_str(&text).unwrap();
        assert_eq!(lean.0, expected::<ConfigMap>(&object()));
        // From a reader too (keys are then not borrowed).
        let lean: Lean<ConfigMap> = serde_json::from_reader(text.as_bytes()).unwrap();
        assert_eq!(lean.0, expected::<ConfigMap>(&object()));
        // A dynamic object (flattened fields) and a type whose metadata comes last.
        let lean: Lean<DynamicObject> = serde_json::from_str(&text).unwrap();
        let full = expected::<DynamicObject>(&object());
        assert_eq!((lean.0.metadata, lean.0.data), (full.metadata, full.data));
        let pod = json!({"spec": {"containers": []}, "metadata": object()["metadata"].clone()});
        let lean: Lean<Pod> = serde_json::from_str(&pod.to_string()).unwrap();
        assert_eq!(lean.0, expected::<Pod>(&pod));
    }

    #[test]
    fn pods_keep_what_controllers_read() {
        let pod = json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "m"}], "labels": {"app": "web"}},
            "spec": {"hostname": "web-0", "subdomain": "web", "nodeName": "n1",
                "containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "b"}],
                    "ports": [{"name": "http", "containerPort": 80}],
                    "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                    {"name": "token", "projected": {"sources": []}}]},
            "status": {"podIP": "10.42.0.5", "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2,
                "image": "i", "imageID": "", "state": {"terminated": {"exitCode": 3}}}]}
        });
        let lean = serde_json::from_str::<Lean<Pod>>(&pod.to_string()).unwrap().0;
        let mut want: Pod = serde_json::from_value(pod).unwrap();
        want.metadata.managed_fields = None;
        let spec = want.spec.as_mut().unwrap();
        spec.containers[0].env = None;
        spec.volumes.as_mut().unwrap()[1].projected = None;
        assert_eq!(lean, want);
        // Other kinds keep everything but managedFields.
        assert!(std::ptr::eq(Informed::<ConfigMap>::rule(), &WITHOUT_MANAGED_FIELDS));
    }

    #[test]
    fn lists_and_watch_events_decode_lean_items() {
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "5"},
                          "items": [object(), object()]});
        let lean: ObjectList<Lean<ConfigMap>> = serde_json::from_str(&list.to_string()).unwrap();
        assert_eq!(lean.items.len(), 2);
        assert!(lean.items.iter().all(|i| i.0 == expected::<ConfigMap>(&object())));
        let event = json!({"type": "MODIFIED", "object": object()}).to_string();
        match serde_json::from_str::<WatchEvent<Lean<ConfigMap>>>(&event).unwrap() {
            WatchEvent::Modified(o) => assert_eq!(o.0, expected::<ConfigMap>(&object())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_input_is_still_an_error() {
        for bad in
            [r#"{"metadata": {"managedFields": [}}"#, r#"{"metadata": {"name": 5}}"#, r#"{"metadata": "#, r#"[1, 2]"#]
        {
            assert!(serde_json::from_str::<Lean<ConfigMap>>(bad).is_err(), "{bad}");
        }
    }
}
