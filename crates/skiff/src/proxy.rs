//! The service proxy inside every agent (`skiff agent`, `skiff server --agent`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use anyhow::Context;
use skiff_proxy::conntrack::ConntrackTool;
use skiff_proxy::metrics::Metrics;
use skiff_proxy::sink::Tools;
use skiff_proxy::{Proxy, ProxyConfig, ProxyMode};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::NodeArgs;

/// Starts the proxy (and its metrics endpoint) in `tasks` unless `--disable-proxy`.
///
/// # Errors
/// A bad `--cluster-cidr` or `--proxy-sync-period`, a metrics address that cannot be bound, or
/// `--proxy-mode=ipvs` on a kernel without IPVS — all before anything runs.
pub async fn start(
    node: &NodeArgs,
    node_name: &str,
    node_ip: IpAddr,
    client: kube::Client,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    if node.disable_proxy {
        return Ok(());
    }
    let mode: ProxyMode = node.proxy_mode.parse().map_err(|e: String| anyhow::anyhow!("--proxy-mode: {e}"))?;
    let sink = skiff_proxy::sink_for(mode, Tools::default()).await?;
    let ip = match node_ip {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
    };
    let mut config = ProxyConfig::new(node_name, ip);
    config.options.cluster_cidr =
        Some(node.cluster_cidr.parse().map_err(|e: String| anyhow::anyhow!("--cluster-cidr: {e}"))?);
    config.options.masquerade_all = node.masquerade_all;
    config.min_sync_interval = node.proxy_min_sync_period;
    config.sync_period = sync_period(node)?;
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind(node.proxy_metrics_bind_address)
        .await
        .with_context(|| format!("the proxy's metrics address {}", node.proxy_metrics_bind_address))?;
    tasks.spawn(skiff_proxy::metrics::serve(listener, metrics.clone(), shutdown.clone()));
    let proxy = Proxy::new(client, config, sink, Box::new(ConntrackTool::default()), metrics);
    tasks.spawn(proxy.run(shutdown.clone()));
    eprintln!("skiff: service proxy started ({mode} mode, metrics on {})", node.proxy_metrics_bind_address);
    Ok(())
}

/// `--proxy-sync-period`, checked as upstream checks `syncPeriod`: more than 0
/// and not shorter than the min sync period.
fn sync_period(node: &NodeArgs) -> anyhow::Result<std::time::Duration> {
    let (period, min) = (node.proxy_sync_period, node.proxy_min_sync_period);
    if period.is_zero() {
        anyhow::bail!("--proxy-sync-period must be greater than 0");
    }
    if period < min {
        anyhow::bail!(
            "--proxy-sync-period ({}) must be greater than or equal to --proxy-min-sync-period ({})",
            humantime::format_duration(period),
            humantime::format_duration(min)
        );
    }
    Ok(period)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn period(args: &[&str]) -> anyhow::Result<std::time::Duration> {
        sync_period(&Flags::parse_from(std::iter::once("skiff").chain(args.iter().copied())).node)
    }

    #[test]
    fn the_sync_period_is_positive_and_not_below_the_min_sync_period() {
        assert_eq!(period(&[]).unwrap(), std::time::Duration::from_secs(30));
        assert_eq!(period(&["--proxy-sync-period", "5m"]).unwrap(), std::time::Duration::from_secs(300));
        assert!(period(&["--proxy-sync-period", "0s"]).unwrap_err().to_string().contains("greater than 0"));
        let e = period(&["--proxy-sync-period", "1s", "--proxy-min-sync-period", "2s"]).unwrap_err();
        assert!(e.to_string().contains("--proxy-min-sync-period (2s)"), "{e}");
    }
}
