//! `pods/exec`, `pods/attach` and `pods/portforward`: the handshake goes to the
//! kubelet of the pod's node (`/exec/{ns}/{pod}/{container}`, `/attach/…`,
//! `/portForward/{ns}/{pod}` on its InternalIP and kubelet port, with the API
//! server's client certificate), and once both sides have switched protocols the
//! bytes are spliced, as upstream's upgrade-aware proxy does. The protocol is
//! then whatever the client and the runtime's streaming server agree on:
//! SPDY/3.1 (`v4.channel.k8s.io`…, `portforward.k8s.io`) and WebSocket
//! (`v4.channel.k8s.io`…). Two WebSocket protocols the runtime does not speak
//! are translated here and spoken to the kubelet as SPDY, as upstream's API
//! server does: exec and attach over `v5.channel.k8s.io` (kubectl 1.30+, the
//! Python client; [`v5`], [`translate`]), and port-forward's SPDY tunnelled in
//! WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+; [`tunnel`]).

mod spdy;
mod translate;
mod tunnel;
mod v5;
mod ws;

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use skiff_api::ApiError;

use crate::request::{Query, ResourceRequest};
use crate::response::{self, HttpResponse};
use crate::server::Context;

/// Whether the request is one of the streaming subresources this module serves.
pub fn is_stream(req: &ResourceRequest) -> bool {
    req.resource == "pods"
        && req.group.is_empty()
        && matches!(req.subresource.as_str(), "exec" | "attach" | "portforward")
}

fn flag(query: &Query, key: &str) -> bool {
    matches!(query.get(key), Some("true" | "1" | "True" | "t" | "T" | "TRUE"))
}

/// The kubelet's path and query for this request, as upstream's `streamParams`.
fn kubelet_path(req: &ResourceRequest, query: &Query, container: &str) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let (ns, pod) = (enc(&req.namespace), enc(&req.name));
    let mut q = form_urlencoded::Serializer::new(String::new());
    if req.subresource == "portforward" {
        for port in query.all("ports") {
            q.append_pair("port", port);
        }
        return format!("/portForward/{ns}/{pod}?{}", q.finish());
    }
    for (param, kubelet) in [("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")] {
        if flag(query, param) {
            q.append_pair(kubelet, "1");
        }
    }
    for c in query.all("command") {
        q.append_pair("command", c);
    }
    let root = if req.subresource == "exec" { "exec" } else { "attach" };
    format!("/{root}/{ns}/{pod}/{}?{}", enc(container), q.finish())
}

/// Headers never passed to the kubelet: this hop's, and the caller's
/// credentials (the kubelet sees the API server's certificate only).
fn kept(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host" | "authorization" | "content-length" | "transfer-encoding" | "keep-alive" | "proxy-connection" | "te"
    ) && !name.as_str().starts_with("impersonate-")
}

