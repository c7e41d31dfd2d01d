//! The built-in load balancer (like k3s's ServiceLB): every LoadBalancer Service
//! without a `loadBalancerClass` gets the Ready nodes' addresses (or a configured
//! pool) as `status.loadBalancer.ingress`. The proxies then accept traffic to those
//! addresses on the service port on every node, so any node takes the traffic.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, Node, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use tokio_util::sync::CancellationToken;

/// The ingress every LoadBalancer Service should show: `pool` when configured, else
/// the InternalIP/ExternalIP of every Ready node, sorted and de-duplicated.
pub fn desired_ingress<'a>(nodes: impl IntoIterator<Item = &'a Node>, pool: &[Ipv4Addr]) -> Vec<LoadBalancerIngress> {
    let mut ips: Vec<Ipv4Addr> =
        if pool.is_empty() { nodes.into_iter().flat_map(ingress_ips).collect() } else { pool.to_vec() };
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| LoadBalancerIngress { ip: Some(ip.to_string()), ip_mode: Some("VIP".into()), ..Default::default() })
        .collect()
}

/// What of a node the ingress depends on: its InternalIP/ExternalIP addresses
/// while it is Ready, none otherwise. Read in place (nothing cloned): this runs
/// for every node on every change.
fn ingress_ips(node: &Node) -> impl Iterator<Item = Ipv4Addr> + '_ {
    let status = node.status.as_ref();
    let conds = status.and_then(|s| s.conditions.as_ref());
    let ready = conds.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    let addresses = status.and_then(|s| s.addresses.as_ref()).filter(|_| ready);
    addresses
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        .filter_map(|a| a.address.parse().ok())
}

/// Whether a node's change can change the ingress (heartbeats, labels and the
/// like cannot): with 5,000 nodes, recomputing on every node status update cost
/// the API server's process more than everything else it did.
fn ingress_changed(old: Option<&Node>, new: Option<&Node>) -> bool {
    let ips = |n: Option<&Node>| n.map(|n| ingress_ips(n).collect::<Vec<_>>()).unwrap_or_default();
    old.is_none() != new.is_none() || ips(old) != ips(new)
}

/// The ingress `svc` shows now.
fn shown_ingress(svc: &Service) -> &[LoadBalancerIngress] {
    svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_deref()).unwrap_or_default()
}

/// Whether `svc` is ours to reconcile: a LoadBalancer without a class (another
/// implementation owns one with a class), or one of ours that still shows an
/// ingress (it stopped being a LoadBalancer).
fn ours(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else { return false };
    spec.load_balancer_class.is_none()
        && (spec.type_.as_deref() == Some("LoadBalancer") || !shown_ingress(svc).is_empty())
}

/// The status patch for `svc`, or None when it already shows `want` (or is not ours).
pub fn status_patch(svc: &Service, want: &[LoadBalancerIngress]) -> Option<serde_json::Value> {
    if !ours(svc) {
        return None;
    }
    let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let want: &[LoadBalancerIngress] = if is_lb { want } else { &[] };
    (shown_ingress(svc) != want).then(|| serde_json::json!({ "status": { "loadBalancer": { "ingress": want } } }))
}

/// The controller.
pub struct ServiceLb {
    client: kube::Client,
    pool: Vec<Ipv4Addr>,
}

impl ServiceLb {
    pub fn new(client: kube::Client, pool: Vec<Ipv4Addr>) -> ServiceLb {
        ServiceLb { client, pool }
    }

