//! Endpoints and EndpointSlice port defaults (upstream's `SetDefaults_EndpointPort`
//! of core/v1 and discovery/v1): the protocol is TCP unless given.
//!
//! Upstream's discovery/v1 defaulting also sets a missing port `name` to "";
//! skiff leaves it out (validation treats the two alike), because its
//! EndpointSlice controller compares stored ports with the Service's unnamed
//! ones and would rewrite slices that had gained `name: ""`.

use serde_json::{json, Value};

use super::set;

/// Core ports hold the protocol as a plain string, so an empty one is defaulted too.
pub fn endpoints(obj: &mut Value) {
    let subsets = obj.get_mut("subsets").and_then(Value::as_array_mut);
    for subset in subsets.into_iter().flatten() {
        for port in ports(subset.get_mut("ports")) {
            if port.get("protocol").and_then(Value::as_str) == Some("") {
                port["protocol"] = json!("TCP");
            }
            set(port, &["protocol"], json!("TCP"));
        }
    }
}

/// Slice ports hold a pointer: only a missing protocol is defaulted.
pub fn endpoint_slice(obj: &mut Value) {
    for port in ports(obj.get_mut("ports")) {
        set(port, &["protocol"], json!("TCP"));
    }
}

fn ports(ports: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    ports.and_then(Value::as_array_mut).into_iter().flatten().filter(|p| p.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_to_tcp() {
        let mut ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}, {"port": 81, "protocol": ""}]}]});
        endpoints(&mut ep);
        assert_eq!(
            ep["subsets"][0]["ports"],
            json!([{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}, {"port": 81, "protocol": "TCP"}])
        );
        let mut slice = json!({"addressType": "IPv4", "endpoints": [], "ports": [{"name": "http", "port": 80}]});
        endpoint_slice(&mut slice);
        assert_eq!(slice["ports"], json!([{"name": "http", "port": 80, "protocol": "TCP"}]));
    }
}
