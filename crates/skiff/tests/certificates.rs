//! CertificateSigningRequests end to end, with the real kubectl and openssl: a key
//! and request made with `openssl req`, `kubectl apply` of the CSR, `kubectl
//! certificate approve`, the certificate the cluster CA issued read back from
//! `status.certificate`, and `kubectl auth whoami` with it. A denied request stays
//! without a certificate; a kubelet client request with the wrong common name ends
//! Failed; `skiff controller-manager --cluster-signing-*` signs with its own CA.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::kubelet::wait_for;
use common::{Cluster, SKIFF};
use serde_json::Value;

/// Runs openssl; panics with its stderr if it fails. Returns stdout.
fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `openssl req` for a new RSA key `DIR/NAME.key` and request `DIR/NAME.csr` with
/// `subject`; returns the request's paths `(key, csr)`.
fn new_request(dir: &Path, name: &str, subject: &str) -> (PathBuf, PathBuf) {
    let (key, csr) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.csr")));
    let (k, r) = (key.display().to_string(), csr.display().to_string());
    openssl(&["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", &k, "-subj", subject, "-out", &r]);
    (key, csr)
}

/// A CertificateSigningRequest manifest for the request in `csr`.
fn manifest(name: &str, csr: &Path, signer: &str, usages: &[&str], expiration: Option<u32>) -> String {
    let request = base64::engine::general_purpose::STANDARD.encode(std::fs::read(csr).unwrap());
    let usages: String = usages.iter().map(|u| format!("\n  - {u}")).collect();
    let expiration = expiration.map(|s| format!("\n  expirationSeconds: {s}")).unwrap_or_default();
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\n\
         spec:\n  request: {request}\n  signerName: {signer}{expiration}\n  usages:{usages}\n"
    )
}

fn csr_json(c: &Cluster, name: &str) -> Value {
    serde_json::from_str(&c.ok(&["get", "csr", name, "-o", "json"])).unwrap()
}

/// Waits until CSR `name` has a certificate; writes it (PEM) to `DIR/NAME.crt`.
fn wait_for_certificate(c: &Cluster, name: &str) -> PathBuf {
    let b64 = wait_for(c, &["get", "csr", name, "-o", "jsonpath={.status.certificate}"], "the certificate", |s| {
        !s.trim().is_empty()
    });
    let pem = base64::engine::general_purpose::STANDARD.decode(b64.trim()).unwrap();
    assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----"), "{}", String::from_utf8_lossy(&pem));
    let path = c.data_dir().join(format!("{name}.crt"));
    std::fs::write(&path, pem).unwrap();
    path
}

/// `openssl x509 -noout -enddate` as seconds from now.
fn seconds_left(cert: &Path) -> i64 {
    let out = openssl(&["x509", "-noout", "-enddate", "-in", &cert.display().to_string()]);
    let end = out.lines().find_map(|l| l.strip_prefix("notAfter=")).expect("an end date").trim().to_string();
    let date = Command::new("date").args(["-u", "-d", &end, "+%s"]).output().unwrap();
    let end: i64 = String::from_utf8_lossy(&date.stdout).trim().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    end - now
}

/// Runs kubectl as the holder of `cert`/`key` alone: a kubeconfig with nothing in
/// it, the server and the cluster CA as flags.
fn kubectl_as(c: &Cluster, cert: &Path, key: &Path, args: &[&str]) -> std::process::Output {
    let cache = tempfile::tempdir().unwrap();
    let config = cache.path().join("config");
    std::fs::write(&config, "apiVersion: v1\nkind: Config\n").unwrap();
    Command::new(common::kubectl_binary())
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--cache-dir")
        .arg(cache.path())
        .arg(format!("--server=https://127.0.0.1:{}", c.port))
        .arg(format!("--certificate-authority={}", c.data_dir().join("tls/ca.crt").display()))
        .arg(format!("--client-certificate={}", cert.display()))
        .arg(format!("--client-key={}", key.display()))
        .args(args)
        .output()
        .expect("run kubectl")
}

