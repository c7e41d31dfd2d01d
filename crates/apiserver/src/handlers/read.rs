//! `get` and `list`.

use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::ApiError;

use super::{respond, Call};
use crate::request::{ListOptions, Output};
use crate::response::{self, HttpResponse};
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
    let (items, resource_version, continue_token) = read_list(call, &opts, &filter).await?;
    let items: Vec<Value> = items.iter().map(|o| storage::present(resource, o)).collect();
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

/// Reads the items of a list, from the watch cache or the store, as upstream's
/// resourceVersion rules say:
/// - unset: a consistent read (from the store, with limit/continue);
/// - `0`: any state, from the cache, limit ignored;
/// - `N` with `resourceVersionMatch=Exact`: the store at exactly N;
/// - `N` otherwise (`NotOlderThan`): the cache once it has caught up to N.
async fn read_list(
    call: &Call<'_>,
    opts: &ListOptions,
    filter: &Filter<'_>,
) -> Result<(Vec<Value>, i64, Option<String>), ApiError> {
    let namespace = &call.req.namespace;
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
    match (rv, rv_match) {
        (None, _) | (Some(_), _) if opts.continue_token.is_some() => {
            let page = call.ctx.objects.list(filter, namespace, opts.limit, opts.continue_token.as_deref(), None).await?;
            Ok((page.items, page.resource_version, page.continue_token))
        }
        (None, _) => {
            let page = call.ctx.objects.list(filter, namespace, opts.limit, None, None).await?;
            Ok((page.items, page.resource_version, page.continue_token))
        }
        (Some(v), Some("Exact")) => {
            let at = storage::parse_resource_version(v)?;
            let page = call.ctx.objects.list(filter, namespace, opts.limit, None, Some(at)).await?;
            Ok((page.items, page.resource_version, page.continue_token))
        }
        (Some(v), _) => {
            let at = storage::parse_resource_version(v)?;
            let cache = call.ctx.cache(call.resource);
            cache.ready().await?;
            if at > 0 {
                cache.wait_for(at).await?;
            }
            let (objects, revision) = cache.snapshot(&storage::list_prefix(call.resource, namespace));
            let items = objects.iter().filter(|o| filter.matches(o)).map(|o| (**o).clone()).collect();
            Ok((items, revision, None))
        }
    }
}
