//! The node's IP when `--node-ip` is not given, chosen as upstream's
//! `ChooseHostInterface` does: the address of the interface that holds the
//! default route, else the first global IPv4 address on an interface that is
//! up. The pods' own bridge is never the answer: after a restart its gateway
//! address (10.42.x.1) would otherwise be the first one found, and pods would
//! be told to use a DNS server on their own bridge.

use std::net::Ipv4Addr;
use std::sync::Once;

use skiff_kubelet::cni::BRIDGE;

/// One IPv4 address of an interface, as `getifaddrs` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub interface: String,
    pub ip: Ipv4Addr,
    pub up: bool,
    pub loopback: bool,
}

/// The node IP from the machine's addresses and `/proc/net/route`, or None
/// when only loopback (or nothing usable) is there.
pub fn choose(addresses: &[Address], routes: &str) -> Option<Ipv4Addr> {
    let usable =
        |a: &&Address| a.up && !a.loopback && a.interface != BRIDGE && !a.ip.is_loopback() && !a.ip.is_link_local();
    let on_default_route = default_route_interfaces(routes)
        .into_iter()
        .find_map(|iface| addresses.iter().filter(usable).find(|a| a.interface == iface));
    on_default_route.or_else(|| addresses.iter().find(usable)).map(|a| a.ip)
}

/// Interfaces with a default route (destination 0.0.0.0/0), best metric first.
/// `/proc/net/route` columns: Iface Destination Gateway Flags RefCnt Use
/// Metric Mask ...; addresses are hex in host byte order.
fn default_route_interfaces(routes: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = routes
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, metric, mask) = (f.first()?, f.get(1)?, f.get(6)?, f.get(7)?);
            (*dest == "00000000" && *mask == "00000000")
                .then(|| (metric.parse().unwrap_or(u32::MAX), iface.to_string()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, iface)| iface).collect()
}

/// Reads the machine and chooses; falls back to 127.0.0.1 with a warning
/// (printed once), since a loopback node IP leaves pods without cluster DNS.
pub fn detect() -> std::net::IpAddr {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    if let Some(ip) = choose(&addresses(), &routes) {
        return ip.into();
    }
    static WARN: Once = Once::new();
    WARN.call_once(|| {
        eprintln!(
            "skiff: warning: no IPv4 address besides loopback; the node IP is 127.0.0.1, which pods \
             cannot reach (cluster DNS, Services through it); pass --node-ip"
        )
    });
    Ipv4Addr::LOCALHOST.into()
}

/// Every IPv4 address of the machine's interfaces.
fn addresses() -> Vec<Address> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a list we free with freeifaddrs; we only read
    // it, and copy the name and address out before freeing.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut cur = list;
        while !cur.is_null() {
            let a = &*cur;
            if !a.ifa_addr.is_null() && (*a.ifa_addr).sa_family as i32 == libc::AF_INET && !a.ifa_name.is_null() {
                let sin = &*(a.ifa_addr as *const libc::sockaddr_in);
                out.push(Address {
                    interface: std::ffi::CStr::from_ptr(a.ifa_name).to_string_lossy().into_owned(),
                    ip: Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    up: a.ifa_flags & libc::IFF_UP as u32 != 0,
                    loopback: a.ifa_flags & libc::IFF_LOOPBACK as u32 != 0,
                });
            }
            cur = a.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(interface: &str, ip: [u8; 4]) -> Address {
        Address { interface: interface.into(), ip: ip.into(), up: true, loopback: interface == "lo" }
    }

    const HEADER: &str = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n";

    fn routes(rows: &[&str]) -> String {
        format!("{HEADER}{}", rows.join("\n"))
    }

    #[test]
    fn the_default_route_interface_wins_over_the_first_one_listed() {
        let a = [addr("lo", [127, 0, 0, 1]), addr("eth0", [10, 0, 0, 5]), addr("eth1", [192, 168, 1, 9])];
        let r = routes(&[
            "eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
            "eth1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
        ]);
        assert_eq!(choose(&a, &r), Some(Ipv4Addr::new(192, 168, 1, 9)));
    }

    #[test]
    fn the_lowest_metric_default_route_wins() {
        let a = [addr("eth0", [10, 0, 0, 5]), addr("wlan0", [192, 168, 1, 9])];
        let r = routes(&[
            "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0",
            "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0",
        ]);
        assert_eq!(choose(&a, &r), Some(Ipv4Addr::new(10, 0, 0, 5)));
    }

    #[test]
    fn without_a_default_route_the_first_usable_address_is_taken() {
        let a = [addr("lo", [127, 0, 0, 1]), addr("uplink0", [10, 99, 0, 1])];
        assert_eq!(choose(&a, &routes(&[])), Some(Ipv4Addr::new(10, 99, 0, 1)));
    }

    #[test]
    fn the_pod_bridge_is_never_the_node_ip() {
        // After a restart with only loopback, cni0 is the sole other address;
        // and a default route through the bridge (pods' view) is ignored too.
        let a = [addr("lo", [127, 0, 0, 1]), addr(BRIDGE, [10, 42, 0, 1])];
        let r = routes(&["cni0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0"]);
        assert_eq!(choose(&a, &r), None);
    }

    #[test]
    fn down_loopback_and_link_local_addresses_are_skipped() {
        let mut down = addr("eth0", [10, 0, 0, 5]);
        down.up = false;
        let a = [down, addr("lo", [127, 0, 0, 1]), addr("eth1", [169, 254, 3, 4]), addr("eth2", [172, 16, 0, 2])];
        assert_eq!(choose(&a, &routes(&[])), Some(Ipv4Addr::new(172, 16, 0, 2)));
    }

    #[test]
    fn a_default_route_on_an_interface_without_ipv4_falls_through() {
        let a = [addr("eth1", [172, 16, 0, 2])];
        let r = routes(&["ppp0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0"]);
        assert_eq!(choose(&a, &r), Some(Ipv4Addr::new(172, 16, 0, 2)));
    }
}
