//! The README's quickstart, as a new user would type it: the lines of its walkthrough
//! block are read from README.md and run in order by bash, against `skiff server` with
//! its local agent, inside a network namespace this test creates (loopback only, no
//! route out). Nothing is re-typed here except the kubeconfig's path (the test's
//! server keeps its data in a temporary directory).

mod common;

use std::path::Path;
use std::process::Command;

use common::node::Sandboxes;
use common::Cluster;
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

const MARKER: &str = "<!-- walkthrough:";
/// The node's address inside the test's network namespace.
const NODE_IP: &str = "192.168.233.10";

/// The indented lines of the README's walkthrough block.
fn walkthrough(readme: &str) -> Vec<String> {
    let after = readme.split_once(MARKER).expect("README.md has a walkthrough block").1;
    after
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn the_readme_walkthrough_block_is_found() {
    let lines = walkthrough(include_str!("../../../README.md"));
    assert!(lines.first().is_some_and(|l| l.starts_with("export KUBECONFIG=")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("kubectl apply -f examples/quickstart/app.yaml")), "{lines:?}");
    assert!(lines.last().is_some_and(|l| l.starts_with("kubectl delete")), "{lines:?}");
}

#[test]
fn the_readme_quickstart_works_as_written() {
    require_node_prerequisites();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let netns = NetNs::create("skiff-walk");
    // The node's address on an uplink with nothing behind it (a bridge without
    // ports): pods reach the node, and so cluster DNS, and nothing else.
    for args in [
        &["ip", "link", "add", "uplink0", "type", "bridge"][..],
        &["ip", "addr", "add", &format!("{NODE_IP}/24"), "dev", "uplink0"],
        &["ip", "link", "set", "uplink0", "up"],
        &["ip", "route", "add", "default", "dev", "uplink0"],
    ] {
        let out = netns.command(args[0]).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let listen = format!("{NODE_IP}:53");
    let c = Cluster::start_in_netns(
        &netns.name,
        &[
            "--agent",
            "--node-name",
            "walkthrough",
            "--node-ip",
            NODE_IP,
            "--dns-listen",
            &listen,
            "--dns-upstream",
            "127.0.0.1:9",
        ],
    );
    let _cleanup = Sandboxes(c.data_dir().join("agent/containerd/containerd.sock"));
    let kubeconfig = c.data_dir().join("admin.kubeconfig");

    let mut script = String::from("set -euxo pipefail\n");
    for line in walkthrough(&readme) {
        match line.strip_prefix("export KUBECONFIG=") {
            Some(_) => script.push_str(&format!("export KUBECONFIG={}\n", kubeconfig.display())),
            None => script.push_str(&format!("{line}\n")),
        }
    }
    let path = format!("{}:{}", kubectl_dir(c.data_dir()), std::env::var("PATH").unwrap_or_default());
    let bash = |script: &str| {
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", netns.name))
            .args(["bash", "-c", script])
            .current_dir(&repo)
            .env("KUBECACHEDIR", c.data_dir().join("kubectl-cache"))
            .env("KUBECONFIG", &kubeconfig)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let out = bash(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // What the cluster looked like when a step failed, so a failure explains itself.
        let state = bash(
            "kubectl get nodes,pods,services,endpointslices -A -o wide; kubectl describe pods; \
             kubectl logs client; kubectl get events -A; date -u; \
             echo '--- service rules (iptables-save, nat and filter)'; \
             iptables-save -t nat | grep -e KUBE-SERVICES -e hello; iptables-save -t filter | grep -i -e reject -e hello",
        );
        panic!(
            "the walkthrough failed\n--- stdout\n{stdout}\n--- stderr (bash -x trace)\n{stderr}\n--- cluster state\n{}{}",
            String::from_utf8_lossy(&state.stdout),
            String::from_utf8_lossy(&state.stderr)
        );
    }

    // The page, from a pod through the Service's DNS name, through port-forward, and
    // read inside a container with exec.
    assert_eq!(stdout.matches("<h1>Hello from skiff</h1>").count(), 3, "{stdout}");
    assert!(stdout.contains("deployment \"hello\" successfully rolled out"), "{stdout}");
    assert!(stdout.contains("deployment.apps/hello scaled"), "{stdout}");
    assert!(stdout.contains("deployment.apps/hello rolled back"), "{stdout}");
    assert!(stdout.contains("service \"hello\" deleted"), "{stdout}");
}

/// A directory whose `kubectl` is the one the tests use (SKIFF_TEST_KUBECTL), to put
/// first on PATH so the README's `kubectl` is that one.
fn kubectl_dir(data_dir: &Path) -> String {
    let dir = data_dir.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(common::kubectl_binary(), dir.join("kubectl")).unwrap();
    dir.display().to_string()
}
