//! The node's CNI configuration: a `cni0` bridge with host-local addresses from the
//! node's podCIDR, portmap for hostPorts. The bridge does not masquerade
//! (`ipMasq: false`): it would hide pods' addresses from pods on other nodes;
//! the agent's own rule (`masq`) masquerades only traffic leaving the cluster. (containerd's CRI plugin adds the
//! loopback interface itself, with the `loopback` plugin from the same bin dir.)

use std::path::Path;

use serde_json::json;

/// The network name; also the file name `10-skiff.conflist`.
pub const NETWORK_NAME: &str = "skiff";
pub const CONFIG_FILE: &str = "10-skiff.conflist";
/// The pods' bridge. Its address is the node's pod gateway, never the node's IP.
pub const BRIDGE: &str = "cni0";

/// The conflist for `pod_cidr` (e.g. `10.42.0.0/24`); IPAM state in `ipam_dir`.
pub fn conflist(pod_cidr: &str, ipam_dir: &Path) -> serde_json::Value {
    json!({
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir.display().to_string(),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
        ],
    })
}

/// Writes the conflist into `conf_dir` unless it already says the same (CRI
/// re-reads the directory on change; rewriting the same bytes is harmless but
/// noisy).
pub fn write(conf_dir: &Path, pod_cidr: &str, ipam_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(conf_dir)?;
    let path = conf_dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&conflist(pod_cidr, ipam_dir))?;
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    let tmp = conf_dir.join(format!(".{CONFIG_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_takes_addresses_from_the_pod_cidr() {
        let c = conflist("10.42.3.0/24", Path::new("/x/ipam"));
        assert_eq!(c["plugins"][0]["bridge"], "cni0");
        assert_eq!(c["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.42.3.0/24");
        assert_eq!(c["plugins"][0]["ipam"]["dataDir"], "/x/ipam");
        assert_eq!(c["plugins"][1]["type"], "portmap");
        assert_eq!(c["plugins"][0]["ipMasq"], false, "crate::masq masquerades, only out of the cluster");
    }
}
