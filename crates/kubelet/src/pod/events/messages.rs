//! What the kubelet says in its events: upstream's reasons and messages.

use k8s_openapi::api::core::v1::Pod;

use super::super::plan::StartFailure;
use super::super::probe::Kind;

/// The event upstream's kubelet records when RunPodSandbox (or the network
/// set-up inside it) fails: reason and message.
pub fn sandbox_failed(runtime_message: &str) -> (&'static str, String) {
    ("FailedCreatePodSandBox", format!("Failed to create pod sandbox: {runtime_message}"))
}

/// The events upstream's kubelet records when a container could not be
/// started. An image problem gets two: what the image manager saw, then
/// `Failed` "Error: <reason>" from the container's start.
pub fn start_failed(f: &StartFailure) -> Vec<Said> {
    match f.reason.as_str() {
        "ErrImageNeverPull" => vec![
            Said::warning("ErrImageNeverPull", f.message.clone()),
            Said::warning("Failed", "Error: ErrImageNeverPull".into()),
        ],
        "ErrImagePull" => {
            let mut m = f.message.clone();
            if let Some(first) = m.get(..1) {
                m.replace_range(..1, &first.to_uppercase());
            }
            vec![Said::warning("Failed", m), Said::warning("Failed", "Error: ErrImagePull".into())]
        }
        "PostStartHookError" => vec![Said::warning("FailedPostStartHook", f.message.clone())],
        _ => vec![Said::warning("Failed", format!("Error: {}", f.message))],
    }
}

/// An event's type, reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Said {
    pub fn normal(reason: &'static str, message: String) -> Said {
        Said { warning: false, reason, message }
    }

    pub fn warning(reason: &'static str, message: String) -> Said {
        Said { warning: true, reason, message }
    }
}

/// The pod's sandbox died (or its network went) and a new one is made.
pub fn sandbox_changed() -> Said {
    Said::normal("SandboxChanged", "Pod sandbox changed, it will be killed and re-created.".into())
}

/// The image was there already (pull policy IfNotPresent or Never).
pub fn image_present(image: &str) -> Said {
    Said::normal("Pulled", format!("Container image \"{image}\" already present on machine"))
}

pub fn pulling(image: &str) -> Said {
    Said::normal("Pulling", format!("Pulling image \"{image}\""))
}

/// A pull that took `took`; `size` in bytes when the runtime reports it.
pub fn pulled(image: &str, took: std::time::Duration, size: Option<u64>) -> Said {
    let took = go_duration(took);
    let mut m = format!("Successfully pulled image \"{image}\" in {took} ({took} including waiting)");
    if let Some(size) = size {
        m.push_str(&format!(". Image size: {size} bytes."));
    }
    Said::normal("Pulled", m)
}

pub fn created(container: &str) -> Said {
    Said::normal("Created", format!("Created container: {container}"))
}

pub fn started(container: &str) -> Said {
    Said::normal("Started", format!("Started container {container}"))
}

/// The container is stopped because its pod is going away.
pub fn stopping(container: &str) -> Said {
    Said::normal("Killing", format!("Stopping container {container}"))
}

/// The container is stopped because its liveness or startup probe failed.
pub fn probe_killing(container: &str, kind: Kind) -> Said {
    Said::normal("Killing", format!("Container {container} failed {} probe, will be restarted", kind_word(kind)))
}

/// One failed probe, with what the probe saw.
pub fn unhealthy(kind: Kind, output: &str) -> Said {
    let word = kind_word(kind);
    let mut kind = word.to_string();
    kind.replace_range(..1, &word[..1].to_uppercase());
    Said::warning("Unhealthy", format!("{kind} probe failed: {output}"))
}

/// A container waiting out its restart back-off.
pub fn restart_backoff(container: &str, pod: &Pod) -> Said {
    Said::warning("BackOff", format!("Back-off restarting failed container {container} in pod {}", pod_ref(pod)))
}

/// A pod as upstream's messages name it: `name_namespace(uid)`.
pub fn pod_ref(pod: &Pod) -> String {
    let m = &pod.metadata;
    let (name, ns, uid) =
        (m.name.as_deref().unwrap_or(""), m.namespace.as_deref().unwrap_or("default"), m.uid.as_deref().unwrap_or(""));
    format!("{name}_{ns}({uid})")
}

/// A container whose image pull is backing off: upstream records both.
pub fn pull_backoff(image: &str) -> [Said; 2] {
    [
        Said::normal("BackOff", format!("Back-off pulling image \"{image}\"")),
        Said::warning("Failed", "Error: ImagePullBackOff".into()),
    ]
}

/// The kubelet has started on its node.
pub fn starting() -> Said {
    Said::normal("Starting", "Starting kubelet.".into())
}

