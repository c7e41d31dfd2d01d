//! Pod addresses for the fake runtime: host-local style, from the node's
//! podCIDR. Pure: a set of addresses in use, the lowest free one handed out
//! next. `.0` (network), `.1` (the bridge's gateway, as the CNI config would
//! have it) and the broadcast address are never handed out.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("bad podCIDR {0:?} (want an IPv4 a.b.c.d/len with len 8..=30)")]
    BadCidr(String),
    #[error("no free address in {0}")]
    Exhausted(String),
}

/// Addresses of one IPv4 range.
#[derive(Debug, Clone)]
pub struct Ipam {
    cidr: String,
    /// The first and last address that may be handed out, as integers.
    first: u32,
    last: u32,
    used: BTreeSet<u32>,
}

impl Ipam {
    /// A range from a CIDR such as `10.42.3.0/24`.
    ///
    /// # Errors
    /// [`IpamError::BadCidr`] for anything but an IPv4 CIDR with a prefix of 8–30.
    pub fn new(cidr: &str) -> Result<Ipam, IpamError> {
        let bad = || IpamError::BadCidr(cidr.to_string());
        let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u32 = len.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&len) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - len);
        let network = u32::from(addr) & mask;
        let broadcast = network | !mask;
        Ok(Ipam { cidr: cidr.to_string(), first: network + 2, last: broadcast - 1, used: BTreeSet::new() })
    }

    /// The lowest free address, now taken.
    ///
    /// # Errors
    /// [`IpamError::Exhausted`] when every address is in use.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, IpamError> {
        // Used addresses are sorted: the first gap is the lowest free one.
        let mut candidate = self.first;
        for &u in self.used.range(self.first..) {
            if u != candidate {
                break;
            }
            candidate += 1;
        }
        if candidate > self.last {
            return Err(IpamError::Exhausted(self.cidr.clone()));
        }
        self.used.insert(candidate);
        Ok(Ipv4Addr::from(candidate))
    }

    /// Gives an address back (unknown ones are ignored).
    pub fn release(&mut self, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            self.used.remove(&u32::from(ip));
        }
    }

    /// Marks an address as taken (a sandbox that existed before the range was set).
    pub fn reserve(&mut self, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            let ip = u32::from(ip);
            if (self.first..=self.last).contains(&ip) {
                self.used.insert(ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_the_lowest_free_address_after_the_gateway() {
        let mut ipam = Ipam::new("10.42.7.0/24").unwrap();
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 42, 7, 2));
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 42, 7, 3));
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 42, 7, 4));
        ipam.release("10.42.7.3");
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 42, 7, 3), "a released address is reused");
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 42, 7, 5));
    }

    #[test]
    fn a_full_range_is_exhausted_and_never_hands_out_broadcast() {
        let mut ipam = Ipam::new("10.0.0.0/30").unwrap();
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(ipam.allocate(), Err(IpamError::Exhausted("10.0.0.0/30".into())));
        ipam.release("10.0.0.2");
        assert!(ipam.allocate().is_ok());
    }

    #[test]
    fn host_bits_in_the_cidr_are_ignored_and_reserved_addresses_skipped() {
        let mut ipam = Ipam::new("10.42.1.77/24").unwrap();
        ipam.reserve("10.42.1.2");
        ipam.reserve("192.0.2.1");
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(10, 42, 1, 3));
    }

    #[test]
    fn bad_cidrs_are_refused() {
        for bad in ["10.42.0.0", "10.42.0.0/31", "fd00::/64", "10.42.0.0/x", "10.42.0.300/24", "10.0.0.0/7"] {
            assert!(matches!(Ipam::new(bad), Err(IpamError::BadCidr(_))), "{bad}");
        }
    }
}