fn header_has(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Serves one streaming request whose caller is authenticated and authorized.
///
/// # Errors
/// The pod or its node missing, a bad container, a finished pod, or a kubelet
/// that cannot be reached; each a `Status`.
pub async fn serve(
    ctx: &Context,
    req: &ResourceRequest,
    query: &Query,
    method: &Method,
    headers: &HeaderMap,
    on_upgrade: Option<OnUpgrade>,
) -> Result<HttpResponse, ApiError> {
    let pods = super::resolve(req)?;
    let pod = ctx.objects.get(pods, &req.namespace, &req.name).await?;
    let container = if req.subresource == "portforward" {
        String::new()
    } else {
        super::logs::pick_container(query, &req.name, &pod)?
    };
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        let what = if req.subresource == "portforward" { "forward ports of" } else { "exec into a container in" };
        return Err(ApiError::BadRequest(format!("cannot {what} a completed pod; current phase is {phase}")));
    }
    let node_name = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!("pod {} does not have a host assigned", req.name)));
    }
    let nodes =
        skiff_api::registry::find("", "v1", "nodes").ok_or_else(|| ApiError::Internal("no nodes resource".into()))?;
    let node = ctx.objects.get(nodes, "", node_name).await?;
    let (host, port) = super::logs::kubelet_address(&node)
        .ok_or_else(|| ApiError::Internal(format!("node {node_name} has no address for its kubelet")))?;
    let client = ctx.kubelet.get().ok_or_else(|| ApiError::ServiceUnavailable("no kubelet client".into()))?;
    let Some(on_upgrade) = on_upgrade.filter(|_| headers.contains_key(header::UPGRADE)) else {
        return Err(ApiError::BadRequest("Upgrade request required".into()));
    };
    let path = kubelet_path(req, query, &container);

    let websocket = header_has(headers, header::UPGRADE, "websocket");
    let tunnelled = req.subresource == "portforward"
        && websocket
        && header_has(headers, header::SEC_WEBSOCKET_PROTOCOL, tunnel::PROTOCOL);
    let translated = req.subresource != "portforward"
        && websocket
        && header_has(headers, header::SEC_WEBSOCKET_PROTOCOL, v5::PROTOCOL);
    let mut out =
        Request::builder().method(if tunnelled || translated { Method::POST } else { method.clone() }).uri(&path);
    if tunnelled {
        out = out
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "SPDY/3.1")
            .header("X-Stream-Protocol-Version", "portforward.k8s.io");
    } else if translated {
        for (name, value) in v5::kubelet_headers() {
            out = out.header(name, value);
        }
    } else {
        for (name, value) in headers {
            if kept(name) {
                out = out.header(name, value);
            }
        }
    }
    let out = out.body(Empty::new()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut resp = client.send(&host, port, out).await.map_err(ApiError::Internal)?;

    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The kubelet's (or runtime's) refusal goes back as it is: a WebSocket
        // client seeing a non-101 answer falls back to SPDY.
        let code = resp.status();
        let (parts, body) = resp.into_parts();
        let bytes = Limited::new(body, 64 << 10).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        if tunnelled {
            let message = String::from_utf8_lossy(&bytes).trim().to_string();
            return Err(ApiError::Internal(format!("the kubelet refused port forwarding ({code}): {message}")));
        }
        let mut answer = http::Response::new(Full::new(bytes).boxed_unsync());
        *answer.status_mut() = code;
        for (name, value) in &parts.headers {
            if kept(name) {
                answer.headers_mut().append(name, value.clone());
            }
        }
        return Ok(answer);
    }

    let backend = hyper::upgrade::on(&mut resp);
    let mut answer = http::Response::new(response::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    if tunnelled {
        let key = headers.get(header::SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()).unwrap_or("");
        let h = answer.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(tunnel::PROTOCOL));
        let accept = HeaderValue::from_str(&ws::accept_key(key)).map_err(|e| ApiError::Internal(e.to_string()))?;
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    } else if translated {
        v5::client_headers(headers, answer.headers_mut()).map_err(|e| ApiError::Internal(e.to_string()))?;
    } else {
        for (name, value) in resp.headers() {
            if kept(name) {
                answer.headers_mut().append(name, value.clone());
            }
        }
    }
    let streams = translate::Streams {
        stdin: flag(query, "stdin"),
        stdout: flag(query, "stdout"),
        stderr: flag(query, "stderr"),
        tty: flag(query, "tty"),
    };
    tokio::spawn(async move {
        let (Ok(client), Ok(backend)) = (on_upgrade.await, backend.await) else { return };
        let mut client = TokioIo::new(client);
        let mut backend = TokioIo::new(backend);
        if tunnelled {
            tunnel::run(client, backend).await;
        } else if translated {
            let (t, opening) = translate::Translator::new(streams);
            v5::run(client, backend, t, opening).await;
        } else {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        }
    });
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(sub: &str) -> ResourceRequest {
        ResourceRequest {
            namespace: "ns 1".into(),
            name: "web".into(),
            resource: "pods".into(),
            subresource: sub.into(),
            version: "v1".into(),
            group: String::new(),
            verb: crate::request::Verb::Create,
        }
    }

    #[test]
    fn exec_parameters_become_the_kubelets() {
        let q =
            Query::parse(Some("command=sh&command=-c&command=echo%20hi&stdin=true&stdout=true&tty=true&container=c"));
        assert_eq!(
            kubelet_path(&request("exec"), &q, "c"),
            "/exec/ns%201/web/c?input=1&output=1&tty=1&command=sh&command=-c&command=echo+hi"
        );
    }

    #[test]
    fn attach_and_portforward_paths() {
        let q = Query::parse(Some("stdout=1&stderr=true&ports=8080"));
        assert_eq!(kubelet_path(&request("attach"), &q, "c"), "/attach/ns%201/web/c?output=1&error=1");
        assert_eq!(kubelet_path(&request("portforward"), &q, ""), "/portForward/ns%201/web?port=8080");
    }

    #[test]
    fn the_callers_credentials_stay_here() {
        assert!(!kept(&header::AUTHORIZATION));
        assert!(!kept(&HeaderName::from_static("impersonate-user")));
        assert!(kept(&header::UPGRADE) && kept(&header::SEC_WEBSOCKET_PROTOCOL));
    }
}
