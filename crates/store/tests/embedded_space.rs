//! Compaction reclaims space: under a steady update load with compaction, the data
//! file and the WAL stop growing (the failure mode of k3s's SQLite store is the
//! opposite).

use std::sync::Arc;

use skiff_store::embedded::{DATA_FILE, WAL_DIR};
use skiff_store::{RedbStore, Store, Txn, TxnOp};

const KEYS: usize = 200;
const ROUNDS: usize = 60;

async fn update_all(store: &Arc<RedbStore>, round: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            for k in (worker..KEYS).step_by(16) {
                let value = vec![(round % 251) as u8; 4096];
                store.txn(Txn::new().and_then([TxnOp::put(format!("/space/{k:04}"), value)])).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_updates_with_compaction_keep_the_file_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    // Everything the store keeps on disk: the data file and the WAL segments.
    let size = || {
        let wal: u64 = std::fs::read_dir(dir.path().join(WAL_DIR))
            .unwrap()
            .map(|entry| entry.unwrap().metadata().unwrap().len())
            .sum();
        std::fs::metadata(dir.path().join(DATA_FILE)).unwrap().len() + wal
    };
    let mut sizes = Vec::new();
    for round in 0..ROUNDS {
        update_all(&store, round).await;
        // Keep one round of history, as a time-based policy would.
        let current = store.current_revision().await.unwrap();
        store.compact(current - KEYS as i64).await.unwrap();
        sizes.push(size());
    }
    let live = (KEYS * 4096) as u64;
    let written = (KEYS * 4096 * ROUNDS) as u64;
    println!("live data {live} B, written {written} B, sizes on disk by round: {sizes:?}");
    let settled = sizes[ROUNDS / 3];
    let last = *sizes.last().unwrap();
    assert!(last < written / 4, "the store holds most of the history ({last} B of {written} B written)");
    assert!(
        last <= settled + settled / 2,
        "the store keeps growing: {settled} B after {} rounds, {last} B after {ROUNDS}",
        ROUNDS / 3
    );
}
