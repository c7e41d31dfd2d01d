//! Defaults of storage.k8s.io/v1 CSIDrivers (upstream's `SetDefaults_CSIDriver`, with
//! SELinuxMountReadWriteOncePod on as it is by default in 1.32).

use serde_json::{json, Value};

use super::set;

pub fn csi_driver(obj: &mut Value) {
    set(obj, &["spec", "attachRequired"], json!(true));
    set(obj, &["spec", "podInfoOnMount"], json!(false));
    set(obj, &["spec", "storageCapacity"], json!(false));
    set(obj, &["spec", "fsGroupPolicy"], json!("ReadWriteOnceWithFSType"));
    if obj.pointer("/spec/volumeLifecycleModes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        obj["spec"]["volumeLifecycleModes"] = json!(["Persistent"]);
    }
    set(obj, &["spec", "requiresRepublish"], json!(false));
    set(obj, &["spec", "seLinuxMount"], json!(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csi_drivers_get_upstreams_defaults() {
        let mut d = json!({"metadata": {"name": "hostpath.csi.k8s.io"}});
        csi_driver(&mut d);
        assert_eq!(
            d["spec"],
            json!({"attachRequired": true, "podInfoOnMount": false, "storageCapacity": false,
                "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
                "requiresRepublish": false, "seLinuxMount": false})
        );
        let mut d =
            json!({"spec": {"attachRequired": false, "volumeLifecycleModes": ["Ephemeral"], "fsGroupPolicy": "File"}});
        csi_driver(&mut d);
        assert_eq!(
            (
                d["spec"]["attachRequired"].clone(),
                d["spec"]["volumeLifecycleModes"].clone(),
                d["spec"]["fsGroupPolicy"].clone()
            ),
            (json!(false), json!(["Ephemeral"]), json!("File"))
        );
    }
}
