//! Case 1, `creates`: concurrent clients POST 1 KiB ConfigMaps as fast as the server
//! acknowledges them. Every create is a durable write (the embedded store fsyncs
//! before answering), so this measures the whole write path: TLS, HTTP/2,
//! authentication, decoding, admission, validation, the store and the response.
//!
//! The same loop fills the store for the list case.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;

use super::client::{ConfigMapBody, Conn};
use super::{Env, PAYLOAD_BYTES};
use crate::report::{emit, round, target, Better};
use crate::stats::Latencies;

/// From docs/targets: ≥ 5,000 creates/s with 64 clients, p99 < 50 ms.
const TARGET_PER_SEC: f64 = 5000.0;
const TARGET_P99_MS: f64 = 50.0;

/// When a create loop stops.
#[derive(Clone, Copy)]
pub enum Until {
    Deadline(Instant),
    /// After this many creates in total (over all clients).
    Count(u64),
}

/// What a create loop did.
pub struct Load {
    pub created: u64,
    /// Answers other than 201 Created.
    pub rejected: u64,
    pub first_rejection: Option<String>,
    pub latencies: Latencies,
    pub elapsed: Duration,
}

impl Load {
    pub fn per_sec(&self) -> f64 {
        self.created as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` concurrent clients, spread round-robin over `conns`, each sending its
/// next create as soon as the previous one is answered (a closed loop, like
/// controllers), with names `<prefix>-<n>` in `namespace`.
///
/// # Errors
/// When a connection fails; rejected creates are counted, not errors.
pub async fn create_loop(
    conns: &[Conn],
    clients: usize,
    namespace: &str,
    prefix: &str,
    until: Until,
) -> anyhow::Result<Load> {
    let body = Arc::new(ConfigMapBody::new(PAYLOAD_BYTES));
    let next = Arc::new(AtomicU64::new(0));
    let path: Arc<str> = format!("/api/v1/namespaces/{namespace}/configmaps").into();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let mut conn = conns[c % conns.len()].clone();
        let (body, next, path, prefix) = (body.clone(), next.clone(), path.clone(), prefix.to_string());
        tasks.spawn(async move {
            let mut load = Load {
                created: 0,
                rejected: 0,
                first_rejection: None,
                latencies: Latencies::default(),
                elapsed: Duration::ZERO,
            };
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match until {
                    Until::Deadline(deadline) if Instant::now() >= deadline => break,
                    Until::Count(count) if n >= count => break,
                    _ => {}
                }
                let request = body.body(&format!("{prefix}-{n:07}"));
                let sent = Instant::now();
                let (status, answer) = conn.call(Method::POST, &path, Some(request)).await?;
                if status == StatusCode::CREATED {
                    load.latencies.record(sent.elapsed());
                    load.created += 1;
                } else {
                    load.rejected += 1;
                    load.first_rejection
                        .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&answer)));
                }
            }
            anyhow::Ok(load)
        });
    }
    let mut total = Load {
        created: 0,
        rejected: 0,
        first_rejection: None,
        latencies: Latencies::default(),
        elapsed: Duration::ZERO,
    };
    while let Some(result) = tasks.join_next().await {
        let load = result??;
        total.created += load.created;
        total.rejected += load.rejected;
        total.first_rejection = total.first_rejection.or(load.first_rejection);
        total.latencies.extend(load.latencies);
    }
    total.elapsed = start.elapsed();
    if let Some(rejection) = &total.first_rejection {
        eprintln!("api: {} creates rejected, the first: {rejection}", total.rejected);
    }
    Ok(total)
}

/// Runs the case; returns how many ConfigMaps it left in the store.
pub async fn run(env: &Env, seconds: u64, clients: usize, connections: usize) -> anyhow::Result<u64> {
    eprintln!("api: creates, {clients} clients on {connections} connections for {seconds} s");
    let conns = env.client.connect_many(connections).await?;
    env.server.reset_peak();
    let until = Until::Deadline(Instant::now() + Duration::from_secs(seconds));
    let cpu = env.cpu()?;
    let mut load = create_loop(&conns, clients, "default", "create", until).await?;
    let cpu = env.cpu()?.since(&cpu);
    let memory = env.server.memory()?;
    let (rate, p99) = (load.per_sec(), load.latencies.quantile_ms(0.99));
    let rate_met = target("api", "creates", "creates_per_sec", rate, TARGET_PER_SEC, Better::Higher);
    let p99_met = target("api", "creates", "p99_ms", p99, TARGET_P99_MS, Better::Lower);
    emit(json!({
        "bench": "api", "case": "creates", "clients": clients, "connections": connections,
        "object_bytes": PAYLOAD_BYTES, "seconds": round(load.elapsed.as_secs_f64()),
        "creates": load.created, "rejected": load.rejected, "creates_per_sec": round(rate),
        "p50_ms": load.latencies.quantile_ms(0.5), "p99_ms": p99, "max_ms": load.latencies.quantile_ms(1.0),
        "target": {"creates_per_sec": TARGET_PER_SEC, "p99_ms": TARGET_P99_MS}, "met": rate_met && p99_met,
        "cpu": cpu.json(), "creates_per_server_cpu_second": round(load.created as f64 / cpu.server_cpu_seconds()),
        "server_rss_mib": super::server::mib(memory.rss_kib), "server_peak_rss_mib": super::server::mib(memory.peak_kib),
    }));
    Ok(load.created)
}
