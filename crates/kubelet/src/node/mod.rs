//! The Node object: its status built from what the machine and the runtime say
//! (pure: [`node_status`]), and the shell that registers it, keeps its Lease in
//! `kube-node-lease` renewed every 10 s ([`lease`]) and its status current
//! ([`heartbeat`]).

pub mod heartbeat;
pub mod lease;

pub use heartbeat::Heartbeat;
pub use lease::LeaseRenewer;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::{ContainerImage, Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::cri;

/// How often the Lease is renewed (upstream: 10 s, lease duration 40 s).
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// Kubelet version reported in `nodeInfo` (the API level skiff implements).
pub const KUBELET_VERSION: &str = "v1.32.0";

/// What the machine has, read once at start.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub ephemeral_bytes: u64,
    pub machine_id: String,
    pub boot_id: String,
    pub kernel: String,
    pub os_image: String,
}

impl Machine {
    /// Reads /proc and /etc; `storage_dir` is where pods' ephemeral data lives.
    pub fn detect(storage_dir: &std::path::Path) -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
        let memory_kib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        let os_image = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "Linux".into());
        Machine {
            cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            memory_bytes: memory_kib * 1024,
            ephemeral_bytes: disk_bytes(storage_dir),
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            kernel: read("/proc/sys/kernel/osrelease"),
            os_image,
        }
    }
}

fn disk_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return 0 };
    // SAFETY: statvfs with a valid NUL-terminated path and a zeroed out-struct.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) == 0 {
            st.f_blocks as u64 * st.f_frsize as u64
        } else {
            0
        }
    }
}

/// Resources held back from pods (`--kube-reserved` + `--system-reserved`).
#[derive(Debug, Clone, Default)]
pub struct Reserved {
    pub millicpu: u64,
    pub memory_bytes: u64,
}

/// The pods a node takes (upstream's default `--max-pods`).
pub const MAX_PODS: u32 = 110;

/// Labels the agent sets on its Node.
pub fn node_labels(name: &str, control_plane: bool) -> BTreeMap<String, String> {
    let arch = crate::image::oci::oci_arch();
    let mut l = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch.to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch.to_string()),
    ]);
    if control_plane {
        l.insert("node-role.kubernetes.io/control-plane".into(), "true".into());
    }
    l
}

fn cond(type_: &str, ok: bool, reason: &str, message: &str, old: Option<&NodeStatus>, now: &Time) -> NodeCondition {
    let status = if ok { "True" } else { "False" };
    let prev = old.and_then(|o| o.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == type_));
    NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: match prev {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(now.clone()),
        },
    }
}

/// The conditions whose status `new` changes from `old` (or that `old` lacks):
/// (type, status), for the kubelet's node events.
pub fn condition_changes(old: Option<&NodeStatus>, new: &NodeStatus) -> Vec<(String, String)> {
    let before = |t: &str| {
        old.and_then(|o| o.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == t))
            .map(|c| c.status.clone())
    };
    new.conditions
        .iter()
        .flatten()
        .filter(|c| before(&c.type_).as_deref() != Some(c.status.as_str()))
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect()
}

/// The status to write: capacity/allocatable, conditions, addresses, nodeInfo,
/// images. `runtime_ready` = the runtime reports RuntimeReady and NetworkReady.
#[allow(clippy::too_many_arguments)]
pub fn node_status(
    name: &str,
    ip: &str,
    machine: &Machine,
    reserved: &Reserved,
    runtime: &cri::VersionResponse,
    runtime_ready: Result<(), String>,
    images: &[cri::Image],
    old: Option<&NodeStatus>,
) -> NodeStatus {
    let now = Time(Utc::now());
    let q = |s: String| Quantity(s);
    let capacity = BTreeMap::from([
        ("cpu".to_string(), q(machine.cpus.to_string())),
        ("memory".to_string(), q(format!("{}Ki", machine.memory_bytes / 1024))),
        ("ephemeral-storage".to_string(), q(format!("{}Ki", machine.ephemeral_bytes / 1024))),
        ("pods".to_string(), q(MAX_PODS.to_string())),
    ]);
    let mut allocatable = capacity.clone();
    let cpu_m = (machine.cpus as u64 * 1000).saturating_sub(reserved.millicpu);
    allocatable.insert("cpu".into(), q(format!("{cpu_m}m")));
    allocatable
        .insert("memory".into(), q(format!("{}Ki", machine.memory_bytes.saturating_sub(reserved.memory_bytes) / 1024)));
    let (ready, message) = match &runtime_ready {
        Ok(()) => (true, "kubelet is posting ready status".to_string()),
        Err(why) => (false, format!("container runtime is not ready: {why}")),
    };
    let mut images: Vec<ContainerImage> = images
        .iter()
        .map(|i| ContainerImage {
            names: Some(i.repo_tags.iter().chain(i.repo_digests.iter()).cloned().collect()),
            size_bytes: Some(i.size as i64),
        })
        .collect();
    images.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    images.truncate(50);
    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(vec![
            cond(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                old,
                &now,
            ),
            cond("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", old, &now),
            cond("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available", old, &now),
            cond("Ready", ready, if ready { "KubeletReady" } else { "KubeletNotReady" }, &message, old, &now),
        ]),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: ip.into() },
            NodeAddress { type_: "Hostname".into(), address: name.into() },
        ]),
        daemon_endpoints: Some(k8s_openapi::api::core::v1::NodeDaemonEndpoints {
            kubelet_endpoint: Some(k8s_openapi::api::core::v1::DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: crate::image::oci::oci_arch().into(),
            boot_id: machine.boot_id.clone(),
            container_runtime_version: format!("{}://{}", runtime.runtime_name, runtime.runtime_version),
            kernel_version: machine.kernel.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.into(),
            machine_id: machine.machine_id.clone(),
            operating_system: "linux".into(),
            os_image: machine.os_image.clone(),
            system_uuid: machine.machine_id.clone(),
        }),
        images: Some(images),
        ..Default::default()
    }
}

