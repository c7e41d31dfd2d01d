use super::super::summaries;
use super::*;
use crate::names::DNS1123_SUBDOMAIN_MESSAGE;

/// A CSIDriver as stored after upstream's defaulting.
fn driver() -> Value {
    json!({"metadata": {"name": "ebs.csi.aws.com"}, "spec": {"attachRequired": true, "podInfoOnMount": false,
        "storageCapacity": false, "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
        "requiresRepublish": false, "seLinuxMount": false,
        "tokenRequests": [{"audience": "sts.amazonaws.com", "expirationSeconds": 3600}, {"audience": ""}]}})
}

use crate::validation::testing::with_spec;

fn run(f: fn(&Value, Option<&Value>, &mut Vec<Cause>), obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut causes = Vec::new();
    f(obj, old, &mut causes);
    summaries(&causes)
}

#[test]
fn csi_drivers() {
    assert_eq!(run(csi_driver, &driver(), None), Vec::<String>::new());
    let bare = with_spec(
        driver(),
        json!({"attachRequired": null, "podInfoOnMount": null, "storageCapacity": null, "seLinuxMount": null,
            "fsGroupPolicy": "Always", "volumeLifecycleModes": ["Persistent", "Forever"],
            "tokenRequests": [{"audience": "a", "expirationSeconds": 60}, {"audience": "a"},
                {"audience": "b", "expirationSeconds": 4294967297i64}]}),
    );
    assert_eq!(
        run(csi_driver, &bare, None),
        [
            "spec.attachedRequired: Required value",
            "spec.podInfoOnMount: Required value",
            "spec.storageCapacity: Required value",
            r#"spec.fsGroupPolicy: Unsupported value: "Always": supported values: "File", "None", "ReadWriteOnceWithFSType""#,
            "spec.tokenRequests[0].expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
            r#"spec.tokenRequests[1].audience: Duplicate value: "a""#,
            "spec.tokenRequests[2].expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds",
            r#"spec.volumeLifecycleModes: Unsupported value: "Forever": supported values: "Persistent", "Ephemeral""#,
            "spec.seLinuxMount: Required value",
        ]
    );
    let changed = with_spec(
        driver(),
        json!({"attachRequired": false, "volumeLifecycleModes": ["Ephemeral"], "podInfoOnMount": true, "fsGroupPolicy": "File"}),
    );
    assert_eq!(
        run(csi_driver, &changed, Some(&driver())),
        [
            "spec.attachedRequired: Invalid value: false: field is immutable",
            r#"spec.volumeLifecycleModes: Invalid value: []storage.VolumeLifecycleMode{"Ephemeral"}: field is immutable"#,
        ]
    );
}

fn node() -> Value {
    json!({"metadata": {"name": "node-1"}, "spec": {"drivers": [
        {"name": "ebs.csi.aws.com", "nodeID": "i-0123", "topologyKeys": ["topology.ebs.csi.aws.com/zone"],
            "allocatable": {"count": 25}},
        {"name": "Hostpath.CSI.k8s.io", "nodeID": "node-1"}]}})
}

