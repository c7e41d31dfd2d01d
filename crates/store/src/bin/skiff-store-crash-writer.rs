//! Test helper for the crash-safety test (`tests/embedded_crash.rs`): opens the
//! embedded store in the given directory and writes from many tasks at once until it
//! is killed, printing `ready` once the store is open, then `ack <key> <mod_revision>` for every write the store
//! acknowledged. Not part of the product.

use std::io::Write;
use std::sync::{Arc, Mutex};

use skiff_store::{RedbStore, Store};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::args().nth(1).expect("usage: skiff-store-crash-writer DIR RUN");
    let run = std::env::args().nth(2).expect("usage: skiff-store-crash-writer DIR RUN");
    let store = match RedbStore::open(std::path::Path::new(&dir)) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("open failed: {e}");
            std::process::exit(2);
        }
    };
    let out = Arc::new(Mutex::new(std::io::stdout()));
    {
        let mut out = out.lock().unwrap();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..32 {
        let store = store.clone();
        let out = out.clone();
        let run = run.clone();
        tasks.spawn(async move {
            for i in 0u64.. {
                let key = format!("/crash/{run}/{task}/{i:08}");
                let kv = store.create(key.as_bytes(), vec![b'v'; 64 + (i as usize % 900)]).await.expect("write");
                let mut out = out.lock().unwrap();
                writeln!(out, "ack {key} {}", kv.mod_revision).unwrap();
                out.flush().unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