/// A node condition now `status` ("True"/"False"): upstream's event for it,
/// e.g. `NodeReady` / `NodeHasSufficientMemory`; `None` for other conditions.
pub fn node_condition(node: &str, condition: &str, status: &str) -> Option<Said> {
    let reason = match (condition, status == "True") {
        ("Ready", true) => "NodeReady",
        ("Ready", false) => "NodeNotReady",
        ("MemoryPressure", true) => "NodeHasInsufficientMemory",
        ("MemoryPressure", false) => "NodeHasSufficientMemory",
        ("DiskPressure", true) => "NodeHasDiskPressure",
        ("DiskPressure", false) => "NodeHasNoDiskPressure",
        ("PIDPressure", true) => "NodeHasInsufficientPID",
        ("PIDPressure", false) => "NodeHasSufficientPID",
        _ => return None,
    };
    Some(Said::normal(reason, format!("Node {node} status is now: {reason}")))
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Liveness => "liveness",
        Kind::Readiness => "readiness",
        Kind::Startup => "startup",
    }
}

/// A duration as Go's `time.Duration` prints it, to the millisecond
/// (`1.5s`, `250ms`, `2m3.5s`).
pub fn go_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (m, rest) = (ms / 60_000, ms % 60_000);
    let secs = format!("{}", rest as f64 / 1000.0);
    if m == 0 {
        format!("{secs}s")
    } else {
        format!("{m}m{secs}s")
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
        let said = |f: &StartFailure| -> Vec<(&str, String)> {
            start_failed(f).into_iter().map(|s| (s.reason, s.message)).collect()
        };
        assert_eq!(
            said(&failure("ErrImagePull", "failed to pull image \"x:1\": no registry")),
            vec![
                ("Failed", "Failed to pull image \"x:1\": no registry".to_string()),
                ("Failed", "Error: ErrImagePull".to_string())
            ]
        );
        assert_eq!(
            said(&failure("CreateContainerConfigError", "configmap \"c\" not found")),
            vec![("Failed", "Error: configmap \"c\" not found".to_string())]
        );
        assert_eq!(
            said(&failure("ErrImageNeverPull", "m")),
            vec![("ErrImageNeverPull", "m".to_string()), ("Failed", "Error: ErrImageNeverPull".to_string())]
        );
        assert!(start_failed(&failure("ErrImagePull", "x")).iter().all(|s| s.warning));
    }

    #[test]
    fn lifecycle_events_read_as_upstreams() {
        assert_eq!(
            image_present("busybox:1.36").message,
            "Container image \"busybox:1.36\" already present on machine"
        );
        assert_eq!(
            created("main"),
            Said { warning: false, reason: "Created", message: "Created container: main".into() }
        );
        assert_eq!(started("main").message, "Started container main");
        assert_eq!(sandbox_changed().message, "Pod sandbox changed, it will be killed and re-created.");
        assert_eq!(stopping("main").reason, "Killing");
        assert_eq!(
            probe_killing("main", Kind::Liveness).message,
            "Container main failed liveness probe, will be restarted"
        );
        let u = unhealthy(Kind::Readiness, "HTTP probe failed with statuscode: 500");
        assert!(u.warning);
        assert_eq!(u.message, "Readiness probe failed: HTTP probe failed with statuscode: 500");
        let pod: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "crasher", "uid": "u-1"}})).unwrap();
        assert_eq!(
            restart_backoff("main", &pod).message,
            "Back-off restarting failed container main in pod crasher_default(u-1)"
        );
        let [b, f] = pull_backoff("x:1");
        assert_eq!((b.warning, b.reason, b.message.as_str()), (false, "BackOff", "Back-off pulling image \"x:1\""));
        assert_eq!((f.warning, f.reason, f.message.as_str()), (true, "Failed", "Error: ImagePullBackOff"));
        assert_eq!(
            pulled("x:1", std::time::Duration::from_millis(1500), Some(42)).message,
            "Successfully pulled image \"x:1\" in 1.5s (1.5s including waiting). Image size: 42 bytes."
        );
    }

    #[test]
    fn durations_print_as_go_does() {
        use std::time::Duration;
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(go_duration(Duration::from_millis(123_500)), "2m3.5s");
    }

    #[test]
    fn node_events_read_as_upstreams() {
        assert_eq!(starting().message, "Starting kubelet.");
        let r = node_condition("n1", "Ready", "True").unwrap();
        assert_eq!((r.reason, r.message.as_str()), ("NodeReady", "Node n1 status is now: NodeReady"));
        assert_eq!(node_condition("n1", "MemoryPressure", "False").unwrap().reason, "NodeHasSufficientMemory");
        assert_eq!(node_condition("n1", "PIDPressure", "True").unwrap().reason, "NodeHasInsufficientPID");
        assert_eq!(node_condition("n1", "NetworkUnavailable", "False"), None);
    }
}
