//! A stand-in for kubelets in whole-system tests (there are none yet): a thread
//! that, through the API like a kubelet would, marks every bound pod Running
//! and Ready (the `pods/status` subresource) and finishes the deletion of
//! terminating pods (a delete with grace period 0, as a kubelet does once its
//! containers stopped). Pods only get bound when the test created Nodes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Cluster;

pub struct FakeKubelet {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl FakeKubelet {
    /// Starts marking pods ready in every namespace of `c`.
    pub fn start(c: &Cluster) -> FakeKubelet {
        let stop = Arc::new(AtomicBool::new(false));
        let (kubeconfig, flag) = (c.kubeconfig.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                step(&kubeconfig);
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        FakeKubelet { stop, thread: Some(thread) }
    }
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(super::kubectl_binary())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

fn step(kubeconfig: &std::path::Path) {
    let Some(list) = kubectl(kubeconfig, &["get", "pods", "-A", "-o", "json"]) else { return };
    let Ok(list) = serde_json::from_str::<serde_json::Value>(&list) else { return };
    for pod in list["items"].as_array().into_iter().flatten() {
        let (ns, name) =
            (pod["metadata"]["namespace"].as_str().unwrap_or(""), pod["metadata"]["name"].as_str().unwrap_or(""));
        if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
            continue;
        }
        if pod["metadata"]["deletionTimestamp"].is_string() {
            kubectl(kubeconfig, &["delete", "pod", "-n", ns, name, "--grace-period=0", "--force", "--wait=false"]);
            continue;
        }
        let ready = pod["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if !ready {
            let now = chrono_now();
            let status = serde_json::json!({"status": {
                "phase": "Running",
                "podIP": "10.42.0.10",
                "startTime": now,
                "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                ],
            }});
            kubectl(
                kubeconfig,
                &["patch", "pod", "-n", ns, name, "--subresource=status", "--type=merge", "-p", &status.to_string()],
            );
        }
    }
}

/// Now as RFC 3339 in UTC, without a date crate.
pub fn chrono_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Creates a Node with room for many pods, so the scheduler binds pods to it.
pub fn add_node(c: &Cluster, name: &str) {
    let yaml = format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"
    );
    c.ok(&["apply", "-f", &c.manifest(&format!("node-{name}.yaml"), &yaml)]);
    let alloc = r#"{"cpu":"32","memory":"64Gi","pods":"110"}"#;
    let status = format!(
        r#"{{"status":{{"allocatable":{alloc},"capacity":{alloc},"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
    );
    c.ok(&["patch", "node", name, "--subresource=status", "--type=merge", "-p", &status]);
}

/// Polls kubectl until `done` accepts its output; panics after two minutes (a
/// guard against hangs, not a timing assertion).
pub fn wait_for(c: &Cluster, args: &[&str], what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let out = c.kubectl(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && done(&text) {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: last output {text:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
