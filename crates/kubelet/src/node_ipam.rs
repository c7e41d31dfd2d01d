//! Pod CIDRs for nodes, assigned by the server (upstream: the node IPAM
//! controller): one /24 per node from the cluster CIDR (10.42.0.0/16 by default).
//! [`next_free`] is the pure core; [`run`] watches Nodes and writes
//! `spec.podCIDR(s)` on those that have none.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio_util::sync::CancellationToken;

/// The cluster CIDR as a base address and prefix length (16 for 10.42.0.0/16).
#[derive(Debug, Clone, Copy)]
pub struct ClusterCidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Default for ClusterCidr {
    fn default() -> Self {
        ClusterCidr { base: Ipv4Addr::new(10, 42, 0, 0), prefix: 16 }
    }
}

impl std::str::FromStr for ClusterCidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, len) = s.split_once('/').ok_or_else(|| format!("{s} is not a CIDR"))?;
        let base: Ipv4Addr = ip.parse().map_err(|_| format!("{ip} is not an IPv4 address"))?;
        let prefix: u8 = len.parse().map_err(|_| format!("{len} is not a prefix length"))?;
        if prefix > 24 {
            return Err(format!("{s} is smaller than one /24 per node"));
        }
        Ok(ClusterCidr { base, prefix })
    }
}

/// The first /24 of `cidr` not in `used`, or `None` when all are taken.
pub fn next_free(cidr: ClusterCidr, used: &BTreeSet<String>) -> Option<String> {
    let base = u32::from(cidr.base) & (u32::MAX.checked_shl(32 - cidr.prefix as u32).unwrap_or(0));
    let count = 1u32 << (24 - cidr.prefix);
    (0..count).map(|i| format!("{}/24", Ipv4Addr::from(base + (i << 8)))).find(|c| !used.contains(c))
}

/// Assigns pod CIDRs until `shutdown`.
///
/// # Errors
/// Only when the watch cannot be set up at all; API errors while running are
/// retried by the watcher.
pub async fn run(client: kube::Client, cidr: ClusterCidr, shutdown: CancellationToken) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client);
    let mut stream = Box::pin(watcher(nodes.clone(), watcher::Config::default()).default_backoff());
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            e = stream.next() => match e { Some(e) => e, None => return Ok(()) },
        };
        let node = match event {
            Ok(watcher::Event::Apply(n)) | Ok(watcher::Event::InitApply(n)) => n,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!("node IPAM watch: {e}");
                continue;
            }
        };
        if node.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some() {
            continue;
        }
        // Read every node's CIDR fresh, so two quick registrations never share one.
        let list = match nodes.list(&Default::default()).await {
            Ok(list) => list.items,
            Err(e) => {
                tracing::warn!("node IPAM list: {e}");
                continue;
            }
        };
        let cidr_of = |n: &Node| n.spec.as_ref().and_then(|s| s.pod_cidr.clone());
        // The event may predate our own assignment (a status update written just
        // before it): the fresh list says whether this node has one already.
        if list.iter().any(|n| n.metadata.name == node.metadata.name && cidr_of(n).is_some()) {
            continue;
        }
        let used: BTreeSet<String> = list.iter().filter_map(cidr_of).collect();
        let Some(free) = next_free(cidr, &used) else {
            tracing::error!("no pod CIDR left for node {:?}", node.metadata.name);
            continue;
        };
        let name = node.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({"spec": {"podCIDR": free, "podCIDRs": [free]}});
        if let Err(e) = nodes.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!("assigning {free} to node {name}: {e}");
        } else {
            tracing::info!("node {name}: podCIDR {free}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_the_first_free_slash_24() {
        let c = ClusterCidr::default();
        assert_eq!(next_free(c, &BTreeSet::new()).as_deref(), Some("10.42.0.0/24"));
        let used = BTreeSet::from(["10.42.0.0/24".to_string(), "10.42.2.0/24".to_string()]);
        assert_eq!(next_free(c, &used).as_deref(), Some("10.42.1.0/24"));
        let small: ClusterCidr = "10.9.0.0/23".parse().unwrap();
        let used = BTreeSet::from(["10.9.0.0/24".to_string(), "10.9.1.0/24".to_string()]);
        assert_eq!(next_free(small, &used), None);
        assert!("10.0.0.0/25".parse::<ClusterCidr>().is_err());
    }
}
