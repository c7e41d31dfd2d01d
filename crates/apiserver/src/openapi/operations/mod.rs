//! The operations of every served resource and subresource, derived from the registry,
//! in one form both document versions render: upstream's paths, operation ids
//! (`readCoreV1NamespacedPod`), `x-kubernetes-action`s, parameters and group-version-kinds.

mod subresources;

use skiff_api::registry::{self, Resource};

use super::definitions::{definition_of, list_definition_of, meta_definition};
use super::params::{self, Param};

pub(super) const JSON_YAML_PROTOBUF: &[&str] =
    &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
const WATCHABLE: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
const ANY: &[&str] = &["*/*"];
const TEXT: &[&str] = &["text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
/// The patch types, as upstream lists them on every PATCH operation (kubectl checks for the
/// strategic one before sending a strategic merge patch).
pub(super) const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

impl Method {
    /// The key of the operation in a path item.
    pub fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }

    /// How upstream names connect operations (`connectCoreV1GetNamespacedPodExec`).
    fn title(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Put => "Put",
            Method::Post => "Post",
            Method::Delete => "Delete",
            Method::Patch => "Patch",
        }
    }
}

/// What a request or response body is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// An object of this definition.
    Schema(String),
    /// Unstructured text or bytes (logs, streams).
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Gvk {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug)]
pub(super) struct Operation {
    pub method: Method,
    pub id: String,
    pub description: String,
    /// `x-kubernetes-action`: get, list, post, put, patch, delete, deletecollection, watch,
    /// watchlist or connect.
    pub action: &'static str,
    pub gvk: Option<Gvk>,
    pub params: Vec<Param>,
    /// The body's definition and the media types it may come in.
    pub body: Option<(String, &'static [&'static str])>,
    pub response: Payload,
    /// The success status codes.
    pub codes: &'static [u16],
    pub produces: &'static [&'static str],
}

#[derive(Clone, Debug)]
pub(super) struct PathItem {
    pub path: String,
    /// Parameters of every operation of the path (path parameters and `pretty`).
    pub params: Vec<Param>,
    pub operations: Vec<Operation>,
}

/// `core_v1`, `apps_v1`, `rbacAuthorization_v1`: upstream's tag of a group-version.
pub(super) fn tag(group: &str, version: &str) -> String {
    let group = if group.is_empty() { "core" } else { group.trim_end_matches(".k8s.io") };
    let mut name = String::new();
    for (i, part) in group.split('.').enumerate() {
        name.push_str(&if i == 0 { part.to_string() } else { capitalize(part) });
    }
    format!("{name}_{version}")
}

/// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`: the group-version part of operation ids.
fn id_part(group: &str, version: &str) -> String {
    let tag = tag(group, version);
    tag.split('_').map(capitalize).collect()
}

/// The discovery document of a whole group (`/apis/apps/`), which upstream publishes as the
/// OpenAPI document `apis/apps`.
pub(super) fn group_paths(group: &str) -> Vec<PathItem> {
    let tag = tag(group, "");
    let id = format!("get{}APIGroup", capitalize(tag.trim_end_matches('_')));
    vec![discovery(&format!("/apis/{group}/"), id, "get information of a group", meta_definition("APIGroup"))]
}

