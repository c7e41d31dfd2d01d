//! The embedded store's write-ahead log: what a crash leaves in it is replayed, a
//! torn tail is cut off, and damage that is not a torn tail is refused.
//!
//! A child process (`skiff-store-crash-writer`) writes with flushing to the data file
//! turned off, then is killed, so every acknowledged write exists only in the WAL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use skiff_store::embedded::{DATA_FILE, WAL_DIR};
use skiff_store::{Error, RangeRequest, RedbStore, Store};

/// Runs the writer until `tasks × writes` writes are acknowledged, then kills it.
/// Returns the acknowledged keys (`/crash/<run>/...`) with their revisions.
fn write_then_kill(dir: &Path, run: &str, tasks: u64, writes: u64) -> BTreeMap<String, i64> {
    write_then_kill_with(dir, run, tasks, writes, &[], Duration::ZERO)
}

/// [`write_then_kill`] with more flags for the writer, killed `pause` after its last
/// acknowledged write.
fn write_then_kill_with(
    dir: &Path,
    run: &str,
    tasks: u64,
    writes: u64,
    flags: &[&str],
    pause: Duration,
) -> BTreeMap<String, i64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff-store-crash-writer"))
        .arg(dir)
        .arg(run)
        .args(["--flush-ms", "3600000"])
        .args(["--tasks", &tasks.to_string(), "--writes", &writes.to_string()])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut acked = BTreeMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "done" {
            break;
        }
        if let [_, key, rev] = line.split(' ').collect::<Vec<_>>()[..] {
            acked.insert(key.to_string(), rev.parse().unwrap());
        }
    }
    std::thread::sleep(pause);
    child.kill().unwrap(); // SIGKILL: no flush on close
    child.wait().unwrap();
    assert_eq!(acked.len() as u64, tasks * writes, "the writer stopped early");
    acked
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(WAL_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    paths.sort();
    paths
}

/// The revision the data file itself holds (without the WAL).
fn data_file_revision(dir: &Path) -> i64 {
    let db = redb::Database::open(dir.join(DATA_FILE)).unwrap();
    let rtx = db.begin_read().unwrap();
    let meta = rtx.open_table(redb::TableDefinition::<&str, i64>::new("meta")).unwrap();
    let revision = meta.get("revision").unwrap().unwrap().value();
    revision
}

async fn stored(store: &RedbStore) -> BTreeMap<String, i64> {
    let all = store.range(RangeRequest::prefix("/crash/")).await.unwrap();
    all.kvs.into_iter().map(|kv| (String::from_utf8(kv.key).unwrap(), kv.mod_revision)).collect()
}

fn assert_corrupt(dir: &Path, file: &Path, what: &str) {
    match RedbStore::open(dir) {
        Err(Error::Corrupt { path, reason }) => {
            println!("{what}: refused ({path}: {reason})");
            assert_eq!(Path::new(&path), file, "{what}: the error names the damaged segment");
        }
        Err(other) => panic!("{what}: expected Corrupt, got {other}"),
        Ok(_) => panic!("{what}: a damaged WAL was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_not_yet_flushed_are_replayed_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let acked = write_then_kill(dir.path(), "a", 8, 40);
    assert_eq!(data_file_revision(dir.path()), 0, "nothing was flushed: every write is only in the WAL");

    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(stored(&store).await, acked);
    assert_eq!(store.current_revision().await.unwrap(), 320);
    let next = store.create(b"/after", b"x".to_vec()).await.unwrap();
    assert_eq!(next.mod_revision, 321, "revisions continue after the replayed ones");
    drop(store);

    // A clean close leaves everything in the data file.
    assert_eq!(data_file_revision(dir.path()), 321);
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(stored(&store).await, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_wal_bytes_flush_without_waiting_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    // 320 writes of ~100-byte values: many times 4 KiB of WAL, and the interval is an hour.
    let acked = write_then_kill_with(dir.path(), "a", 8, 40, &["--flush-bytes", "4096"], Duration::from_millis(500));
    let flushed = data_file_revision(dir.path());
    assert!(flushed > 0, "the data file got writes before the interval");

    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(stored(&store).await, acked, "flushed and replayed writes together are every acknowledged one");
    assert_eq!(store.current_revision().await.unwrap(), 320);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_cut_off_and_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let acked = write_then_kill(dir.path(), "a", 1, 20);
    let segment = segments(dir.path()).pop().unwrap();
    // A frame that was being written when the process died: a header and part of
    // its payload.
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(b"SKW1\x00\x04\x00\x00\x12\x34\x56\x78partial payload");
    std::fs::write(&segment, &bytes).unwrap();

    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(stored(&store).await, acked);
    assert_eq!(store.current_revision().await.unwrap(), 20);
    store.create(b"/after", b"x".to_vec()).await.unwrap();
    drop(store);
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_frame_cut_short_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = write_then_kill(dir.path(), "a", 1, 20);
    let segment = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 5).unwrap();

    // As if the crash had hit while the last write was on its way to disk.
    let store = RedbStore::open(dir.path()).unwrap();
    acked.retain(|_, rev| *rev < 20);
    assert_eq!(stored(&store).await, acked);
    assert_eq!(store.current_revision().await.unwrap(), 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_the_middle_of_the_wal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_then_kill(dir.path(), "a", 1, 20);
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0x55; // inside the first frame; nineteen valid frames follow
    std::fs::write(&segment, &bytes).unwrap();
    assert_corrupt(dir.path(), &segment, "a flipped byte in the first frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wal_newer_than_the_data_file_can_continue_is_refused() {
    // A data file restored from an older copy: the WAL continues from a revision the
    // data file does not reach, so the revisions in between are missing.
    let dir = tempfile::tempdir().unwrap();
    write_then_kill(dir.path(), "a", 1, 10);
    drop(RedbStore::open(dir.path()).unwrap()); // replays and flushes: revision 10
    let old_copy = std::fs::read(dir.path().join(DATA_FILE)).unwrap();
    write_then_kill(dir.path(), "b", 1, 10);
    drop(RedbStore::open(dir.path()).unwrap()); // revision 20
    write_then_kill(dir.path(), "c", 1, 10); // revisions 21..=30, only in the WAL
    std::fs::write(dir.path().join(DATA_FILE), old_copy).unwrap();
    assert_eq!(data_file_revision(dir.path()), 10);
    let newest = segments(dir.path()).pop().unwrap();
    assert_corrupt(dir.path(), &newest, "a WAL continuing at 21 over a data file at 10");
}
