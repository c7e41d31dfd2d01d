//! Discovery: `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}` (legacy), the
//! aggregated form kubectl asks for first, and `/version`. All derived from the
//! registry.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use skiff_api::registry::{self, Resource};

use crate::response::{self, HttpResponse};

/// The Kubernetes version skiff serves.
pub const KUBERNETES_MINOR: &str = "32";
pub const GIT_VERSION: &str = concat!("v1.32.0-skiff.", env!("CARGO_PKG_VERSION"));

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "rustc",
        "platform": format!("linux/{}", go_arch()),
    })
}

pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

/// Which aggregated discovery version (if any) an Accept header asks for.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for entry in accept.split(',') {
        let params: Vec<&str> = entry.split(';').map(str::trim).collect();
        if params.contains(&"g=apidiscovery.k8s.io") && params.contains(&"as=APIGroupDiscoveryList") {
            if params.contains(&"v=v2") {
                return Some("v2");
            }
            if params.contains(&"v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

/// `GET /api` or `GET /apis`, legacy or aggregated.
pub fn root(legacy_core: bool, headers: &HeaderMap) -> HttpResponse {
    if let Some(version) = aggregated_version(headers) {
        let groups: Vec<Value> = registry::groups()
            .into_iter()
            .filter(|(g, _)| g.is_empty() == legacy_core)
            .map(|(group, versions)| aggregated_group(group, &versions))
            .collect();
        let body = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": groups,
        });
        let content_type = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
        return with_etag(body, &content_type, headers);
    }
    let body = if legacy_core {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        })
    } else {
        let groups: Vec<Value> = registry::groups()
            .into_iter()
            .filter(|(g, _)| !g.is_empty())
            .map(|(group, versions)| {
                let gvs: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                    .collect();
                json!({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    };
    with_etag(body, "application/json", headers)
}

/// `GET /apis/{group}`.
pub fn group(group: &str, headers: &HeaderMap) -> Option<HttpResponse> {
    let (_, versions) = registry::groups().into_iter().find(|(g, _)| *g == group && !g.is_empty())?;
    let gvs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    let body = json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]});
    Some(with_etag(body, "application/json", headers))
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`: the APIResourceList.
pub fn resource_list(group: &str, version: &str, headers: &HeaderMap) -> Option<HttpResponse> {
    let mut resources = Vec::new();
    for r in registry::resources_of(group, version) {
        resources.push(legacy_resource(r));
        for s in r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if !s.group.is_empty() || !s.version.is_empty() {
                entry["group"] = json!(s.group);
                entry["version"] = json!(s.version);
            }
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let body = json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": registry::api_version(group, version),
        "resources": resources,
    });
    Some(with_etag(body, "application/json", headers))
}

fn legacy_resource(r: &Resource) -> Value {
    let mut entry = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    entry
}

fn aggregated_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = registry::resources_of(group, version).map(aggregated_resource).collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

fn aggregated_resource(r: &Resource) -> Value {
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        entry["subresources"] = r
            .subresources
            .iter()
            .map(|s| {
                let (group, version) =
                    if s.group.is_empty() && s.version.is_empty() { (r.group, r.version) } else { (s.group, s.version) };
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": group, "version": version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    entry
}

/// Answers with an ETag (a hash of the body) and `Vary: Accept`, or 304 when the
/// client already has this version.
fn with_etag(body: Value, content_type: &str, headers: &HeaderMap) -> HttpResponse {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let not_modified = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    let mut resp = if not_modified {
        let mut r = http::Response::new(response::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        http::Response::new(response::full(bytes))
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(resp: HttpResponse) -> Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn core_resource_list_has_what_clients_need() {
        let list = body(resource_list("", "v1", &HeaderMap::new()).unwrap()).await;
        let pods = list["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        for r in list["resources"].as_array().unwrap() {
            for field in ["name", "namespaced", "kind", "verbs", "singularName"] {
                assert!(r.get(field).is_some(), "{r} lacks {field}");
            }
        }
        let apps = body(resource_list("apps", "v1", &HeaderMap::new()).unwrap()).await;
        let scale = apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!((scale["group"].as_str(), scale["version"].as_str(), scale["kind"].as_str()), (Some("autoscaling"), Some("v1"), Some("Scale")));
    }

    #[tokio::test]
    async fn aggregated_discovery_says_so_in_content_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"),
        );
        let resp = root(false, &headers);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
        let etag = resp.headers()[header::ETAG].clone();
        let list = body(resp).await;
        assert_eq!(list["kind"], "APIGroupDiscoveryList");
        assert!(list["items"].as_array().unwrap().iter().any(|g| g["metadata"]["name"] == "apps"));
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(root(false, &headers).status(), StatusCode::NOT_MODIFIED);
    }
}
