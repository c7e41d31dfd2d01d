//! Streaming through the API server to the kubelet and containerd, with real
//! kubectl of several versions, inside a network namespace the test creates
//! (loopback only): `kubectl exec` (exit codes, stdin to EOF, a TTY with its
//! size; WebSocket `v5.channel.k8s.io` translated to SPDY for kubectl 1.30+,
//! with no fallback, and SPDY for older ones), `kubectl cp` both ways,
//! `kubectl port-forward` with an HTTP request through it (SPDY, and SPDY in
//! WebSocket for kubectl 1.31+), `kubectl attach`, `kubectl logs -f` and
//! `--previous`, and the Python client's WebSocket exec (v5, and v4 passed
//! through to the runtime).
//! Needs root, containerd, runc, the CNI plugins, busybox-static, `script`
//! (util-linux) and curl (scripts/deps).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::node::{containerd_with_images, get, wait_until};
use common::{kubectl_binary, Cluster};
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

/// Kills a background process when the test ends.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The kubectl builds to try: the default one and every versioned one present.
fn kubectls() -> Vec<String> {
    let mut all = vec![kubectl_binary()];
    for v in ["1.27", "1.29", "1.30", "1.31", "1.33"] {
        let p = format!("/usr/lib/google-cloud-sdk/bin/kubectl.{v}");
        if Path::new(&p).exists() {
            all.push(p);
        }
    }
    all
}

/// Whether this kubectl execs over WebSocket by default (1.30+; the 1.29
/// executor is behind a gate that is off).
fn websocket_exec(bin: &str) -> bool {
    !(bin.ends_with("kubectl.1.27") || bin.ends_with("kubectl.1.28") || bin.ends_with("kubectl.1.29"))
}

/// A kubectl command (binary `bin`) inside the test's namespace.
fn kubectl(c: &Cluster, netns: &NetNs, bin: &str, args: &[&str]) -> Command {
    let cache = c.data_dir().join("kubectl-cache");
    let mut cmd = netns.command(bin);
    cmd.arg("--kubeconfig").arg(&c.kubeconfig).arg("--cache-dir").arg(cache).args(args);
    cmd
}

