//! The pure core: one question (name, type) → the answer, from the index.
//! Follows the Kubernetes DNS specification as CoreDNS's `kubernetes` plugin
//! implements it (with `pods insecure` and `fallthrough in-addr.arpa ip6.arpa`,
//! the kubeadm and k3s defaults):
//!
//! - `svc.ns.svc.ZONE`: A/AAAA of the cluster IP; a headless Service's ready
//!   endpoint IPs; a CNAME for ExternalName; SRV for every port.
//! - `ep.svc.ns.svc.ZONE`: one endpoint, named by its `hostname` (a pod's
//!   `spec.hostname` when its `spec.subdomain` is the Service) or dashed IP.
//! - `_port._proto.svc.ns.svc.ZONE`: SRV for a named port.
//! - `a-b-c-d.ns.pod.ZONE`: the IP written in the name.
//! - PTR for cluster IPs, endpoint IPs and pod IPs.
//! - Anything else in the zone is NXDOMAIN (NOERROR without records where the
//!   name exists but not with that type); names outside it are forwarded, and
//!   so are PTR queries for addresses the cluster does not know.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Index, Owner, Port, ServiceKind};

/// The cluster's zone and how long answers may be cached.
#[derive(Debug, Clone)]
pub struct Zone {
    /// e.g. `cluster.local`, lowercase, without the trailing dot.
    pub domain: String,
    /// TTL of every record (CoreDNS's `kubernetes` plugin default: 5 s).
    pub ttl: u32,
}

impl Zone {
    pub fn new(domain: &str) -> Zone {
        Zone { domain: domain.trim_end_matches('.').to_ascii_lowercase(), ttl: DEFAULT_TTL }
    }
}

pub const DEFAULT_TTL: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// We are authoritative for the name: this is the answer.
    Answer(Answer),
    /// Not ours: ask the node's resolvers.
    Forward,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// Answers `qname`/`qtype` from the index.
pub fn resolve(index: &Index, zone: &Zone, qname: &Name, qtype: RecordType) -> Outcome {
    let lower = qname.to_ascii().to_ascii_lowercase();
    let text = lower.trim_end_matches('.');
    let q = Question { zone, qname, qtype };
    if text == zone.domain {
        return Outcome::Answer(q.apex());
    }
    if let Some(rest) = text.strip_suffix(zone.domain.as_str()).and_then(|r| r.strip_suffix('.')) {
        let labels: Vec<&str> = rest.split('.').rev().collect();
        return Outcome::Answer(q.in_zone(index, &labels));
    }
    match reverse_ip(text).and_then(|ip| index.owner(ip).map(|o| q.reverse(o))) {
        Some(answer) => Outcome::Answer(answer),
        None => Outcome::Forward,
    }
}

struct Question<'a> {
    zone: &'a Zone,
    qname: &'a Name,
    qtype: RecordType,
}

