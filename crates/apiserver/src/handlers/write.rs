//! `create`, `update` (PUT) and `patch`, for main resources and the `status`
//! subresource. Updates and patches share one read-modify-write loop with
//! optimistic concurrency.

use http::StatusCode;
use serde_json::Value;
use skiff_api::{meta, ApiError};
use skiff_store::Revision;

use super::body::{check_type, decode_body, parse_json};
use super::{respond, respond_written, Call};
use crate::openapi::{check_body, check_patched};
use crate::request::{negotiate, PatchType, WriteOptions};
use crate::response::{with_warnings, HttpResponse};
use crate::{admission, allocator, storage, strategy};

/// How many times a write without a client precondition retries on conflict.
const MAX_RETRIES: usize = 10;

pub async fn create(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let opts = WriteOptions::from_query(call.query)?;
    let res = call.resource;
    if res.namespaced && call.req.namespace.is_empty() {
        return Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource ({} must be created in a namespace)",
            res.plural
        )));
    }
    let mut obj = decode_body(call)?;
    check_type(call, &mut obj, res.kind, &res.api_version())?;
    let warnings = check_body(opts.field_validation, res.group, res.version, res.kind, &mut obj)?;
    let obj = storage::to_storage(res, obj);
    if !meta::resource_version(&obj).is_empty() {
        return Err(ApiError::BadRequest("resourceVersion should not be set on objects to be created".into()));
    }
    let created = create_object(call, &opts, obj).await?;
    respond_written(call, StatusCode::CREATED, created).map(|r| with_warnings(r, &warnings))
}

/// Creates a decoded object: identity, strategy, defaults, managed fields, validation,
/// admission, storage. Shared with server-side apply's create-if-missing.
pub(super) async fn create_object(
    call: &Call<'_>,
    opts: &WriteOptions,
    mut obj: Value,
) -> Result<storage::Written, ApiError> {
    let res = call.resource;
    if res.namespaced {
        match meta::namespace(&obj) {
            "" => meta::set_meta(&mut obj, "namespace", call.req.namespace.clone()),
            ns if ns != call.req.namespace => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ))
            }
            _ => {}
        }
    }
    if meta::name(&obj).is_empty() {
        let prefix = meta::meta_str(&obj, "generateName").to_string();
        if !prefix.is_empty() {
            meta::set_meta(&mut obj, "name", strategy::generate_name(&prefix));
        }
    }
    strategy::prepare_for_create(res, &mut obj);
    if crate::csr::is_csr(res.group, res.kind) {
        crate::csr::prepare_for_create(&mut obj, call.user);
    }
    skiff_api::defaults::apply(res.group, res.kind, &mut obj);
    admission::mutate_create(res, &mut obj);
    super::apply::track_create(call, &mut obj);
    validate(call, &obj, None)?;
    admission::admit_create(call.ctx, res, &obj).await?;
    if res.group.is_empty() && res.kind == "Pod" {
        crate::serviceaccount::admission::admit(&call.ctx.objects, &mut obj).await?;
    }
    if opts.dry_run {
        return Ok(storage::Written { obj, json: None });
    }
    let store = call.ctx.objects.store().clone();
    let allocated =
        if is_service(res) { allocator::allocate(store.as_ref(), &mut obj, None).await? } else { Vec::new() };
    let created = call.ctx.objects.create(res, obj).await;
    if created.is_err() {
        allocator::release(store.as_ref(), &allocated).await;
    }
    created
}

pub async fn update(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let opts = WriteOptions::from_query(call.query)?;
    let mut body = decode_body(call)?;
    let (kind, api_version) = (call.resource.kind, call.resource.api_version());
    check_type(call, &mut body, kind, &api_version)?;
    let res = call.resource;
    let warnings = check_body(opts.field_validation, res.group, res.version, res.kind, &mut body)?;
    check_identity(call, &mut body)?;
    let precondition = match meta::resource_version(&body) {
        "" => None,
        rv => Some(storage::parse_resource_version(rv)?),
    };
    let obj = read_modify_write(call, &opts, precondition, |_current| Ok(body.clone())).await?;
    respond(call, StatusCode::OK, &obj).map(|r| with_warnings(r, &warnings))
}

