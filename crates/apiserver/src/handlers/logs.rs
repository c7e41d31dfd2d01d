//! `GET pods/{name}/log`: proxied to the kubelet of the pod's node
//! (`/containerLogs/{ns}/{pod}/{container}` on its InternalIP and kubelet port),
//! streamed back as it arrives so `kubectl logs -f` follows.

use std::convert::Infallible;

use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use skiff_api::ApiError;

use super::Call;
use crate::request::Query;
use crate::response::HttpResponse;

/// Query parameters passed through to the kubelet.
const PASSED: [&str; 7] = ["follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"];

fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

/// Which container: the `container` parameter, or the only one, as upstream.
pub(super) fn pick_container(query: &Query, pod_name: &str, pod: &Value) -> Result<String, ApiError> {
    let names = container_names(pod);
    let all: Vec<String> = names
        .iter()
        .cloned()
        .chain(
            pod.pointer("/spec/initContainers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)),
        )
        .collect();
    match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) if all.iter().any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!("container {c} is not valid for pod {pod_name}"))),
        None if names.len() == 1 => Ok(names[0].clone()),
        None => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {}, choose one of: [{}]",
            pod_name,
            names.join(" ")
        ))),
    }
}

/// The node's InternalIP (else any address) and kubelet port.
pub(super) fn kubelet_address(node: &Value) -> Option<(String, u16)> {
    let addrs = node.pointer("/status/addresses").and_then(Value::as_array)?;
    let pick = |t: &str| addrs.iter().find(|a| a.get("type").and_then(Value::as_str) == Some(t));
    let addr = pick("InternalIP").or_else(|| pick("ExternalIP")).or_else(|| addrs.first())?;
    let ip = addr.get("address").and_then(Value::as_str)?.to_string();
    let port = node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port").and_then(Value::as_u64).unwrap_or(10250);
    Some((ip, port as u16))
}

pub async fn get(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let pod = call.ctx.objects.get(call.resource, &call.req.namespace, &call.req.name).await?;
    let container = pick_container(call.query, &call.req.name, &pod)?;
    let node_name = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!("pod {} does not have a host assigned", call.req.name)));
    }
    let nodes =
        skiff_api::registry::find("", "v1", "nodes").ok_or_else(|| ApiError::Internal("no nodes resource".into()))?;
    let node = call.ctx.objects.get(nodes, "", node_name).await?;
    let (host, port) = kubelet_address(&node)
        .ok_or_else(|| ApiError::Internal(format!("node {node_name} has no address for its kubelet")))?;
    let client = call.ctx.kubelet.get().ok_or_else(|| ApiError::ServiceUnavailable("no kubelet client".into()))?;
    let query = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for key in PASSED {
            if let Some(v) = call.query.get(key) {
                q.append_pair(key, v);
            }
        }
        q.finish()
    };
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let path =
        format!("/containerLogs/{}/{}/{}?{}", enc(&call.req.namespace), enc(&call.req.name), enc(&container), query);
    let resp = client.get(&host, port, &path).await.map_err(ApiError::Internal)?;
    if resp.status() != StatusCode::OK {
        let code = resp.status();
        let text = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let message = String::from_utf8_lossy(&text).trim().to_string();
        return Err(if code == StatusCode::NOT_FOUND || code == StatusCode::BAD_REQUEST {
            ApiError::BadRequest(message)
        } else {
            ApiError::Internal(format!("the kubelet answered {code}: {message}"))
        });
    }
    // Forward chunks as they come; a broken kubelet connection ends the stream.
    let stream = futures::stream::unfold(resp.into_body(), |mut body| async move {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok::<_, Infallible>(Frame::data(data)), body));
                    }
                }
                _ => return None,
            }
        }
    });
    let mut out = Response::new(StreamBody::new(stream).boxed_unsync());
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(out)
}
