//! Helpers of the whole-node tests (a server with its agent in a test-made netns).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use skiff_kubelet::testing::remove_all_sandboxes;

use super::Cluster;

/// Removes every sandbox of the agent's containerd (its socket) when the test ends,
/// even on failure, so no container outlives it.
pub struct Sandboxes(pub PathBuf);

impl Drop for Sandboxes {
    fn drop(&mut self) {
        if self.0.exists() {
            remove_all_sandboxes(&self.0);
        }
    }
}

/// Polls `check` every 250 ms until it gives a value; panics after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// kubectl's trimmed stdout, whether or not it succeeded.
pub fn get(c: &Cluster, args: &[&str]) -> String {
    String::from_utf8_lossy(&c.kubectl(args).stdout).trim().to_string()
}
