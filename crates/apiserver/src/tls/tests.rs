//! Real TLS handshakes on 127.0.0.1: rustls on both ends, then curl (OpenSSL) and kubectl
//! (Go's crypto/tls) as clients when they are installed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::authn::{Authenticator, AuthnRequest, UserInfo, X509Authenticator};
use crate::pki::{ServingNames, ADMIN_GROUP, ADMIN_USER};

fn names() -> ServingNames {
    let mut names = ServingNames::new("node-1");
    names.node_ips = vec!["192.168.5.10".parse().unwrap()];
    names
}

fn pki(dir: &Path) -> Pki {
    Pki::load_or_create(dir, &names()).unwrap()
}

/// What the server saw of a connection that completed its handshake.
#[derive(Debug)]
struct Accepted {
    user: Option<UserInfo>,
    alpn: Option<Vec<u8>>,
}

/// Runs one handshake between a rustls client (`client`, asking for `server_name`) and a
/// server with `server`. Returns the server's view, or the server's handshake error.
async fn handshake(
    server: Arc<ServerConfig>,
    client: ClientConfig,
    server_name: ServerName<'static>,
) -> Result<Accepted, std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = TlsAcceptor::from(server).accept(tcp).await?;
        // Echo one byte so the client knows the server finished (TLS 1.3 clients complete
        // their handshake before the server has checked the client certificate).
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        tls.write_all(&byte).await?;
        tls.flush().await?;
        let (_, connection) = tls.get_ref();
        let certs = connection.peer_certificates().unwrap_or_default();
        let user = X509Authenticator::new()
            .authenticate(&AuthnRequest { authorization: None, peer_certificates: certs, audiences: &[] })
            .await
            .unwrap();
        Ok::<_, std::io::Error>(Accepted { user, alpn: connection.alpn_protocol().map(|p| p.to_vec()) })
    });
    let client_result = async {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = TlsConnector::from(Arc::new(client)).connect(server_name, tcp).await?;
        tls.write_all(b"x").await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        Ok::<_, std::io::Error>(())
    }
    .await;
    let server_result = server_side.await.unwrap();
    match (server_result, client_result) {
        (Ok(accepted), Ok(())) => Ok(accepted),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
    }
}

fn dns(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_string()).unwrap()
}

#[tokio::test]
async fn admin_certificate_handshake_is_seen_as_system_admin() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let client = client_config(pki.ca_cert_pem(), Some((pki.admin_cert_pem(), pki.admin_key_pem()))).unwrap();
    let accepted = handshake(server_config(&pki).unwrap(), client, dns("localhost")).await.unwrap();
    let user = accepted.user.expect("server saw the client certificate");
    assert_eq!(user.name, ADMIN_USER);
    assert_eq!(user.groups, [ADMIN_GROUP]);
    assert_eq!(accepted.alpn.as_deref(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn handshake_without_client_certificate_is_anonymous() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let client = client_config(pki.ca_cert_pem(), None).unwrap();
    let accepted = handshake(server_config(&pki).unwrap(), client, dns("kubernetes.default.svc")).await.unwrap();
    assert_eq!(accepted.user, None);
}

#[tokio::test]
async fn client_certificate_of_another_ca_is_rejected() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let pki = pki(ours.path());
    let foreign = Pki::load_or_create(theirs.path(), &names()).unwrap();
    let client = client_config(pki.ca_cert_pem(), Some((foreign.admin_cert_pem(), foreign.admin_key_pem()))).unwrap();
    let result = handshake(server_config(&pki).unwrap(), client, dns("localhost")).await;
    assert!(result.is_err(), "a foreign client certificate was accepted: {result:?}");
}

#[tokio::test]
async fn serving_certificate_is_not_accepted_as_a_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let client = client_config(pki.ca_cert_pem(), Some((pki.serving_cert_pem(), pki.serving_key_pem()))).unwrap();
    assert!(handshake(server_config(&pki).unwrap(), client, dns("localhost")).await.is_err());
}

#[tokio::test]
async fn every_serving_name_verifies_and_others_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let server = server_config(&pki).unwrap();
    let mut good: Vec<ServerName<'static>> =
        ["kubernetes", "kubernetes.default.svc.cluster.local", "node-1"].into_iter().map(dns).collect();
    good.extend(
        ["127.0.0.1", "::1", "10.43.0.1", "192.168.5.10"]
            .map(|ip| ServerName::IpAddress(ip.parse::<std::net::IpAddr>().unwrap().into())),
    );
    for name in good {
        let client = client_config(pki.ca_cert_pem(), None).unwrap();
        assert!(handshake(server.clone(), client, name.clone()).await.is_ok(), "{name:?}");
    }
    let client = client_config(pki.ca_cert_pem(), None).unwrap();
    assert!(handshake(server, client, dns("example.com")).await.is_err());
}

