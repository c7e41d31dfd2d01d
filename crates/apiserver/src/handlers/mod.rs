//! Request handlers. `dispatch` routes an authenticated, authorized request; each
//! module handles one family of verbs.

pub mod discovery;
mod apply;
mod binding_json;
pub(crate) mod body;
mod delete;
mod logs;
mod pods;
mod read;
mod reviews;
mod scale;
pub mod stream;
mod watch;
mod write;

use http::{Method, StatusCode};
use serde_json::Value;
use skiff_api::registry::{self, Resource};
use skiff_api::ApiError;

use crate::request::{Output, Query, ResourceRequest, Verb};
use crate::response::{self, HttpResponse};
use crate::server::Context;

pub use body::decode_body;

/// One resource request with everything the handlers need.
pub struct Call<'a> {
    pub ctx: &'a Context,
    pub req: &'a ResourceRequest,
    pub resource: &'static Resource,
    pub query: &'a Query,
    pub output: Output,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub method: &'a Method,
    pub user: &'a crate::authn::UserInfo,
}

impl Call<'_> {
    /// 404 for this request's object.
    pub fn not_found(&self) -> ApiError {
        ApiError::not_found(self.resource.group, self.resource.plural, &self.req.name)
    }
}

/// Finds the served resource a request addresses.
pub fn resolve(req: &ResourceRequest) -> Result<&'static Resource, ApiError> {
    let resource = registry::find(&req.group, &req.version, &req.resource).ok_or_else(|| {
        ApiError::NotFound(skiff_api::Target::new(&req.group, &req.resource, &req.name))
    })?;
    if !resource.namespaced && !req.namespace.is_empty() {
        return Err(ApiError::NotFound(skiff_api::Target::new(&req.group, &req.resource, &req.name)));
    }
    if !req.subresource.is_empty() && resource.subresource(&req.subresource).is_none() {
        return Err(ApiError::NotFound(skiff_api::Target::new(&req.group, &req.resource, &req.name)));
    }
    Ok(resource)
}

/// Routes a resource request to its handler.
pub async fn dispatch(call: Call<'_>) -> Result<HttpResponse, ApiError> {
    let verb = call.req.verb;
    let sub = call.req.subresource.as_str();
    let verb_allowed = match sub {
        "" => call.resource.has_verb(verb.as_str()),
        _ => call.resource.subresource(sub).is_some_and(|s| s.verbs.contains(&verb.as_str())),
    };
    if !verb_allowed {
        return Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            verb.as_str(),
            if sub.is_empty() { call.resource.plural.to_string() } else { format!("{}/{sub}", call.resource.plural) }
        )));
    }
    if call.resource.storage == skiff_api::Storage::Virtual {
        return match (call.resource.kind, verb) {
            ("Binding", Verb::Create) => pods::bind(&call).await,
            ("ComponentStatus", Verb::Get | Verb::List) => component_statuses(&call),
            (_, Verb::Create) => reviews::create(&call).await,
            _ => Err(ApiError::MethodNotAllowed(format!("{} on {} is not supported", verb.as_str(), call.resource.plural))),
        };
    }
    match (sub, verb) {
        ("", Verb::Get) => read::get(&call).await,
        ("", Verb::List) => read::list(&call).await,
        (_, Verb::Watch) => watch::watch(&call).await,
        ("", Verb::Create) => write::create(&call).await,
        ("", Verb::Update) => write::update(&call).await,
        ("", Verb::Patch) => write::patch(&call).await,
        ("", Verb::Delete) => delete::delete(&call).await,
        ("", Verb::DeleteCollection) => delete::delete_collection(&call).await,
        ("status", Verb::Get) => read::get(&call).await,
        ("status", Verb::Update) => write::update(&call).await,
        ("status", Verb::Patch) => write::patch(&call).await,
        ("finalize", Verb::Update) => write::update(&call).await,
        ("approval", Verb::Get) => read::get(&call).await,
        ("approval", Verb::Update) => write::update(&call).await,
        ("approval", Verb::Patch) => write::patch(&call).await,
        ("binding", Verb::Create) => pods::bind(&call).await,
        ("eviction", Verb::Create) => pods::evict(&call).await,
        ("token", Verb::Create) => crate::serviceaccount::token_request::create(&call).await,
        ("log", Verb::Get) => logs::get(&call).await,
        ("scale", Verb::Get) => scale::get(&call).await,
        ("scale", Verb::Update) => scale::update(&call).await,
        ("scale", Verb::Patch) => scale::patch(&call).await,
        _ => Err(ApiError::MethodNotAllowed(format!(
            "{} on {}/{sub} is not supported yet",
            verb.as_str(),
            call.resource.plural
        ))),
    }
}

/// A created or read object as a response in the requested form.
pub fn respond(call: &Call<'_>, code: StatusCode, obj: &Value) -> Result<HttpResponse, ApiError> {
    let obj = crate::storage::present(call.resource, obj);
    let body = match call.output {
        Output::Table => crate::table::table_for_object(call.resource, &obj, call.query),
        Output::Metadata => crate::table::partial_metadata(&obj),
        _ => return Ok(response::object(code, &obj, call.output)),
    };
    Ok(response::object(code, &body, call.output))
}

/// A just-written object as a response: its stored bytes when the client wants the
/// JSON of the stored version, else [`respond`].
pub fn respond_written(
    call: &Call<'_>,
    code: StatusCode,
    written: crate::storage::Written,
) -> Result<HttpResponse, ApiError> {
    let stored_version = skiff_api::conversion::storage_version(call.resource.group, call.resource.kind).is_none();
    match written.json {
        Some(json) if call.output == Output::Json && stored_version => Ok(response::json_bytes(code, json)),
        _ => respond(call, code, &written.obj),
    }
}

/// `componentstatuses` (deprecated upstream, still listed by kubectl): the health of
/// the control plane's parts that this server can see.
fn component_statuses(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let item = |name: &str| {
        serde_json::json!({
            "kind": "ComponentStatus", "apiVersion": "v1",
            "metadata": {"name": name, "creationTimestamp": null},
            "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}],
        })
    };
    let body = if call.req.name.is_empty() {
        serde_json::json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": [item("etcd-0")]})
    } else if call.req.name == "etcd-0" {
        item("etcd-0")
    } else {
        return Err(call.not_found());
    };
    match call.output {
        Output::Table => {
            let items = body.get("items").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![body.clone()]);
            Ok(response::object(
                StatusCode::OK,
                &crate::table::table_for_list(call.resource, &items, serde_json::json!({}), call.query),
                call.output,
            ))
        }
        _ => Ok(response::object(StatusCode::OK, &body, call.output)),
    }
}
