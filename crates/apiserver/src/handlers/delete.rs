//! `delete` and `deletecollection`: preconditions, finalizers, propagation policy
//! and graceful pod deletion.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::{meta, ApiError};

use super::body::{parse, parse_json};
use super::{respond, Call};
use crate::request::{negotiate, BodyFormat, ListOptions, WriteOptions};
use crate::response::{self, HttpResponse};
use crate::storage::{self, Filter};

/// The parts of `DeleteOptions` the server acts on.
#[derive(Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    fn from_call(call: &Call<'_>) -> Result<DeleteOptions, ApiError> {
        let write = WriteOptions::from_query(call.query)?;
        let mut opts = DeleteOptions { dry_run: write.dry_run, ..Default::default() };
        if let Some(g) = call.query.get("gracePeriodSeconds").filter(|g| !g.is_empty()) {
            opts.grace_period_seconds =
                Some(g.parse().map_err(|_| ApiError::BadRequest(format!("invalid gracePeriodSeconds {g:?}")))?);
        }
        opts.propagation_policy = call.query.get("propagationPolicy").filter(|p| !p.is_empty()).map(String::from);
        if call.query.get("orphanDependents").is_some() && opts.propagation_policy.is_none() {
            opts.propagation_policy =
                Some(if call.query.flag("orphanDependents") { "Orphan" } else { "Background" }.to_string());
        }
        if !call.body.iter().all(u8::is_ascii_whitespace) {
            let content_type = call.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let body = match negotiate::body_format(content_type)? {
                BodyFormat::Json => parse_json(call.body)?,
                format => parse(call.body, format)?,
            };
            if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
                opts.grace_period_seconds = Some(g);
            }
            if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
                opts.propagation_policy = Some(p.to_string());
            } else if let Some(o) = body.get("orphanDependents").and_then(Value::as_bool) {
                opts.propagation_policy = Some(if o { "Orphan" } else { "Background" }.to_string());
            }
            if let Some(pre) = body.get("preconditions") {
                opts.precondition_uid = pre.get("uid").and_then(Value::as_str).map(String::from);
                opts.precondition_resource_version = pre.get("resourceVersion").and_then(Value::as_str).map(String::from);
            }
            if body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All")) {
                opts.dry_run = true;
            }
        }
        if let Some(p) = &opts.propagation_policy {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(ApiError::invalid(
                    "",
                    "DeleteOptions",
                    "",
                    vec![skiff_api::Cause::not_supported(
                        "propagationPolicy",
                        &json!(p),
                        &["Foreground", "Background", "Orphan"],
                    )],
                ));
            }
        }
        if opts.grace_period_seconds.is_some_and(|g| g < 0) {
            opts.grace_period_seconds = Some(0);
        }
        Ok(opts)
    }
}

pub async fn delete(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let opts = DeleteOptions::from_call(call)?;
    let obj = delete_one(call, &call.req.namespace, &call.req.name, &opts).await?;
    respond(call, StatusCode::OK, &obj)
}

