//! `/exec`, `/attach` and `/portForward`: the kubelet asks the runtime for a
//! streaming URL (CRI `Exec`, `Attach`, `PortForward`; containerd's streaming
//! server on loopback) and splices the caller's upgraded connection onto it. The
//! protocols (SPDY/3.1 with `v4.channel.k8s.io`…`channel.k8s.io` or
//! `portforward.k8s.io`, and WebSocket `v4.channel.k8s.io`…) are the runtime's:
//! the handshake headers pass through both ways and the bytes after the 101 are
//! copied untouched, as upstream's kubelet proxies to the CRI streaming server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::{find_container, text, Body};
use crate::cri;
use crate::pod::observed::{LABEL_POD_NAME, LABEL_POD_NAMESPACE};
use crate::runtime::Runtime;

/// What an exec or attach asks for, from the query as upstream's kubelet reads
/// it (`input`, `output`, `error`, `tty`, `command`; the API server's own names
/// `stdin`, `stdout`, `stderr` are accepted too).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub command: Vec<String>,
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "TRUE" | "t" | "T")
}

impl StreamOptions {
    /// Parses and validates the query.
    ///
    /// # Errors
    /// A message (for a 400) when no stream is asked for, or an exec has no command.
    pub fn from_query(query: &str, needs_command: bool) -> Result<StreamOptions, String> {
        let mut o = StreamOptions::default();
        for (k, v) in form_pairs(query) {
            match k.as_str() {
                "input" | "stdin" => o.stdin = truthy(&v),
                "output" | "stdout" => o.stdout = truthy(&v),
                "error" | "stderr" => o.stderr = truthy(&v),
                "tty" => o.tty = truthy(&v),
                "command" => o.command.push(v),
                _ => {}
            }
        }
        if !(o.stdin || o.stdout || o.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        if needs_command && o.command.is_empty() {
            return Err("you must specify at least one command for the container".into());
        }
        // With a TTY the terminal carries both outputs (CRI refuses tty+stderr).
        if o.tty {
            o.stderr = false;
        }
        Ok(o)
    }
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
fn form_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| super::percent_decode(&s.replace('+', " "));
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Which stream: the path's last segments decide.
pub enum Target {
    Exec { ns: String, pod: String, container: String },
    Attach { ns: String, pod: String, container: String },
    PortForward { ns: String, pod: String },
}

/// Serves one streaming request: asks the runtime for its URL and proxies.
pub async fn serve(mut req: Request<Incoming>, target: Target, rt: Arc<dyn Runtime>) -> Response<Body> {
    let query = req.uri().query().unwrap_or("").to_string();
    let url = match target {
        Target::Exec { ns, pod, container } => {
            let o = match StreamOptions::from_query(&query, true) {
                Ok(o) => o,
                Err(m) => return text(StatusCode::BAD_REQUEST, m),
            };
            let id = match running_container(rt.as_ref(), &ns, &pod, &container).await {
                Ok(id) => id,
                Err(r) => return r,
            };
            let r = cri::ExecRequest {
                container_id: id,
                cmd: o.command,
                tty: o.tty,
                stdin: o.stdin,
                stdout: o.stdout,
                stderr: o.stderr,
            };
            rt.exec(r).await
        }
        Target::Attach { ns, pod, container } => {
            let o = match StreamOptions::from_query(&query, false) {
                Ok(o) => o,
                Err(m) => return text(StatusCode::BAD_REQUEST, m),
            };
            let id = match running_container(rt.as_ref(), &ns, &pod, &container).await {
                Ok(id) => id,
                Err(r) => return r,
            };
            let r =
                cri::AttachRequest { container_id: id, stdin: o.stdin, tty: o.tty, stdout: o.stdout, stderr: o.stderr };
            rt.attach(r).await
        }
        Target::PortForward { ns, pod } => {
            let id = match ready_sandbox(rt.as_ref(), &ns, &pod).await {
                Ok(id) => id,
                Err(r) => return r,
            };
            rt.port_forward(cri::PortForwardRequest { pod_sandbox_id: id, port: vec![] }).await
        }
    };
    let url = match url {
        Ok(u) => u,
        Err(e) if e.is_not_found() => return text(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let on_client = hyper::upgrade::on(&mut req);
    match proxy(req, &url).await {
        Ok((resp, Some(on_backend))) => {
            tokio::spawn(splice(on_client, on_backend));
            resp
        }
        Ok((resp, None)) => resp,
        Err(m) => text(StatusCode::BAD_GATEWAY, m),
    }
}

async fn running_container(rt: &dyn Runtime, ns: &str, pod: &str, container: &str) -> Result<String, Response<Body>> {
    let status = find_container(rt, ns, pod, container, false).await?;
    if status.state != cri::ContainerState::ContainerRunning as i32 {
        return Err(text(
            StatusCode::BAD_REQUEST,
            format!("container {container} is not running (pod {pod} in namespace {ns})"),
        ));
    }
    Ok(status.id)
}

async fn ready_sandbox(rt: &dyn Runtime, ns: &str, pod: &str) -> Result<String, Response<Body>> {
    let filter = cri::PodSandboxFilter {
        label_selector: std::collections::HashMap::from([
            (LABEL_POD_NAMESPACE.to_string(), ns.to_string()),
            (LABEL_POD_NAME.to_string(), pod.to_string()),
        ]),
        state: Some(cri::PodSandboxStateValue { state: cri::PodSandboxState::SandboxReady as i32 }),
        ..Default::default()
    };
    let list =
        rt.list_pod_sandbox(Some(filter)).await.map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    list.into_iter()
        .max_by_key(|s| s.created_at)
        .map(|s| s.id)
        .ok_or_else(|| text(StatusCode::NOT_FOUND, format!("pod {pod} in namespace {ns} has no running sandbox")))
}

/// The headers that describe the connection to this hop, not the upgrade.
fn hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(name.as_str(), "host" | "content-length" | "transfer-encoding" | "keep-alive" | "proxy-connection" | "te")
}

/// Sends the caller's handshake to the runtime's `url` and returns the answer
/// for the caller, plus the runtime's upgraded connection when it said 101.
async fn proxy(
    req: Request<Incoming>,
    url: &str,
) -> Result<(Response<Body>, Option<hyper::upgrade::OnUpgrade>), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("the runtime's streaming URL {url}: {e}"))?;
    let authority = uri.authority().ok_or_else(|| format!("the runtime's streaming URL {url} has no host"))?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let addr = format!("{}:{port}", authority.host());
    let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("dial {addr}: timeout"))?
        .map_err(|e| format!("dial {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("HTTP with the runtime at {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = Request::builder().method(req.method().clone()).uri(path);
    for (name, value) in req.headers() {
        if !hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    let out = out.header(header::HOST, &addr).body(Empty::new()).map_err(|e| e.to_string())?;
    let mut resp = sender.send_request(out).await.map_err(|e| format!("request to the runtime at {addr}: {e}"))?;
    let upgraded = (resp.status() == StatusCode::SWITCHING_PROTOCOLS).then(|| hyper::upgrade::on(&mut resp));
    let (parts, body) = resp.into_parts();
    let body = if upgraded.is_some() {
        Empty::new().boxed_unsync()
    } else {
        // A refusal (e.g. an unsupported WebSocket protocol): its few bytes go back
        // as they are, so the caller can fall back to another protocol.
        let bytes = Limited::new(body, 64 << 10).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        Full::new(bytes).boxed_unsync()
    };
    let mut answer = Response::new(body);
    *answer.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            answer.headers_mut().append(name, value.clone());
        }
    }
    if upgraded.is_none() && !answer.headers().contains_key(header::CONTENT_TYPE) {
        answer.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    Ok((answer, upgraded))
}

/// Copies bytes both ways until both sides are done.
async fn splice(client: hyper::upgrade::OnUpgrade, backend: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(backend)) = (client.await, backend.await) else { return };
    let mut client = TokioIo::new(client);
    let mut backend = TokioIo::new(backend);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_query_as_the_api_server_sends_it() {
        let o =
            StreamOptions::from_query("command=sh&command=-c&command=echo+a%20b&input=1&output=1&tty=1", true).unwrap();
        assert_eq!(o.command, vec!["sh", "-c", "echo a b"]);
        assert!(o.stdin && o.stdout && o.tty);
        assert!(!o.stderr, "a TTY carries stderr itself");
    }

    #[test]
    fn kubectl_names_are_accepted_too() {
        let o = StreamOptions::from_query("command=ls&stdout=true&stderr=true", true).unwrap();
        assert!(o.stdout && o.stderr && !o.stdin && !o.tty);
    }

    #[test]
    fn no_stream_or_no_command_is_refused() {
        assert!(StreamOptions::from_query("command=ls", true).unwrap_err().contains("at least 1 of"));
        assert!(StreamOptions::from_query("output=1", true).unwrap_err().contains("command"));
        assert!(StreamOptions::from_query("output=1", false).is_ok(), "attach needs no command");
    }
}
