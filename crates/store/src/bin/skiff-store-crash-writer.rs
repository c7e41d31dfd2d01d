//! Test helper for the crash-safety tests (`tests/embedded_crash.rs`,
//! `tests/embedded_wal.rs`): opens the embedded store in the given directory and
//! writes from many tasks at once until it is killed, printing `ready` once the store
//! is open, then `ack <key> <mod_revision>` for every write the store acknowledged.
//! Not part of the product.
//!
//! Usage: `skiff-store-crash-writer DIR RUN [--flush-ms N] [--flush-bytes N]
//! [--segment-bytes N] [--tasks N] [--writes N]`. `--flush-ms` sets how often the
//! store flushes its WAL to the data file (1: all the time, so kills land in flushes;
//! a large value: never, so recovery replays everything), and `--flush-bytes` after
//! how many WAL bytes it flushes whatever the interval. With `--writes N` each task
//! stops after N writes and the process prints `done` and waits to be killed.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_store::embedded::RedbOptions;
use skiff_store::{RedbStore, Store};

const USAGE: &str = "usage: skiff-store-crash-writer DIR RUN [--flush-ms N] [--flush-bytes N] [--segment-bytes N] \
                     [--tasks N] [--writes N]";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect(USAGE);
    let run = args.next().expect(USAGE);
    let mut options = RedbOptions::default();
    let (mut tasks_count, mut writes) = (32u64, u64::MAX);
    while let Some(flag) = args.next() {
        let value: u64 = args.next().and_then(|v| v.parse().ok()).expect(USAGE);
        match flag.as_str() {
            "--flush-ms" => options.flush_interval = Duration::from_millis(value),
            "--flush-bytes" => options.flush_bytes = value as usize,
            "--segment-bytes" => options.wal_segment_bytes = value,
            "--tasks" => tasks_count = value,
            "--writes" => writes = value,
            _ => panic!("{USAGE}"),
        }
    }
    let store = match RedbStore::open_with(std::path::Path::new(&dir), options) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("open failed: {e}");
            std::process::exit(2);
        }
    };
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let say = |out: &Mutex<std::io::Stdout>, line: &str| {
        let mut out = out.lock().unwrap();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    say(&out, "ready");
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..tasks_count {
        let store = store.clone();
        let out = out.clone();
        let run = run.clone();
        tasks.spawn(async move {
            for i in 0..writes {
                let key = format!("/crash/{run}/{task}/{i:08}");
                let kv = store.create(key.as_bytes(), vec![b'v'; 64 + (i as usize % 900)]).await.expect("write");
                say(&out, &format!("ack {key} {}", kv.mod_revision));
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    say(&out, "done");
    // Wait to be killed: dropping the store would flush, and the tests want the
    // state a crash leaves.
    std::future::pending::<()>().await;
}
