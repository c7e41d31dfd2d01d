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

/// A response whose body is JSON already encoded.
pub fn json_bytes(code: StatusCode, bytes: Vec<u8>) -> HttpResponse {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
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

/// Adds one `Warning: 299 - "<text>"` header per warning, the way upstream reports
/// problems that do not fail a request (kubectl prints each as `Warning: <text>`).
pub fn with_warnings(mut resp: HttpResponse, warnings: &[String]) -> HttpResponse {
    for warning in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", quote(warning))) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// An RFC 7230 quoted-string, which client-go's warning parser unquotes: `"` and `\`
/// escaped, control characters (not allowed in a header) replaced by spaces.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A successful `Status` (what upstream returns for some deletes).
pub fn success_status(details: Value) -> Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_become_one_quoted_header_each() {
        let resp = json(StatusCode::OK, &Value::Null);
        let warnings = vec!["unknown field \"spec.foo\"".to_string(), "back\\slash\nline".to_string()];
        let resp = with_warnings(resp, &warnings);
        let values: Vec<&str> = resp.headers().get_all(header::WARNING).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(values, vec![r#"299 - "unknown field \"spec.foo\"""#, r#"299 - "back\\slash line""#]);
    }
}
