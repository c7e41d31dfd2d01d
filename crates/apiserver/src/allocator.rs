//! Service ClusterIP and NodePort allocation. Each allocated address or port is a
//! key in the store (`/registry/allocations/...`), taken with an atomic create, so
//! the same one is never handed out twice — also across restarts and servers
//! sharing one etcd.

use std::net::Ipv4Addr;

use serde_json::{json, Value};
use skiff_api::{ApiError, ApiResult, Cause};
use skiff_store::{RangeRequest, Store};

/// The Service network (k3s's default) and NodePort range.
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 43, 0, 0), 16);
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

const IP_PREFIX: &str = "/registry/allocations/clusterips/";
const PORT_PREFIX: &str = "/registry/allocations/nodeports/";

fn ip_in_range(ip: Ipv4Addr) -> bool {
    let (net, bits) = SERVICE_CIDR;
    let mask = u32::MAX << (32 - bits);
    u32::from(ip) & mask == u32::from(net) & mask && ip != net && u32::from(ip) != (u32::from(net) | !mask)
}

/// The `n`th usable address of the Service network (1-based).
pub fn service_ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(SERVICE_CIDR.0) + n)
}

fn random(n: u32) -> u32 {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as u32
}

/// Takes one key; `false` when it is already taken.
async fn take(store: &dyn Store, key: &str, owner: &str) -> ApiResult<bool> {
    match store.create(key.as_bytes(), owner.as_bytes().to_vec()).await {
        Ok(_) => Ok(true),
        Err(skiff_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(crate::storage::store_error(e)),
    }
}

pub async fn release(store: &dyn Store, keys: &[String]) {
    for key in keys {
        if let Err(e) = store.delete(key.as_bytes(), None).await {
            if !matches!(e, skiff_store::Error::NotFound { .. }) {
                tracing::warn!(key, error = %e, "cannot release a Service allocation");
            }
        }
    }
}

/// Allocates what a new (or changed) Service needs: a ClusterIP unless headless or
/// ExternalName, and NodePorts for NodePort/LoadBalancer types. Returns the keys
/// taken, to release if the write fails. `old` is the Service before an update.
pub async fn allocate(store: &dyn Store, svc: &mut Value, old: Option<&Value>) -> ApiResult<Vec<String>> {
    let owner = format!("{}/{}", skiff_api::meta::namespace(svc), skiff_api::meta::name(svc));
    let name = skiff_api::meta::name(svc).to_string();
    let invalid = |field: &str, value: Value, detail: String| ApiError::invalid("", "Service", &name, vec![Cause::invalid(field, &value, detail)]);
    let mut taken = Vec::new();
    let service_type = svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    let result = async {
        let wants_ip = service_type != "ExternalName";
        let requested = svc.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
        let had_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).and_then(Value::as_str).unwrap_or("").to_string();
        if wants_ip && requested != "None" && (old.is_none() || had_ip.is_empty()) {
            let ip = if requested.is_empty() {
                allocate_ip(store, &owner, &mut taken).await?
            } else {
                let ip: Ipv4Addr = requested
                    .parse()
                    .map_err(|_| invalid("spec.clusterIPs", json!([requested]), "must be a valid IP address".into()))?;
                if !ip_in_range(ip) {
                    return Err(invalid(
                        "spec.clusterIPs",
                        json!([requested]),
                        format!("failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}/{}", SERVICE_CIDR.0, SERVICE_CIDR.1),
                    ));
                }
                let key = format!("{IP_PREFIX}{ip}");
                if !take(store, &key, &owner).await? {
                    return Err(invalid("spec.clusterIPs", json!([requested]), format!("failed to allocate IP {ip}: provided IP is already allocated")));
                }
                taken.push(key);
                ip
            };
            svc["spec"]["clusterIP"] = json!(ip.to_string());
            svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
        }
        if wants_ip {
            let ip = svc.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
            if ip == "None" {
                svc["spec"]["clusterIPs"] = json!(["None"]);
            }
            skiff_api::defaults::set(svc, &["spec", "ipFamilies"], json!(["IPv4"]));
            skiff_api::defaults::set(svc, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
        }
        if matches!(service_type.as_str(), "NodePort" | "LoadBalancer") {
            if service_type == "LoadBalancer" {
                skiff_api::defaults::set(svc, &["spec", "allocateLoadBalancerNodePorts"], json!(true));
            }
            let old_ports: Vec<i64> = old
                .and_then(|o| o.pointer("/spec/ports"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                .collect();
            let count = svc.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
            for i in 0..count {
                let requested = svc.pointer(&format!("/spec/ports/{i}/nodePort")).and_then(Value::as_i64);
                let port = match requested {
                    Some(p) if old_ports.contains(&p) => continue,
                    Some(p) => {
                        let in_range = u16::try_from(p).is_ok_and(|p| NODE_PORTS.contains(&p));
                        if !in_range {
                            return Err(invalid(&format!("spec.ports[{i}].nodePort"), json!(p), format!("provided port is not in the valid range. The range of valid ports is {}-{}", NODE_PORTS.start(), NODE_PORTS.end())));
                        }
                        let key = format!("{PORT_PREFIX}{p}");
                        if !take(store, &key, &owner).await? {
                            return Err(invalid(&format!("spec.ports[{i}].nodePort"), json!(p), "provided port is already allocated".into()));
                        }
                        taken.push(key);
                        p
                    }
                    None => allocate_port(store, &owner, &mut taken).await? as i64,
                };
                svc["spec"]["ports"][i]["nodePort"] = json!(port);
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(taken),
        Err(e) => {
            release(store, &taken).await;
            Err(e)
        }
    }
}

async fn allocate_ip(store: &dyn Store, owner: &str, taken: &mut Vec<String>) -> ApiResult<Ipv4Addr> {
    let size = (1u32 << (32 - SERVICE_CIDR.1)) - 2;
    // Random probes find a free address at once in a sparse range; the scan below
    // handles a nearly full one.
    for _ in 0..32 {
        // Skip the first 10 addresses: .1 is the API server, .10 cluster DNS.
        let ip = service_ip(11 + random(size - 10));
        let key = format!("{IP_PREFIX}{ip}");
        if take(store, &key, owner).await? {
            taken.push(key);
            return Ok(ip);
        }
    }
    let used = list(store, IP_PREFIX).await?;
    for n in 11..=size {
        let ip = service_ip(n);
        if !used.contains(&ip.to_string()) {
            let key = format!("{IP_PREFIX}{ip}");
            if take(store, &key, owner).await? {
                taken.push(key);
                return Ok(ip);
            }
        }
    }
    Err(ApiError::Internal("failed to allocate a serviceIP: range is full".into()))
}

async fn allocate_port(store: &dyn Store, owner: &str, taken: &mut Vec<String>) -> ApiResult<u16> {
    let span = (*NODE_PORTS.end() - *NODE_PORTS.start()) as u32 + 1;
    for _ in 0..32 {
        let port = NODE_PORTS.start() + random(span) as u16;
        let key = format!("{PORT_PREFIX}{port}");
        if take(store, &key, owner).await? {
            taken.push(key);
            return Ok(port);
        }
    }
    let used = list(store, PORT_PREFIX).await?;
    for port in NODE_PORTS {
        if !used.contains(&port.to_string()) {
            let key = format!("{PORT_PREFIX}{port}");
            if take(store, &key, owner).await? {
                taken.push(key);
                return Ok(port);
            }
        }
    }
    Err(ApiError::Internal("failed to allocate a nodePort: range is full".into()))
}

async fn list(store: &dyn Store, prefix: &str) -> ApiResult<std::collections::HashSet<String>> {
    let resp = store.range(RangeRequest::prefix(prefix)).await.map_err(crate::storage::store_error)?;
    Ok(resp.kvs.into_iter().map(|kv| String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned()).collect())
}

/// The allocation keys a stored Service holds.
pub fn keys_of(svc: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str).filter(|ip| !ip.is_empty() && *ip != "None") {
        keys.push(format!("{IP_PREFIX}{ip}"));
    }
    for p in svc.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
        if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
            keys.push(format!("{PORT_PREFIX}{np}"));
        }
    }
    keys
}

/// Keys `old` held that `new` no longer does (a type change away from NodePort,
/// a removed port).
pub fn released_by_update(old: &Value, new: &Value) -> Vec<String> {
    let kept = keys_of(new);
    keys_of(old).into_iter().filter(|k| !kept.contains(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_range() {
        assert!(ip_in_range(Ipv4Addr::new(10, 43, 0, 1)));
        assert!(ip_in_range(Ipv4Addr::new(10, 43, 255, 254)));
        assert!(!ip_in_range(Ipv4Addr::new(10, 43, 0, 0)));
        assert!(!ip_in_range(Ipv4Addr::new(10, 43, 255, 255)));
        assert!(!ip_in_range(Ipv4Addr::new(10, 44, 0, 1)));
        assert_eq!(service_ip(10), Ipv4Addr::new(10, 43, 0, 10));
    }

    #[tokio::test]
    async fn allocations_are_unique_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = skiff_store::RedbStore::open(dir.path()).unwrap();
        let mut a = json!({"metadata": {"name": "a", "namespace": "d"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        let keys = allocate(&store, &mut a, None).await.unwrap();
        assert_eq!(keys.len(), 2);
        let ip = a["spec"]["clusterIP"].as_str().unwrap().to_string();
        let port = a["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        let mut b = json!({"metadata": {"name": "b", "namespace": "d"}, "spec": {"clusterIP": ip, "ports": [{"port": 80}]}});
        assert_eq!(allocate(&store, &mut b, None).await.unwrap_err().code(), 422);
        let mut c = json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}});
        assert_eq!(allocate(&store, &mut c, None).await.unwrap_err().code(), 422);
        // The failed allocation of c released the ClusterIP it had taken.
        assert_eq!(list(&store, IP_PREFIX).await.unwrap().len(), 1);
        release(&store, &keys_of(&a)).await;
        let mut b2 = json!({"metadata": {"name": "b", "namespace": "d"}, "spec": {"clusterIP": ip, "ports": [{"port": 80}]}});
        allocate(&store, &mut b2, None).await.unwrap();
        let mut headless = json!({"metadata": {"name": "h", "namespace": "d"}, "spec": {"clusterIP": "None"}});
        assert!(allocate(&store, &mut headless, None).await.unwrap().is_empty());
    }
}
