//! Building HTTP responses: JSON/YAML bodies, streams, and `Status` errors — the one
//! place where an `ApiError` becomes bytes on the wire.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use serde_json::Value;
use skiff_api::ApiError;

use crate::request::Output;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;
pub type HttpResponse = Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A JSON (or YAML, when asked for) response.
pub fn object(code: StatusCode, value: &Value, output: Output) -> HttpResponse {
    let (bytes, content_type) = match output {
        Output::Yaml => (serde_yaml::to_string(value).unwrap_or_default().into_bytes(), "application/yaml"),
        _ => (serde_json::to_vec(value).unwrap_or_default(), "application/json"),
    };
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn json(code: StatusCode, value: &Value) -> HttpResponse {
    object(code, value, Output::Json)
}

pub fn text(code: StatusCode, body: impl Into<String>) -> HttpResponse {
    let mut resp = Response::new(full(body.into()));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The `Status` response for an error.
pub fn error(e: &ApiError) -> HttpResponse {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(code, &e.status());
    if let ApiError::TooManyRequests { retry_after_seconds, .. } = e {
        if let Ok(v) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// A successful `Status` (what upstream returns for some deletes).
pub fn success_status(details: Value) -> Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details,
    })
}
