use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use chrono::Duration;
use x509_parser::extensions::GeneralName;

use super::*;

fn names() -> ServingNames {
    let mut names = ServingNames::new("Node-1");
    names.node_ips = vec!["192.168.5.10".parse().unwrap()];
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `f` on the parsed first certificate of `pem`.
fn with_x509<T>(pem: &str, f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T) -> T {
    let der = parse_cert_pem(Path::new("test.crt"), pem).unwrap();
    let cert = parse_x509(Path::new("test.crt"), &der).unwrap();
    f(&cert)
}

fn signed_by(leaf_pem: &str, ca_pem: &str) -> bool {
    with_x509(ca_pem, |ca| with_x509(leaf_pem, |leaf| leaf.verify_signature(Some(ca.public_key())).is_ok()))
}

fn subject(pem: &str) -> (Vec<String>, Vec<String>) {
    with_x509(pem, |c| {
        let cn = c.subject().iter_common_name().map(|a| a.as_str().unwrap().to_string()).collect();
        let o = c.subject().iter_organization().map(|a| a.as_str().unwrap().to_string()).collect();
        (cn, o)
    })
}

#[test]
fn first_start_creates_every_file_with_private_keys_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tls");
    let pki = Pki::load_or_create(&dir, &names()).unwrap();
    let paths = pki.paths();
    for key in [&paths.ca_key, &paths.serving_key, &paths.admin_key] {
        assert_eq!(mode(key), 0o600, "{}", key.display());
    }
    for cert in [&paths.ca_cert, &paths.serving_cert, &paths.admin_cert] {
        assert_eq!(mode(cert), 0o644, "{}", cert.display());
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(fs::read_to_string(&paths.ca_cert).unwrap(), pki.ca_cert_pem());
    assert_eq!(fs::read_to_string(&paths.admin_key).unwrap(), pki.admin_key_pem());
}

#[test]
fn restart_reuses_the_same_ca_and_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Pki::load_or_create(tmp.path(), &names()).unwrap();
    let second = Pki::load_or_create(tmp.path(), &names()).unwrap();
    assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
    assert_eq!(first.serving_cert_pem(), second.serving_cert_pem());
    assert_eq!(first.serving_key_pem(), second.serving_key_pem());
    assert_eq!(first.admin_cert_pem(), second.admin_cert_pem());
}

#[test]
fn new_node_ip_reissues_only_the_serving_cert_from_the_same_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Pki::load_or_create(tmp.path(), &names()).unwrap();
    let mut more = names();
    more.node_ips.push("10.0.0.7".parse().unwrap());
    let second = Pki::load_or_create(tmp.path(), &more).unwrap();

    assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
    assert_eq!(first.admin_cert_pem(), second.admin_cert_pem());
    assert_ne!(first.serving_cert_pem(), second.serving_cert_pem());
    assert!(signed_by(second.serving_cert_pem(), second.ca_cert_pem()));
    let ips = with_x509(second.serving_cert_pem(), |c| inspect::subject_alt_names(c).1);
    assert!(ips.contains(&"10.0.0.7".parse().unwrap()));
    // The re-issued certificate is what the next start finds.
    let third = Pki::load_or_create(tmp.path(), &more).unwrap();
    assert_eq!(second.serving_cert_pem(), third.serving_cert_pem());
}

#[test]
fn dropping_a_name_keeps_the_serving_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Pki::load_or_create(tmp.path(), &names()).unwrap();
    let second = Pki::load_or_create(tmp.path(), &ServingNames::new("node-1")).unwrap();
    assert_eq!(first.serving_cert_pem(), second.serving_cert_pem());
}

#[test]
fn leaves_close_to_expiry_are_renewed_but_the_ca_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let first = Pki::load_or_create_at(tmp.path(), &names(), now).unwrap();
    let soon = Pki::load_or_create_at(tmp.path(), &names(), now + Duration::days(200)).unwrap();
    assert_eq!(first.serving_cert_pem(), soon.serving_cert_pem());
    let late = Pki::load_or_create_at(tmp.path(), &names(), now + Duration::days(300)).unwrap();
    assert_eq!(first.ca_cert_pem(), late.ca_cert_pem());
    assert_ne!(first.serving_cert_pem(), late.serving_cert_pem());
    assert_ne!(first.admin_cert_pem(), late.admin_cert_pem());
}

