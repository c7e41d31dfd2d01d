//! Runs the official Python `kubernetes` client suite (tests/python/client_suite.py)
//! against a `skiff server` restarted once on its data, so that the start of its
//! watch history is after revision 1 (the suite watches from there to get 410).

mod common;

use common::Cluster;

#[test]
fn python_kubernetes_client_suite() {
    let dir = tempfile::tempdir().unwrap();
    {
        let first = Cluster::start_in_path(dir.path(), &[]);
        first.ok(&["create", "configmap", "before-restart"]);
    }
    let c = Cluster::start_in_path(dir.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python/client_suite.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("KUBECONFIG", &c.kubeconfig)
        .output()
        .expect("python3 must be installed (scripts/deps installs the kubernetes package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client suite failed:\n{stderr}\n{stdout}");
}
