//! The cluster DNS inside `skiff server`: the server on `--dns-listen`
//! (default: the node IP, port 53), the watches that feed it, and the
//! `kube-system/kube-dns` Service at `--cluster-dns` pointing at it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use skiff_dns::{DnsServer, Resolvers, State, Zone};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::ServerArgs;

/// How this component names itself to the API server (User-Agent, hence field manager).
const COMPONENT: &str = "coredns";

/// Starts the DNS server's tasks. A port that cannot be bound (53 needs root;
/// another resolver may hold it) is reported and the server runs without DNS.
pub async fn start(
    args: &ServerArgs,
    access: &crate::api_client::ApiAccess,
    tasks: &mut JoinSet<()>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    let listen = args.dns_listen.unwrap_or_else(|| {
        let ip = args.node_ip.first().copied().unwrap_or_else(crate::node_ip::detect);
        SocketAddr::new(ip, 53)
    });
    let cluster_ip = args.node.cluster_dns.parse().context("--cluster-dns must be an IP address")?;
    let upstream = if args.dns_upstream.is_empty() {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Resolvers::from_resolv_conf(&text, &[listen])
    } else {
        Resolvers::new(args.dns_upstream.clone())
    };
    let state = State::new(Zone::new(&args.node.cluster_domain));
    let server = match DnsServer::bind(listen, state.clone(), Arc::new(upstream)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skiff: cluster DNS not started: {e} (see --dns-listen, --disable-dns)");
            return Ok(None);
        }
    };
    let listen = server.local_addr();
    let client = access.client(COMPONENT).await?;
    tasks.spawn(skiff_dns::watch::run(client.clone(), state, shutdown.clone()));
    tasks.spawn(skiff_dns::kube_dns::run(client, cluster_ip, listen, shutdown.clone()));
    tasks.spawn(server.run(shutdown));
    Ok(Some(listen))
}
