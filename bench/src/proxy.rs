//! The service proxy: time from an EndpointSlice change to the rules in the kernel,
//! with `--services` (1,000 and 10,000) Services of 2 endpoints each, in iptables
//! and nftables mode. Each mode works in a network namespace the benchmark creates
//! and deletes (nothing touches the host's rules). Per change: the proxy's own
//! plan (all Services and slices → plan), render and apply through the real sink —
//! what the proxy does between seeing a change and having it in place, minus the
//! batching delay and the watch delivery (measured by the proxy's
//! `kubeproxy_network_programming_duration_seconds` in a running cluster).
//! Changes go through partial syncs (only changed chains); `--full-syncs` full
//! syncs of the same kind of change follow as the reference (`*_partial_vs_full`).
//! The CPU line counts this process and the tools it ran (iptables-restore, nft).
//! Needs root, `ip`, iptables and nft.

use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use skiff_proxy::fixtures::{endpoint, service, slice};
use skiff_proxy::plan::plan;
use skiff_proxy::sink::{IptablesSink, NftSink, RuleSink, Tools};
use skiff_proxy::{NodeContext, Options};

use crate::report::{emit, round, target, Better};
use crate::stats::Latencies;

#[derive(Args)]
pub struct ProxyArgs {
    /// Service counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    services: Vec<usize>,
    /// EndpointSlice changes applied per case.
    #[arg(long, default_value_t = 10)]
    changes: usize,
    /// Full syncs per case, the reference (at 10,000 Services each takes minutes
    /// with iptables).
    #[arg(long, default_value_t = 1)]
    full_syncs: usize,
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> anyhow::Result<Netns> {
        let name = format!("skiff-bench-proxy-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let out = Command::new("ip").args(["netns", "add", &name]).output()?;
        anyhow::ensure!(out.status.success(), "ip netns add (needs root): {}", String::from_utf8_lossy(&out.stderr));
        Ok(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// CPU seconds of this process and its waited-for children.
fn cpu_seconds() -> f64 {
    let get = |who| {
        // SAFETY: getrusage fills the struct we pass; no other effect.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut u) };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    };
    get(libc::RUSAGE_SELF) + get(libc::RUSAGE_CHILDREN)
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let node = NodeContext { name: "node-a".into(), ..Default::default() };
    let options = Options::default();
    for &n in &args.services {
        // n Services in 10.43.0.0/16 (wrapping into 10.44 past 65k), 2 endpoints each.
        let services: Vec<_> = (0..n)
            .map(|i| {
                let ip = format!("10.{}.{}.{}", 43 + i / 65_000, (i / 250) % 260 % 256, i % 250 + 1);
                service("bench", &format!("svc-{i}"), &ip, &[("http", 80, "TCP")])
            })
            .collect();
        let ep = |i: usize, k: usize| {
            endpoint(
                &format!("10.42.{}.{}", (i * 2 + k) / 250 % 256, (i * 2 + k) % 250 + 1),
                "node-a",
                None,
                None,
                None,
            )
        };
        let mut slices: Vec<_> = (0..n)
            .map(|i| slice("bench", &format!("svc-{i}"), &[("http", 8080, "TCP")], vec![ep(i, 0), ep(i, 1)]))
            .collect();
        let mut reference_p50 = None;
        for mode in ["iptables", "nftables"] {
            let ns = Netns::create()?;
            let tools = Tools { netns: Some(format!("/run/netns/{}", ns.0).into()) };
            let mut sink: Box<dyn RuleSink> = match mode {
                "iptables" => Box::new(IptablesSink::new(tools)),
                _ => Box::new(NftSink::new(tools)),
            };
            let started = Instant::now();
            sink.apply(&plan(&services, &slices, &node), &node, &options).await?;
            let initial = started.elapsed();
            eprintln!("proxy: {mode}, {n} services: initial sync {initial:?}");
            let mut lat = Latencies::default();
            let cpu0 = cpu_seconds();
            for c in 0..args.changes {
                // One endpoint of one Service moves to a new address.
                let i = (c * 7919) % n;
                slices[i].endpoints[1] =
                    endpoint(&format!("10.41.{}.{}", c / 250, c % 250 + 1), "node-a", None, None, None);
                let t = Instant::now();
                let p = plan(&services, &slices, &node);
                sink.apply(&p, &node, &options).await?;
                lat.record(t.elapsed());
            }
            let cpu = (cpu_seconds() - cpu0) / args.changes as f64;
            // The reference: the same change applied by a full sync (what every
            // sync did before partial syncs, and what the periodic resync does).
            let mut full = Latencies::default();
            eprintln!(
                "proxy: {mode}, {n} services: {} partial syncs, p50 {:.1} ms",
                args.changes,
                lat.quantile_ms(0.5)
            );
            for c in 0..args.full_syncs.max(1) {
                let i = (c * 104_729 + 13) % n;
                slices[i].endpoints[0] =
                    endpoint(&format!("10.40.{}.{}", c / 250, c % 250 + 1), "node-a", None, None, None);
                let t = Instant::now();
                let p = plan(&services, &slices, &node);
                sink.request_full_sync();
                sink.apply(&p, &node, &options).await?;
                full.record(t.elapsed());
            }
            // The in-process share (plan + render), timed apart from the tool.
            let t = Instant::now();
            let p = plan(&services, &slices, &node);
            let text_len = match mode {
                "iptables" => skiff_proxy::render::iptables::render(&p, &options)
                    .restore_text(&Default::default(), &Default::default())
                    .len(),
                _ => skiff_proxy::render::nft::render(&p, &options).len(),
            };
            let in_process = t.elapsed();
            let p50 = lat.quantile_ms(0.5);
            emit(json!({
                "bench": "proxy", "case": format!("{mode}_{n}"), "kind": "measure", "mode": mode, "services": n,
                "endpoints": n * 2, "changes": args.changes,
                "initial_sync_ms": round(initial.as_secs_f64() * 1000.0),
                "change_to_rules_ms": {"p50": p50, "p90": lat.quantile_ms(0.9), "max": lat.quantile_ms(1.0)},
                "full_sync_ms": {"p50": full.quantile_ms(0.5), "max": full.quantile_ms(1.0)},
                "cpu_ms_per_change": round(cpu * 1000.0),
                "plan_and_render_ms": round(in_process.as_secs_f64() * 1000.0), "rules_bytes": text_len,
                "build": if cfg!(debug_assertions) { "debug" } else { "release" },
            }));
            // Upstream's network programming latency SLO: p99 ≤ 30 s.
            target(
                "proxy",
                &format!("{mode}_{n}"),
                "change_to_rules_max_s",
                lat.quantile_ms(1.0) / 1000.0,
                30.0,
                Better::Lower,
            );
            emit(json!({
                "bench": "proxy", "case": format!("{mode}_{n}_partial_vs_full"), "kind": "ratio",
                "metric": "change_to_rules_p50_speedup", "ours": p50, "reference": full.quantile_ms(0.5),
                "ratio": round(full.quantile_ms(0.5) / p50),
            }));
            match reference_p50 {
                None => reference_p50 = Some(p50),
                Some(r) => emit(json!({
                    "bench": "proxy", "case": format!("nftables_vs_iptables_{n}"), "kind": "ratio",
                    "metric": "change_to_rules_p50_speedup", "ours": p50, "reference": r, "ratio": round(r / p50),
                })),
            }
            drop(ns);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
