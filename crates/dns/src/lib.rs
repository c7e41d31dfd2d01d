//! Cluster DNS: answers the Kubernetes DNS names (Services, headless
//! endpoints, StatefulSet-style pod names, SRV, PTR, pod IPs) from watched
//! Services, EndpointSlices and Pods, and forwards every other name to the
//! node's resolvers. See docs/dns.md.
//!
//! - `index`: what the answers are made of (pure, updated per watch event)
//! - `answer`: one question → one answer (pure)
//! - `message`: request bytes → reply bytes (pure, hickory-proto wire format)
//! - `upstream`: forwarding (the `Upstream` trait, resolv.conf resolvers)
//! - `server`: the UDP and TCP sockets
//! - `watch`: the watches feeding the index
//! - `kube_dns`: the `kube-system/kube-dns` Service and its endpoints

pub mod answer;
pub mod index;
pub mod kube_dns;
pub mod message;
pub mod server;
pub mod testing;
pub mod upstream;
pub mod watch;
pub mod watched_pod;

pub use answer::Zone;
pub use server::{DnsServer, ServerError, State};
pub use upstream::{Resolvers, Upstream};
