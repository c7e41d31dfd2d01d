//! The pods watch's decoding: every field the scheduler reads, and not the rest
//! (`prune::CONTROL_PLANE_POD`: no managedFields, which upstream's scheduler drops too
//! after decoding them; of containers and volumes only what scheduling reads; no
//! ephemeral containers, which the scheduler does not count).
//!
//! What the scheduler reads of a pod must stay within that rule: `PodInfo` and
//! the plugins read containers' `resources`, `ports`, `image` and
//! `restartPolicy`, and volumes' `persistentVolumeClaim` and `ephemeral`.

use k8s_openapi::api::core::v1::Pod;
use skiff_api::prune::{ControlPlanePod, Pruned};

/// A pod from the watch, decoded under [`skiff_api::prune::CONTROL_PLANE_POD`].
pub type WatchedPod = Pruned<Pod, ControlPlanePod>;

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PersistentVolumeClaimVolumeSource, Volume};

    #[test]
    fn decodes_what_the_scheduler_reads_and_nothing_else() {
        let container = |name: &str| {
            serde_json::json!({"name": name, "image": "i", "restartPolicy": "Always",
                "resources": {"requests": {"cpu": "1"}}, "ports": [{"containerPort": 80, "hostPort": 8080}],
                "command": ["sh"], "env": [{"name": "A", "value": "b"}],
                "volumeMounts": [{"name": "token", "mountPath": "/var/run"}],
                "livenessProbe": {"exec": {"command": ["true"]}}})
        };
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"}, "annotations": {"x": "y"},
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r"}],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
            "spec": {"nodeName": "n1", "schedulerName": "default-scheduler", "priority": 5,
                "nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "k", "operator": "Exists"}],
                "overhead": {"cpu": "10m"},
                "containers": [container("c")], "initContainers": [container("side")],
                "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]},
            "status": {"phase": "Pending", "nominatedNodeName": "n2"}
        });
        let pod = serde_json::from_value::<WatchedPod>(json.clone()).unwrap().0;

        // The whole pod, less what the rule leaves out.
        let mut want: Pod = serde_json::from_value(json).unwrap();
        want.metadata.managed_fields = None;
        let spec = want.spec.as_mut().unwrap();
        spec.ephemeral_containers = None;
        let keep = |c: &Container| Container {
            name: c.name.clone(),
            image: c.image.clone(),
            resources: c.resources.clone(),
            ports: c.ports.clone(),
            restart_policy: c.restart_policy.clone(),
            ..Container::default()
        };
        spec.containers = spec.containers.iter().map(keep).collect();
        spec.init_containers = spec.init_containers.as_ref().map(|cs| cs.iter().map(keep).collect());
        spec.volumes = Some(vec![
            Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "data".into(),
                    ..Default::default()
                }),
                ..Volume::default()
            },
            Volume { name: "token".into(), ..Volume::default() },
        ]);
        assert_eq!(pod, want);
        // What the plugins read survived.
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(
            spec.containers[0].ports.as_deref(),
            Some(&[ContainerPort { container_port: 80, host_port: Some(8080), ..Default::default() }][..])
        );
        assert_eq!(spec.init_containers.as_ref().unwrap()[0].restart_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn a_pod_without_metadata_or_spec_decodes() {
        let pod = serde_json::from_value::<WatchedPod>(serde_json::json!({"kind": "Pod"})).unwrap().0;
        assert_eq!(pod, Pod::default());
    }
}
