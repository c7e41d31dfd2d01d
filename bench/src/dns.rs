//! The cluster DNS: queries per second and latency over UDP on loopback, with
//! the server in this process (`skiff_dns::DnsServer` over an index of
//! `--services` Services, a third of them headless with endpoints). The
//! reference in the same run is a trivial responder that answers every
//! question with one fixed record without looking anything up (the fake
//! upstream): the ratio says what the lookups and the server loop cost over
//! the bare UDP round trip. Also: the pure core alone (no sockets), and
//! forwarding through skiff's server to that responder. CPU is the whole
//! process's (clients included) per query.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use serde_json::json;
use skiff_dns::message::{Reply, Transport};
use skiff_dns::{DnsServer, Resolvers, State, Zone};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::report::{emit, ratio, round};
use crate::stats::Latencies;

#[derive(Args, Debug, Clone)]
pub struct DnsArgs {
    /// Services in the index.
    #[arg(long, default_value_t = 1000)]
    services: usize,
    /// Concurrent clients, each with one query in flight.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds per case.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn build_state(services: usize) -> Arc<State> {
    let state = State::new(Zone::new("cluster.local"));
    state.update(|idx| {
        for i in 0..services {
            let headless = i % 3 == 0;
            let svc = json!({
                "metadata": {"name": format!("svc-{i}"), "namespace": format!("ns-{}", i % 50)},
                "spec": if headless { json!({"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}) }
                        else { json!({"clusterIP": format!("10.43.{}.{}", i / 250, i % 250 + 1), "ports": [{"name": "http", "port": 80}]}) }
            });
            idx.apply_service(&serde_json::from_value(svc).unwrap());
            if headless {
                let eps: Vec<_> = (0..3)
                    .map(|k| json!({"addresses": [format!("10.42.{}.{}", i / 80, (i % 80) * 3 + k + 1)], "hostname": format!("p-{k}")}))
                    .collect();
                let slice = json!({
                    "metadata": {"name": format!("svc-{i}-x"), "namespace": format!("ns-{}", i % 50),
                                 "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
                    "addressType": "IPv4", "endpoints": eps, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
                });
                idx.apply_slice(&serde_json::from_value(slice).unwrap());
            }
        }
    });
    state.set_ready();
    state
}

/// The question mix of a case, as encoded requests (ids rewritten per send).
fn requests(case: &str, services: usize) -> Vec<Vec<u8>> {
    (0..256)
        .map(|n| {
            let i = (n * 7919) % services;
            let ns = i % 50;
            let (name, qtype) = match case {
                "service-a" => (format!("svc-{}.ns-{ns}.svc.cluster.local.", i - i % 3 + 1), RecordType::A),
                "headless-a" => (format!("svc-{}.ns-{ns}.svc.cluster.local.", i - i % 3), RecordType::A),
                "srv" => (format!("_http._tcp.svc-{}.ns-{ns}.svc.cluster.local.", i - i % 3), RecordType::SRV),
                "nxdomain" => (format!("nope-{i}.ns-{ns}.svc.cluster.local."), RecordType::A),
                _ => (format!("host-{i}.example.org."), RecordType::A),
            };
            let mut m = Message::query();
            m.metadata.recursion_desired = true;
            m.add_query(Query::query(Name::from_ascii(&name).unwrap(), qtype));
            m.to_vec().unwrap()
        })
        .collect()
}

struct Run {
    queries: u64,
    latencies: Latencies,
    elapsed: Duration,
    cpu: f64,
    failures: u64,
}

async fn load(server: SocketAddr, requests: Arc<Vec<Vec<u8>>>, clients: usize, seconds: u64) -> Run {
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let requests = requests.clone();
        tasks.spawn(async move {
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            sock.connect(server).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let (mut lat, mut n, mut failures) = (Latencies::default(), 0u64, 0u64);
            let mut id: u16 = (c as u16).wrapping_mul(4099);
            while Instant::now() < deadline {
                let mut req = requests[(n as usize + c) % requests.len()].clone();
                id = id.wrapping_add(1);
                req[..2].copy_from_slice(&id.to_be_bytes());
                let t = Instant::now();
                sock.send(&req).await.unwrap();
                match tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
                    Ok(Ok(len)) if len >= 2 && buf[..2] == id.to_be_bytes() => {
                        lat.record(t.elapsed());
                        n += 1;
                    }
                    _ => failures += 1,
                }
            }
            (lat, n, failures)
        });
    }
    let mut run = Run { queries: 0, latencies: Latencies::default(), elapsed: Duration::ZERO, cpu: 0.0, failures: 0 };
    while let Some(r) = tasks.join_next().await {
        let (lat, n, f) = r.unwrap();
        run.latencies.extend(lat);
        run.queries += n;
        run.failures += f;
    }
    run.elapsed = start.elapsed();
    run.cpu = cpu_seconds() - cpu0;
    run
}

fn report(case: &str, args: &DnsArgs, mut run: Run) -> f64 {
    let qps = run.queries as f64 / run.elapsed.as_secs_f64();
    emit(json!({
        "bench": "dns", "case": case, "kind": "measure", "services": args.services, "clients": args.clients,
        "queries": run.queries, "failures": run.failures, "qps": round(qps),
        "p50_ms": run.latencies.quantile_ms(0.5), "p99_ms": run.latencies.quantile_ms(0.99),
        "cpu_us_per_query": round(run.cpu * 1e6 / run.queries.max(1) as f64),
    }));
    qps
}

pub async fn run(args: DnsArgs) -> anyhow::Result<()> {
    let state = build_state(args.services);
    // The pure core: request bytes → reply bytes, no sockets.
    for case in ["service-a", "headless-a", "nxdomain"] {
        let reqs = requests(case, args.services);
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let mut n = 0u64;
        while t0.elapsed() < Duration::from_secs(1) {
            for r in &reqs {
                assert!(matches!(state.answer(r, Transport::Udp), Reply::Send(_)));
            }
            n += reqs.len() as u64;
        }
        let cpu = cpu_seconds() - cpu0;
        emit(json!({"bench": "dns", "case": format!("core-{case}"), "kind": "measure", "services": args.services,
            "answers_per_cpu_second": round(n as f64 / cpu), "ns_per_answer": round(cpu * 1e9 / n as f64)}));
    }

    let (upstream, stop_upstream) = skiff_dns::testing::fake_upstream().await;
    let server = DnsServer::bind("127.0.0.1:0".parse()?, state, Arc::new(Resolvers::new(vec![upstream]))).await?;
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));
    eprintln!("dns bench: server on {addr}, fake upstream on {upstream}");

    // The reference: the trivial responder, same clients, same mix size.
    let reference = report(
        "reference-trivial-responder",
        &args,
        load(upstream, Arc::new(requests("forwarded", args.services)), args.clients, args.seconds).await,
    );
    for case in ["service-a", "headless-a", "srv", "nxdomain", "forwarded"] {
        let reqs = Arc::new(requests(case, args.services));
        let qps = report(case, &args, load(addr, reqs, args.clients, args.seconds).await);
        if case != "forwarded" {
            ratio("dns", case, "qps_vs_trivial_responder", qps, reference, 0.5);
        }
    }
    stop.cancel();
    stop_upstream.cancel();
    Ok(())
}