/// Whether two statuses differ in anything but heartbeat times.
pub fn changed(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        serde_json::to_value(s).unwrap_or_default()
    };
    strip(a) != strip(b)
}

/// Creates the Node if missing (labels, no taints); returns the current object.
pub async fn register(
    client: &kube::Client,
    name: &str,
    labels: BTreeMap<String, String>,
) -> Result<Node, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    if let Some(n) = nodes.get_opt(name).await? {
        let patch = serde_json::json!({"metadata": {"labels": labels}});
        return nodes.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.or(Ok(n));
    }
    let node = Node {
        metadata: ObjectMeta { name: Some(name.into()), labels: Some(labels), ..Default::default() },
        ..Default::default()
    };
    match nodes.create(&PostParams::default(), &node).await {
        Ok(n) => Ok(n),
        Err(kube::Error::Api(e)) if e.code == 409 => nodes.get(name).await,
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_changes_name_what_turned() {
        let status = |ready: &str| NodeStatus {
            conditions: Some(vec![
                NodeCondition { type_: "Ready".into(), status: ready.into(), ..Default::default() },
                NodeCondition { type_: "MemoryPressure".into(), status: "False".into(), ..Default::default() },
            ]),
            ..Default::default()
        };
        let all = condition_changes(None, &status("True"));
        assert_eq!(all, vec![("Ready".into(), "True".into()), ("MemoryPressure".into(), "False".into())]);
        assert!(condition_changes(Some(&status("True")), &status("True")).is_empty());
        assert_eq!(condition_changes(Some(&status("True")), &status("False")), vec![("Ready".into(), "False".into())]);
    }

    #[test]
    fn status_reports_capacity_allocatable_and_readiness() {
        let m = Machine { cpus: 2, memory_bytes: 4 << 30, ephemeral_bytes: 10 << 30, ..Default::default() };
        let v = cri::VersionResponse {
            runtime_name: "containerd".into(),
            runtime_version: "1.6.20".into(),
            ..Default::default()
        };
        let r = Reserved { millicpu: 500, memory_bytes: 1 << 30 };
        let s = node_status("n1", "192.0.2.7", &m, &r, &v, Ok(()), &[], None);
        assert_eq!(s.capacity.as_ref().unwrap()["cpu"].0, "2");
        assert_eq!(s.capacity.as_ref().unwrap()["pods"].0, "110");
        assert_eq!(s.allocatable.as_ref().unwrap()["cpu"].0, "1500m");
        assert_eq!(s.allocatable.as_ref().unwrap()["memory"].0, format!("{}Ki", 3 << 20));
        let ready = s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(s.node_info.as_ref().unwrap().container_runtime_version, "containerd://1.6.20");
        assert_eq!(s.addresses.as_ref().unwrap()[0].address, "192.0.2.7");
        let later = node_status("n1", "192.0.2.7", &m, &r, &v, Ok(()), &[], Some(&s));
        assert!(!changed(&s, &later), "only heartbeats moved");
        let down = node_status("n1", "192.0.2.7", &m, &r, &v, Err("no CNI".into()), &[], Some(&s));
        assert!(changed(&s, &down));
        let ready = down.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("KubeletNotReady"));
    }
}