#[test]
fn an_approved_request_is_issued_by_the_cluster_ca_and_authenticates() {
    let c = Cluster::start();
    let dir = c.data_dir().to_path_buf();
    let (key, csr) = new_request(&dir, "jane", "/CN=jane/O=dev");
    let usages = ["client auth"];
    let file =
        c.manifest("jane.yaml", &manifest("jane", &csr, "kubernetes.io/kube-apiserver-client", &usages, Some(86400)));
    let out = c.ok(&["apply", "-f", &file]);
    assert_eq!(out.trim(), "certificatesigningrequest.certificates.k8s.io/jane created");
    // Not approved: nothing is issued.
    std::thread::sleep(Duration::from_millis(500));
    assert!(csr_json(&c, "jane")["status"].get("certificate").is_none());
    assert!(c.ok(&["get", "csr", "jane"]).contains("Pending"));

    let out = c.ok(&["certificate", "approve", "jane"]);
    assert_eq!(out.trim(), "certificatesigningrequest.certificates.k8s.io/jane approved");
    let cert = wait_for_certificate(&c, "jane");
    let listed = c.ok(&["get", "csr", "jane"]);
    assert!(listed.contains("Approved,Issued"), "{listed}");

    // Issued by the cluster CA, for the request's key and subject, for the day asked.
    let ca = dir.join("tls/ca.crt");
    let verified = openssl(&["verify", "-CAfile", &ca.display().to_string(), &cert.display().to_string()]);
    assert!(verified.contains(": OK"), "{verified}");
    let subject = openssl(&["x509", "-noout", "-subject", "-nameopt", "compat", "-in", &cert.display().to_string()]);
    assert_eq!(subject.trim(), "subject=/CN=jane/O=dev");
    let cert_key = openssl(&["x509", "-noout", "-pubkey", "-in", &cert.display().to_string()]);
    let request_key = openssl(&["req", "-noout", "-pubkey", "-in", &csr.display().to_string()]);
    assert_eq!(cert_key, request_key);
    let left = seconds_left(&cert);
    assert!((86400 - 300 - 60..=86400 - 300 + 5).contains(&left), "a day (minus the 5 min backdate), got {left}s");
    let text = openssl(&["x509", "-noout", "-text", "-in", &cert.display().to_string()]);
    assert!(text.contains("TLS Web Client Authentication") && !text.contains("TLS Web Server"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");

    // kubectl with that certificate is jane, in dev.
    let out = kubectl_as(&c, &cert, &key, &["auth", "whoami", "-o", "json"]);
    assert!(out.status.success(), "whoami: {}", String::from_utf8_lossy(&out.stderr));
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], "jane", "{review}");
    assert_eq!(review["status"]["userInfo"]["groups"], serde_json::json!(["dev", "system:authenticated"]), "{review}");

    // The issued request is left alone from now on (until the cleaner's hour).
    let before = csr_json(&c, "jane");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(csr_json(&c, "jane")["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
}

#[test]
fn denied_requests_get_nothing_and_refused_kubelet_requests_fail() {
    let c = Cluster::start();
    let dir = c.data_dir().to_path_buf();
    // bob is denied.
    let (_, bob) = new_request(&dir, "bob", "/CN=bob");
    let file =
        c.manifest("bob.yaml", &manifest("bob", &bob, "kubernetes.io/kube-apiserver-client", &["client auth"], None));
    c.ok(&["apply", "-f", &file]);
    let out = c.ok(&["certificate", "deny", "bob"]);
    assert_eq!(out.trim(), "certificatesigningrequest.certificates.k8s.io/bob denied");

    // A kubelet client certificate for a common name that is not a node's.
    let kubelet = "kubernetes.io/kube-apiserver-client-kubelet";
    let usages = ["digital signature", "key encipherment", "client auth"];
    let (_, wrong) = new_request(&dir, "wrong", "/CN=jane/O=system:nodes");
    c.ok(&["apply", "-f", &c.manifest("wrong.yaml", &manifest("wrong", &wrong, kubelet, &usages, None))]);
    // And one for a node, which is issued.
    let (_, node) = new_request(&dir, "node", "/O=system:nodes/CN=system:node:node1");
    c.ok(&["apply", "-f", &c.manifest("node.yaml", &manifest("node", &node, kubelet, &usages, None))]);
    c.ok(&["certificate", "approve", "wrong", "node"]);

    let cert = wait_for_certificate(&c, "node");
    let subject = openssl(&["x509", "-noout", "-subject", "-nameopt", "compat", "-in", &cert.display().to_string()]);
    assert_eq!(subject.trim(), "subject=/O=system:nodes/CN=system:node:node1");
    // Default duration: a year, backdated 5 minutes.
    let left = seconds_left(&cert);
    assert!((365 * 86400 - 300 - 60..=365 * 86400 - 300 + 5).contains(&left), "{left}");

    let failed = wait_for(
        &c,
        &["get", "csr", "wrong", "-o", r#"jsonpath={.status.conditions[?(@.type=="Failed")].reason}"#],
        "the Failed condition",
        |s| !s.is_empty(),
    );
    assert_eq!(failed, "SignerValidationFailure");
    let wrong = csr_json(&c, "wrong");
    let condition = wrong["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Failed").unwrap();
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["message"], "subject common name does not begin with system:node:");
    assert!(condition["lastUpdateTime"].is_string());
    assert!(wrong["status"].get("certificate").is_none(), "{wrong}");
    let listed = c.ok(&["get", "csr", "wrong"]);
    assert!(listed.contains("Approved,Failed"), "{listed}");

    // By now bob has long been seen; denied, it has no certificate.
    let bob = csr_json(&c, "bob");
    assert!(bob["status"].get("certificate").is_none(), "{bob}");
    let types: Vec<&str> =
        bob["status"]["conditions"].as_array().unwrap().iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(types, ["Denied"]);
    assert!(c.ok(&["get", "csr", "bob"]).contains("Denied"));
}

/// A child process killed when dropped (also when the test panics).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `skiff controller-manager` with `args` against `c`; returns it and the
/// controllers it says it runs.
fn controller_manager(c: &Cluster, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(SKIFF)
        .arg("controller-manager")
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let controllers = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("skiff: controllers: ") => break line,
            Some(Ok(_)) => continue,
            _ => {
                let _ = child.kill();
                panic!("controller-manager exited before listing its controllers");
            }
        }
    };
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Running(child), controllers)
}

