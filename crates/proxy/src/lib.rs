//! skiff's service proxy (kube-proxy): turns Services and EndpointSlices into kernel
//! packet rules on every node, and the built-in ServiceLB.
//!
//! - `plan`: the pure core — (Services, EndpointSlices, node) → one plan per service
//!   port (endpoints chosen by readiness and traffic policy);
//! - `render`: the plan as iptables-restore text, an `nft -f` script, or an IPVS
//!   configuration — pure, golden-tested;
//! - `sink`: the `RuleSink` boundary (iptables, nftables, ipvs, a recording fake);
//! - `conntrack`: stale UDP flows to delete after a sync;
//! - `shell`: the watch/batch/apply loop; `metrics`: sync latency;
//! - `servicelb`: LoadBalancer Services get the nodes' addresses as ingress.

pub mod conntrack;
pub mod fixtures;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod render;
pub mod servicelb;
pub mod shell;
pub mod sink;

use std::fmt;
use std::str::FromStr;

pub use model::{Cidr, NodeContext, Options, ServicePortPlan};
pub use shell::{Proxy, ProxyConfig};

/// `--proxy-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    #[default]
    Iptables,
    Nftables,
    Ipvs,
}

impl FromStr for ProxyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "iptables" | "" => Ok(ProxyMode::Iptables),
            "nftables" => Ok(ProxyMode::Nftables),
            "ipvs" => Ok(ProxyMode::Ipvs),
            other => Err(format!("unknown proxy mode {other:?} (iptables, nftables or ipvs)")),
        }
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
            ProxyMode::Ipvs => "ipvs",
        })
    }
}

/// The sink for `mode`.
///
/// # Errors
/// For ipvs, when the kernel has no IPVS (`SinkError::NoIpvs`, a clear message).
pub async fn sink_for(mode: ProxyMode, tools: sink::Tools) -> Result<Box<dyn sink::RuleSink>, sink::SinkError> {
    Ok(match mode {
        ProxyMode::Iptables => Box::new(sink::IptablesSink::new(tools)),
        ProxyMode::Nftables => Box::new(sink::NftSink::new(tools)),
        ProxyMode::Ipvs => Box::new(sink::IpvsSink::probe(tools).await?),
    })
}
