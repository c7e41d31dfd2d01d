//! Validation of built-in types beyond metadata (which the server checks for every
//! kind): required fields, enums, ranges, and immutable fields on update. Each
//! failure is one `Cause` with upstream's field path and wording.

mod admission;
mod apps;
mod autoscaling;
mod certificates;
mod common;
mod config;
mod cronjob;
mod endpoints;
mod events;
mod gostr;
mod ingress;
mod lease;
mod limit_range;
mod network_policy;
mod node;
mod pod;
mod policy;
mod quota;
mod rbac;
mod resources;
mod rules;
mod runtime_class;
mod service;
mod storage;
mod workloads;

use serde_json::Value;

use crate::Cause;

const RBAC: &str = "rbac.authorization.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

/// Validates `obj` (and, for an update, what may not change since `old`).
pub fn validate(group: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    match (group, kind) {
        ("", "Pod") => {
            pod::pod_spec(obj.get("spec"), "spec", &mut causes);
            if let Some(old) = old {
                pod::pod_update(obj, old, &mut causes);
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            apps::workload(kind, obj, old, &mut causes)
        }
        ("apps", "ControllerRevision") => apps::controller_revision(obj, old, &mut causes),
        ("", "ReplicationController") => apps::replication_controller(obj, &mut causes),
        ("batch", "Job") => workloads::job(obj, old, &mut causes),
        ("batch", "CronJob") => cronjob::cronjob(obj, &mut causes),
        ("", "Service") => service::service(obj, old, &mut causes),
        ("", "ConfigMap") => config::config_map(obj, old, &mut causes),
        ("", "Secret") => config::secret(obj, old, &mut causes),
        ("", "ResourceQuota") => quota::resource_quota(obj, old, &mut causes),
        ("", "LimitRange") => limit_range::limit_range(obj, &mut causes),
        ("", "Endpoints") => endpoints::endpoints(obj, &mut causes),
        ("discovery.k8s.io", "EndpointSlice") => endpoints::endpoint_slice(obj, old, &mut causes),
        ("coordination.k8s.io", "Lease") => lease::lease(obj, &mut causes),
        ("" | "events.k8s.io", "Event") => events::event(group == "events.k8s.io", obj, old, &mut causes),
        ("", "PersistentVolumeClaim") => storage::claim(obj, old, &mut causes),
        ("", "PersistentVolume") => storage::volume(obj, old, &mut causes),
        ("storage.k8s.io", "StorageClass") => storage::class(obj, old, &mut causes),
        ("storage.k8s.io", "CSIDriver") => storage::csi_driver(obj, old, &mut causes),
        ("storage.k8s.io", "CSINode") => storage::csi_node(obj, old, &mut causes),
        ("storage.k8s.io", "VolumeAttachment") => storage::volume_attachment(obj, old, &mut causes),
        ("storage.k8s.io", "CSIStorageCapacity") => storage::storage_capacity(obj, old, &mut causes),
        ("scheduling.k8s.io", "PriorityClass") => policy::priority_class(obj, old, &mut causes),
        ("policy", "PodDisruptionBudget") => policy::disruption_budget(obj, &mut causes),
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaling::hpa(obj, old, &mut causes),
        ("", "Node") => {
            if let Some(old) = old {
                node::node_update(obj, old, &mut causes);
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => network_policy::network_policy(obj, &mut causes),
        ("networking.k8s.io", "Ingress") => ingress::ingress(obj, old, &mut causes),
        ("networking.k8s.io", "IngressClass") => ingress::ingress_class(obj, old, &mut causes),
        (RBAC, "Role") => rbac::role(obj, true, &mut causes),
        (RBAC, "ClusterRole") => rbac::role(obj, false, &mut causes),
        (RBAC, "RoleBinding") => rbac::binding(obj, old, true, &mut causes),
        (RBAC, "ClusterRoleBinding") => rbac::binding(obj, old, false, &mut causes),
        ("certificates.k8s.io", "CertificateSigningRequest") => certificates::csr(obj, old, &mut causes),
        ("node.k8s.io", "RuntimeClass") => runtime_class::runtime_class(obj, old, &mut causes),
        (ADMISSION, "ValidatingWebhookConfiguration") => admission::webhook_configuration(false, obj, old, &mut causes),
        (ADMISSION, "MutatingWebhookConfiguration") => admission::webhook_configuration(true, obj, old, &mut causes),
        (ADMISSION, "ValidatingAdmissionPolicy") => admission::policy(obj, old, &mut causes),
        (ADMISSION, "ValidatingAdmissionPolicyBinding") => admission::binding(obj, &mut causes),
        _ => {}
    }
    causes
}

/// Whether `v` is an integer within `[min, max]`.
pub(crate) fn int_in(v: &Value, min: i64, max: i64) -> bool {
    v.as_i64().is_some_and(|n| n >= min && n <= max)
}

#[cfg(test)]
mod robustness;
#[cfg(test)]
mod testing;