#[test]
fn the_controller_manager_signs_with_the_files_it_is_given() {
    // The server's own signer is off; a controller manager with another CA signs.
    let c = Cluster::start_with(&["--disable-controllers", "csrsigning"]);
    let dir = c.data_dir().to_path_buf();
    let (ca_key, ca_cert) = (dir.join("other-ca.key"), dir.join("other-ca.crt"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &ca_key.display().to_string(),
        "-subj",
        "/CN=other-ca",
        "-days",
        "30",
        "-out",
        &ca_cert.display().to_string(),
    ]);

    let (without, listed) = controller_manager(&c, &["--disable-controllers", "replicaset"]);
    drop(without);
    assert!(!listed.contains("csrsigning") && listed.contains("csrcleaner"), "no files, no signer: {listed}");
    let out = Command::new(SKIFF)
        .args(["controller-manager", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .arg("--cluster-signing-cert-file")
        .arg(&ca_cert)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a certificate without its key is refused");

    let cert = ca_cert.display().to_string();
    let key = ca_key.display().to_string();
    let (manager, listed) = controller_manager(
        &c,
        &["--cluster-signing-cert-file", &cert, "--cluster-signing-key-file", &key, "--cluster-signing-duration", "2h"],
    );
    assert!(listed.contains("csrsigning"), "{listed}");
    let (_, csr) = new_request(&dir, "ann", "/CN=ann/O=dev/O=ops");
    let file =
        c.manifest("ann.yaml", &manifest("ann", &csr, "kubernetes.io/kube-apiserver-client", &["client auth"], None));
    c.ok(&["apply", "-f", &file]);
    c.ok(&["certificate", "approve", "ann"]);
    let issued = wait_for_certificate(&c, "ann");
    drop(manager);
    let verified = openssl(&["verify", "-CAfile", &cert, &issued.display().to_string()]);
    assert!(verified.contains(": OK"), "{verified}");
    let subject = openssl(&["x509", "-noout", "-subject", "-nameopt", "compat", "-in", &issued.display().to_string()]);
    assert_eq!(subject.trim(), "subject=/CN=ann/O=dev/O=ops");
    // --cluster-signing-duration 2h: short of the 8h mark, so not backdated at the end.
    let left = seconds_left(&issued);
    assert!((7200 - 60..=7200 + 5).contains(&left), "{left}");
}
