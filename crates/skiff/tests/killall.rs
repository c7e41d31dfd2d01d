//! Stopping skiff as an operator does: `scripts/killall`, `scripts/uninstall` (with
//! and without `--purge`), and SIGTERM of the server, which leaves pods running for
//! the next server to adopt.
//!
//! `scripts/killall` stops every skiff process on the machine, so these tests run the
//! server and the scripts in a jail of their own: new PID, mount and network
//! namespaces, held by a `sleep` that is PID 1 there (when the test drops it, the
//! kernel kills whatever is left inside). In the jail's mount namespace `/run/netns`,
//! `/var/lib`, `/usr/local/bin` and `/etc/systemd/system` are empty tmpfs mounts and
//! `/run/systemd` hides systemd, so the server runs with its default data directory
//! and the scripts act on their default paths without touching the machine's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

use common::node as node_helpers;

use skiff_kubelet::testing::require_node_prerequisites;

const SKIFF: &str = env!("CARGO_BIN_EXE_skiff");
const KUBECONFIG: &str = "/var/lib/skiff/server/admin.kubeconfig";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// New PID, mount and network namespaces, held by PID 1 `sleep`.
struct Jail {
    holder: Child,
    /// The holder's PID as the machine sees it, for nsenter.
    pid: u32,
}

