//! Requests and limits → CRI cgroup settings, the QoS class, and the pod's
//! cgroup parent — pure, as upstream's kubelet computes them
//! (`MilliCPUToShares`, `MilliCPUToQuota`, `GetPodQOS`, the cgroupfs layout
//! `/kubepods[/burstable|/besteffort]/pod<uid>`).

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::cri;

/// CFS period upstream uses (100 ms).
pub const CPU_PERIOD_US: i64 = 100_000;
const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const MIN_QUOTA_US: i64 = 1_000;

/// A quantity in base units (cores, bytes) to a thousandth, rounded up as upstream's
/// `MilliValue`; `None` when it does not parse (the API server refuses such pods).
pub fn quantity(s: &str) -> Option<f64> {
    skiff_api::quantity::parse_scaled(s, 3).ok().map(|milli| milli as f64 / 1000.0)
}

fn get(c: &Container, limits: bool, name: &str) -> Option<f64> {
    let r = c.resources.as_ref()?;
    let map = if limits { r.limits.as_ref()? } else { r.requests.as_ref()? };
    quantity(&map.get(name)?.0)
}

/// Millicores, rounded up as upstream's `MilliValue`.
fn milli(cores: f64) -> i64 {
    (cores * 1000.0).ceil() as i64
}

/// The cgroup settings for one container. A missing cpu request takes the
/// limit (as the API's defaulting would); no request → the minimum shares.
pub fn linux_resources(c: &Container) -> cri::LinuxContainerResources {
    let cpu_request = get(c, false, "cpu").or_else(|| get(c, true, "cpu"));
    let cpu_limit = get(c, true, "cpu");
    let cpu_shares = match cpu_request.map(milli) {
        None | Some(0) => MIN_SHARES,
        Some(m) => (m * 1024 / 1000).clamp(MIN_SHARES, MAX_SHARES),
    };
    let (cpu_quota, cpu_period) = match cpu_limit.map(milli) {
        None | Some(0) => (0, 0),
        Some(m) => ((m * CPU_PERIOD_US / 1000).max(MIN_QUOTA_US), CPU_PERIOD_US),
    };
    let memory_limit_in_bytes = get(c, true, "memory").map(|b| b.ceil() as i64).unwrap_or(0);
    cri::LinuxContainerResources { cpu_shares, cpu_quota, cpu_period, memory_limit_in_bytes, ..Default::default() }
}

/// The pod's QoS class as upstream's `GetPodQOS`: BestEffort without any cpu or
/// memory request or limit; Guaranteed when every container limits both and
/// its requests (if given) equal the limits; else Burstable.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else { return "BestEffort" };
    let all: Vec<&Container> = spec.containers.iter().chain(spec.init_containers.iter().flatten()).collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        for name in ["cpu", "memory"] {
            let (req, lim) = (get(c, false, name), get(c, true, name));
            any |= req.is_some_and(|v| v != 0.0) || lim.is_some_and(|v| v != 0.0);
            match (req, lim) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// The pod's cgroup parent for the cgroupfs driver, as upstream lays it out.
pub fn cgroup_parent(pod: &Pod) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    match qos_class(pod) {
        "Guaranteed" => format!("/kubepods/pod{uid}"),
        "Burstable" => format!("/kubepods/burstable/pod{uid}"),
        _ => format!("/kubepods/besteffort/pod{uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |kv: &[(&str, &str)]| {
            (!kv.is_empty()).then(|| kv.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect())
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: map(requests),
                limits: map(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>) -> Pod {
        let mut p = Pod { spec: Some(PodSpec { containers, ..Default::default() }), ..Default::default() };
        p.metadata.uid = Some("u1".into());
        p
    }

    #[test]
    fn quantities_in_base_units() {
        assert_eq!(quantity("250m"), Some(0.25));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("64Mi"), Some(67_108_864.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("1.5Gi"), Some(1_610_612_736.0));
        assert_eq!(quantity("1n"), Some(0.001), "rounded up to a thousandth");
        assert_eq!(quantity("12x"), None);
    }

    #[test]
    fn cpu_and_memory_become_shares_quota_and_limit() {
        let r = linux_resources(&container(&[("cpu", "250m")], &[("cpu", "500m"), ("memory", "64Mi")]));
        assert_eq!((r.cpu_shares, r.cpu_quota, r.cpu_period), (256, 50_000, 100_000));
        assert_eq!(r.memory_limit_in_bytes, 64 << 20);
        let none = linux_resources(&container(&[], &[]));
        assert_eq!((none.cpu_shares, none.cpu_quota, none.memory_limit_in_bytes), (2, 0, 0));
        let tiny = linux_resources(&container(&[], &[("cpu", "1m")]));
        assert_eq!((tiny.cpu_shares, tiny.cpu_quota), (2, 1_000), "a limit alone sets the request; quota floor 1ms");
    }

    #[test]
    fn qos_classes_and_cgroup_parents() {
        let be = pod(vec![container(&[], &[])]);
        assert_eq!((qos_class(&be), cgroup_parent(&be).as_str()), ("BestEffort", "/kubepods/besteffort/podu1"));
        let g = pod(vec![container(&[("cpu", "1")], &[("cpu", "1000m"), ("memory", "1Gi")])]);
        assert_eq!((qos_class(&g), cgroup_parent(&g).as_str()), ("Guaranteed", "/kubepods/podu1"));
        let b = pod(vec![container(&[("memory", "1Gi")], &[])]);
        assert_eq!((qos_class(&b), cgroup_parent(&b).as_str()), ("Burstable", "/kubepods/burstable/podu1"));
        let mixed = pod(vec![container(&[], &[("cpu", "1"), ("memory", "1Gi")]), container(&[], &[])]);
        assert_eq!(qos_class(&mixed), "Burstable", "one unlimited container spoils Guaranteed");
    }
}
