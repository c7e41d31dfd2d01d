//! `skiff server` as a user runs it: starts on a data directory, stops cleanly on
//! SIGTERM, and refuses to start over a damaged store with a clear message.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[path = "common/ports.rs"]
mod ports;

use ports::free_port;

const SKIFF: &str = env!("CARGO_BIN_EXE_skiff");

/// A running server, killed if a test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Sends SIGTERM and returns the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
        let rc = unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        self.0.wait().unwrap()
    }
}

/// Starts `skiff server` and waits for its "ready" line; returns the server and the
/// lines it printed so far.
fn start_server(data_dir: &Path) -> (Server, Vec<String>) {
    let port = free_port().to_string();
    let data_dir = data_dir.to_str().unwrap();
    start(&["--bind-address", "127.0.0.1", "--https-listen-port", &port, "--data-dir", data_dir], &[])
}

/// Starts `skiff server --disable-agent --disable-dns ARGS` with `env` added.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Server, Vec<String>) {
    let mut child = Command::new(SKIFF)
        .args(["server", "--disable-agent", "--disable-dns"])
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("server printed nothing for 30 s");
        let ready = line.contains("ready; stop with");
        lines.push(line);
        if ready {
            return (server, lines);
        }
    }
}

#[test]
fn help_lists_the_server_command() {
    let out = Command::new(SKIFF).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("server"), "{text}");
    let out = Command::new(SKIFF).args(["server", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--data-dir") && text.contains("--datastore-endpoint"), "{text}");
}

#[test]
fn server_starts_stops_on_sigterm_and_restarts_on_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let (server, lines) = start_server(dir.path());
    assert!(lines.iter().any(|l| l.contains("store ready at revision 0")), "{lines:?}");
    let status = server.stop();
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    assert!(dir.path().join("db").join("state.redb").exists());

    let (server, lines) = start_server(dir.path());
    assert!(lines.iter().any(|l| l.contains("store ready")), "{lines:?}");
    assert!(server.stop().success());
}

#[test]
fn damaged_store_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_server(dir.path());
    assert!(server.stop().success());

    let file = dir.path().join("db").join("state.redb");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len / 3).unwrap();
    let out = Command::new(SKIFF).args(["server", "--disable-agent", "--data-dir"]).arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "exit code 3 means a corrupt data store; stderr: {stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(stderr.contains("state.redb"), "the message names the file: {stderr}");
    // Nothing was replaced: the damaged file is still there for the operator.
    assert_eq!(std::fs::metadata(&file).unwrap().len(), len / 3);
}

#[test]
fn unreachable_etcd_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let out = Command::new(SKIFF)
        .args(["server", "--disable-agent", "--datastore-endpoint", "http://127.0.0.1:1"])
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "exit code 4 means the datastore is unavailable; stderr: {stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(SKIFF)
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1", "--https-listen-port", &port, "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "exit code 5 means the port is unavailable; stderr: {stderr}");
    assert!(stderr.contains(&format!("port 127.0.0.1:{port} is already in use")), "{stderr}");
}

/// The local agent runs by default; a machine that cannot run it (here: no
/// containerd on PATH) is told what is missing and how to do without, at once.
#[test]
fn a_node_without_containerd_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(SKIFF)
        .args(["server", "--bind-address", "127.0.0.1", "--https-listen-port", "1", "--data-dir"])
        .arg(dir.path())
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "exit code 6 means a node prerequisite is missing; stderr: {stderr}");
    assert!(stderr.contains("cannot start the local agent"), "{stderr}");
    assert!(stderr.contains("--disable-agent"), "{stderr}");
    if unsafe { libc::geteuid() } == 0 {
        assert!(stderr.contains("`containerd` on PATH (Debian package containerd"), "{stderr}");
    }
}

/// A config file sets the port and the data directory; the environment wins over
/// it, and a flag over both.
#[test]
fn a_config_file_sets_flags_and_the_environment_and_flags_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-config");
    let (port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let file = dir.path().join("config.yaml");
    let yaml = format!(
        "# skiff server's settings\ndata-dir: {}\nhttps-listen-port: {port}\nbind-address: 127.0.0.1\n\
         disable-controllers: [cronjob, job]\n",
        data.display()
    );
    std::fs::write(&file, yaml).unwrap();
    let config = file.to_str().unwrap();
    let listening = |lines: &[String], port: u16| {
        lines.iter().any(|l| l.contains(&format!("API server listening on https://127.0.0.1:{port}")))
    };

    let (server, lines) = start(&["--config", config], &[]);
    assert!(lines[0].contains(&format!("settings from {config}")), "{lines:?}");
    assert!(listening(&lines, port), "{lines:?}");
    assert!(data.join("db/state.redb").exists(), "the data directory is the file's");
    assert!(server.stop().success());

    let (server, lines) = start(&[], &[("SKIFF_CONFIG", config), ("SKIFF_HTTPS_LISTEN_PORT", &env_port.to_string())]);
    assert!(listening(&lines, env_port), "the environment wins over the file: {lines:?}");
    assert!(server.stop().success());

    let env = [("SKIFF_CONFIG", config), ("SKIFF_HTTPS_LISTEN_PORT", "1")];
    let (server, lines) = start(&["--https-listen-port", &flag_port.to_string()], &env);
    assert!(listening(&lines, flag_port), "the flag wins over both: {lines:?}");
    assert!(server.stop().success());
}

#[test]
fn a_bad_config_file_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    let run = |yaml: &str| {
        std::fs::write(&file, yaml).unwrap();
        let out = Command::new(SKIFF).args(["server", "--disable-agent", "--config"]).arg(&file).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run("data-dir: /tmp/x\nhttps-port: 7443\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unknown key `https-port`") && stderr.contains(file.to_str().unwrap()), "{stderr}");
    let (code, stderr) = run("https-listen-port: lots\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("'lots'") && stderr.contains("`https-listen-port` is set in the config file"), "{stderr}");
    let (code, stderr) = run("disable-agent: [yes]\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`disable-agent`: expected true or false"), "{stderr}");
}

/// A data directory skiff may not create is refused at once, naming it, with exit 4.
#[test]
fn an_unwritable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |data_dir: &Path, as_nobody: bool| {
        let mut cmd = match as_nobody {
            true => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", SKIFF]);
                c
            }
            false => Command::new(SKIFF),
        };
        let out =
            cmd.args(["server", "--disable-agent", "--disable-dns", "--data-dir"]).arg(data_dir).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // A file where a directory should be: refused even for root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let (code, stderr) = run(&blocker.join("server"), false);
    assert_eq!(code, Some(4), "exit code 4: the data store cannot be opened; stderr: {stderr}");
    assert!(stderr.contains(&format!("cannot create the data directory {}/server", blocker.display())), "{stderr}");
    // No permission: under a directory only root may enter, as another user.
    let root = unsafe { libc::geteuid() } == 0;
    let denied = if root { dir.path().join("server") } else { Path::new("/root/skiff-test/server").to_path_buf() };
    let (code, stderr) = run(&denied, root);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("Permission denied") && stderr.contains("--data-dir"), "{stderr}");
}