/// A `GET` of a discovery document (`/api/`, `/apis/`, `/apis/{group}/`, `/api/v1/`).
pub(super) fn discovery(path: &str, id: String, description: &str, definition: String) -> PathItem {
    let operation = Operation {
        method: Method::Get,
        id,
        description: description.into(),
        action: "",
        gvk: None,
        params: Vec::new(),
        body: None,
        response: Payload::Schema(definition),
        codes: &[200],
        produces: JSON_YAML_PROTOBUF,
    };
    PathItem { path: path.into(), params: Vec::new(), operations: vec![operation] }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub(super) fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Every path of one group-version, with its discovery document first.
pub(super) fn paths(group: &str, version: &str) -> Vec<PathItem> {
    let prefix = prefix(group, version);
    let id = format!("get{}APIResources", id_part(group, version));
    let mut out =
        vec![discovery(&format!("{prefix}/"), id, "get available resources", meta_definition("APIResourceList"))];
    for res in registry::resources_of(group, version) {
        out.extend(ResourceOps::new(res).paths());
    }
    out
}

/// One resource and the names its operations are built from.
struct ResourceOps {
    res: &'static Resource,
    prefix: String,
    /// `CoreV1`.
    gv: String,
    /// `NamespacedPod` or `Node`.
    scoped: String,
    gvk: Gvk,
    definition: Option<String>,
}

impl ResourceOps {
    fn new(res: &'static Resource) -> ResourceOps {
        let scoped = if res.namespaced { format!("Namespaced{}", res.kind) } else { res.kind.to_string() };
        ResourceOps {
            res,
            prefix: prefix(res.group, res.version),
            gv: id_part(res.group, res.version),
            scoped,
            gvk: Gvk { group: res.group, version: res.version, kind: res.kind },
            definition: definition_of(res.group, res.version, res.kind),
        }
    }

    /// `/namespaces/{namespace}` for namespaced resources.
    fn scope(&self) -> &'static str {
        if self.res.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        }
    }

    fn scope_params(&self) -> Vec<Param> {
        let mut params = Vec::new();
        if self.res.namespaced {
            params.push(params::namespace());
        }
        params.push(params::pretty());
        params
    }

    fn item_params(&self) -> Vec<Param> {
        let mut params = vec![params::name(self.res.kind)];
        params.extend(self.scope_params());
        params
    }

    fn operation(
        &self,
        method: Method,
        verb: &str,
        rest: &str,
        action: &'static str,
        description: String,
    ) -> Operation {
        Operation {
            method,
            id: format!("{verb}{}{rest}", self.gv),
            description,
            action,
            gvk: Some(self.gvk.clone()),
            params: Vec::new(),
            body: None,
            response: self.object(),
            codes: &[200],
            produces: JSON_YAML_PROTOBUF,
        }
    }

    fn object(&self) -> Payload {
        self.definition.clone().map(Payload::Schema).unwrap_or(Payload::Text)
    }

    fn list(&self) -> Payload {
        list_definition_of(self.res).map(Payload::Schema).unwrap_or(Payload::Text)
    }

    fn paths(&self) -> Vec<PathItem> {
        let (res, kind, scoped) = (self.res, self.res.kind, self.scoped.as_str());
        let collection = format!("{}{}/{}", self.prefix, self.scope(), res.plural);
        let item = format!("{collection}/{{name}}");
        let status = || Payload::Schema(meta_definition("Status"));
        let mut collection_ops = Vec::new();
        let mut item_ops = Vec::new();
        if res.has_verb("list") {
            let mut op =
                self.operation(Method::Get, "list", scoped, "list", format!("list or watch objects of kind {kind}"));
            op.params = params::list();
            op.response = self.list();
            op.produces = WATCHABLE;
            collection_ops.push(op);
        }
        if res.has_verb("create") {
            let mut op = self.operation(Method::Post, "create", scoped, "post", format!("create a {kind}"));
            op.params = params::write();
            op.body = self.definition.clone().map(|d| (d, ANY));
            op.codes = &[200, 201, 202];
            collection_ops.push(op);
        }
        if res.has_verb("deletecollection") {
            let rest = format!("Collection{scoped}");
            let description = format!("delete collection of {kind}");
            let mut op = self.operation(Method::Delete, "delete", &rest, "deletecollection", description);
            op.params = params::delete();
            op.params.extend(params::list());
            op.body = Some((meta_definition("DeleteOptions"), ANY));
            op.response = status();
            collection_ops.push(op);
        }
        if res.has_verb("get") {
            item_ops.push(self.operation(Method::Get, "read", scoped, "get", format!("read the specified {kind}")));
        }
        if res.has_verb("update") {
            let mut op = self.operation(Method::Put, "replace", scoped, "put", format!("replace the specified {kind}"));
            op.params = params::write();
            op.body = self.definition.clone().map(|d| (d, ANY));
            op.codes = &[200, 201];
            item_ops.push(op);
        }
        if res.has_verb("delete") {
            let mut op = self.operation(Method::Delete, "delete", scoped, "delete", format!("delete a {kind}"));
            op.params = params::delete();
            op.body = Some((meta_definition("DeleteOptions"), ANY));
            op.response = status();
            op.codes = &[200, 202];
            item_ops.push(op);
        }
        if res.has_verb("patch") {
            item_ops.push(self.patch(scoped, format!("partially update the specified {kind}"), self.object()));
        }
        let mut out = Vec::new();
        if !collection_ops.is_empty() {
            out.push(PathItem { path: collection, params: self.scope_params(), operations: collection_ops });
        }
        if !item_ops.is_empty() {
            out.push(PathItem { path: item, params: self.item_params(), operations: item_ops });
        }
        if res.namespaced && res.has_verb("list") {
            let mut op = self.operation(
                Method::Get,
                "list",
                &format!("{kind}ForAllNamespaces"),
                "list",
                format!("list or watch objects of kind {kind}"),
            );
            op.params = params::list();
            op.response = self.list();
            op.produces = WATCHABLE;
            out.push(PathItem {
                path: format!("{}/{}", self.prefix, res.plural),
                params: vec![params::pretty()],
                operations: vec![op],
            });
        }
        if res.has_verb("watch") {
            out.extend(self.watch_paths());
        }
        for sub in res.subresources {
            out.extend(self.subresource_paths(sub));
        }
        out
    }

    fn patch(&self, rest: &str, description: String, response: Payload) -> Operation {
        let mut op = self.operation(Method::Patch, "patch", rest, "patch", description);
        op.params = params::patch();
        op.body = Some((meta_definition("Patch"), PATCH_TYPES));
        op.response = response;
        op.codes = &[200, 201];
        op
    }

    /// The deprecated `/watch/` paths, which upstream still publishes and skiff serves.
    fn watch_paths(&self) -> Vec<PathItem> {
        let (res, kind, scoped) = (self.res, self.res.kind, self.scoped.as_str());
        let watch = |rest: &str, action: &'static str, description: String| {
            let mut op = self.operation(Method::Get, "watch", rest, action, description);
            op.params = params::list();
            op.response = Payload::Schema(meta_definition("WatchEvent"));
            op.produces = WATCHABLE;
            vec![op]
        };
        let collection = format!("{}/watch{}/{}", self.prefix, self.scope(), res.plural);
        let deprecated = "deprecated: use the 'watch' parameter with a list operation instead";
        let mut out = vec![
            PathItem {
                path: collection.clone(),
                params: self.scope_params(),
                operations: watch(&format!("{scoped}List"), "watchlist", format!("watch individual changes to a list of {kind}. {deprecated}.")),
            },
            PathItem {
                path: format!("{collection}/{{name}}"),
                params: self.item_params(),
                operations: watch(scoped, "watch", format!("watch changes to an object of kind {kind}. {deprecated}, filtered to a single item with the 'fieldSelector' parameter.")),
            },
        ];
        if res.namespaced {
            out.push(PathItem {
                path: format!("{}/watch/{}", self.prefix, res.plural),
                params: vec![params::pretty()],
                operations: watch(
                    &format!("{kind}ListForAllNamespaces"),
                    "watchlist",
                    format!("watch individual changes to a list of {kind}. {deprecated}."),
                ),
            });
        }
        out
    }
}
