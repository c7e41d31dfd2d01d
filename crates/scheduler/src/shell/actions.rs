//! The scheduler's writes: bindings (`pods/binding`, the default Bind plugin),
//! the `PodScheduled` condition and `nominatedNodeName` (`pods/status`), Events,
//! and preemption's deletions.

use chrono::Utc;
use k8s_openapi::api::core::v1::{Binding, Event, EventSource, ObjectReference, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Bind, BindError, Plugin};
use crate::plugins::DEFAULT_BINDER;
use crate::pod_info::PodInfo;

/// Performs API writes for one scheduler instance.
#[derive(Clone)]
pub struct ApiActions {
    client: kube::Client,
    /// `reportingInstance` of events.
    instance: String,
}

/// The claim annotation naming the node chosen for a delayed-binding claim.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

impl ApiActions {
    pub fn new(client: kube::Client) -> ApiActions {
        let host =
            std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        ApiActions { client, instance: format!("default-scheduler-{host}") }
    }

    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// VolumeBinding's PreBind: names `node` on each of the pod's unbound
    /// claims of a `WaitForFirstConsumer` class
    /// (`volume.kubernetes.io/selected-node`), so the volume controller or a
    /// provisioner binds a volume on that node. Reads only for pods with claims.
    async fn select_node_for_claims(&self, pod: &PodInfo, node: &str) -> Result<(), kube::Error> {
        let names = crate::plugins::volume_binding::claim_names(pod);
        if names.is_empty() {
            return Ok(());
        }
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &pod.namespace);
        let classes: Api<StorageClass> = Api::all(self.client.clone());
        for name in names {
            let Some(claim) = claims.get_opt(&name).await? else { continue };
            let spec = claim.spec.as_ref();
            if spec.and_then(|s| s.volume_name.as_deref()).is_some_and(|v| !v.is_empty()) {
                continue;
            }
            let Some(class) = spec.and_then(|s| s.storage_class_name.clone()).filter(|c| !c.is_empty()) else {
                continue;
            };
            let delayed = classes
                .get_opt(&class)
                .await?
                .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
            let selected = claim.metadata.annotations.as_ref().and_then(|a| a.get(SELECTED_NODE));
            if !delayed || selected.map(String::as_str) == Some(node) {
                continue;
            }
            let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
            claims.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        Ok(())
    }

    /// Posts a core/v1 Event about `pod` (what `kubectl describe` and `kubectl get
    /// events` show). Failures are logged, never fatal: events are best effort.
    pub async fn event(&self, pod: &PodInfo, kind: &str, reason: &str, action: &str, message: &str, component: &str) {
        let now = Utc::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", pod.name, now.timestamp_nanos_opt().unwrap_or(0))),
                namespace: Some(pod.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(pod.name.clone()),
                namespace: Some(pod.namespace.clone()),
                uid: Some(pod.uid.clone()),
                resource_version: pod.pod.metadata.resource_version.clone(),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(kind.into()),
            action: Some(action.into()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            source: Some(EventSource { component: Some(component.into()), host: None }),
            reporting_component: Some(component.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &pod.namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::debug!(pod = %pod.key(), reason, error = %e, "cannot post event");
        }
    }

    /// Sets `PodScheduled=False` (reason `Unschedulable`, `message`) and, when
    /// preemption nominated one, `status.nominatedNodeName`. Skips the write when
    /// the pod already says exactly that.
    pub async fn mark_unschedulable(&self, pod: &PodInfo, message: &str, nominated_node: Option<&str>) {
        let status = pod.pod.status.as_ref();
        let current =
            status.and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        let same_condition = current.is_some_and(|c| {
            c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message)
        });
        let current_nominated = status.and_then(|s| s.nominated_node_name.as_deref());
        if same_condition && (nominated_node.is_none() || nominated_node == current_nominated) {
            return;
        }
        let transition = match current {
            Some(c) if c.status == "False" => c.last_transition_time.clone().map(|t| t.0).unwrap_or_else(Utc::now),
            _ => Utc::now(),
        };
        let mut patch = json!({"status": {"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": Time(transition),
        }]}});
        if let Some(node) = nominated_node {
            patch["status"]["nominatedNodeName"] = json!(node);
        }
        if let Err(e) =
            self.pods(&pod.namespace).patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(&patch)).await
        {
            tracing::debug!(pod = %pod.key(), error = %e, "cannot update the PodScheduled condition");
        }
    }

    /// Evicts a preemption victim: marks it `DisruptionTarget`, deletes it
    /// gracefully, and says why in an event.
    pub async fn preempt(&self, victim: &PodInfo, preemptor: &PodInfo, node: &str, scheduler: &str) {
        let pods = self.pods(&victim.namespace);
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": Time(Utc::now()),
        }]}});
        if let Err(e) = pods.patch_status(&victim.name, &PatchParams::default(), &Patch::Strategic(&condition)).await {
            tracing::debug!(pod = %victim.key(), error = %e, "cannot mark the victim DisruptionTarget");
        }
        let uid_guard = DeleteParams {
            preconditions: Some(kube::api::Preconditions { uid: Some(victim.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match pods.delete(&victim.name, &uid_guard).await {
            Ok(_) => {
                let message = format!("Preempted by pod {} on node {node}", preemptor.uid);
                self.event(victim, "Normal", "Preempted", "Preempting", &message, scheduler).await;
            }
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => tracing::warn!(pod = %victim.key(), error = %e, "cannot delete preemption victim"),
        }
    }
}

impl Plugin for ApiActions {
    fn name(&self) -> &'static str {
        DEFAULT_BINDER
    }
}

/// The Binding a bind posts, serialized from the typed object: one per scheduled
/// pod, so no `Value` maps are built and dropped for it.
fn binding_body(pod: &PodInfo, node: &str) -> Vec<u8> {
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            uid: Some(pod.uid.clone()),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.into()),
            ..ObjectReference::default()
        },
    };
    serde_json::to_vec(&binding).expect("a Binding serializes")
}

#[async_trait::async_trait]
impl Bind for ApiActions {
    /// `POST pods/{name}/binding` with the pod's uid, so a recreated pod of the
    /// same name is never bound by mistake.
    async fn bind(&self, pod: &PodInfo, node: &str) -> Result<(), BindError> {
        if let Err(e) = self.select_node_for_claims(pod, node).await {
            return Err(BindError {
                pod: pod.key(),
                node: node.into(),
                message: format!("selecting the node for the pod's volume claims: {e}"),
                permanent: false,
            });
        }
        let body = binding_body(pod, node);
        match self
            .pods(&pod.namespace)
            // The answer is a Status saying success: its body is not needed.
            .create_subresource::<serde::de::IgnoredAny>("binding", &pod.name, &PostParams::default(), body)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(BindError {
                pod: pod.key(),
                node: node.into(),
                message: e.to_string(),
                // Gone, or already bound (409): retrying cannot help.
                permanent: matches!(status_code(&e), Some(404 | 409)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::pod;

    #[test]
    fn the_binding_names_the_pod_by_uid_and_the_node() {
        let body: serde_json::Value = serde_json::from_slice(&binding_body(&pod("web-0").info(), "n1")).unwrap();
        assert_eq!(
            body,
            json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-web-0"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
            })
        );
    }
}