#[test]
fn csi_nodes() {
    assert_eq!(run(csi_node, &node(), None), Vec::<String>::new());
    let bad = json!({"spec": {"drivers": [
        {"name": "", "nodeID": "", "allocatable": {"count": -1}, "topologyKeys": ["", "a/b/c", "zone", "zone"]},
        {"name": "x", "nodeID": "a".repeat(257)}, {"name": "x", "nodeID": "n"}]}});
    let name_part = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
    assert_eq!(
        run(csi_node, &bad, None),
        [
            "spec.drivers[0].name: Required value".to_string(),
            format!(r#"spec.drivers[0].name: Invalid value: "": {DNS1123_SUBDOMAIN_MESSAGE}"#),
            "spec.drivers[0].nodeID: Required value".into(),
            "spec.drivers[0].allocatable.count: Invalid value: -1: must be greater than or equal to 0".into(),
            "spec.drivers[0]: Required value".into(),
            r#"spec.drivers[0]: Invalid value: "": name part must be non-empty"#.into(),
            r#"spec.drivers[0]: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#.into(),
            format!(r#"spec.drivers[0]: Invalid value: "a/b/c": {name_part}"#),
            r#"spec.drivers[0]: Duplicate value: "zone""#.into(),
            format!(r#"spec.drivers[1].nodeID: Invalid value: "{}": must be 256 characters or less"#, "a".repeat(257)),
            r#"spec.drivers[2].name: Duplicate value: "x""#.into(),
        ]
    );
    let mut changed = node();
    changed["spec"]["drivers"][1]["nodeID"] = json!("node-2");
    changed["spec"]["drivers"][0]["name"] = json!("Bad_Name");
    assert_eq!(
        run(csi_node, &changed, Some(&node())),
        [
            format!(r#"spec.drivers[0].name: Invalid value: "Bad_Name": {DNS1123_SUBDOMAIN_MESSAGE}"#),
            format!(r#"spec.drivers[0].name: Invalid value: "Bad_Name": {DNS1123_SUBDOMAIN_MESSAGE}"#),
            r#"CSINodeDriver: Invalid value: storage.CSINodeDriver{Name:"Hostpath.CSI.k8s.io", NodeID:"node-2", TopologyKeys:[]string(nil), Allocatable:(*storage.VolumeNodeResources)(nil)}: field is immutable"#.into(),
        ]
    );
}

fn attachment_obj() -> Value {
    json!({"metadata": {"name": "csi-123"}, "spec": {"attacher": "ebs.csi.aws.com",
        "source": {"persistentVolumeName": "pvc-1"}, "nodeName": "node-1"},
        "status": {"attached": true, "attachmentMetadata": {"devicePath": "/dev/xvdba"}}})
}

#[test]
fn volume_attachments() {
    assert_eq!(run(volume_attachment, &attachment_obj(), None), Vec::<String>::new());
    assert_eq!(run(volume_attachment, &attachment_obj(), Some(&attachment_obj())), Vec::<String>::new());
    let bad = json!({"spec": {"attacher": "", "source": {}, "nodeName": "Node_1"},
        "status": {"attachError": {"message": "x".repeat(1025)}}});
    assert_eq!(
        run(volume_attachment, &bad, None),
        [
            "spec.attacher: Required value".to_string(),
            "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName".into(),
            format!(r#"spec.nodeName: Invalid value: "Node_1": {DNS1123_SUBDOMAIN_MESSAGE}"#),
            "status.attachError.message: Too long: may not be more than 262144 bytes".into(),
            "spec.attacher: Required value".into(),
            format!(r#"spec.attacher: Invalid value: "": {DNS1123_SUBDOMAIN_MESSAGE}"#),
        ]
    );
    let both = with_spec(
        attachment_obj(),
        json!({"source": {"persistentVolumeName": "PV", "inlineVolumeSpec": {"csi": {}}}, "attacher": "Upper.Example.com"}),
    );
    assert_eq!(
        run(volume_attachment, &both, None),
        [
            "spec.source: Forbidden: must specify exactly one of inlineVolumeSpec and persistentVolumeName".to_string(),
            format!(r#"spec.source.persistentVolumeName: Invalid value: "PV": {DNS1123_SUBDOMAIN_MESSAGE}"#),
        ]
    );
    let moved = with_spec(attachment_obj(), json!({"nodeName": "node-2", "source": {"persistentVolumeName": ""}}));
    assert_eq!(
        run(volume_attachment, &moved, Some(&attachment_obj())),
        [
            "spec.source.persistentVolumeName: Required value: must specify non empty persistentVolumeName",
            "spec.source.persistentVolumeName: Required value: must specify non empty persistentVolumeName",
            r#"spec: Invalid value: storage.VolumeAttachmentSpec{Attacher:"ebs.csi.aws.com", Source:storage.VolumeAttachmentSource{PersistentVolumeName:(*string)(0xc000000000), InlineVolumeSpec:(*core.PersistentVolumeSpec)(nil)}, NodeName:"node-2"}: field is immutable"#,
        ]
    );
}

fn capacity() -> Value {
    json!({"metadata": {"name": "csisc-x", "namespace": "kube-system"}, "storageClassName": "fast",
        "capacity": "100Gi", "maximumVolumeSize": "10Gi",
        "nodeTopology": {"matchLabels": {"topology.ebs.csi.aws.com/zone": "us-east-1a"}}})
}

#[test]
fn storage_capacities() {
    assert_eq!(run(storage_capacity, &capacity(), None), Vec::<String>::new());
    let mut bad = capacity();
    bad["storageClassName"] = json!("");
    bad["capacity"] = json!("-1Gi");
    bad["nodeTopology"] = json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a b"]}]});
    let label_value = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    assert_eq!(
        run(storage_capacity, &bad, None),
        [
            format!(r#"nodeTopology.matchExpressions[0].values[0]: Invalid value: "a b": {label_value}"#),
            format!(r#"storageClassName: Invalid value: "": {DNS1123_SUBDOMAIN_MESSAGE}"#),
            r#"capacity: Invalid value: "-1Gi": must be greater than or equal to 0"#.into(),
        ]
    );
    let mut moved = capacity();
    moved["storageClassName"] = json!("slow");
    moved["nodeTopology"] = json!({"matchLabels": {"zone": "b"}});
    moved["capacity"] = json!("1Ti");
    assert_eq!(
        run(storage_capacity, &moved, Some(&capacity())),
        [
            "nodeTopology: Invalid value: &LabelSelector{MatchLabels:map[string]string{zone: b,},MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable",
            r#"storageClassName: Invalid value: "slow": field is immutable"#,
        ]
    );
    // A topology stored with bad values may keep them.
    let mut stored = bad.clone();
    stored["storageClassName"] = json!("fast");
    stored["capacity"] = json!("1Gi");
    assert_eq!(run(storage_capacity, &stored, Some(&stored)), Vec::<String>::new());
}
