//! The proxy's view of the world: what one node needs to know to program Services,
//! reduced from the API objects by `plan`. Every renderer reads only these types.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 CIDR such as `10.42.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a CIDR (want a.b.c.d/n)"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let prefix: u8 = p.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("{p:?} is not a prefix length"))?;
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The node the rules are for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeContext {
    pub name: String,
    /// Every address of the node (NodePorts answer on all of them; ipvs lists them).
    pub addresses: Vec<Ipv4Addr>,
    pub pod_cidr: Option<Cidr>,
}

/// Proxy options that change the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The cluster's pod CIDR: traffic to a cluster IP from outside it is masqueraded.
    pub cluster_cidr: Option<Cidr>,
    /// Masquerade all service traffic (upstream's `--masquerade-all`).
    pub masquerade_all: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { cluster_cidr: Some(Cidr { addr: Ipv4Addr::new(10, 42, 0, 0), prefix: 16 }), masquerade_all: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(s: Option<&str>) -> Option<Protocol> {
        match s.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
    /// Lower case, as iptables, nft and conntrack spell it.
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
    /// Upper case, as the API spells it.
    pub fn upper(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// One backend of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// On this node.
    pub local: bool,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// Everything about one port of one Service that the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortPlan {
    pub namespace: String,
    pub name: String,
    /// The port's name ("" when the Service has one unnamed port).
    pub port_name: String,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    pub external_ips: Vec<Ipv4Addr>,
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `sessionAffinity: ClientIP` with its timeout in seconds.
    pub affinity_timeout: Option<u32>,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// Endpoints for traffic to the cluster IP (already narrowed to this node's
    /// endpoints when `internal_local`), sorted.
    pub cluster_endpoints: Vec<Endpoint>,
    /// Endpoints for external traffic when `external_local`: this node's, sorted.
    pub local_endpoints: Vec<Endpoint>,
    /// Every endpoint the cluster-wide policy would use, before the internal
    /// policy narrowed it (external traffic with policy Cluster goes here).
    pub all_endpoints: Vec<Endpoint>,
}

impl ServicePortPlan {
    /// Upstream's ServicePortName: `ns/name:port`, or `ns/name` for an unnamed port.
    pub fn port_id(&self) -> String {
        if self.port_name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, self.port_name)
        }
    }

    /// Reachable from outside the cluster IP: NodePort, externalIPs or LB IPs.
    pub fn has_external(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty() || !self.load_balancer_ips.is_empty()
    }

    /// The endpoints external traffic (NodePort, external and LB IPs) is sent to.
    pub fn external_endpoints(&self) -> &[Endpoint] {
        if self.external_local {
            &self.local_endpoints
        } else {
            &self.all_endpoints
        }
    }
}
