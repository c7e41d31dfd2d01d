//! Loopback ports for servers that tests start.
//!
//! A port found by binding port 0 comes from the kernel's ephemeral range
//! (32768–60999 by default), the same range every outgoing connection takes its
//! source port from. Between the probe and the server's own bind, one of the many
//! loopback connections running tests make (servers' in-process clients, kubectl,
//! agents) can take it, and the server then fails with "already in use" — CI saw
//! exactly that. Ports below that range are only ever taken by a listener that asks
//! for them, so a counter per test process keeps them apart.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 10_000;
const COUNT: u32 = 22_000; // up to 31999, below the ephemeral range

/// A loopback port (TCP and UDP) that nothing listens on, different on every call
/// within this process.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Start where another test process (another test binary run at the same time,
    // or one left over) is unlikely to be.
    let start = std::process::id().wrapping_mul(7919) % COUNT;
    for _ in 0..COUNT {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT;
        let port = (FIRST + offset) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}
