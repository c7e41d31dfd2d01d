//! `PodInfo`: a pod with everything the plugins ask about it computed once —
//! requests, host ports, compiled affinity terms — when it enters the scheduler.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, PodSpec, WeightedPodAffinityTerm};

use crate::resources::{pod_requests, Resource};
use crate::selector::{Labels, Selector};

/// The namespace labels the scheduler knows, for `namespaceSelector` in affinity terms.
pub trait NamespaceLabels {
    fn namespace_labels(&self, namespace: &str) -> Option<&Labels>;
}

/// One compiled pod (anti-)affinity term.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub topology_key: String,
    pub selector: Selector,
    /// Namespaces named in the term (or the pod's own when neither names nor a
    /// namespace selector are given).
    pub namespaces: BTreeSet<String>,
    /// `namespaceSelector`; `None` when absent.
    pub namespace_selector: Option<Selector>,
}

impl AffinityTerm {
    fn new(term: &PodAffinityTerm, pod: &Pod) -> AffinityTerm {
        let own_ns = pod.metadata.namespace.clone().unwrap_or_default();
        let pod_labels = pod.metadata.labels.clone().unwrap_or_default();
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref());
        // matchLabelKeys / mismatchLabelKeys narrow the selector by the incoming pod's own label values.
        if term.label_selector.is_some() {
            for key in term.match_label_keys.iter().flatten() {
                if let Some(v) = pod_labels.get(key) {
                    selector = selector.with_label(key, v);
                }
            }
        }
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let namespace_selector = term.namespace_selector.as_ref().map(|s| Selector::from_label_selector(Some(s)));
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(own_ns);
        }
        AffinityTerm { topology_key: term.topology_key.clone(), selector, namespaces, namespace_selector }
    }

    /// Whether `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &PodInfo, ns: &dyn NamespaceLabels) -> bool {
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                s.is_everything() || ns.namespace_labels(&pod.namespace).is_some_and(|l| s.matches(l))
            });
        ns_ok && self.selector.matches(&pod.labels)
    }
}

#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    pub weight: i64,
    pub term: AffinityTerm,
}

/// A host port a pod asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Two host ports clash when protocol and port are equal and the IPs overlap
    /// (`0.0.0.0` overlaps every IP).
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The pod's spec, or an empty one.
fn spec_of(pod: &Pod) -> &PodSpec {
    static EMPTY: std::sync::OnceLock<PodSpec> = std::sync::OnceLock::new();
    pod.spec.as_ref().unwrap_or_else(|| EMPTY.get_or_init(Default::default))
}

/// A pod as the scheduler sees it. Cheap to share (`Arc<PodInfo>`).
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// Resolved priority (from `spec.priority`, else the PriorityClass).
    pub priority: i32,
    pub requests: Resource,
    /// Requests with upstream's defaults for unset cpu/memory, for scoring.
    pub non_zero_requests: Resource,
    pub host_ports: Vec<HostPort>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// `spec.nodeName`, empty when unassigned.
    pub node_name: String,
    pub terminating: bool,
}