#[test]
fn expired_ca_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    Pki::load_or_create(tmp.path(), &names()).unwrap();
    let err = Pki::load_or_create_at(tmp.path(), &names(), Utc::now() + Duration::days(11 * 366)).unwrap_err();
    assert!(matches!(err, PkiError::CaExpired { .. }), "{err}");
}

#[test]
fn corrupt_ca_files_are_errors_naming_the_file_and_are_never_replaced() {
    for (file, garbage) in
        [("ca.crt", "not pem at all"), ("ca.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")]
    {
        let tmp = tempfile::tempdir().unwrap();
        Pki::load_or_create(tmp.path(), &names()).unwrap();
        let path = tmp.path().join(file);
        fs::write(&path, garbage).unwrap();
        let err = Pki::load_or_create(tmp.path(), &names()).unwrap_err();
        assert!(matches!(err, PkiError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), garbage, "{file} was rewritten");
    }
}

#[test]
fn corrupt_serving_cert_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    Pki::load_or_create(tmp.path(), &names()).unwrap();
    let path = tmp.path().join("serving.crt");
    fs::write(&path, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let err = Pki::load_or_create(tmp.path(), &names()).unwrap_err();
    assert!(err.to_string().contains("serving.crt"), "{err}");
}

#[test]
fn ca_key_of_another_ca_is_a_mismatch_error() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    Pki::load_or_create(tmp.path(), &names()).unwrap();
    Pki::load_or_create(other.path(), &names()).unwrap();
    fs::copy(other.path().join("ca.key"), tmp.path().join("ca.key")).unwrap();
    let err = Pki::load_or_create(tmp.path(), &names()).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
}

#[test]
fn missing_ca_key_with_issued_certificates_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    Pki::load_or_create(tmp.path(), &names()).unwrap();
    fs::remove_file(tmp.path().join("ca.key")).unwrap();
    let err = Pki::load_or_create(tmp.path(), &names()).unwrap_err();
    assert!(matches!(err, PkiError::IncompleteCa { .. }), "{err}");
    assert!(!tmp.path().join("ca.key").exists());
}

#[test]
fn interrupted_first_start_creates_a_fresh_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Pki::load_or_create(tmp.path(), &names()).unwrap();
    for leaf in first.paths().leaves() {
        fs::remove_file(leaf).unwrap();
    }
    fs::remove_file(tmp.path().join("ca.crt")).unwrap();
    let second = Pki::load_or_create(tmp.path(), &names()).unwrap();
    assert_ne!(first.ca_cert_pem(), second.ca_cert_pem());
    assert!(signed_by(second.serving_cert_pem(), second.ca_cert_pem()));
}

#[test]
fn leaf_whose_key_does_not_match_is_reissued() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Pki::load_or_create(tmp.path(), &names()).unwrap();
    fs::copy(tmp.path().join("admin.key"), tmp.path().join("serving.key")).unwrap();
    let second = Pki::load_or_create(tmp.path(), &names()).unwrap();
    assert_ne!(first.serving_cert_pem(), second.serving_cert_pem());
    assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
}

#[test]
fn ca_profile_is_a_signing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(tmp.path(), &names()).unwrap();
    with_x509(pki.ca_cert_pem(), |ca| {
        let bc = ca.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca);
        assert!(ca.key_usage().unwrap().unwrap().value.key_cert_sign());
        assert_eq!(ca.subject().iter_common_name().next().unwrap().as_str().unwrap(), CA_COMMON_NAME);
        let years = (ca.validity().not_after.timestamp() - Utc::now().timestamp()) / (365 * 86_400);
        assert!(years >= 9, "CA valid for {years} years");
    });
}

