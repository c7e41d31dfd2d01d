//! The Endpoints and EndpointSlice of the `kubernetes` Service in `default`,
//! listing this API server's address and port (upstream's apiserver endpoint
//! reconciler). The API server is their only writer: the Service has no
//! selector, so the endpoint controllers leave it alone.

use std::net::IpAddr;

use serde_json::{json, Value};
use skiff_api::{meta, ApiError};

use crate::storage::{self, parse_resource_version};

/// The two objects as they should be, for the server at `ip:port`.
pub fn desired(ip: IpAddr, port: u16) -> (Value, Value) {
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip.to_string()}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": if ip.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    (endpoints, slice)
}

/// Writes both objects if they are missing or list another address (the
/// server restarted on another address or port).
pub async fn ensure(objects: &storage::Objects, ip: IpAddr, port: u16) -> Result<(), ApiError> {
    let (endpoints, slice) = desired(ip, port);
    ensure_one(objects, ("", "v1", "endpoints"), endpoints, &["subsets"]).await?;
    ensure_one(objects, ("discovery.k8s.io", "v1", "endpointslices"), slice, &["addressType", "endpoints", "ports"])
        .await
}

async fn ensure_one(
    objects: &storage::Objects,
    (group, version, plural): (&str, &str, &str),
    mut want: Value,
    fields: &[&str],
) -> Result<(), ApiError> {
    let res = skiff_api::registry::find(group, version, plural).expect("endpoints resources are registered");
    match objects.get(res, "default", "kubernetes").await {
        Ok(mut have) => {
            let labels_same = have.pointer("/metadata/labels") == want.pointer("/metadata/labels");
            if labels_same && fields.iter().all(|f| have.get(*f) == want.get(*f)) {
                return Ok(());
            }
            let rev = parse_resource_version(meta::resource_version(&have))?;
            have["metadata"]["labels"] = want["metadata"]["labels"].take();
            for f in fields {
                have[*f] = want[*f].take();
            }
            match objects.update(res, have, rev).await {
                // Another server instance wrote meanwhile; it runs the same code.
                Ok(_) | Err(ApiError::Conflict { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(ApiError::NotFound(_)) => {
            crate::strategy::prepare_for_create(res, &mut want);
            match objects.create(res, want).await {
                Ok(_) | Err(ApiError::AlreadyExists(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_lists_the_server() {
        let (e, s) = desired("10.1.2.3".parse().unwrap(), 6443);
        assert_eq!(e["subsets"][0]["addresses"][0]["ip"], "10.1.2.3");
        assert_eq!(e["subsets"][0]["ports"][0]["port"], 6443);
        assert_eq!(s["addressType"], "IPv4");
        assert_eq!(s["metadata"]["labels"]["kubernetes.io/service-name"], "kubernetes");
        assert_eq!(s["endpoints"][0]["addresses"][0], "10.1.2.3");
        let (_, s6) = desired("fd00::1".parse().unwrap(), 443);
        assert_eq!(s6["addressType"], "IPv6");
    }
}
