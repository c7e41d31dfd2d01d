//! The embedded store on damaged data: it refuses to open (never starts empty over
//! existing data), and a full disk fails writes without corrupting what is stored.

use std::path::Path;

use skiff_store::embedded::DATA_FILE;
use skiff_store::{Error, RangeRequest, RedbStore, Store};

/// Writes `n` keys and closes the store; returns the data file's path.
async fn populated(dir: &Path, n: usize) -> std::path::PathBuf {
    let store = RedbStore::open(dir).unwrap();
    for i in 0..n {
        store.create(format!("/k/{i:05}").as_bytes(), vec![b'x'; 2000]).await.unwrap();
    }
    drop(store);
    dir.join(DATA_FILE)
}

fn assert_corrupt(dir: &Path, what: &str) {
    match RedbStore::open(dir) {
        Err(Error::Corrupt { reason, .. }) => println!("{what}: refused ({reason})"),
        Err(other) => panic!("{what}: expected Corrupt, got {other}"),
        Ok(_) => panic!("{what}: a damaged store opened"),
    }
}

#[tokio::test]
async fn truncated_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path(), 300).await;
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    assert_corrupt(dir.path(), "truncated to half");
}

#[tokio::test]
async fn empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path(), 10).await;
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    assert_corrupt(dir.path(), "truncated to zero");
}

#[tokio::test]
async fn foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DATA_FILE), b"this is not a database, just some text\n".repeat(200)).unwrap();
    assert_corrupt(dir.path(), "foreign file");
}

#[tokio::test]
async fn corrupted_pages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path(), 300).await;
    let mut bytes = std::fs::read(&path).unwrap();
    // Damage a page that holds stored values (each is 2000 bytes of 'x').
    let at = bytes.windows(2000).position(|w| w.iter().all(|&b| b == b'x')).expect("a stored value in the file");
    for b in &mut bytes[at + 100..at + 200] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    assert_corrupt(dir.path(), "corrupted pages");
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path(), 50).await;
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 50);
    assert_eq!(store.range(RangeRequest::prefix("/k/")).await.unwrap().kvs.len(), 50);
}

/// A small tmpfs mounted for the test, unmounted on drop. Needs root (as CI is).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: usize) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "skiff-test", dir.path().to_str().unwrap()])
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root: the full-disk test cannot run");
        SmallDisk { dir }
    }

    fn resize(&self, bytes: usize) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}"), self.dir.path().to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_writes_and_keeps_the_store_consistent() {
    let disk = SmallDisk::mount(6 << 20);
    let data = disk.dir.path().join("data");
    let store = RedbStore::open(&data).unwrap();
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..10_000 {
        match store.create(format!("/full/{i:05}").as_bytes(), vec![b'f'; 16 << 10]).await {
            Ok(kv) => acked.push(kv),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("writes into a 6 MiB disk must eventually fail");
    println!("after {} writes: {failure}", acked.len());
    assert!(matches!(failure, Error::Backend { .. }), "a full disk is a backend error, got {failure:?}");
    // Further writes keep failing cleanly while the disk is full.
    assert!(store.create(b"/full/after", b"x".to_vec()).await.is_err());
    drop(store);

    // With space again, the store opens with exactly the acknowledged writes.
    disk.resize(64 << 20);
    let store = RedbStore::open(&data).unwrap();
    let stored = store.range(RangeRequest::prefix("/full/")).await.unwrap().kvs;
    assert_eq!(stored.len(), acked.len(), "acknowledged writes kept, failed ones absent");
    for (kv, ack) in stored.iter().zip(&acked) {
        assert_eq!((&kv.key, kv.mod_revision), (&ack.key, ack.mod_revision));
    }
    assert_eq!(store.current_revision().await.unwrap(), acked.last().unwrap().mod_revision);
    let next = store.create(b"/full/next", b"x".to_vec()).await.unwrap();
    assert_eq!(next.mod_revision, acked.last().unwrap().mod_revision + 1);
}
