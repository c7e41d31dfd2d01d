//! Pod subresources with their own semantics: `binding` (the scheduler's write)
//! and `eviction` (a delete that honours PodDisruptionBudgets).

use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::selector::LabelSelector;
use skiff_api::{meta, registry, ApiError};

use super::binding_json::CachedPod;
use super::body::decode_body;
use super::Call;
use crate::request::WriteOptions;
use crate::response::{self, HttpResponse};
use crate::storage::{self, Filter};

/// `POST .../pods/{name}/binding` or `POST .../bindings`: sets `spec.nodeName` once.
pub async fn bind(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    // dryRun=All: every check, no write (upstream's binding honours it too).
    let dry_run = WriteOptions::from_query(call.query)?.dry_run;
    let binding = decode_body(call)?;
    let name = if call.req.name.is_empty() { meta::name(&binding).to_string() } else { call.req.name.clone() };
    let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::invalid("", "Binding", &name, vec![skiff_api::Cause::required("target.name")]));
    }
    let pods = registry::find("", "v1", "pods").expect("pods are registered");
    let first = match bind_cached(call, pods, &binding, &name, node, dry_run).await {
        Cached::Done(result) => return result,
        // The store decides.
        Cached::Stale => 1,
        Cached::Unsuited => 0,
    };
    for attempt in first..10 {
        // Attempt 0 (a pod `bind_cached` could not edit as bytes) starts from the
        // watch cache's copy, as upstream's update does: a stale copy fails the
        // write's revision check (or a check below), and the next attempt reads
        // the store. Reading the store first (a read on a blocking thread for
        // every binding) was a quarter of the server's CPU per binding.
        let (mut pod, from_cache) = match (attempt == 0).then(|| cached(call, pods, &name)).flatten() {
            Some(pod) => (pod, true),
            None => (call.ctx.objects.get(pods, &call.req.namespace, &name).await?, false),
        };
        let rv = storage::parse_resource_version(meta::resource_version(&pod))?;
        if let Err(e) = Bindable::of(&pod).check(&binding, &name) {
            if from_cache {
                continue;
            }
            return Err(e);
        }
        if dry_run {
            return Ok(bound(call, &name));
        }
        pod["spec"]["nodeName"] = json!(node);
        set_condition(&mut pod, "PodScheduled", "True");
        copy_annotations(&binding, &mut pod);
        match call.ctx.objects.update(pods, pod, rv).await {
            Ok(_) => return Ok(bound(call, &name)),
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale("", "pods", &name))
}

