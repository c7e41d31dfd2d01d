//! The operations of subresources: `status`, `scale` and the other object-valued ones,
//! `log`, and the `connect` streams (`exec`, `attach`, `portforward`, `proxy`).

use skiff_api::registry::Subresource;

use super::super::definitions::definition_of;
use super::super::params::{self, Param};
use super::{capitalize, Gvk, Method, Operation, PathItem, Payload, ResourceOps, ANY, TEXT};

impl ResourceOps {
    pub(super) fn subresource_paths(&self, sub: &Subresource) -> Vec<PathItem> {
        let (kind, scoped) = (self.res.kind, self.scoped.as_str());
        let path = format!("{}{}/{}/{{name}}/{}", self.prefix, self.scope(), self.res.plural, sub.name);
        let title = capitalize(sub.name);
        let rest = format!("{scoped}{title}");
        let (group, version) =
            if sub.group.is_empty() { (self.res.group, self.res.version) } else { (sub.group, sub.version) };
        let gvk = Gvk { group, version, kind: sub.kind };
        let payload = definition_of(group, version, sub.kind).map(Payload::Schema).unwrap_or(Payload::Text);
        let with_gvk = |mut op: Operation| {
            op.gvk = Some(gvk.clone());
            op
        };
        if matches!(sub.name, "attach" | "exec" | "portforward" | "proxy") {
            return self.connect_paths(sub, &path, &gvk);
        }
        let mut ops = Vec::new();
        for verb in sub.verbs {
            let op = match *verb {
                "get" if sub.name == "log" => {
                    let mut op =
                        self.operation(Method::Get, "read", &rest, "get", format!("read log of the specified {kind}"));
                    op.params = params::log();
                    op.response = Payload::Text;
                    op.produces = TEXT;
                    op
                }
                "get" => {
                    let mut op = self.operation(
                        Method::Get,
                        "read",
                        &rest,
                        "get",
                        format!("read {} of the specified {kind}", sub.name),
                    );
                    op.response = payload.clone();
                    op
                }
                "update" => {
                    let mut op = self.operation(
                        Method::Put,
                        "replace",
                        &rest,
                        "put",
                        format!("replace {} of the specified {kind}", sub.name),
                    );
                    op.params = params::write();
                    op.body = schema_of(&payload).map(|d| (d, ANY));
                    op.response = payload.clone();
                    op.codes = &[200, 201];
                    op
                }
                "patch" => {
                    self.patch(&rest, format!("partially update {} of the specified {kind}", sub.name), payload.clone())
                }
                "create" => {
                    let mut op = self.operation(
                        Method::Post,
                        "create",
                        &rest,
                        "post",
                        format!("create {} of a {kind}", sub.name),
                    );
                    op.params = params::write();
                    op.body = schema_of(&payload).map(|d| (d, ANY));
                    op.response = payload.clone();
                    op.codes = &[200, 201, 202];
                    op
                }
                _ => continue,
            };
            ops.push(with_gvk(op));
        }
        vec![PathItem { path, params: self.item_params(), operations: ops }]
    }

    /// `exec`, `attach`, `portforward` and `proxy`: streams, one `connect` operation per
    /// verb; `proxy` also takes a trailing path.
    fn connect_paths(&self, sub: &Subresource, path: &str, gvk: &Gvk) -> Vec<PathItem> {
        let title = capitalize(sub.name);
        let item = |suffix: &str, extra: Option<Param>| {
            let mut operations = Vec::new();
            for verb in sub.verbs {
                let method = match *verb {
                    "get" => Method::Get,
                    "create" => Method::Post,
                    "update" => Method::Put,
                    "patch" => Method::Patch,
                    "delete" => Method::Delete,
                    _ => continue,
                };
                let rest = format!("{}{}{title}{suffix}", method.title(), self.scoped);
                let description =
                    format!("connect {} requests to {} of {}", method.key().to_uppercase(), sub.name, self.res.kind);
                let mut op = self.operation(method, "connect", &rest, "connect", description);
                op.gvk = Some(gvk.clone());
                op.params = if extra.is_some() { Vec::new() } else { params::connect(sub.name) };
                op.response = Payload::Text;
                op.produces = ANY;
                operations.push(op);
            }
            let mut params = self.item_params();
            params.retain(|p| p.name != "pretty");
            params.extend(extra);
            PathItem { path: format!("{path}{}", if suffix.is_empty() { "" } else { "/{path}" }), params, operations }
        };
        let mut out = vec![item("", None)];
        if sub.name == "proxy" {
            out.push(item("WithPath", Some(params::proxy_path())));
        }
        out
    }
}

fn schema_of(payload: &Payload) -> Option<String> {
    match payload {
        Payload::Schema(name) => Some(name.clone()),
        Payload::Text => None,
    }
}