fn output(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn running(c: &Cluster, pod: &str) {
    wait_until(&format!("{pod} Running"), Duration::from_secs(60), || {
        let phase = get(c, &["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(phase)
    });
}

/// Lines of a background process's stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, what: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line for {what}; saw {seen:?}");
}

#[test]
fn exec_cp_port_forward_attach_and_logs_stream_through_the_kubelet() {
    require_node_prerequisites();
    let netns = NetNs::create("skiff-stream");
    let c = Cluster::start_in_netns(&netns.name, &["--agent", "--node-name", "node-1"]);
    let _cleanup = containerd_with_images(&c);
    c.ok(&[
        "run",
        "web",
        "--image=busybox:1.36",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "mkdir -p /www; echo hello-from-pod > /www/index.html; httpd -f -p 8080 -h /www",
    ]);
    c.ok(&[
        "run",
        "talker",
        "--image=busybox:1.36",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done",
    ]);
    running(&c, "web");
    running(&c, "talker");

    for bin in kubectls() {
        // Output, stderr and the exit code come back.
        let o = output(
            kubectl(&c, &netns, &bin, &["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]),
            None,
        );
        assert_eq!(text(&o), "out\n", "{bin}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("err"), "{bin}: {o:?}");
        assert_eq!(o.status.code(), Some(3), "{bin}: the command's exit code");
        // Stdin is delivered and closed (cat ends: with v5 that is the CLOSE
        // signal on channel 255 become a FIN on the kubelet's SPDY stdin).
        let o = output(
            kubectl(&c, &netns, &bin, &["exec", "-v=4", "-i", "web", "--", "cat"]),
            Some(b"line one\nline two\n"),
        );
        assert_eq!(text(&o), "line one\nline two\n", "{bin}: {o:?}");
        assert!(o.status.success(), "{bin}");
        let log = String::from_utf8_lossy(&o.stderr);
        if websocket_exec(&bin) {
            assert!(log.contains("protocol is v5.channel.k8s.io"), "{bin}: exec is not v5: {log}");
            assert!(!log.to_lowercase().contains("fallback"), "{bin}: exec fell back to SPDY: {log}");
        }

        // port-forward, with a real request through it.
        let port = 18000 + (kubectls().iter().position(|b| *b == bin).unwrap() as u16);
        let mut pf = kubectl(&c, &netns, &bin, &["port-forward", "pod/web", &format!("{port}:8080"), "-v=4"]);
        let mut pf = Background(pf.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
        let lines = lines_of(&mut pf.0);
        wait_line(&lines, "Forwarding from", |l| l.starts_with("Forwarding from 127.0.0.1"));
        let got = netns
            .command("curl")
            .args(["-s", "--max-time", "10", &format!("http://127.0.0.1:{port}/index.html")])
            .output()
            .unwrap();
        assert_eq!(text(&got), "hello-from-pod\n", "{bin}: a request through port-forward");
        let _ = pf.0.kill();
        let stderr = {
            let mut s = String::new();
            use std::io::Read;
            pf.0.stderr.take().unwrap().read_to_string(&mut s).unwrap();
            s
        };
        // kubectl 1.31+ tunnels SPDY in WebSocket; no fallback to plain SPDY.
        if stderr.contains("tunneling_dialer") || stderr.contains("WebSocket") {
            assert!(!stderr.to_lowercase().contains("fallback"), "{bin}: port-forward fell back: {stderr}");
        }
    }

    // A TTY: kubectl sends the terminal's size, the shell sees it. `script`
    // gives kubectl a terminal; the sleep lets the resize arrive first.
    let kc = format!(
        "stty rows 33 cols 77; nsenter --net=/run/netns/{} -- {} --kubeconfig {} exec -it web -- sh -c 'sleep 1; stty size; tty'",
        netns.name,
        kubectl_binary(),
        c.kubeconfig.display()
    );
    let o = Command::new("script").args(["-qec", &kc, "/dev/null"]).output().unwrap();
    let tty = text(&o);
    assert!(tty.contains("33 77"), "TTY size: {tty:?}");
    assert!(tty.contains("/dev/pts/"), "a terminal in the container: {tty:?}");

    // kubectl cp, both directions (tar in the busybox image), a small file and
    // one of 3 MiB (many WebSocket messages, each split into frames).
    let local = c.data_dir().join("to-pod.txt");
    std::fs::write(&local, "copied in\n").unwrap();
    c.ok(&["cp", &local.display().to_string(), "web:/tmp/in.txt"]);
    assert_eq!(c.ok(&["exec", "web", "--", "cat", "/tmp/in.txt"]), "copied in\n");
    let back = c.data_dir().join("from-pod.html");
    c.ok(&["cp", "web:/www/index.html", &back.display().to_string()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "hello-from-pod\n");
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let local = c.data_dir().join("big.bin");
    std::fs::write(&local, &big).unwrap();
    c.ok(&["cp", &local.display().to_string(), "web:/tmp/big.bin"]);
    let back = c.data_dir().join("big-back.bin");
    c.ok(&["cp", "web:/tmp/big.bin", &back.display().to_string()]);
    assert!(std::fs::read(&back).unwrap() == big, "3 MiB through kubectl cp both ways");

    // kubectl attach sees the running container's output.
    let mut attach = Background(
        kubectl(&c, &netns, &kubectl_binary(), &["attach", "talker"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(&mut attach.0);
    wait_line(&lines, "attach output", |l| l.starts_with("tick "));
    drop(attach);

    // kubectl logs -f follows new lines.
    let mut follow = Background(
        kubectl(&c, &netns, &kubectl_binary(), &["logs", "-f", "talker", "--tail=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(&mut follow.0);
    let first: u64 = wait_line(&lines, "a followed line", |l| l.starts_with("tick "))[5..].parse().unwrap();
    let next = wait_line(&lines, "a later line", |l| l.starts_with("tick ") && l[5..].parse::<u64>().unwrap() > first);
    assert!(next.starts_with("tick "));
    drop(follow);
    let since = c.ok(&["logs", "talker", "--since=1h"]);
    assert!(since.starts_with("tick 0\n"), "{since}");

    // An exec into a container that does not exist is a clean error.
    let err = c.fails(&["exec", "web", "-c", "nope", "--", "true"]);
    assert!(err.contains("container nope is not valid for pod web"), "{err}");

    // The Python client execs over WebSocket: it offers v5 (translated here),
    // stdin closed with v5's CLOSE; and offering v4 only, as older clients do,
    // its exec goes through to the runtime's own WebSocket server.
    for (offer, close) in [("V5_CHANNEL_PROTOCOL", "resp.close_channel(0)"), ("V4_CHANNEL_PROTOCOL", "")] {
        let script = format!(
            "from kubernetes import client, config\nfrom kubernetes.stream import stream, ws_client\n\
             ws_client.V5_CHANNEL_PROTOCOL = ws_client.{offer}\n\
             config.load_kube_config('{}')\n\
             resp = stream(client.CoreV1Api().connect_get_namespaced_pod_exec, 'web', 'default', \
             command=['sh', '-c', 'echo from-python; cat'], stderr=True, stdin=True, stdout=True, tty=False, \
             _preload_content=False)\n\
             resp.write_stdin('typed\\n')\n{close}\n\
             resp.run_forever(timeout=5 if '{close}' else 3)\n\
             rc = resp.returncode if '{close}' else ''\n\
             print(resp.subprotocol, repr(resp.read_all()), rc)\n",
            c.kubeconfig.display()
        );
        let o = netns.command("python3").args(["-c", &script]).output().unwrap();
        let want = if close.is_empty() {
            "v4.channel.k8s.io 'from-python\\ntyped\\n' \n"
        } else {
            "v5.channel.k8s.io 'from-python\\ntyped\\n' 0\n"
        };
        assert_eq!(text(&o), want, "python exec ({offer}): {}", String::from_utf8_lossy(&o.stderr));
    }

    c.ok(&["delete", "pod", "web", "talker", "--grace-period=1"]);
}