/// The binding's annotations, set on the pod (upstream's `setPodHostAndAnnotations`).
fn copy_annotations(binding: &Value, pod: &mut Value) {
    let Some(annotations) = annotations(binding) else { return };
    let meta = meta::metadata_mut(pod);
    let target = meta.entry("annotations").or_insert_with(|| json!({}));
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(target) = target.as_object_mut() {
        target.extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// The annotations the binding carries for the pod, if any.
fn annotations(binding: &Value) -> Option<&serde_json::Map<String, Value>> {
    binding.pointer("/metadata/annotations").and_then(Value::as_object).filter(|a| !a.is_empty())
}

/// The answer to a binding that was written.
fn bound(call: &Call<'_>, name: &str) -> HttpResponse {
    let mut status = response::success_status(json!({"name": name, "kind": "pods"}));
    status["code"] = json!(201);
    response::object(StatusCode::CREATED, &status, call.output)
}

/// How the first attempt of a binding, on the watch cache's JSON of the pod, went.
enum Cached {
    /// Written, or failed for good.
    Done(Result<HttpResponse, ApiError>),
    /// The cached copy failed a check or the write's revision check: it may be
    /// stale, so the store's copy decides.
    Stale,
    /// The cache lacks the pod, it has a shape only a decoded `Value` handles, or
    /// the binding carries annotations for it.
    Unsuited,
}

/// The first attempt of a binding, made on the watch cache's JSON of the pod without
/// decoding it (see `binding_json`), as upstream's update starts from its cache.
async fn bind_cached(
    call: &Call<'_>,
    pods: &'static skiff_api::Resource,
    binding: &Value,
    name: &str,
    node: &str,
    dry_run: bool,
) -> Cached {
    if annotations(binding).is_some() {
        return Cached::Unsuited;
    }
    let key = storage::object_key(pods, &call.req.namespace, name);
    let Some(cached) = call.ctx.cache(pods).get(&key) else { return Cached::Unsuited };
    let Some(pod) = CachedPod::parse(&cached.json) else { return Cached::Unsuited };
    let Some(rv) = pod.resource_version().and_then(|rv| storage::parse_resource_version(&rv).ok()) else {
        return Cached::Unsuited;
    };
    let (uid, node_name) = (pod.uid(), pod.node_name());
    let facts = Bindable { uid: &uid, deleting: pod.deleting(), node_name: &node_name };
    if facts.check(binding, name).is_err() {
        return Cached::Stale;
    }
    if dry_run {
        return Cached::Done(Ok(bound(call, name)));
    }
    let Some(stored) = pod.bound(node, &crate::strategy::now()) else { return Cached::Unsuited };
    match call.ctx.objects.update_stored(pods, &key, name, stored, rv).await {
        Ok(_) => Cached::Done(Ok(bound(call, name))),
        Err(ApiError::Conflict { .. }) => Cached::Stale,
        Err(e) => Cached::Done(Err(e)),
    }
}

/// The object at `name` as the watch cache holds it (with its resourceVersion), if
/// the cache has it. Possibly stale: only for a write whose revision check, or a
/// read of the store after a failed check, settles the outcome.
fn cached(call: &Call<'_>, res: &'static skiff_api::Resource, name: &str) -> Option<Value> {
    let key = storage::object_key(res, &call.req.namespace, name);
    call.ctx.cache(res).get(&key)?.decode().ok()
}

/// What a binding's checks read of the pod, from a decoded pod or the cache's bytes.
struct Bindable<'a> {
    uid: &'a str,
    deleting: bool,
    node_name: &'a str,
}

impl<'a> Bindable<'a> {
    fn of(pod: &'a Value) -> Bindable<'a> {
        Bindable {
            uid: meta::uid(pod),
            deleting: meta::deletion_timestamp(pod).is_some(),
            node_name: pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// Why the pod cannot take `binding`: another uid, being deleted, or already bound.
    fn check(&self, binding: &Value, name: &str) -> Result<(), ApiError> {
        let conflict =
            |message: String| ApiError::Conflict { target: skiff_api::Target::new("", "pods", name), message };
        if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str).filter(|u| !u.is_empty()) {
            if uid != self.uid {
                return Err(conflict(format!(
                    "Operation cannot be fulfilled on pods/binding \"{name}\": the UID in the binding does not match the pod"
                )));
            }
        }
        if self.deleting {
            return Err(conflict(format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        let current = self.node_name;
        if !current.is_empty() {
            return Err(conflict(format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{current}\""
            )));
        }
        Ok(())
    }
}

fn set_condition(pod: &mut Value, kind: &str, status: &str) {
    set_condition_at(pod, kind, status, &crate::strategy::now());
}

/// Replaces the pod's condition of type `kind` with one of `status`, changed at `now`.
pub(super) fn set_condition_at(pod: &mut Value, kind: &str, status: &str, now: &str) {
    let conditions = pod
        .as_object_mut()
        .map(|m| m.entry("status").or_insert_with(|| json!({})))
        .and_then(|s| {
            if !s.is_object() {
                *s = json!({});
            }
            s.as_object_mut()
        })
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(conditions)) = conditions else { return };
    conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some(kind));
    conditions.push(json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now}));
}

/// `POST .../pods/{name}/eviction`: deletes the pod unless a PodDisruptionBudget
/// that selects it allows no more disruptions (429, as upstream).
pub async fn evict(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let eviction = decode_body(call)?;
    let pods = registry::find("", "v1", "pods").expect("pods are registered");
    let pod = call.ctx.objects.get(pods, &call.req.namespace, &call.req.name).await?;
    let terminal = matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    if !terminal && meta::deletion_timestamp(&pod).is_none() {
        check_budgets(call, &pod).await?;
    }
    let grace = eviction.pointer("/deleteOptions/gracePeriodSeconds").and_then(Value::as_i64);
    let mut opts = super::delete::DeleteOptions { grace_period_seconds: grace, ..Default::default() };
    if let Some(uid) = eviction.pointer("/deleteOptions/preconditions/uid").and_then(Value::as_str) {
        opts.precondition_uid = Some(uid.to_string());
    }
    let pods_call = Call { resource: pods, ..clone_call(call) };
    super::delete::delete_one(&pods_call, &call.req.namespace, &call.req.name, &opts).await?;
    let mut status = response::success_status(json!({"name": call.req.name, "kind": "pods"}));
    status["code"] = json!(201);
    Ok(response::object(StatusCode::CREATED, &status, call.output))
}

fn clone_call<'a>(call: &Call<'a>) -> Call<'a> {
    Call {
        ctx: call.ctx,
        req: call.req,
        resource: call.resource,
        query: call.query,
        output: call.output,
        headers: call.headers,
        body: call.body,
        method: call.method,
        user: call.user,
    }
}

/// Fails with 429 when a budget selecting the pod has no disruptions left;
/// otherwise records the disruption in the budget's status.
async fn check_budgets(call: &Call<'_>, pod: &Value) -> Result<(), ApiError> {
    let pdbs = registry::find("policy", "v1", "poddisruptionbudgets").expect("PDBs are registered");
    let everything = LabelSelector::everything();
    let no_fields = skiff_api::selector::FieldSelector::default();
    let filter = Filter { resource: pdbs, labels: &everything, fields: &no_fields };
    let page = call.ctx.objects.list(&filter, &call.req.namespace, None, None, None).await?;
    let matching: Vec<&Value> = page
        .items
        .iter()
        .filter(|pdb| {
            pdb.pointer("/spec/selector")
                .and_then(|s| LabelSelector::from_structured(s).ok())
                .is_some_and(|s| !s.is_empty() && s.matches_object(pod))
        })
        .collect();
    if matching.len() > 1 {
        return Err(ApiError::Internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
        ));
    }
    let Some(pdb) = matching.first() else { return Ok(()) };
    let allowed = pdb.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
    if allowed < 1 {
        return Err(ApiError::DisruptionBudget {
            target: skiff_api::Target::new("", "pods", &call.req.name),
            message: format!(
                "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {} needs {} healthy pods and has {} currently",
                meta::name(pdb),
                pdb.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0),
                pdb.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0),
            ),
        });
    }
    let mut updated = (*pdb).clone();
    updated["status"]["disruptionsAllowed"] = json!(allowed - 1);
    updated["status"]["disruptedPods"][meta::name(pod)] = json!(crate::strategy::now());
    let rv = storage::parse_resource_version(meta::resource_version(pdb))?;
    call.ctx.objects.update(pdbs, updated, rv).await.map(|_| ()).map_err(|e| match e {
        ApiError::Conflict { .. } => ApiError::TooManyRequests {
            message: "the disruption budget changed while evicting; retry".into(),
            retry_after_seconds: 1,
        },
        other => other,
    })
}
