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
pub fn desired_ingress(nodes: &[Node], pool: &[Ipv4Addr]) -> Vec<LoadBalancerIngress> {
    let mut ips: Vec<Ipv4Addr> = if pool.is_empty() {
        nodes
            .iter()
            .filter(|n| {
                let conds = n.status.as_ref().and_then(|s| s.conditions.as_ref());
                conds.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .flat_map(|n| n.status.as_ref().and_then(|s| s.addresses.clone()).unwrap_or_default())
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .filter_map(|a| a.address.parse().ok())
            .collect()
    } else {
        pool.to_vec()
    };
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| LoadBalancerIngress { ip: Some(ip.to_string()), ip_mode: Some("VIP".into()), ..Default::default() })
        .collect()
}

/// The status patch for `svc`, or None when it already shows `want` (or is not ours).
pub fn status_patch(svc: &Service, want: &[LoadBalancerIngress]) -> Option<serde_json::Value> {
    let spec = svc.spec.as_ref()?;
    if spec.load_balancer_class.is_some() {
        return None; // another implementation's
    }
    let have =
        svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.clone()).unwrap_or_default();
    let want: &[LoadBalancerIngress] = if spec.type_.as_deref() == Some("LoadBalancer") { want } else { &[] };
    (have != want).then(|| serde_json::json!({ "status": { "loadBalancer": { "ingress": want } } }))
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
                        node_map.insert(n.name_any(), n);
                    }
                    watcher::Event::Delete(n) => {
                        node_map.remove(&n.name_any());
                    }
                    watcher::Event::InitDone => nodes_listed = true,
                    _ => continue,
                },
            }
            if !(services_listed && nodes_listed) {
                continue; // a partial node list would publish too few addresses
            }
            let nodes: Vec<Node> = node_map.values().cloned().collect();
            let want = desired_ingress(&nodes, &self.pool);
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
