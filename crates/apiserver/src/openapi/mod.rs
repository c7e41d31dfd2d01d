//! OpenAPI: `/openapi/v3` (an index of one document per group-version), the documents
//! themselves, and `/openapi/v2` (Swagger 2.0, everything in one) — generated from
//! k8s-openapi's schemas and the registry, never copied from upstream's spec files.
//!
//! kubectl depends on them: `create -f`/`apply -f` refuse to run without one (client-side
//! validation), find out from the PATCH operations whether the server validates fields
//! itself (`fieldValidation`), compute strategic merge patches from the patch extensions,
//! and `explain` renders them. Each document is built once, on first use, and served as
//! bytes with its hash as ETag.
//!
//! Also here: [`unknown_fields`] and the `fieldValidation` checks the write handlers run.

mod decode;
mod definitions;
mod operations;
mod params;
mod protobuf;
mod v2;
mod v3;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use skiff_api::ApiError;

use crate::response::{self, HttpResponse};

pub use decode::{check_body, check_patched, prune_unknown_fields, unknown_fields};

/// gnostic's protobuf encoding of the v2 document, as kubectl up to 1.27 asks for it.
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The same; what the response says, as upstream's does: Go's `mime.ParseMediaType`
/// (which client-go runs on every response) rejects the `@` of the form clients ask for.
const V2_PROTOBUF_DOTTED: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A document ready to serve.
struct Served {
    bytes: Bytes,
    /// Upstream's form: the SHA-512 of the bytes, upper-case hex.
    hash: String,
    content_type: &'static str,
}

impl Served {
    fn new(value: &Value) -> Served {
        Served::from_bytes(serde_json::to_vec(value).unwrap_or_default(), "application/json")
    }

    fn from_bytes(bytes: Vec<u8>, content_type: &'static str) -> Served {
        let hash = hex::encode_upper(Sha512::digest(&bytes));
        Served { bytes: bytes.into(), hash, content_type }
    }
}

/// Every v3 document by key (`apis/apps/v1`): the index needs all their hashes, so they
/// are built together.
fn v3_documents() -> &'static BTreeMap<String, Served> {
    static DOCUMENTS: OnceLock<BTreeMap<String, Served>> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        v3::keys().into_iter().filter_map(|key| Some((key.clone(), Served::new(&v3::document(&key)?)))).collect()
    })
}

fn v3_index() -> &'static Served {
    static INDEX: OnceLock<Served> = OnceLock::new();
    INDEX.get_or_init(|| {
        let paths: serde_json::Map<String, Value> = v3_documents()
            .iter()
            .map(|(key, doc)| (key.clone(), json!({"serverRelativeURL": relative_url(key, &doc.hash)})))
            .collect();
        Served::new(&json!({ "paths": paths }))
    })
}

fn v2_value() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(v2::document)
}

fn v2_document() -> &'static Served {
    static DOCUMENT: OnceLock<Served> = OnceLock::new();
    DOCUMENT.get_or_init(|| Served::new(v2_value()))
}

fn v2_protobuf() -> &'static Served {
    static DOCUMENT: OnceLock<Served> = OnceLock::new();
    DOCUMENT.get_or_init(|| Served::from_bytes(protobuf::document(v2_value()), V2_PROTOBUF_DOTTED))
}

fn relative_url(key: &str, hash: &str) -> String {
    format!("/openapi/v3/{key}?hash={hash}")
}

/// Serves `/openapi/...`; `segments` is the path after `openapi`, `hash` the query's.
///
/// # Errors
/// `NotFound` for unknown documents; `NotAcceptable` when the client takes neither JSON
/// nor (for v2) gnostic's protobuf.
pub fn serve(segments: &[&str], hash: Option<&str>, headers: &HeaderMap) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(skiff_api::Target::default());
    match segments {
        ["v3"] => Ok(document(v3_index(), false, headers)),
        ["v3", key @ ..] => {
            let key = key.join("/");
            let doc = v3_documents().get(&key).ok_or_else(not_found)?;
            negotiate(headers, false)?;
            match hash {
                // An out-of-date link: send the client to the current one, as upstream does.
                Some(h) if !h.is_empty() && h != doc.hash => Ok(redirect(&relative_url(&key, &doc.hash))),
                Some(h) if !h.is_empty() => Ok(document(doc, true, headers)),
                _ => Ok(document(doc, false, headers)),
            }
        }
        ["v2"] => match negotiate(headers, true)? {
            Format::Json => Ok(document(v2_document(), false, headers)),
            Format::Protobuf => Ok(document(v2_protobuf(), false, headers)),
        },
        _ => Err(not_found()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

/// The first of the client's Accept entries skiff can answer, as kube-openapi picks:
/// JSON for `application/json`, `application/*`, `*/*` or no Accept at all; gnostic's
/// protobuf when `protobuf` allows it (v2 only).
fn negotiate(headers: &HeaderMap, protobuf: bool) -> Result<Format, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    for clause in accept.split(',') {
        match clause.split(';').next().unwrap_or("").trim() {
            "application/json" | "application/*" | "*/*" => return Ok(Format::Json),
            V2_PROTOBUF | V2_PROTOBUF_DOTTED if protobuf => return Ok(Format::Protobuf),
            _ => {}
        }
    }
    Err(not_acceptable(headers))
}

fn not_acceptable(headers: &HeaderMap) -> ApiError {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    ApiError::NotAcceptable(format!("the OpenAPI documents are not available as {accept}"))
}

/// The document with its ETag; 304 when the client has it. A request naming the current
/// hash may cache the answer for good, as upstream allows.
fn document(doc: &Served, immutable: bool, headers: &HeaderMap) -> HttpResponse {
    let etag = format!("\"{}\"", doc.hash);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut resp = if cached {
        let mut r = Response::new(response::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(response::full(doc.bytes.clone()));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(doc.content_type));
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if immutable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
        let expires = (chrono::Utc::now() + chrono::Duration::days(365)).format("%a, %d %b %Y %H:%M:%S GMT");
        if let Ok(v) = HeaderValue::from_str(&expires.to_string()) {
            h.insert(header::EXPIRES, v);
        }
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    }
    resp
}

fn redirect(location: &str) -> HttpResponse {
    let mut resp = Response::new(response::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
