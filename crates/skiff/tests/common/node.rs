//! Helpers of the whole-node tests (a server with its agent in a test-made netns).

use std::process::Command;
use std::time::{Duration, Instant};

/// Removes every sandbox of the agent's containerd (its socket) when the test ends.
pub use skiff_kubelet::testing::Sandboxes;

use super::{Cluster, SKIFF};

/// Waits for the agent's containerd (its socket under the server's data
/// directory), then builds busybox and pause from busybox-static and imports
/// them, since no registry is reachable. The guard removes every sandbox when
/// the test ends.
pub fn containerd_with_images(c: &Cluster) -> Sandboxes {
    let socket = c.data_dir().join("agent/containerd/containerd.sock");
    let guard = Sandboxes(socket.clone());
    wait_until("the agent's containerd socket", Duration::from_secs(60), || {
        std::os::unix::net::UnixStream::connect(&socket).ok().map(|_| ())
    });
    for image in ["busybox", "pause"] {
        let tar = c.data_dir().join(format!("{image}.tar"));
        let out = Command::new(SKIFF).args(["image", "build", image, "-o"]).arg(&tar).output().unwrap();
        assert!(out.status.success(), "image build: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new(SKIFF).args(["image", "import", "--address"]).arg(&socket).arg(&tar).output().unwrap();
        assert!(out.status.success(), "image import: {}", String::from_utf8_lossy(&out.stderr));
    }
    guard
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

/// Runs `args` inside `netns` and expects success; returns stdout.
pub fn sh(netns: &skiff_kubelet::testing::NetNs, args: &[&str]) -> String {
    let out = netns.command(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until Service `svc`'s EndpointSlices list `n` ready addresses.
pub fn wait_ready_endpoints(c: &Cluster, svc: &str, n: usize) {
    let label = format!("kubernetes.io/service-name={svc}");
    let jsonpath = "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}";
    wait_until(&format!("{n} ready endpoints of {svc}"), Duration::from_secs(60), || {
        let ready = get(c, &["get", "endpointslices", "-l", &label, "-o", jsonpath]);
        (ready.split_whitespace().count() == n).then_some(())
    });
}
