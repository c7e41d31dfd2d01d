//! The runtime conformance suite against a real containerd, started by the test
//! inside a network namespace the test creates (loopback only).

use skiff_kubelet::runtime::testing::{conformance, Env};
use skiff_kubelet::testing::{require_node_prerequisites, NetNs, TestContainerd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_passes_the_runtime_conformance_suite() {
    require_node_prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let netns = NetNs::create("skiff-cri");
    let containerd = TestContainerd::start(&netns, dir.path(), Some("10.42.7.0/24"));
    containerd.import_test_images();
    let rt = containerd.runtime();
    let env = Env { executes: true, log_dir: Some(dir.path().join("pods")) };
    conformance(&rt, &env).await;
    drop(containerd);
}
