//! The conformance suite against a real etcd — one fresh etcd process per test — and
//! the etcd backend's own checks: watches across an etcd restart, watch cancellation,
//! messages over gRPC's default size limit.
//!
//! etcd is `$SKIFF_TEST_ETCD_BIN` if set, else `etcd` from `PATH`. It is required:
//! without it these tests fail with a message saying so; they never skip. Each etcd
//! listens on 127.0.0.1 only, on free ports, with its data in a temporary directory
//! (in `/dev/shm` when there is one: etcd syncs every commit to disk).

// The same loopback-port picker as skiff's own tests: below the ephemeral range, so
// an outgoing connection cannot take a port between the probe and etcd's bind.
#[path = "../../skiff/tests/common/ports.rs"]
mod ports;

use ports::free_port;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_store::testing::collect_events;
use skiff_store::{Error, EtcdStore, EventKind, RangeRequest, Store, Txn, TxnOp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a starting etcd may take to answer.
const STARTUP: Duration = Duration::from_secs(30);

/// A running etcd on loopback; killed (and its data removed) on drop.
struct Etcd {
    bin: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl Etcd {
    /// Starts a fresh, empty etcd and waits until it answers. Retries with other ports
    /// if the ones picked were taken in the meantime.
    async fn start() -> Etcd {
        let bin = std::env::var_os("SKIFF_TEST_ETCD_BIN").map_or_else(|| PathBuf::from("etcd"), PathBuf::from);
        let mut failure = String::new();
        for _ in 0..3 {
            let root = if std::path::Path::new("/dev/shm").is_dir() {
                tempfile::Builder::new().prefix("skiff-etcd-").tempdir_in("/dev/shm")
            } else {
                tempfile::Builder::new().prefix("skiff-etcd-").tempdir()
            };
            let mut etcd = Etcd {
                bin: bin.clone(),
                dir: root.expect("cannot create a temporary directory for etcd"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            };
            etcd.spawn();
            match etcd.wait_ready().await {
                Ok(()) => return etcd,
                Err(log) => failure = log,
            }
        }
        panic!("etcd did not start; its log:\n{failure}");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new().create(true).append(true).open(self.log_path()).expect("cannot create etcd log");
        let stderr = log.try_clone().expect("cannot clone etcd log handle");
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(&self.bin)
            .arg("--name=skiff-test")
            .arg(format!("--data-dir={}", self.dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=skiff-test={peer}"))
            // A maximum-size value (1.5 MiB) plus the rest of its request.
            .arg("--max-request-bytes=2097152")
            .arg("--quota-backend-bytes=8589934592")
            // Progress notifications often enough for the tests to see them.
            .arg("--experimental-watch-progress-notify-interval=1s")
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run etcd ({}): {e}. The etcd backend tests need etcd 3.4+: install it on PATH \
                     or set SKIFF_TEST_ETCD_BIN to its binary",
                    self.bin.display()
                )
            });
        self.child = Some(child);
    }

    /// Waits until etcd answers; on failure returns its log.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("etcd exited with {status}:\n{}", self.log()));
                }
            }
            if EtcdStore::connect(&[self.endpoint()]).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!("etcd did not answer within {STARTUP:?}:\n{}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills etcd the hard way (no graceful shutdown) and starts it again on the same
    /// ports and data.
    async fn restart(&mut self) {
        self.kill();
        self.spawn();
        if let Err(log) = self.wait_ready().await {
            panic!("etcd did not come back after a restart:\n{log}");
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.log_path()) {
            let _ = std::io::Read::read_to_string(&mut file, &mut text);
        }
        text
    }

    /// A gauge from etcd's Prometheus metrics, served on the client port.
    async fn metric(&self, name: &str) -> f64 {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", self.client_port)).await.unwrap();
        conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let mut body = String::new();
        conn.read_to_string(&mut body).await.unwrap();
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("etcd reports no metric {name}"))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn new_store() -> (Arc<dyn Store>, Etcd) {
    let etcd = Etcd::start().await;
    let store = EtcdStore::connect(&[etcd.endpoint()]).await.expect("connect to the test etcd");
    (Arc::new(store), etcd)
}

skiff_store::conformance_tests!(new_store);

// ---- etcd-specific checks ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fresh_etcd_is_at_revision_one_with_nothing_compacted() {
    let (store, _etcd) = new_store().await;
    assert_eq!(store.current_revision().await.unwrap(), 1, "etcd starts at revision 1, not 0");
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    let kv = store.create(b"/first", b"1".to_vec()).await.unwrap();
    assert_eq!(kv.mod_revision, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_without_etcd_fails_with_a_backend_error() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    match EtcdStore::connect(&[endpoint]).await {
        Err(Error::Backend { .. }) => {}
        Err(other) => panic!("expected a Backend error, got {other}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(started.elapsed() < Duration::from_secs(15), "connect gives up within its timeout");
    assert!(matches!(EtcdStore::connect(&[]).await, Err(Error::InvalidRequest(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_continues_across_an_etcd_restart() {
    let (store, mut etcd) = new_store().await;
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch(b"/rs/", start).await.unwrap();
    for i in 0..10 {
        store.txn(Txn::new().and_then([TxnOp::put("/rs/k", format!("{i}"))])).await.unwrap();
    }
    let before = collect_events(&mut stream, 10).await;

    etcd.restart().await;
    // Write as soon as etcd answers: the watch is still reconnecting (backing off),
    // so it must pick these up from history, not live.
    for i in 10..20 {
        store.txn(Txn::new().and_then([TxnOp::put("/rs/k", format!("{i}"))])).await.unwrap();
    }
    let after = collect_events(&mut stream, 10).await;

    let events: Vec<_> = before.iter().chain(&after).collect();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.revision(), start + 1 + i as i64, "gap or duplicate across the restart");
        assert_eq!(e.kv.value, format!("{i}").into_bytes());
        assert_eq!(e.kind, EventKind::Put);
        let prev = e.prev.as_ref().map(|p| p.value.clone());
        assert_eq!(prev, i.checked_sub(1).map(|p| format!("{p}").into_bytes()));
    }
    // And it is live again.
    store.txn(Txn::new().and_then([TxnOp::put("/rs/k", "live")])).await.unwrap();
    assert_eq!(collect_events(&mut stream, 1).await[0].kv.value, b"live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_a_watch_stream_cancels_the_etcd_watch() {
    const WATCHERS: &str = "etcd_debugging_mvcc_watcher_total";
    let (store, etcd) = new_store().await;
    let idle = etcd.metric(WATCHERS).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(store.watch(b"/cancel/", store.current_revision().await.unwrap()).await.unwrap());
    }
    assert_eq!(etcd.metric(WATCHERS).await, idle + 3.0);
    drop(streams);
    let deadline = Instant::now() + Duration::from_secs(10);
    while etcd.metric(WATCHERS).await != idle {
        assert!(Instant::now() < deadline, "etcd still has the dropped watches");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_notifications_report_the_store_revision() {
    let (store, _etcd) = new_store().await;
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch(b"/quiet/", start).await.unwrap();
    store.txn(Txn::new().and_then([TxnOp::put("/elsewhere", "x")])).await.unwrap();
    let now = store.current_revision().await.unwrap();
    // The test etcd notifies progress every second.
    let batch = loop {
        let batch = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut stream))
            .await
            .expect("no progress notification")
            .expect("watch ended")
            .expect("watch failed");
        if batch.revision >= now {
            break batch;
        }
    };
    assert!(batch.events.is_empty(), "nothing under /quiet/ changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_over_the_grpc_default_limit() {
    let (store, _etcd) = new_store().await;
    let start = store.current_revision().await.unwrap();
    let big = vec![7u8; skiff_store::MAX_VALUE_BYTES];
    for i in 0..4 {
        store.create(format!("/big/{i}").as_bytes(), big.clone()).await.unwrap();
    }
    // 6 MiB in one range response, over gRPC's default 4 MiB.
    let all = store.range(RangeRequest::prefix("/big/")).await.unwrap();
    assert_eq!(all.kvs.len(), 4);
    assert!(all.kvs.iter().all(|kv| kv.value == big));
    // And in one watch response: etcd sends the history it replays in one batch.
    let mut stream = store.watch(b"/big/", start).await.unwrap();
    let events = collect_events(&mut stream, 4).await;
    assert!(events.iter().all(|e| e.kv.value == big));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_replays_never_report_progress_ahead_of_their_events() {
    const REVISIONS: usize = 2500;
    let (store, _etcd) = new_store().await;
    let start = store.current_revision().await.unwrap();
    skiff_store::testing::fill(&store, "/long/", REVISIONS, 16).await;
    // etcd replays history in responses of at most 1000 revisions, each stamped with
    // the current revision; a batch must still claim only what it delivered.
    let mut stream = store.watch(b"/long/", start).await.unwrap();
    let (mut seen, mut reported) = (0, start);
    while seen < REVISIONS {
        let batch = tokio::time::timeout(Duration::from_secs(30), futures::StreamExt::next(&mut stream))
            .await
            .expect("watch stalled")
            .expect("watch ended")
            .expect("watch failed");
        for e in &batch.events {
            assert_eq!(e.revision(), start + 1 + seen as i64, "gap or duplicate in the replay");
            assert!(e.revision() > reported, "an earlier batch claimed revision {reported} before this event");
            seen += 1;
        }
        assert!(batch.revision >= reported);
        reported = batch.revision;
    }
}
