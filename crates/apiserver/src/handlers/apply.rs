//! Server-side apply (`PATCH` with `application/apply-patch+yaml`) and the
//! `managedFields` bookkeeping of every other write. The merge and ownership rules are
//! in `skiff_api::apply`; this is the HTTP side: options, create-if-missing, and which
//! manager, version and subresource a request writes as.

use http::StatusCode;
use serde_json::Value;
use skiff_api::apply::{self as ssa, ManagedFields, Manager, Requested, Scope};
use skiff_api::{meta, ApiError, Cause};

use super::{respond, respond_written, write, Call};
use crate::openapi::check_body;
use crate::request::{negotiate, PatchType, Verb, WriteOptions};
use crate::response::{with_warnings, HttpResponse};
use crate::{storage, strategy};

/// How many times an apply that races with a create of the same object starts over.
const MAX_CREATE_RACES: usize = 3;

/// Upstream's `PatchOptions` validation: `fieldManager` is required for apply patches and
/// `force` is only for them. 422 `PatchOptions.meta.k8s.io "" is invalid: ...`.
pub fn check_patch_options(call: &Call<'_>, opts: &WriteOptions, patch_type: PatchType) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if patch_type == PatchType::Apply {
        if opts.field_manager.is_none() {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            });
        }
    } else if call.query.get("force").is_some() {
        causes.push(Cause::forbidden("force", "may not be specified for non-apply patch"));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", "PatchOptions", "", causes))
    }
}

/// Applies `config` (the decoded apply patch) for `opts.field_manager`: to the live object,
/// or, when there is none and this is the main resource, by creating it (201).
pub async fn apply(call: &Call<'_>, opts: &WriteOptions, mut config: Value) -> Result<HttpResponse, ApiError> {
    let res = call.resource;
    let manager = opts.field_manager.clone().unwrap_or_default();
    check_object_type(res, &config)?;
    if config.pointer("/metadata/managedFields").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::BadRequest("metadata.managedFields must be nil".into()));
    }
    let warnings = check_body(opts.field_validation, res.group, res.version, res.kind, &mut config)?;
    let precondition = match meta::resource_version(&config) {
        "" => None,
        rv => Some(storage::parse_resource_version(rv)?),
    };
    let scope = scope(call);
    let api_version = res.api_version();
    let who = Manager { manager: &manager, api_version: &api_version, subresource: &call.req.subresource };
    for _ in 0..MAX_CREATE_RACES {
        let updated = write::read_modify_write(call, opts, precondition, |current| {
            let mut managed = ManagedFields::from_object(current).unwrap_or_default();
            let mut obj = ssa::apply(Some(current), &config, &mut managed, &scope, &who, opts.force, &strategy::now())?;
            check_identity(call, &mut obj)?;
            managed.write_to(&mut obj);
            Ok(obj)
        })
        .await;
        let missing = matches!(updated, Err(ApiError::NotFound(_)));
        if !missing || !call.req.subresource.is_empty() || precondition.is_some() {
            return respond(call, StatusCode::OK, &updated?).map(|r| with_warnings(r, &warnings));
        }
        let mut managed = ManagedFields::default();
        let mut obj = ssa::apply(None, &config, &mut managed, &scope, &who, opts.force, &strategy::now())?;
        check_identity(call, &mut obj)?;
        managed.write_to(&mut obj);
        match write::create_object(call, opts, obj).await {
            // Created by someone else since we looked: apply to theirs.
            Err(ApiError::AlreadyExists(_)) => continue,
            created => {
                return respond_written(call, StatusCode::CREATED, created?).map(|r| with_warnings(r, &warnings))
            }
        }
    }
    Err(ApiError::stale(res.group, res.plural, &call.req.name))
}

/// Records the creating manager's fields in a new object (not for applies, which did).
pub fn track_create(call: &Call<'_>, obj: &mut Value) {
    if is_apply(call) {
        return;
    }
    let mut managed = match ManagedFields::requested(obj) {
        Requested::Replace(m) => m,
        Requested::Keep | Requested::Reset => ManagedFields::default(),
    };
    record(call, &mut managed, None, obj);
}