impl Question<'_> {
    fn name(&self, relative: &str) -> Name {
        let s = if relative.is_empty() {
            format!("{}.", self.zone.domain)
        } else {
            format!("{relative}.{}.", self.zone.domain)
        };
        Name::from_ascii(s).unwrap_or_else(|_| Name::root())
    }

    fn record(&self, name: Name, data: RData) -> Record {
        Record::from_rdata(name, self.zone.ttl, data)
    }

    fn soa(&self) -> Record {
        let soa = SOA::new(self.name("ns.dns"), self.name("hostmaster"), 1, 7200, 1800, 86400, self.zone.ttl);
        self.record(self.name(""), RData::SOA(soa))
    }

    fn with_rcode(&self, rcode: ResponseCode) -> Answer {
        Answer { rcode, answers: vec![], authorities: vec![self.soa()], additionals: vec![] }
    }

    fn nxdomain(&self) -> Answer {
        self.with_rcode(ResponseCode::NXDomain)
    }

    /// The name exists, but has no records of the asked type.
    fn nodata(&self) -> Answer {
        self.with_rcode(ResponseCode::NoError)
    }

    fn exists(&self, yes: bool) -> Answer {
        if yes {
            self.nodata()
        } else {
            self.nxdomain()
        }
    }

    /// Records answering the question itself; empty means NODATA.
    fn answer(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
        if answers.is_empty() {
            return self.nodata();
        }
        Answer { rcode: ResponseCode::NoError, answers, authorities: vec![], additionals }
    }

    /// A/AAAA records of `ips` for the question's name, filtered by its type.
    fn addresses(&self, ips: impl IntoIterator<Item = IpAddr>) -> Vec<Record> {
        address_records(self.qname, self.qtype, self.zone.ttl, ips)
    }

    fn apex(&self) -> Answer {
        match self.qtype {
            RecordType::SOA => self.answer(vec![self.soa()], vec![]),
            RecordType::NS => self.answer(vec![self.record(self.name(""), RData::NS(NS(self.name("ns.dns"))))], vec![]),
            _ => self.nodata(),
        }
    }

    fn in_zone(&self, index: &Index, labels: &[&str]) -> Answer {
        match labels {
            ["svc"] => self.exists(index.has_services()),
            ["svc", ns] => self.exists(index.has_namespace(ns)),
            ["svc", ns, svc] => self.service(index, ns, svc),
            ["svc", ns, svc, proto] if proto.starts_with('_') => {
                let known = index.service(ns, svc).is_some_and(|s| s.ports.iter().any(|p| p.protocol == proto[1..]));
                self.exists(known)
            }
            ["svc", ns, svc, endpoint] => self.endpoint(index, ns, svc, endpoint),
            ["svc", ns, svc, proto, port] if proto.starts_with('_') && port.starts_with('_') => {
                self.srv_port(index, ns, svc, &proto[1..], &port[1..])
            }
            ["pod"] | ["pod", _] => self.nodata(),
            ["pod", _ns, dashed] => match undash(dashed) {
                Some(ip) => self.answer(self.addresses([ip]), vec![]),
                None => self.nxdomain(),
            },
            _ => self.nxdomain(),
        }
    }

    fn service(&self, index: &Index, ns: &str, svc: &str) -> Answer {
        let Some(entry) = index.service(ns, svc) else { return self.nxdomain() };
        let svc_name = format!("{svc}.{ns}.svc");
        match &entry.kind {
            ServiceKind::ExternalName(target) => {
                let target = Name::from_ascii(format!("{}.", target.trim_end_matches('.')));
                match target {
                    Ok(t) => self.answer(vec![self.record(self.qname.clone(), RData::CNAME(CNAME(t)))], vec![]),
                    Err(_) => self.nodata(),
                }
            }
            ServiceKind::ClusterIp(ips) => {
                if self.qtype == RecordType::SRV {
                    let target = self.name(&svc_name);
                    let srv = entry.ports.iter().map(|p| self.srv(p.port, 100, target.clone())).collect();
                    let extra = address_records(&target, RecordType::ANY, self.zone.ttl, ips.iter().copied());
                    return self.answer(srv, extra);
                }
                self.answer(self.addresses(ips.iter().copied()), vec![])
            }
            ServiceKind::Headless => {
                let ready: Vec<_> = index.endpoints(ns, svc).filter(|(e, _)| e.ready).collect();
                if ready.is_empty() {
                    return self.nxdomain();
                }
                if self.qtype == RecordType::SRV {
                    let mut srv = Vec::new();
                    let mut extra = Vec::new();
                    for (e, ports) in &ready {
                        let target = self.name(&format!("{}.{svc_name}", endpoint_name(e.hostname.as_deref(), e.ip)));
                        for p in ports.iter() {
                            srv.push(self.srv(p.port, weight(ready.len()), target.clone()));
                        }
                        extra.extend(address_records(&target, RecordType::ANY, self.zone.ttl, [e.ip]));
                    }
                    return self.answer(srv, extra);
                }
                let mut ips: Vec<IpAddr> = ready.iter().map(|(e, _)| e.ip).collect();
                ips.dedup();
                self.answer(self.addresses(ips), vec![])
            }
        }
    }

    fn endpoint(&self, index: &Index, ns: &str, svc: &str, endpoint: &str) -> Answer {
        if index.service(ns, svc).is_none() {
            return self.nxdomain();
        }
        let ips: Vec<IpAddr> = index
            .endpoints(ns, svc)
            .filter(|(e, _)| e.ready && endpoint_name(e.hostname.as_deref(), e.ip) == endpoint)
            .map(|(e, _)| e.ip)
            .collect();
        if ips.is_empty() {
            return self.nxdomain();
        }
        self.answer(self.addresses(ips), vec![])
    }

    fn srv_port(&self, index: &Index, ns: &str, svc: &str, protocol: &str, port: &str) -> Answer {
        let Some(entry) = index.service(ns, svc) else { return self.nxdomain() };
        let matches = |p: &Port| p.name == port && p.protocol == protocol;
        let svc_name = format!("{svc}.{ns}.svc");
        let (srv, extra) = match &entry.kind {
            ServiceKind::ExternalName(_) => return self.nxdomain(),
            ServiceKind::ClusterIp(ips) => {
                let Some(p) = entry.ports.iter().find(|p| matches(p)) else { return self.nxdomain() };
                let target = self.name(&svc_name);
                let extra = address_records(&target, RecordType::ANY, self.zone.ttl, ips.iter().copied());
                (vec![self.srv(p.port, 100, target)], extra)
            }
            ServiceKind::Headless => {
                let ready: Vec<_> = index
                    .endpoints(ns, svc)
                    .filter(|(e, _)| e.ready)
                    .filter_map(|(e, ports)| ports.iter().find(|p| matches(p)).map(|p| (e, p.port)))
                    .collect();
                if ready.is_empty() {
                    return self.exists(entry.ports.iter().any(matches));
                }
                let mut srv = Vec::new();
                let mut extra = Vec::new();
                for (e, port) in &ready {
                    let target = self.name(&format!("{}.{svc_name}", endpoint_name(e.hostname.as_deref(), e.ip)));
                    srv.push(self.srv(*port, weight(ready.len()), target.clone()));
                    extra.extend(address_records(&target, RecordType::ANY, self.zone.ttl, [e.ip]));
                }
                (srv, extra)
            }
        };
        if self.qtype != RecordType::SRV {
            return self.nodata();
        }
        self.answer(srv, extra)
    }

    fn srv(&self, port: u16, weight: u16, target: Name) -> Record {
        self.record(self.qname.clone(), RData::SRV(SRV::new(0, weight, port, target)))
    }

    fn reverse(&self, owner: Owner<'_>) -> Answer {
        let target = match owner {
            Owner::Service { namespace, name } => self.name(&format!("{name}.{namespace}.svc")),
            Owner::Endpoint { namespace, service, hostname } => {
                let ip = reverse_ip(&self.qname.to_ascii().to_ascii_lowercase()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
                self.name(&format!("{}.{service}.{namespace}.svc", endpoint_name(hostname, ip)))
            }
            Owner::Pod(p) => {
                let ip = reverse_ip(&self.qname.to_ascii().to_ascii_lowercase()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
                self.name(&format!("{}.{}.pod", dash(ip), p.namespace))
            }
        };
        if self.qtype != RecordType::PTR {
            return self.nodata();
        }
        self.answer(vec![self.record(self.qname.clone(), RData::PTR(PTR(target)))], vec![])
    }
}

/// SRV weights split 100 among the targets, like CoreDNS.
fn weight(targets: usize) -> u16 {
    (100 / targets.max(1)).max(1) as u16
}

fn address_records(name: &Name, qtype: RecordType, ttl: u32, ips: impl IntoIterator<Item = IpAddr>) -> Vec<Record> {
    ips.into_iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) if matches!(qtype, RecordType::A | RecordType::ANY) => {
                Some(Record::from_rdata(name.clone(), ttl, RData::A(A(v4))))
            }
            IpAddr::V6(v6) if matches!(qtype, RecordType::AAAA | RecordType::ANY) => {
                Some(Record::from_rdata(name.clone(), ttl, RData::AAAA(AAAA(v6))))
            }
            _ => None,
        })
        .collect()
}

/// An endpoint's DNS label: its hostname, else its dashed IP.
pub fn endpoint_name(hostname: Option<&str>, ip: IpAddr) -> String {
    hostname.map(str::to_string).unwrap_or_else(|| dash(ip))
}

/// `10.42.0.5` → `10-42-0-5`; `fd00::1` → `fd00--1` (CoreDNS's form).
pub fn dash(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// The inverse of [`dash`]; none for anything that is not an address.
pub fn undash(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains(':') {
        if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
            return Some(IpAddr::V4(v4));
        }
    }
    label.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The address of an `in-addr.arpa` / `ip6.arpa` name (lowercase, no trailing dot).
pub fn reverse_ip(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.');
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let octets: Vec<u8> = rest.split('.').map(|l| l.parse().ok()).collect::<Option<_>>()?;
        let [d, c, b, a] = octets[..] else { return None };
        return Some(IpAddr::from([a, b, c, d]));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|l| if l.len() == 1 { u8::from_str_radix(l, 16).ok() } else { None })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        // Reversed: the last label is the most significant nibble.
        bytes[i] = (pair[1] << 4) | pair[0];
    }
    Some(IpAddr::from(bytes))
}

#[cfg(test)]
mod tests;