impl PodInfo {
    /// Computes the scheduler's view of `pod`, whose priority the caller resolved.
    pub fn new(pod: Arc<Pod>, priority: i32) -> PodInfo {
        // Borrowed, not cloned: a PodSpec copy was a few µs of allocations for
        // every pod event the scheduler sees.
        let spec = spec_of(&pod);
        let mut host_ports = Vec::new();
        let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
        for c in spec.containers.iter().chain(sidecars) {
            for p in c.ports.iter().flatten() {
                if let Some(port) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                        port,
                    });
                }
            }
        }
        let affinity = spec.affinity.as_ref();
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms.into_iter().flatten().map(|t| AffinityTerm::new(t, &pod)).collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<WeightedAffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .filter(|t| t.weight != 0)
                .map(|t| WeightedAffinityTerm {
                    weight: i64::from(t.weight),
                    term: AffinityTerm::new(&t.pod_affinity_term, &pod),
                })
                .collect()
        };
        PodInfo {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            priority,
            requests: pod_requests(spec, false),
            non_zero_requests: pod_requests(spec, true),
            host_ports,
            required_affinity: required(
                pa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            required_anti_affinity: required(
                paa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_affinity: preferred(
                pa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_anti_affinity: preferred(
                paa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            node_name: spec.node_name.clone().unwrap_or_default(),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            pod,
        }
    }

    /// `namespace/name`, for messages and logs.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn spec(&self) -> &PodSpec {
        spec_of(&self.pod)
    }

    /// Whether the pod has any pod affinity or anti-affinity term.
    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    /// This pod as assumed on `node`: `node_name` set, the API object shared with
    /// the pending pod (its `spec.nodeName` stays empty; the scheduler reads the
    /// node from `node_name`, and copying the whole pod per decision was ~2 % of
    /// the server's CPU per binding).
    pub fn assumed_on(&self, node: &str) -> PodInfo {
        PodInfo { node_name: node.to_string(), ..self.clone() }
    }

    /// When the pod started (for preemption's tie-break), else when it was created.
    pub fn start_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .or(self.pod.metadata.creation_timestamp.as_ref())
            .map(|t| t.0)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for pods and nodes used by the unit tests of every module.
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, Node, NodeSpec, NodeStatus, PodSpec, ResourceRequirements, Taint, Toleration,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    pub fn list(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, Quantity> {
        pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
    }

    pub fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A pod builder: `pod("p").req(&[("cpu","1")]).build()`.
    #[derive(Clone)]
    pub struct PodBuilder(pub Pod, pub i32);

    pub fn pod(name: &str) -> PodBuilder {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.spec = Some(PodSpec {
            containers: vec![Container { name: "c".into(), ..Default::default() }],
            ..Default::default()
        });
        PodBuilder(p, 0)
    }

    impl PodBuilder {
        fn spec(&mut self) -> &mut PodSpec {
            self.0.spec.as_mut().unwrap()
        }
        pub fn req(mut self, r: &[(&str, &str)]) -> Self {
            self.spec().containers[0].resources =
                Some(ResourceRequirements { requests: Some(list(r)), ..Default::default() });
            self
        }
        pub fn labels(mut self, l: &[(&str, &str)]) -> Self {
            self.0.metadata.labels = Some(labels(l));
            self
        }
        pub fn node(mut self, n: &str) -> Self {
            self.spec().node_name = Some(n.into());
            self
        }
        pub fn priority(mut self, p: i32) -> Self {
            self.1 = p;
            self
        }
        pub fn host_port(mut self, port: i32) -> Self {
            self.spec().containers[0].ports =
                Some(vec![ContainerPort { container_port: port, host_port: Some(port), ..Default::default() }]);
            self
        }
        pub fn image(mut self, image: &str) -> Self {
            self.spec().containers[0].image = Some(image.into());
            self
        }
        pub fn tolerate(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
            self.spec().tolerations.get_or_insert_with(Vec::new).push(Toleration {
                key: (!key.is_empty()).then(|| key.into()),
                operator: Some(op.into()),
                value: (!value.is_empty()).then(|| value.into()),
                effect: (!effect.is_empty()).then(|| effect.into()),
                ..Default::default()
            });
            self
        }
        pub fn with_spec(mut self, f: impl FnOnce(&mut PodSpec)) -> Self {
            f(self.spec());
            self
        }
        pub fn build(self) -> Arc<PodInfo> {
            Arc::new(self.info())
        }
        pub fn info(self) -> PodInfo {
            PodInfo::new(Arc::new(self.0), self.1)
        }
    }

    /// A node builder with allocatable resources.
    pub struct NodeBuilder(pub Node);

    pub fn node(name: &str) -> NodeBuilder {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.metadata.labels = Some(labels(&[("kubernetes.io/hostname", name)]));
        n.status = Some(NodeStatus {
            allocatable: Some(list(&[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")])),
            ..Default::default()
        });
        NodeBuilder(n)
    }

    impl NodeBuilder {
        pub fn alloc(mut self, r: &[(&str, &str)]) -> Self {
            self.0.status.as_mut().unwrap().allocatable = Some(list(r));
            self
        }
        pub fn label(mut self, k: &str, v: &str) -> Self {
            self.0.metadata.labels.get_or_insert_with(Default::default).insert(k.into(), v.into());
            self
        }
        pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
            let spec = self.0.spec.get_or_insert_with(NodeSpec::default);
            spec.taints.get_or_insert_with(Vec::new).push(Taint {
                key: key.into(),
                value: (!value.is_empty()).then(|| value.into()),
                effect: effect.into(),
                ..Default::default()
            });
            self
        }
        pub fn unschedulable(mut self) -> Self {
            self.0.spec.get_or_insert_with(NodeSpec::default).unschedulable = Some(true);
            self
        }
        pub fn image(mut self, name: &str, size: i64) -> Self {
            self.0.status.as_mut().unwrap().images.get_or_insert_with(Vec::new).push(
                k8s_openapi::api::core::v1::ContainerImage { names: Some(vec![name.into()]), size_bytes: Some(size) },
            );
            self
        }
        pub fn build(self) -> Arc<Node> {
            Arc::new(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn host_ports_conflict_on_overlapping_ips() {
        let p = |ip: &str, port| HostPort { protocol: "TCP".into(), ip: ip.into(), port };
        assert!(p("0.0.0.0", 80).conflicts(&p("10.0.0.1", 80)));
        assert!(p("10.0.0.1", 80).conflicts(&p("10.0.0.1", 80)));
        assert!(!p("10.0.0.1", 80).conflicts(&p("10.0.0.2", 80)));
        assert!(!p("0.0.0.0", 80).conflicts(&p("0.0.0.0", 81)));
        let udp = HostPort { protocol: "UDP".into(), ip: "0.0.0.0".into(), port: 80 };
        assert!(!udp.conflicts(&p("0.0.0.0", 80)));
    }

    #[test]
    fn pod_info_collects_ports_and_requests() {
        let info = pod("a").req(&[("cpu", "500m")]).host_port(8080).info();
        assert_eq!(info.requests.milli_cpu, 500);
        assert_eq!(info.host_ports.len(), 1);
        assert_eq!(info.host_ports[0].ip, "0.0.0.0");
        assert_eq!(info.key(), "default/a");
        assert_eq!(info.assumed_on("n1").node_name, "n1");
    }
}