/// Deletes one object; returns its last state (or its state marked for deletion
/// when finalizers or a grace period keep it around).
pub(super) async fn delete_one(call: &Call<'_>, namespace: &str, name: &str, opts: &DeleteOptions) -> Result<Value, ApiError> {
    let res = call.resource;
    for _ in 0..10 {
        let current = call.ctx.objects.get(res, namespace, name).await?;
        let rv = storage::parse_resource_version(meta::resource_version(&current))?;
        if let Some(uid) = &opts.precondition_uid {
            if uid != meta::uid(&current) {
                return Err(precondition_failed(res, name, "UID", uid, meta::uid(&current)));
            }
        }
        if let Some(want) = &opts.precondition_resource_version {
            if want != meta::resource_version(&current) {
                return Err(precondition_failed(res, name, "ResourceVersion", want, meta::resource_version(&current)));
            }
        }
        crate::admission::admit_delete(call.ctx, res, &current).await?;
        let mut updated = current.clone();
        let current_finalizers = meta::finalizers(&current);
        let finalizers =
            crate::finalizers::deletion_finalizers(res, &current_finalizers, opts.propagation_policy.as_deref());
        let graceful_pod = res.kind == "Pod" && res.group.is_empty() && !crate::pod::deletes_immediately(&current);
        let grace = if graceful_pod {
            opts.grace_period_seconds.unwrap_or_else(|| crate::pod::default_grace_period(&current))
        } else {
            0
        };
        let already_deleting = meta::deletion_timestamp(&current).is_some();
        // A namespace also stays until its `spec.finalizers` are gone (the
        // namespace controller empties it, then removes `kubernetes`).
        let keep =
            !finalizers.is_empty() || grace > 0 || !crate::finalizers::spec_finalizers(res, &current).is_empty();
        if !keep {
            if opts.dry_run {
                return Ok(current);
            }
            match call.ctx.objects.delete(res, namespace, name, rv).await {
                Err(ApiError::Conflict { .. }) => continue,
                Ok(deleted) => {
                    if res.group.is_empty() && res.kind == "Service" {
                        crate::allocator::release(call.ctx.objects.store().as_ref(), &crate::allocator::keys_of(&deleted))
                            .await;
                    }
                    return Ok(deleted);
                }
                other => return other,
            }
        }
        if already_deleting {
            // A second delete may only shorten a pod's grace period, or change
            // which garbage-collection finalizer the object carries.
            let current_grace = meta::metadata(&current)
                .and_then(|m| m.get("deletionGracePeriodSeconds"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if !(graceful_pod && grace < current_grace) {
                if finalizers == current_finalizers {
                    return Ok(current);
                }
                meta::set_meta(&mut updated, "finalizers", json!(finalizers));
                if opts.dry_run {
                    return Ok(updated);
                }
                match call.ctx.objects.update(res, updated, rv).await {
                    Err(ApiError::Conflict { .. }) => continue,
                    other => return other,
                }
            }
        }
        let deadline = chrono::Utc::now() + Duration::from_secs(grace as u64);
        meta::set_meta(
            &mut updated,
            "deletionTimestamp",
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        meta::set_meta(&mut updated, "deletionGracePeriodSeconds", grace);
        meta::set_meta(&mut updated, "finalizers", json!(finalizers));
        if res.kind == "Namespace" && res.group.is_empty() {
            updated["status"]["phase"] = json!("Terminating");
        }
        if opts.dry_run {
            return Ok(updated);
        }
        match call.ctx.objects.update(res, updated, rv).await {
            Err(ApiError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(ApiError::stale(res.group, res.plural, name))
}

fn precondition_failed(res: &skiff_api::Resource, name: &str, what: &str, want: &str, got: &str) -> ApiError {
    ApiError::Conflict {
        target: skiff_api::Target::new(res.group, res.plural, name),
        message: format!("Precondition failed: {what} in precondition: {want}, {what} in object meta: {got}"),
    }
}

pub async fn delete_collection(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let opts = DeleteOptions::from_call(call)?;
    let list = ListOptions::from_query(call.query)?;
    let res = call.resource;
    list.field_selector.check_supported(res.group, res.kind).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let filter = Filter { resource: res, labels: &list.label_selector, fields: &list.field_selector };
    let page = call.ctx.objects.list(&filter, &call.req.namespace, None, None, None).await?;
    let mut deleted = Vec::new();
    for obj in page.items {
        match delete_one(call, meta::namespace(&obj), meta::name(&obj), &opts).await {
            Ok(d) => deleted.push(d),
            // Gone meanwhile: that is what we wanted.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "kind": res.list_kind(),
        "apiVersion": res.api_version(),
        "metadata": {"resourceVersion": page.resource_version.to_string()},
        "items": deleted,
    });
    Ok(response::object(StatusCode::OK, &body, call.output))
}
