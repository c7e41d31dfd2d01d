//! Crash safety of the embedded store: a child process writes concurrently and is
//! killed with SIGKILL at random moments, many times over the same data directory.
//! After every kill the store must open cleanly, hold every acknowledged write, and
//! keep revisions monotonic.
//!
//! Rounds vary the number of writers (1 or 32, so both write paths are killed
//! mid-write) and how often the child flushes its WAL to the data file: all the time
//! (kills land in the middle of durable redb commits), at the default pace, or never
//! (recovery replays everything from the WAL), with small WAL segments so kills also
//! land in segment rotation and recycling.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use skiff_store::{RangeRequest, RedbStore, Store};

const ROUNDS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("SKIFF_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("seed {seed} (set SKIFF_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked: HashMap<String, i64> = HashMap::new();
    let mut last_revision = 0;

    for round in 0..ROUNDS {
        let flush_ms = match round % 3 {
            0 => 1,
            1 => 100,
            _ => 3_600_000,
        };
        // Every other round one writer: its writes take the direct path (the caller's
        // thread writes the WAL); with many, most go through the writer and syncer.
        let tasks = if round % 2 == 1 { 1 } else { 32 };
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff-store-crash-writer"))
            .arg(dir.path())
            .arg(round.to_string())
            .args(["--flush-ms", &flush_ms.to_string(), "--segment-bytes", "65536"])
            .args(["--tasks", &tasks.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let ready = lines.next();
            let _ = ready_tx.send(ready);
            lines.collect::<Vec<String>>()
        });
        // Wait until the store is open (after a crash that includes recovery), let
        // the writers run for a random while, then kill it mid-write.
        let ready = ready_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(ready.as_deref(), Some("ready"), "round {round}: the writer did not open the store");
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..400))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut round_acks = 0;
        for line in lines {
            let mut parts = line.split(' ');
            // A line cut off by the kill is not an acknowledgement.
            if let (Some("ack"), Some(key), Some(rev)) = (parts.next(), parts.next(), parts.next()) {
                if let Ok(rev) = rev.parse::<i64>() {
                    acked.insert(key.to_string(), rev);
                    round_acks += 1;
                }
            }
        }

        let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("round {round}: store failed to open: {e}"));
        let current = store.current_revision().await.unwrap();
        assert!(current >= last_revision, "round {round}: revision went backwards ({current} < {last_revision})");
        let all = store.range(RangeRequest::prefix("/crash/")).await.unwrap();
        let stored: HashMap<String, i64> =
            all.kvs.iter().map(|kv| (String::from_utf8(kv.key.clone()).unwrap(), kv.mod_revision)).collect();
        for (key, rev) in &acked {
            assert_eq!(stored.get(key), Some(rev), "round {round}: acknowledged write {key}@{rev} lost");
        }
        // Every key was written by its own create, so revisions are distinct and dense.
        let mut revisions: Vec<i64> = stored.values().copied().collect();
        revisions.sort();
        revisions.dedup();
        assert_eq!(revisions.len(), stored.len(), "round {round}: two keys share a revision");
        assert_eq!(
            revisions.last().copied().unwrap_or(0),
            current,
            "round {round}: current revision is not the newest write"
        );
        assert_eq!(current as usize, stored.len(), "round {round}: revisions are not dense");
        println!(
            "round {round} ({tasks} writers, flush every {flush_ms} ms): {round_acks} acknowledged, {} keys, revision {current}",
            stored.len()
        );
        last_revision = current;
        drop(store);
    }
    assert!(acked.len() > 10 * ROUNDS, "the writer made too little progress to test anything");
}