    /// Reconciles on every Service or Node change until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        enum Ev {
            Svc(Box<watcher::Event<Service>>),
            Node(Box<watcher::Event<Node>>),
        }
        let svcs = watcher(Api::<Service>::all(self.client.clone()), watcher::Config::default())
            .default_backoff()
            .map(|e| e.map(|e| Ev::Svc(Box::new(e))));
        let nodes = watcher(Api::<Node>::all(self.client.clone()), watcher::Config::default())
            .default_backoff()
            .map(|e| e.map(|e| Ev::Node(Box::new(e))));
        let mut events = std::pin::pin!(futures::stream::select(svcs, nodes));
        let mut services: BTreeMap<(String, String), Service> = BTreeMap::new();
        let mut node_map: BTreeMap<String, Node> = BTreeMap::new();
        let (mut services_listed, mut nodes_listed) = (false, false);
        loop {
            let ev = tokio::select! {
                _ = shutdown.cancelled() => return,
                ev = events.next() => match ev { Some(Ok(ev)) => ev, Some(Err(_)) => continue, None => return },
            };
            match ev {
                Ev::Svc(e) => match *e {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => {
                        services.insert((s.namespace().unwrap_or_default(), s.name_any()), s);
                    }
                    watcher::Event::Delete(s) => {
                        services.remove(&(s.namespace().unwrap_or_default(), s.name_any()));
                    }
                    watcher::Event::InitDone => services_listed = true,
                    _ => continue,
                },
                Ev::Node(e) => match *e {
                    watcher::Event::Apply(n) | watcher::Event::InitApply(n) => {
                        let name = n.name_any();
                        let changed = ingress_changed(node_map.get(&name), Some(&n));
                        node_map.insert(name, n);
                        if nodes_listed && !changed {
                            continue;
                        }
                    }
                    watcher::Event::Delete(n) => {
                        let old = node_map.remove(&n.name_any());
                        if nodes_listed && !ingress_changed(old.as_ref(), None) {
                            continue;
                        }
                    }
                    watcher::Event::InitDone => nodes_listed = true,
                    _ => continue,
                },
            }
            if !(services_listed && nodes_listed) {
                continue; // a partial node list would publish too few addresses
            }
            if !services.values().any(ours) {
                continue;
            }
            let want = desired_ingress(node_map.values(), &self.pool);
            for ((ns, name), svc) in &services {
                let Some(patch) = status_patch(svc, &want) else { continue };
                let api = Api::<Service>::namespaced(self.client.clone(), ns);
                if let Err(e) = api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    tracing::warn!("servicelb: {ns}/{name}: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeStatus};

    fn node(ip: &str, ready: &str) -> Node {
        Node {
            status: Some(NodeStatus {
                addresses: Some(vec![
                    NodeAddress { type_: "InternalIP".into(), address: ip.into() },
                    NodeAddress { type_: "Hostname".into(), address: "n".into() },
                ]),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_nodes_addresses_become_the_ingress_unless_a_pool_is_set() {
        let nodes = [node("192.168.1.12", "True"), node("192.168.1.11", "True"), node("192.168.1.13", "False")];
        let ips: Vec<_> = desired_ingress(&nodes, &[]).into_iter().map(|i| i.ip.unwrap()).collect();
        assert_eq!(ips, ["192.168.1.11", "192.168.1.12"]);
        let pool = [Ipv4Addr::new(10, 0, 0, 5)];
        assert_eq!(desired_ingress(&nodes, &pool)[0].ip.as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn only_readiness_and_addresses_of_a_node_change_the_ingress() {
        let (a, b) = (node("192.168.1.11", "True"), node("192.168.1.12", "True"));
        let mut heartbeat = a.clone();
        heartbeat.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
        assert!(!ingress_changed(Some(&a), Some(&heartbeat)));
        assert!(ingress_changed(Some(&a), Some(&b)));
        assert!(ingress_changed(Some(&a), Some(&node("192.168.1.11", "False"))));
        assert!(ingress_changed(None, Some(&a)));
        assert!(ingress_changed(Some(&a), None));
        assert!(ingress_changed(None, Some(&node("192.168.1.13", "False"))), "a new node is looked at");
    }

    #[test]
    fn only_classless_load_balancers_or_leftover_ingress_are_ours() {
        let mut svc = crate::fixtures::service("ns", "lb", "10.43.0.7", &[("", 80, "TCP")]);
        assert!(!ours(&svc));
        svc.spec.as_mut().unwrap().type_ = Some("LoadBalancer".into());
        assert!(ours(&svc));
        svc.spec.as_mut().unwrap().load_balancer_class = Some("example.com/lb".into());
        assert!(!ours(&svc));
        let mut was_lb = crate::fixtures::service("ns", "old", "10.43.0.8", &[("", 80, "TCP")]);
        was_lb.status = Some(k8s_openapi::api::core::v1::ServiceStatus {
            load_balancer: Some(k8s_openapi::api::core::v1::LoadBalancerStatus {
                ingress: Some(desired_ingress(&[node("192.168.1.11", "True")], &[])),
            }),
            ..Default::default()
        });
        assert!(ours(&was_lb), "its stale ingress is cleared");
    }

    #[test]
    fn only_load_balancers_without_a_class_are_patched_and_only_when_different() {
        let mut svc = crate::fixtures::service("ns", "lb", "10.43.0.7", &[("", 80, "TCP")]);
        let want = desired_ingress(&[node("192.168.1.11", "True")], &[]);
        assert!(status_patch(&svc, &want).is_none(), "a ClusterIP Service without ingress is left alone");
        svc.spec.as_mut().unwrap().type_ = Some("LoadBalancer".into());
        let patch = status_patch(&svc, &want).unwrap();
        assert_eq!(patch["status"]["loadBalancer"]["ingress"][0]["ip"], "192.168.1.11");
        svc.status = Some(k8s_openapi::api::core::v1::ServiceStatus {
            load_balancer: Some(k8s_openapi::api::core::v1::LoadBalancerStatus { ingress: Some(want.clone()) }),
            ..Default::default()
        });
        assert!(status_patch(&svc, &want).is_none());
        svc.spec.as_mut().unwrap().load_balancer_class = Some("example.com/lb".into());
        assert!(status_patch(&svc, &[]).is_none());
    }
}
