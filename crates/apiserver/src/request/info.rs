//! Turns a request's method and path into what it asks for (upstream's
//! `RequestInfoFactory`): an API resource request with verb, group, version,
//! namespace, resource, name and subresource — or a non-resource path.

use http::Method;

/// The verb of a resource request, as authorization and audit name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A request for an API resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRequest {
    pub verb: Verb,
    /// "" for the core group.
    pub group: String,
    pub version: String,
    /// "" for cluster-scoped requests and all-namespace lists.
    pub namespace: String,
    pub resource: String,
    pub name: String,
    pub subresource: String,
}

/// What a request path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestInfo {
    Resource(ResourceRequest),
    /// Anything else: discovery, /version, /healthz, /openapi/..., /metrics.
    NonResource { path: String, verb: &'static str },
}

/// Parses a request. `watch=true` in the query (the legacy way to watch) turns a
/// list or get into a watch.
pub fn parse(method: &Method, path: &str, watch_param: bool) -> RequestInfo {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let non_resource = || RequestInfo::NonResource { path: path.to_string(), verb: non_resource_verb(method) };
    // /api/v1/... or /apis/{group}/{version}/...
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return non_resource(),
    };
    // Legacy /watch/ prefix: /api/v1/watch/namespaces/ns/pods
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let (namespace, rest) = match rest {
        // /namespaces/{ns}/{resource}/... ; but /namespaces/{name} and
        // /namespaces/{name}/status|finalize address the namespace itself.
        ["namespaces", ns, resource, tail @ ..] if !matches!(*resource, "status" | "finalize") || !tail.is_empty() => {
            (*ns, {
                let mut v = vec![*resource];
                v.extend_from_slice(tail);
                v
            })
        }
        _ => ("", rest.to_vec()),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [resource] => (*resource, "", ""),
        [resource, name] => (*resource, *name, ""),
        [resource, name, sub] => (*resource, *name, *sub),
        // Proxy paths carry more segments: /pods/{name}/proxy/extra/path.
        [resource, name, sub, ..] => (*resource, *name, *sub),
        _ => return non_resource(),
    };
    let collection = name.is_empty();
    let verb = match (method.as_str(), collection) {
        ("GET", _) if legacy_watch || watch_param => Verb::Watch,
        _ if legacy_watch || watch_param => return non_resource(),
        ("GET" | "HEAD", true) => Verb::List,
        ("GET" | "HEAD", false) => Verb::Get,
        ("POST", _) => Verb::Create,
        ("PUT", _) => Verb::Update,
        ("PATCH", _) => Verb::Patch,
        ("DELETE", true) => Verb::DeleteCollection,
        ("DELETE", false) => Verb::Delete,
        _ => return non_resource(),
    };
    RequestInfo::Resource(ResourceRequest {
        verb,
        group: group.to_string(),
        version: version.to_string(),
        namespace: namespace.to_string(),
        resource: resource.to_string(),
        name: name.to_string(),
        subresource: subresource.to_string(),
    })
}

fn non_resource_verb(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" | "HEAD" => "get",
        "POST" => "post",
        "PUT" => "put",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(method: Method, path: &str) -> ResourceRequest {
        match parse(&method, path, false) {
            RequestInfo::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn core_and_group_paths() {
        let r = res(Method::GET, "/api/v1/namespaces/default/pods");
        assert_eq!((r.verb, r.group.as_str(), r.namespace.as_str(), r.resource.as_str()), (Verb::List, "", "default", "pods"));
        let r = res(Method::GET, "/apis/apps/v1/namespaces/ns/deployments/web/scale");
        assert_eq!((r.group.as_str(), r.name.as_str(), r.subresource.as_str(), r.verb), ("apps", "web", "scale", Verb::Get));
        let r = res(Method::DELETE, "/api/v1/namespaces/ns/configmaps");
        assert_eq!(r.verb, Verb::DeleteCollection);
        let r = res(Method::GET, "/api/v1/pods");
        assert_eq!((r.namespace.as_str(), r.verb), ("", Verb::List));
    }

    #[test]
    fn namespaces_themselves() {
        let r = res(Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!((r.resource.as_str(), r.name.as_str(), r.namespace.as_str()), ("namespaces", "kube-system", ""));
        let r = res(Method::PUT, "/api/v1/namespaces/demo/finalize");
        assert_eq!((r.resource.as_str(), r.name.as_str(), r.subresource.as_str()), ("namespaces", "demo", "finalize"));
        let r = res(Method::GET, "/api/v1/namespaces/demo/status");
        assert_eq!((r.name.as_str(), r.subresource.as_str()), ("demo", "status"));
        let r = res(Method::POST, "/api/v1/namespaces");
        assert_eq!((r.verb, r.resource.as_str()), (Verb::Create, "namespaces"));
    }

    #[test]
    fn watches() {
        let r = res(Method::GET, "/api/v1/watch/namespaces/ns/pods/p");
        assert_eq!((r.verb, r.name.as_str()), (Verb::Watch, "p"));
        match parse(&Method::GET, "/api/v1/pods", true) {
            RequestInfo::Resource(r) => assert_eq!(r.verb, Verb::Watch),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_resource_paths() {
        for p in ["/", "/api", "/apis", "/api/v1", "/apis/apps", "/apis/apps/v1", "/healthz", "/version", "/openapi/v3"] {
            assert!(matches!(parse(&Method::GET, p, false), RequestInfo::NonResource { .. }), "{p}");
        }
    }
}
