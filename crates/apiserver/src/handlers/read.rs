//! `get` and `list`.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::ApiError;

use super::{respond, Call};
use crate::request::{ListOptions, Output};
use crate::response::{self, HttpResponse};
use crate::storage::cache::CachedObject;
use crate::storage::{self, Filter};

pub async fn get(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let obj = call.ctx.objects.get(call.resource, &call.req.namespace, &call.req.name).await?;
    respond(call, StatusCode::OK, &obj)
}

pub async fn list(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let opts = ListOptions::from_query(call.query)?;
    let resource = call.resource;
    opts.field_selector
        .check_supported(resource.group, resource.kind)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let filter = Filter { resource, labels: &opts.label_selector, fields: &opts.field_selector };
    let source = source(&opts)?;
    let converted = skiff_api::conversion::storage_version(resource.group, resource.kind).is_some();
    if matches!(call.output, Output::Json) && !converted {
        // The common case, and the big lists: stored bytes joined, nothing decoded.
        let (items, resource_version, continue_token) = read_json(call, &source, &filter).await?;
        return Ok(json_list(resource, &items, resource_version, continue_token));
    }
    let (items, resource_version, continue_token) = read_values(call, &source, &filter).await?;
    let items: Vec<Value> = items.iter().map(|o| storage::present(resource, o).into_owned()).collect();
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    let list = match call.output {
        Output::Table => crate::table::table_for_list(resource, &items, metadata, call.query),
        Output::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items.iter().map(crate::table::partial_metadata).collect::<Vec<_>>(),
        }),
        _ => json!({
            "kind": resource.list_kind(),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    };
    Ok(response::object(StatusCode::OK, &list, call.output))
}

/// A JSON list response around items already encoded.
fn json_list(
    resource: &skiff_api::Resource,
    items: &[Bytes],
    resource_version: i64,
    continue_token: Option<String>,
) -> HttpResponse {
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    let head = json!({"kind": resource.list_kind(), "apiVersion": resource.api_version(), "metadata": metadata});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let size = head.len() + items.iter().map(|i| i.len() + 1).sum::<usize>() + 16;
    let mut body = Vec::with_capacity(size);
    // `{...head members...,"items":[...]}`: the head object without its closing brace.
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    let mut resp = http::Response::new(response::full(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

/// Where a list is read from, as upstream's resourceVersion rules say:
/// - unset: a consistent read (from the store, with limit/continue);
/// - `0`: any state, from the cache, limit ignored;
/// - `N` with `resourceVersionMatch=Exact`: the store at exactly N;
/// - `N` otherwise (`NotOlderThan`): the cache once it has caught up to N.
enum Source<'a> {
    Store { limit: Option<usize>, continue_token: Option<&'a str>, at: Option<i64> },
    Cache { at: i64 },
}

fn source(opts: &ListOptions) -> Result<Source<'_>, ApiError> {
    let rv = opts.resource_version.as_deref();
    let rv_match = opts.resource_version_match.as_deref();
    if let Some(m) = rv_match {
        if !matches!(m, "Exact" | "NotOlderThan") {
            return Err(ApiError::BadRequest(format!(
                "resourceVersionMatch: Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
        if rv.is_none() {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ));
        }
        if opts.continue_token.is_some() {
            return Err(ApiError::BadRequest("resourceVersionMatch is forbidden when continue is provided".into()));
        }
    }
    if opts.continue_token.is_some() && rv.is_some_and(|v| v != "0") {
        return Err(ApiError::BadRequest("specifying resource version is not allowed when using continue".into()));
    }
    let limit = opts.limit;
    Ok(match (rv, rv_match) {
        (None, _) | (Some(_), _) if opts.continue_token.is_some() => {
            Source::Store { limit, continue_token: opts.continue_token.as_deref(), at: None }
        }
        (None, _) => Source::Store { limit, continue_token: None, at: None },
        (Some(v), Some("Exact")) => {
            Source::Store { limit, continue_token: None, at: Some(storage::parse_resource_version(v)?) }
        }
        (Some(v), _) => Source::Cache { at: storage::parse_resource_version(v)? },
    })
}

/// The cache's objects under the request's namespace, once it has caught up to `at`.
async fn cached(call: &Call<'_>, at: i64) -> Result<(Vec<Arc<CachedObject>>, i64), ApiError> {
    let cache = call.ctx.cache(call.resource);
    cache.ready().await?;
    if at > 0 {
        cache.wait_for(at).await?;
    }
    Ok(cache.snapshot(&storage::list_prefix(call.resource, &call.req.namespace)))
}

type Items<T> = (Vec<T>, i64, Option<String>);

async fn read_values(call: &Call<'_>, source: &Source<'_>, filter: &Filter<'_>) -> Result<Items<Value>, ApiError> {
    match *source {
        Source::Store { limit, continue_token, at } => {
            let page = call.ctx.objects.list(filter, &call.req.namespace, limit, continue_token, at).await?;
            Ok((page.items, page.resource_version, page.continue_token))
        }
        Source::Cache { at } => {
            let (objects, revision) = cached(call, at).await?;
            let items = objects.iter().filter(|o| o.matches(filter)).map(|o| o.decode()).collect::<Result<_, _>>()?;
            Ok((items, revision, None))
        }
    }
}

async fn read_json(call: &Call<'_>, source: &Source<'_>, filter: &Filter<'_>) -> Result<Items<Bytes>, ApiError> {
    match *source {
        Source::Store { limit, continue_token, at } => {
            let page = call.ctx.objects.list_json(filter, &call.req.namespace, limit, continue_token, at).await?;
            Ok((page.items, page.resource_version, page.continue_token))
        }
        Source::Cache { at } => {
            let (objects, revision) = cached(call, at).await?;
            Ok((objects.iter().filter(|o| o.matches(filter)).map(|o| o.json.clone()).collect(), revision, None))
        }
    }
}