pub async fn patch(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let opts = WriteOptions::from_query(call.query)?;
    let content_type = call.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let patch_type = negotiate::patch_type(content_type)?;
    super::apply::check_patch_options(call, &opts, patch_type)?;
    let patch: Value = match patch_type {
        PatchType::Apply => super::body::parse(call.body, crate::request::BodyFormat::Yaml)?,
        _ => parse_json(call.body)?,
    };
    if patch_type == PatchType::Apply {
        return super::apply::apply(call, &opts, patch).await;
    }
    let res = call.resource;
    let precondition = patch
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .map(storage::parse_resource_version)
        .transpose()?;
    // Of the last attempt: the closure runs again when a conflict is retried.
    let warnings = std::sync::Mutex::new(Vec::new());
    let obj = read_modify_write(call, &opts, precondition, |current| {
        let mut patched = match patch_type {
            PatchType::Json => skiff_api::patch::json_patch(current, &patch)?,
            PatchType::Merge => skiff_api::patch::merge_patch(current, &patch),
            PatchType::Strategic => {
                skiff_api::patch::strategic_merge_patch(current, &patch, res.group, res.version, res.kind)?
            }
            PatchType::Apply => unreachable!("rejected above"),
        };
        // A patch may not move the object.
        meta::set_meta(&mut patched, "name", meta::name(current).to_string());
        if res.namespaced {
            meta::set_meta(&mut patched, "namespace", meta::namespace(current).to_string());
        }
        let found = check_patched(opts.field_validation, res.group, res.version, res.kind, &patch, &mut patched)?;
        *warnings.lock().unwrap_or_else(|e| e.into_inner()) = found;
        Ok(patched)
    })
    .await?;
    let warnings = warnings.into_inner().unwrap_or_else(|e| e.into_inner());
    respond(call, StatusCode::OK, &obj).map(|r| with_warnings(r, &warnings))
}

/// The name and namespace in a PUT body must match the URL.
fn check_identity(call: &Call<'_>, body: &mut Value) -> Result<(), ApiError> {
    match meta::name(body) {
        "" => meta::set_meta(body, "name", call.req.name.clone()),
        name if name != call.req.name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                call.req.name
            )))
        }
        _ => {}
    }
    if call.resource.namespaced {
        match meta::namespace(body) {
            "" => meta::set_meta(body, "namespace", call.req.namespace.clone()),
            ns if ns != call.req.namespace => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads the object, builds the new one with `desired`, applies the strategy and
/// validation, and writes it if it is still at the version read. Without a client
/// precondition a conflict (someone else wrote in between) is retried.
pub(super) async fn read_modify_write(
    call: &Call<'_>,
    opts: &WriteOptions,
    precondition: Option<Revision>,
    desired: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let res = call.resource;
    let sub = call.req.subresource.as_str();
    for _ in 0..MAX_RETRIES {
        let current = call.ctx.objects.get(res, &call.req.namespace, &call.req.name).await?;
        let current_rv = storage::parse_resource_version(meta::resource_version(&current))?;
        if precondition.is_some_and(|p| p != current_rv) {
            return Err(ApiError::stale(res.group, res.plural, &call.req.name));
        }
        // Clients write in the served version; storage keeps one version.
        let mut new = desired(&storage::present(res, &current))?;
        let uid = meta::uid(&new);
        if !uid.is_empty() && uid != meta::uid(&current) {
            return Err(ApiError::Conflict {
                target: skiff_api::Target::new(res.group, res.plural, &call.req.name),
                message: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&current)
                ),
            });
        }
        new["apiVersion"] = Value::String(res.api_version());
        new["kind"] = Value::String(res.kind.to_string());
        let mut new = storage::to_storage(res, new);
        strategy::prepare_for_update(res, sub, &mut new, &current);
        skiff_api::defaults::apply(res.group, res.kind, &mut new);
        meta::set_meta(&mut new, "resourceVersion", current_rv.to_string());
        super::apply::track_update(call, &current, &mut new);
        validate(call, &new, Some(&current))?;
        if new == current {
            // Nothing changed: no write, no new resourceVersion (as upstream).
            return Ok(current);
        }
        admission::admit_update(call.ctx, res, &new, &current).await?;
        let finished = crate::finalizers::deletion_finished(res, &new);
        if opts.dry_run {
            return Ok(new);
        }
        let store = call.ctx.objects.store().clone();
        let allocated = if is_service(res) && !finished && sub.is_empty() {
            allocator::allocate(store.as_ref(), &mut new, Some(&current)).await?
        } else {
            Vec::new()
        };
        let result = if finished {
            // The last finalizer is gone from an object being deleted: remove it.
            call.ctx.objects.delete(res, &call.req.namespace, &call.req.name, current_rv).await
        } else {
            call.ctx.objects.update(res, new, current_rv).await
        };
        match &result {
            Ok(saved) if is_service(res) => {
                let freed =
                    if finished { allocator::keys_of(saved) } else { allocator::released_by_update(&current, saved) };
                allocator::release(store.as_ref(), &freed).await;
            }
            Err(_) => allocator::release(store.as_ref(), &allocated).await,
            _ => {}
        }
        match result {
            Err(ApiError::Conflict { .. }) if precondition.is_none() => continue,
            other => return other,
        }
    }
    Err(ApiError::stale(res.group, res.plural, &call.req.name))
}

/// Runs metadata and type validation; 422 with every cause. A status write keeps the
/// stored spec, which the type's validation checks: it is left out there, as upstream's
/// status strategies leave it out, so an object stored before a rule existed can still
/// have its status written by its controller.
fn validate(call: &Call<'_>, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let res = call.resource;
    let mut causes = strategy::validate_metadata(res, obj);
    if call.req.subresource != "status" {
        causes.extend(skiff_api::validation::validate(res.group, res.kind, obj, old));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res.group, res.kind, meta::name(obj), causes))
    }
}

fn is_service(res: &skiff_api::Resource) -> bool {
    res.group.is_empty() && res.kind == "Service"
}