#[test]
fn serving_profile_has_server_auth_and_every_requested_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mut names = names();
    names.extra_sans = vec!["api.example.test".into(), "203.0.113.9".into()];
    let pki = Pki::load_or_create(tmp.path(), &names).unwrap();
    with_x509(pki.serving_cert_pem(), |c| {
        assert!(c.key_usage().unwrap().unwrap().value.digital_signature());
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert!(!c.is_ca());
        let sans = c.subject_alternative_name().unwrap().unwrap().value.general_names.clone();
        let dns: Vec<&str> =
            sans.iter().filter_map(|n| if let GeneralName::DNSName(d) = n { Some(*d) } else { None }).collect();
        for want in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "node-1",
            "api.example.test",
        ] {
            assert!(dns.contains(&want), "missing {want} in {dns:?}");
        }
        let (_, ips) = inspect::subject_alt_names(c);
        for want in ["127.0.0.1", "::1", "10.43.0.1", "192.168.5.10", "203.0.113.9"] {
            assert!(ips.contains(&want.parse().unwrap()), "missing {want} in {ips:?}");
        }
    });
}

#[test]
fn admin_profile_is_system_admin_in_system_masters_with_client_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(tmp.path(), &names()).unwrap();
    assert_eq!(subject(pki.admin_cert_pem()), (vec![ADMIN_USER.to_string()], vec![ADMIN_GROUP.to_string()]));
    with_x509(pki.admin_cert_pem(), |c| {
        assert!(c.key_usage().unwrap().unwrap().value.digital_signature());
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    });
    assert!(signed_by(pki.admin_cert_pem(), pki.ca_cert_pem()));
}

#[test]
fn issued_client_cert_carries_every_group_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(tmp.path(), &names()).unwrap();
    let (cert, key) = pki.issue_client_cert("system:node:node-1", &["system:nodes", "team-a", "team-b"]).unwrap();
    assert_eq!(
        subject(&cert),
        (vec!["system:node:node-1".to_string()], vec!["system:nodes".into(), "team-a".into(), "team-b".into()])
    );
    assert!(signed_by(&cert, pki.ca_cert_pem()));
    let key = parse_key_pem(Path::new("k"), &key).unwrap();
    with_x509(&cert, |c| ensure_key_matches(c, Path::new("c"), &key, Path::new("k"))).unwrap();

    let (no_groups, _) = pki.issue_client_cert("alice", &[]).unwrap();
    assert_eq!(subject(&no_groups), (vec!["alice".to_string()], vec![]));
    assert!(matches!(pki.issue_client_cert("", &[]), Err(PkiError::InvalidName(_))));
}

#[test]
fn issued_serving_cert_names_what_was_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(tmp.path(), &names()).unwrap();
    let (cert, _) = pki.issue_serving_cert("node-1", &["node-1".into()], &["10.1.2.3".parse().unwrap()]).unwrap();
    let (dns, ips) = with_x509(&cert, inspect::subject_alt_names);
    assert_eq!(dns.into_iter().collect::<Vec<_>>(), ["node-1"]);
    assert_eq!(ips.into_iter().collect::<Vec<_>>(), ["10.1.2.3".parse::<IpAddr>().unwrap()]);
    assert!(signed_by(&cert, pki.ca_cert_pem()));
}

/// OpenSSL checks key usages and extended key usages for a purpose the way TLS stacks do,
/// so this catches a profile that only our own parser would accept.
#[test]
fn openssl_accepts_each_certificate_for_its_purpose() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not installed: skipping the OpenSSL cross-check");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(tmp.path(), &names()).unwrap();
    let (multi, _) = pki.issue_client_cert("bob", &["a", "b"]).unwrap();
    let multi_path = tmp.path().join("multi.crt");
    fs::write(&multi_path, multi).unwrap();
    let paths = pki.paths();
    let verify = |purpose: &str, cert: &Path| {
        let out = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&paths.ca_cert)
            .args(["-purpose", purpose])
            .arg(cert)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    for (purpose, cert, ok) in [
        ("sslserver", &paths.serving_cert, true),
        ("sslclient", &paths.admin_cert, true),
        ("sslclient", &multi_path, true),
        // The usages are exclusive: a client certificate cannot serve, nor the reverse.
        ("sslserver", &paths.admin_cert, false),
        ("sslclient", &paths.serving_cert, false),
    ] {
        let (success, output) = verify(purpose, cert);
        assert_eq!(success, ok, "openssl verify -purpose {purpose} {}: {output}", cert.display());
    }
}

/// The server shares one `Pki` between tasks (TLS config, issuing certificates for nodes).
#[test]
fn pki_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pki>();
}