impl Drop for Jail {
    fn drop(&mut self) {
        // PID 1 of the namespace: its death kills every process inside.
        let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

const JAIL_SETUP: &str = r#"set -e
mkdir -p /run/netns
for d in /run/netns /var/lib /usr/local/bin /etc/systemd/system; do mount -t tmpfs skiff-jail "$d"; done
if [ -d /run/systemd ]; then mount -t tmpfs skiff-jail /run/systemd; fi
ip link set lo up
echo jailed
exec sleep infinity
"#;

impl Jail {
    fn start() -> Jail {
        assert!(
            Path::new("/etc/systemd/system").is_dir(),
            "this test hides /etc/systemd/system behind a tmpfs; the directory must exist (Debian's systemd package)"
        );
        let mut holder = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--net",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                JAIL_SETUP,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "jailed", "the jail's setup failed");
        // unshare --fork: the holder's only child is PID 1 inside.
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", holder.id())).unwrap();
        let pid = children.split_whitespace().next().expect("unshare's child").parse().unwrap();
        Jail { holder, pid }
    }

    /// `program` run inside the jail (all three namespaces).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["--target", &self.pid.to_string(), "--pid", "--mount", "--net", "--"]).arg(program);
        c
    }

    /// Runs a shell command inside; returns its stdout, panics naming it on failure.
    fn sh(&self, script: &str) -> String {
        let out = self.command("sh").args(["-c", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Whether a shell command inside succeeds.
    fn test(&self, script: &str) -> bool {
        self.command("sh").args(["-c", script]).output().unwrap().status.success()
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        let cache = format!("/var/lib/kubectl-cache-{}", rand_suffix());
        let kubectl = std::env::var("SKIFF_TEST_KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());
        self.command(kubectl).args(["--kubeconfig", KUBECONFIG, "--cache-dir", &cache]).args(args).output().unwrap()
    }

    fn get(&self, args: &[&str]) -> String {
        text(&self.kubectl(args).stdout).trim().to_string()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Installs as scripts/install does, without building: the binary and the units.
    fn install(&self) {
        let units = repo().join("deploy/systemd");
        self.sh(&format!(
            "install -m 0755 {SKIFF} /usr/local/bin/skiff && install -m 0644 {0}/skiff-server.service \
             {0}/skiff-agent.service /etc/systemd/system/",
            units.display()
        ));
    }

    /// Starts `skiff server` with `args` and waits for its ready line.
    fn start_server(&self, args: &[&str]) -> Server {
        let mut child =
            self.command("/usr/local/bin/skiff").arg("server").args(args).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let server = Server(child);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("SKIFF_TEST_SERVER_LOG").is_some() {
                    eprintln!("server: {line}");
                }
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no ready line: {seen:?}"));
            let ready = line.contains("ready; stop with");
            seen.push(line);
            if ready {
                return server;
            }
        }
    }

    /// Every live process in the jail but its PID 1 and the `ps` that lists them.
    /// Exited ones that nobody reaped yet (`<defunct>`: the jail's PID 1 is a plain
    /// `sleep`, not an init that reaps orphans) do not count.
    fn processes(&self) -> Vec<String> {
        let out = self.sh("ps -eo pid=,args=");
        let ours = |l: &&str| l.starts_with("1 ") || l.contains("ps -eo") || l.ends_with("<defunct>");
        out.lines().map(str::trim).filter(|l| !ours(l)).map(String::from).collect()
    }

    /// Runs a pod that sleeps and waits until it runs; returns its container ID.
    fn run_sleeper(&self, name: &str) -> String {
        self.ok(&["run", name, "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3600"]);
        node_helpers::wait_until(&format!("{name} Running"), Duration::from_secs(120), || {
            (self.get(&["get", "pod", name, "-o", "jsonpath={.status.phase}"]) == "Running").then_some(())
        });
        self.get(&["get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].containerID}"])
    }
}

/// A server process started in the jail (nsenter, whose child it is). Dropping it
/// reaps nsenter; the jail's end stops the server itself.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Waits for the server to exit (after a signal sent inside the jail).
    fn wait(mut self) -> std::process::ExitStatus {
        self.0.wait().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn wait_for_node(jail: &Jail) {
    node_helpers::wait_until("the node Ready", Duration::from_secs(120), || {
        let ready =
            jail.get(&["get", "nodes", "-o", r#"jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}"#]);
        (ready == "True").then_some(())
    });
}

#[test]
fn killall_stops_everything_and_uninstall_removes_what_install_added() {
    require_node_prerequisites();
    let jail = Jail::start();
    jail.install();
    let server = jail.start_server(&[]);
    wait_for_node(&jail);
    jail.run_sleeper("sleeper");

    // What killall must take away is there.
    assert!(jail.processes().iter().any(|p| p.contains("containerd-shim")), "{:?}", jail.processes());
    assert!(jail.test("ip link show cni0"), "the pod network's bridge");
    assert!(jail.sh("iptables-save").contains("KUBE-SERVICES"), "the service proxy's chains");
    assert!(!jail.sh("ip netns list").trim().is_empty(), "the pod's network namespace");

    let scripts = repo().join("scripts");
    let out = jail.command("bash").arg(scripts.join("killall")).output().unwrap();
    assert!(out.status.success(), "killall: {}", text(&out.stderr));
    assert!(server.wait().success(), "killall stops the server with SIGTERM first");

    let left = jail.processes();
    assert!(left.is_empty(), "no skiff, containerd, shim or container process is left: {left:?}");
    assert!(!jail.test("ip link show cni0"), "cni0 is gone");
    let rules = jail.sh("iptables-save; ip6tables-save");
    assert!(!rules.contains("KUBE-") && !rules.contains("CNI-"), "skiff's chains are gone:\n{rules}");
    assert!(!jail.sh("nft list tables").contains("skiff"));
    assert_eq!(jail.sh("ip netns list").trim(), "", "the pods' network namespaces are gone");
    let mounts = jail.sh("cat /proc/self/mounts");
    assert!(!mounts.contains("/var/lib/skiff/server/agent/"), "the agent's mounts are gone:\n{mounts}");
    assert!(jail.test("test -s /var/lib/skiff/server/db/state.redb"), "the data stays");
    assert!(jail.test("test -s /var/lib/skiff/server/tls/ca.key"), "the data stays");

    let out = jail.command("bash").arg(scripts.join("uninstall")).output().unwrap();
    assert!(out.status.success(), "uninstall: {}", text(&out.stderr));
    assert!(!jail.test("test -e /usr/local/bin/skiff"), "the binary is gone");
    assert!(!jail.test("ls /etc/systemd/system/skiff-*"), "the units are gone");
    assert!(jail.test("test -s /var/lib/skiff/server/db/state.redb"), "without --purge the data stays");

    let out = jail.command("bash").arg(scripts.join("uninstall")).arg("--purge").output().unwrap();
    assert!(out.status.success(), "uninstall --purge: {}", text(&out.stderr));
    assert!(!jail.test("test -e /var/lib/skiff"), "--purge removes the data");
}

#[test]
fn sigterm_leaves_pods_running_and_a_restarted_server_adopts_them() {
    require_node_prerequisites();
    let jail = Jail::start();
    jail.install();
    let args = ["--proxy-mode", "nftables"];
    let server = jail.start_server(&args);
    wait_for_node(&jail);
    let container = jail.run_sleeper("sleeper");
    let uid = jail.get(&["get", "pod", "sleeper", "-o", "jsonpath={.metadata.uid}"]);

    jail.sh("pkill -TERM -x skiff");
    assert!(server.wait().success(), "SIGTERM is a clean stop");
    let left = jail.processes();
    assert!(left.iter().any(|p| p.contains("sleep 3600")), "the pod's container still runs: {left:?}");
    assert!(!left.iter().any(|p| p.contains("skiff server")), "{left:?}");

    let server = jail.start_server(&args);
    wait_for_node(&jail);
    // The same pod, with the same container, not restarted.
    node_helpers::wait_until("sleeper Running after the restart", Duration::from_secs(60), || {
        (jail.get(&["get", "pod", "sleeper", "-o", "jsonpath={.status.phase}"]) == "Running").then_some(())
    });
    assert_eq!(jail.get(&["get", "pod", "sleeper", "-o", "jsonpath={.metadata.uid}"]), uid);
    let status = "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}";
    assert_eq!(jail.get(&["get", "pod", "sleeper", "-o", status]), format!("{container} 0"));
    assert_eq!(jail.ok(&["exec", "sleeper", "--", "echo", "adopted"]).trim(), "adopted");
    // Its container is the restarted server's to stop.
    jail.ok(&["delete", "pod", "sleeper", "--wait=true"]);
    node_helpers::wait_until("the container gone", Duration::from_secs(60), || {
        (!jail.processes().iter().any(|p| p.contains("sleep 3600"))).then_some(())
    });

    // killall removes the nftables mode's table too.
    assert!(jail.sh("nft list tables").contains("skiff"), "the proxy's nftables table");
    let out = jail.command("bash").arg(repo().join("scripts/killall")).output().unwrap();
    assert!(out.status.success(), "killall: {}", text(&out.stderr));
    assert!(server.wait().success());
    assert!(!jail.sh("nft list tables").contains("skiff"), "the table is gone");
}