/// The serving certificate re-issued after a restart (new SAN) is signed through the CA
/// rebuilt from disk: clients holding the old CA must accept it.
#[tokio::test]
async fn certificates_issued_after_a_restart_chain_to_the_original_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let original_ca = pki(tmp.path()).ca_cert_pem().to_string();
    let mut more = names();
    more.node_ips.push("10.9.9.9".parse().unwrap());
    let reloaded = Pki::load_or_create(tmp.path(), &more).unwrap();
    let (cert, key) = reloaded.issue_client_cert("alice", &["dev", "ops"]).unwrap();
    let client = client_config(&original_ca, Some((&cert, &key))).unwrap();
    let name = ServerName::IpAddress("10.9.9.9".parse::<std::net::IpAddr>().unwrap().into());
    let accepted = handshake(server_config(&reloaded).unwrap(), client, name).await.unwrap();
    let user = accepted.user.unwrap();
    assert_eq!((user.name.as_str(), user.groups), ("alice", vec!["dev".to_string(), "ops".to_string()]));
}

/// A minimal HTTP/1.1 server answering every request with who the client certificate says
/// the client is (`<name> <group,group>`) or `anonymous`. Runs until the test ends.
async fn spawn_whoami_server(pki: &Pki) -> SocketAddr {
    let mut config = (*server_config(pki).unwrap()).clone();
    // The real server speaks h2 too; this one only HTTP/1.1, so make clients use that.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let certs = tls.get_ref().1.peer_certificates().unwrap_or_default().to_vec();
                let request = AuthnRequest { authorization: None, peer_certificates: &certs, audiences: &[] };
                let body = match X509Authenticator::new().authenticate(&request).await {
                    Ok(Some(user)) => format!("{} {}", user.name, user.groups.join(",")),
                    _ => "anonymous".to_string(),
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn installed(program: &str) -> bool {
    let found = std::process::Command::new(program).arg("--help").output().is_ok();
    if !found {
        eprintln!("{program} is not installed: skipping this cross-check");
    }
    found
}

/// curl (OpenSSL) trusts the serving certificate for 127.0.0.1 and presents the admin
/// certificate, which the server verifies and reads.
#[tokio::test]
async fn curl_accepts_the_serving_certificate_and_presents_the_admin_certificate() {
    if !installed("curl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(tmp.path());
    let addr = spawn_whoami_server(&pki).await;
    let paths = pki.paths();
    let curl = |with_cert: bool| {
        let mut command = tokio::process::Command::new("curl");
        command.args(["--silent", "--show-error", "--fail", "--http1.1", "--max-time", "20", "--cacert"]);
        command.arg(&paths.ca_cert);
        if with_cert {
            command.arg("--cert").arg(&paths.admin_cert).arg("--key").arg(&paths.admin_key);
        }
        command.arg(format!("https://127.0.0.1:{}/version", addr.port()));
        command.output()
    };
    let out = curl(true).await.unwrap();
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "system:admin system:masters");
    let anonymous = curl(false).await.unwrap();
    assert!(anonymous.status.success(), "curl failed: {}", String::from_utf8_lossy(&anonymous.stderr));
    assert_eq!(String::from_utf8_lossy(&anonymous.stdout), "anonymous");
}

/// kubectl (Go's crypto/tls, as every Kubernetes client) reads the admin kubeconfig,
/// accepts the serving certificate and presents the admin certificate.
#[tokio::test]
async fn kubectl_uses_the_admin_kubeconfig() {
    if !installed("kubectl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(&tmp.path().join("tls"));
    let addr = spawn_whoami_server(&pki).await;
    let kubeconfig = tmp.path().join("admin.kubeconfig");
    crate::kubeconfig::write_admin_kubeconfig(&kubeconfig, &format!("https://127.0.0.1:{}", addr.port()), &pki)
        .unwrap();
    let whoami = |kubeconfig: std::path::PathBuf| {
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(tmp.path().join("cache"))
            .args(["--request-timeout", "20s", "get", "--raw", "/whoami"])
            .env("HOME", tmp.path())
            .output()
    };
    let out = whoami(kubeconfig).await.unwrap();
    assert!(out.status.success(), "kubectl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "system:admin system:masters");

    // Go parses the client certificate it loads: the re-encoded multi-group subject must pass.
    let (cert, key) = pki.issue_client_cert("alice", &["dev", "ops"]).unwrap();
    let server = format!("https://127.0.0.1:{}", addr.port());
    let yaml = crate::kubeconfig::render(&server, pki.ca_cert_pem(), "alice", &cert, &key).unwrap();
    let alice = tmp.path().join("alice.kubeconfig");
    std::fs::write(&alice, yaml).unwrap();
    let out = whoami(alice).await.unwrap();
    assert!(out.status.success(), "kubectl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice dev,ops");
}
