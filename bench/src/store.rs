//! The store benchmark: the same workload against the embedded backend and a real
//! etcd, in one invocation, at equal durability (both fsync before acknowledging).
//!
//! Cases: durable puts of 1 KiB values at several concurrency levels (ops/s, p50,
//! p99), a range over 10,000 keys, and watch delivery latency.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use serde_json::json;
use skiff_store::{EtcdStore, RangeRequest, RedbStore, Store, Txn, TxnOp};

use crate::etcd::Etcd;
use crate::report::{emit, ratio, round};
use crate::stats::Latencies;

/// The target from docs/targets: the embedded store at ≥ 3× etcd.
const TARGET_RATIO: f64 = 3.0;

#[derive(Args)]
pub struct StoreArgs {
    /// How long each put case runs.
    #[arg(long, default_value = "5")]
    seconds: u64,
    /// Concurrent writers for the put cases.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    concurrency: Vec<usize>,
    /// Where both stores keep their data (the same disk for a fair comparison).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let embedded_dir = tempfile::tempdir_in(&args.dir)?;
    let etcd = Etcd::start(&args.dir).await?;
    let backends = [
        Backend { name: "embedded", store: Arc::new(RedbStore::open(embedded_dir.path())?) },
        Backend { name: "etcd", store: Arc::new(EtcdStore::connect(std::slice::from_ref(&etcd.endpoint)).await?) },
    ];
    let duration = Duration::from_secs(args.seconds);

    for &concurrency in &args.concurrency {
        let mut ops = HashMap::new();
        for b in &backends {
            eprintln!("store: put, {concurrency} writers, {}", b.name);
            let (rate, mut lat) = puts(&b.store, concurrency, duration).await?;
            emit(json!({
                "bench": "store", "case": "put_1KiB", "backend": b.name, "concurrency": concurrency,
                "ops_per_sec": round(rate), "p50_ms": lat.quantile_ms(0.5), "p99_ms": lat.quantile_ms(0.99),
                "ops": lat.len(),
            }));
            ops.insert(b.name, rate);
        }
        ratio("store", &format!("put_1KiB_c{concurrency}"), "ops_per_sec", ops["embedded"], ops["etcd"], TARGET_RATIO);
    }

    let mut range_ms = HashMap::new();
    for b in &backends {
        eprintln!("store: range of 10,000 keys, {}", b.name);
        let mut lat = range_10k(&b.store).await?;
        let p50 = lat.quantile_ms(0.5);
        emit(json!({
            "bench": "store", "case": "range_10k", "backend": b.name, "p50_ms": p50, "p99_ms": lat.quantile_ms(0.99),
        }));
        range_ms.insert(b.name, p50);
    }
    // Lower is better: compare speed (1/latency).
    ratio("store", "range_10k", "speed", range_ms["etcd"], range_ms["embedded"], 1.0);

    let mut watch_ms = HashMap::new();
    for b in &backends {
        eprintln!("store: watch delivery, {}", b.name);
        let mut lat = watch_latency(&b.store).await?;
        let p99 = lat.quantile_ms(0.99);
        emit(json!({
            "bench": "store", "case": "watch_delivery", "backend": b.name, "p50_ms": lat.quantile_ms(0.5),
            "p99_ms": p99, "events": lat.len(),
        }));
        watch_ms.insert(b.name, p99);
    }
    ratio("store", "watch_delivery_p99", "speed", watch_ms["etcd"], watch_ms["embedded"], 1.0);
    Ok(())
}

/// `concurrency` writers put 1 KiB values for `duration`; returns ops/s and latencies.
async fn puts(store: &Arc<dyn Store>, concurrency: usize, duration: Duration) -> anyhow::Result<(f64, Latencies)> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let store = store.clone();
        tasks.spawn(async move {
            let mut lat = Latencies::default();
            let value = vec![b'v'; 1024];
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = format!("/bench/put/{w:04}/{:04}", i % 512);
                let t = Instant::now();
                store.txn(Txn::new().and_then([TxnOp::put(key, value.clone())])).await?;
                lat.record(t.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        });
    }
    let mut all = Latencies::default();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    Ok((rate, all))
}

async fn range_10k(store: &Arc<dyn Store>) -> anyhow::Result<Latencies> {
    let value = vec![b'r'; 1024];
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.push(TxnOp::put(format!("/bench/range/{i:05}"), value.clone()));
        if batch.len() == 100 {
            store.txn(Txn::new().and_then(std::mem::take(&mut batch))).await?;
        }
    }
    let mut lat = Latencies::default();
    for _ in 0..20 {
        let t = Instant::now();
        let resp = store.range(RangeRequest::prefix("/bench/range/")).await?;
        lat.record(t.elapsed());
        anyhow::ensure!(resp.kvs.len() == 10_000, "range returned {} keys", resp.kvs.len());
    }
    Ok(lat)
}

/// One writer puts every 2 ms; the latency is from the start of the put to the
/// watcher receiving its event.
async fn watch_latency(store: &Arc<dyn Store>) -> anyhow::Result<Latencies> {
    const EVENTS: usize = 1000;
    let start_rev = store.current_revision().await?;
    let mut stream = store.watch(b"/bench/watch/", start_rev).await?;
    let started: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let writer = {
        let store = store.clone();
        let started = started.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            for i in 0..EVENTS {
                tick.tick().await;
                let key = format!("/bench/watch/{i:05}");
                started.lock().unwrap().insert(key.clone(), Instant::now());
                store.txn(Txn::new().and_then([TxnOp::put(key, vec![b'w'; 1024])])).await?;
            }
            anyhow::Ok(())
        })
    };
    let mut lat = Latencies::default();
    while lat.len() < EVENTS {
        let batch = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .map_err(|_| anyhow::anyhow!("watch stalled"))?
            .ok_or_else(|| anyhow::anyhow!("watch ended"))??;
        let now = Instant::now();
        for e in batch.events {
            let key = String::from_utf8_lossy(&e.kv.key).to_string();
            if let Some(t) = started.lock().unwrap().get(&key) {
                lat.record(now - *t);
            }
        }
    }
    writer.await??;
    Ok(lat)
}
