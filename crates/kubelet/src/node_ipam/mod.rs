//! Pod CIDRs for nodes, assigned by the server (upstream: the node IPAM
//! controller): one /24 per node from the cluster CIDR (10.42.0.0/16 by default).
//! [`Assignments`] is the pure core; [`run`] watches Nodes and writes
//! `spec.podCIDR(s)` on those that have none.

mod assignments;

use std::net::Ipv4Addr;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio_util::sync::CancellationToken;

pub use assignments::Assignments;

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

/// Watches the Nodes and gives each without a podCIDR the first free /24.
///
/// # Errors
/// None today; API errors are logged and retried.
pub async fn run(client: kube::Client, cidr: ClusterCidr, shutdown: CancellationToken) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client);
    let mut stream = Box::pin(watcher(nodes.clone(), watcher::Config::default()).default_backoff());
    let mut known = Assignments::new(cidr);
    let mut said_full = false;
    // After a write of unknown outcome, the next writes wait a little.
    let mut backoff: Option<tokio::time::Instant> = None;
    loop {
        let wake = backoff.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let event = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(wake), if backoff.is_some() => None,
            e = stream.next() => match e { Some(e) => Some(e), None => return Ok(()) },
        };
        let cidr_of = |n: &Node| n.spec.as_ref().and_then(|s| s.pod_cidr.clone());
        let name_of = |n: &Node| n.metadata.name.clone().unwrap_or_default();
        match event {
            None => backoff = None,
            Some(Ok(watcher::Event::Init)) => known.relist(),
            Some(Ok(watcher::Event::InitDone)) => known.listed(),
            Some(Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n))) => {
                known.seen(&name_of(&n), cidr_of(&n).as_deref());
            }
            Some(Ok(watcher::Event::Delete(n))) => known.deleted(&name_of(&n)),
            Some(Err(e)) => tracing::warn!("node IPAM watch: {e}"),
        }
        if backoff.is_some() {
            continue;
        }
        while let Some((name, free)) = known.next_write() {
            let patch = serde_json::json!({"spec": {"podCIDR": free, "podCIDRs": [free]}});
            match nodes.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => tracing::info!("node {name}: podCIDR {free}"),
                // Gone, or it has a podCIDR already (the server refuses a change):
                // the watch shows which.
                Err(kube::Error::Api(e)) if matches!(e.code, 404 | 422) => {
                    tracing::warn!("assigning {free} to node {name}: {}", e.message);
                    known.rejected(&name);
                }
                Err(e) => {
                    tracing::warn!("assigning {free} to node {name}: {e}; retrying");
                    known.retry(&name);
                    backoff = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                    break;
                }
            }
        }
        if known.exhausted() != said_full {
            said_full = !said_full;
            if said_full {
                tracing::error!("node IPAM: no pod CIDR left in {}/{} for a new node", cidr.base, cidr.prefix);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_cidrs_parse() {
        let c: ClusterCidr = "10.9.0.0/23".parse().unwrap();
        assert_eq!((c.base, c.prefix), (Ipv4Addr::new(10, 9, 0, 0), 23));
        assert!("10.0.0.0/25".parse::<ClusterCidr>().is_err());
        assert!("10.0.0.0".parse::<ClusterCidr>().is_err());
    }
}