/// Records the writing manager's changes from `current` to `new` (not for applies).
///
/// Through the main resource, valid `managedFields` in `new` replace the live ones and
/// `[]` or `[{}]` resets them (upstream's rules; kubectl moves client-side-apply ownership
/// this way); through a subresource the live ones always stand.
pub fn track_update(call: &Call<'_>, current: &Value, new: &mut Value) {
    if is_apply(call) {
        return;
    }
    let live = || ManagedFields::from_object(current).unwrap_or_default();
    let mut managed = if call.req.subresource.is_empty() {
        match ManagedFields::requested(new) {
            Requested::Keep => live(),
            Requested::Reset => ManagedFields::default(),
            Requested::Replace(m) => m,
        }
    } else {
        live()
    };
    record(call, &mut managed, Some(current), new);
}

fn record(call: &Call<'_>, managed: &mut ManagedFields, current: Option<&Value>, new: &mut Value) {
    let manager = manager_name(call);
    let api_version = call.resource.api_version();
    let who = Manager { manager: &manager, api_version: &api_version, subresource: &call.req.subresource };
    match current {
        // The commonest write, a create that brought no managedFields: its one entry
        // is rendered straight to JSON.
        None if managed.entries.is_empty() => {
            match ssa::created_managed_fields(new, &scope(call), &who, &strategy::now()) {
                Some(fields) => meta::set_meta(new, "managedFields", fields),
                None => {
                    meta::remove_meta(new, "managedFields");
                }
            }
            return;
        }
        // A create with managedFields of its own, and every update.
        _ => ssa::record_update(managed, current, new, &scope(call), &who, &strategy::now()),
    }
    managed.write_to(new);
}

/// `fieldManager`, else derived from the User-Agent as upstream does.
fn manager_name(call: &Call<'_>) -> String {
    if let Some(m) = call.query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let agent = call.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    ssa::manager_from_user_agent(agent)
}

fn is_apply(call: &Call<'_>) -> bool {
    let content_type = call.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    call.req.verb == Verb::Patch && matches!(negotiate::patch_type(content_type), Ok(PatchType::Apply))
}

/// The object's type and the fields this request cannot set, so never owns: `status`
/// through the main resource (when it has a status subresource), everything but `status`
/// through `status`.
fn scope(call: &Call<'_>) -> Scope {
    let res = call.resource;
    let scope = Scope::new(res.group, res.version, res.kind);
    match call.req.subresource.as_str() {
        "" if res.has_status() => scope.ignoring(&["status"]),
        "status" => scope.ignoring(&["spec"]).ignoring(&["metadata"]),
        _ => scope,
    }
}

/// The applied object must be of the URL's kind and version (upstream's
/// `versionCheckManager`): 400 `invalid object type: apps/v1, Kind=Deployment`.
fn check_object_type(res: &skiff_api::Resource, config: &Value) -> Result<(), ApiError> {
    let (api_version, kind) = meta::type_meta(config);
    if api_version == res.api_version() && kind == res.kind {
        return Ok(());
    }
    let (group, version) = meta::split_api_version(api_version);
    Err(ApiError::BadRequest(format!("invalid object type: {group}/{version}, Kind={kind}")))
}

/// The applied result must name the URL's object (upstream's `checkName`); a missing
/// namespace is the URL's.
fn check_identity(call: &Call<'_>, obj: &mut Value) -> Result<(), ApiError> {
    let name = meta::name(obj);
    if name != call.req.name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            call.req.name
        )));
    }
    if call.resource.namespaced {
        match meta::namespace(obj) {
            "" => meta::set_meta(obj, "namespace", call.req.namespace.clone()),
            ns if ns != call.req.namespace => {
                return Err(ApiError::BadRequest(format!(
                    "the namespace of the object ({ns}) does not match the namespace on the URL ({})",
                    call.req.namespace
                )))
            }
            _ => {}
        }
    }
    Ok(())
}
