//! Events the kubelet reports about a pod (`FailedMount`, ...), written as
//! upstream's recorder does: `source.component: kubelet`, the node as host.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};

use super::plan::StartFailure;

/// The event upstream's kubelet records when RunPodSandbox (or the network
/// set-up inside it) fails: reason and message.
pub fn sandbox_failed(runtime_message: &str) -> (&'static str, String) {
    ("FailedCreatePodSandBox", format!("Failed to create pod sandbox: {runtime_message}"))
}

/// The event upstream's kubelet records when a container could not be
/// started: reason and message.
pub fn start_failed(f: &StartFailure) -> (&'static str, String) {
    match f.reason.as_str() {
        "ErrImageNeverPull" => ("ErrImageNeverPull", f.message.clone()),
        "ErrImagePull" => {
            let mut m = f.message.clone();
            if let Some(first) = m.get(..1) {
                m.replace_range(..1, &first.to_uppercase());
            }
            ("Failed", m)
        }
        "PostStartHookError" => ("FailedPostStartHook", f.message.clone()),
        _ => ("Failed", format!("Error: {}", f.message)),
    }
}

/// Records a Warning event about `pod`. Failures are logged, not returned: an
/// event is a courtesy and must not hold the pod back.
pub async fn warn(client: &kube::Client, node: &str, pod: &Pod, reason: &str, message: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = Time(chrono::Utc::now());
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some("Warning".into()),
        source: Some(EventSource { component: Some("kubelet".into()), host: Some(node.into()) }),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(node.into()),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::debug!(reason, "cannot record an event: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(reason: &str, message: &str) -> StartFailure {
        StartFailure { reason: reason.into(), message: message.into(), at: 0, count: 1 }
    }

    #[test]
    fn events_use_upstreams_reasons_and_wording() {
        assert_eq!(
            sandbox_failed("failed to get sandbox image \"skiff.local/pause:3.10\""),
            (
                "FailedCreatePodSandBox",
                "Failed to create pod sandbox: failed to get sandbox image \"skiff.local/pause:3.10\"".to_string()
            )
        );
        assert_eq!(
            start_failed(&failure("ErrImagePull", "failed to pull image \"x:1\": no registry")),
            ("Failed", "Failed to pull image \"x:1\": no registry".to_string())
        );
        assert_eq!(
            start_failed(&failure("CreateContainerConfigError", "configmap \"c\" not found")),
            ("Failed", "Error: configmap \"c\" not found".to_string())
        );
        assert_eq!(start_failed(&failure("ErrImageNeverPull", "m")), ("ErrImageNeverPull", "m".to_string()));
    }
}
