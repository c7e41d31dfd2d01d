//! Persistent volumes against a running `skiff server` with real kubectl: the
//! default `local-path` class (WaitForFirstConsumer) provisions a volume on the
//! node the scheduler picked and removes its directory with the claim; static
//! volumes bind by class, size and access modes and follow their reclaim policy.

mod common;

use common::kubelet::{add_node, wait_for};
use common::Cluster;

#[test]
fn a_default_class_claim_binds_after_its_pod_is_scheduled_and_goes_with_its_directory() {
    let storage = tempfile::tempdir().unwrap();
    let base = storage.path().join("volumes");
    let c = Cluster::start_with(&["--default-local-storage-path", base.to_str().unwrap()]);
    let classes = wait_for(&c, &["get", "storageclass"], "the default class", |s| s.contains("local-path"));
    assert!(classes.contains("local-path (default)") && classes.contains("WaitForFirstConsumer"), "{classes}");

    let claim = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"#;
    c.ok(&["apply", "-f", &c.manifest("claim.yaml", claim)]);
    wait_for(&c, &["get", "pvc", "data", "-o", "jsonpath={.spec.storageClassName}"], "default class", |s| {
        s == "local-path"
    });
    wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=data", "-o", "jsonpath={.items[*].reason}"],
        "WaitForFirstConsumer event",
        |s| s.contains("WaitForFirstConsumer"),
    );
    assert_eq!(c.ok(&["get", "pvc", "data", "-o", "jsonpath={.status.phase}"]), "Pending", "no consumer yet");
    assert_eq!(c.ok(&["get", "pv", "-o", "name"]), "", "nothing provisioned before a pod is scheduled");

    add_node(&c, "n1");
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: db}
spec:
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  containers: [{name: c, image: busybox}]
"#;
    c.ok(&["apply", "-f", &c.manifest("pod.yaml", pod)]);
    wait_for(&c, &["get", "pod", "db", "-o", "jsonpath={.spec.nodeName}"], "db scheduled", |s| s == "n1");
    let selected =
        c.ok(&["get", "pvc", "data", "-o", r#"jsonpath={.metadata.annotations.volume\.kubernetes\.io/selected-node}"#]);
    assert_eq!(selected, "n1");
    wait_for(&c, &["get", "pvc", "data", "-o", "jsonpath={.status.phase}"], "claim bound", |s| s == "Bound");
    let uid = c.ok(&["get", "pvc", "data", "-o", "jsonpath={.metadata.uid}"]);
    let volume = format!("pvc-{uid}");
    assert_eq!(c.ok(&["get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"]), volume);
    let pv = c.ok(&["get", "pv", &volume, "-o", "json"]);
    let pv: serde_json::Value = serde_json::from_str(&pv).unwrap();
    let path = pv["spec"]["hostPath"]["path"].as_str().unwrap().to_string();
    assert_eq!(path, base.join(format!("{volume}_default_data")).display().to_string());
    assert_eq!(pv["spec"]["claimRef"]["name"], "data");
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
    let term = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
    assert_eq!((term["key"].as_str(), term["values"][0].as_str()), (Some("kubernetes.io/hostname"), Some("n1")));
    wait_for(&c, &["get", "pv", &volume, "-o", "jsonpath={.status.phase}"], "volume bound", |s| s == "Bound");

    // What the kubelet does on first mount (DirectoryOrCreate), and some data.
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(std::path::Path::new(&path).join("file"), "x").unwrap();
    let outside = storage.path().join("keep");
    std::fs::create_dir_all(&outside).unwrap();

    // Deleting the claim releases the volume; Delete removes directory and volume.
    c.ok(&["delete", "pod", "db", "--grace-period=0", "--force"]);
    c.ok(&["delete", "pvc", "data", "--wait=false"]);
    wait_for(&c, &["get", "pv", "-o", "name"], "volume deleted", |s| s.trim().is_empty());
    assert!(!std::path::Path::new(&path).exists(), "the volume's directory is removed");
    assert!(outside.exists() && base.exists(), "nothing else is touched");
}

#[test]
fn static_volumes_bind_by_class_size_and_modes_and_follow_their_reclaim_policy() {
    let c = Cluster::start();
    let volume = |name: &str, size: &str, policy: &str| {
        format!(
            r#"
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}}}
spec:
  capacity: {{storage: {size}}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  persistentVolumeReclaimPolicy: {policy}
  hostPath: {{path: /tmp/skiff-test-{name}}}
"#
        )
    };
    let claim = |name: &str, size: &str, modes: &str| {
        format!(
            r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  storageClassName: manual
  accessModes: [{modes}]
  resources: {{requests: {{storage: {size}}}}}
"#
        )
    };
    let pvs = [volume("small", "1Gi", "Retain"), volume("big", "5Gi", "Delete"), volume("spare", "1Gi", "Retain")];
    c.ok(&["apply", "-f", &c.manifest("pvs.yaml", &pvs.join("---"))]);
    wait_for(&c, &["get", "pv", "spare", "-o", "jsonpath={.status.phase}"], "available", |s| s == "Available");
    let claims = [claim("large", "2Gi", "ReadWriteOnce"), claim("wide", "1Gi", "ReadWriteMany")];
    c.ok(&["apply", "-f", &c.manifest("claims.yaml", &claims.join("---"))]);
    wait_for(&c, &["get", "pvc", "large", "-o", "jsonpath={.status.phase}/{.spec.volumeName}"], "large bound", |s| {
        s == "Bound/big"
    });
    let pv =
        c.ok(&["get", "pv", "big", "-o", "jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}"]);
    assert_eq!(pv, "Bound default/large");
    let capacity = c.ok(&["get", "pvc", "large", "-o", "jsonpath={.status.capacity.storage}"]);
    assert_eq!(capacity, "5Gi", "the claim reports its volume's capacity");
    // No volume offers ReadWriteMany: the claim waits.
    wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=wide", "-o", "jsonpath={.items[*].reason}"],
        "FailedBinding",
        |s| s.contains("FailedBinding"),
    );
    assert_eq!(c.ok(&["get", "pvc", "wide", "-o", "jsonpath={.status.phase}"]), "Pending");

    // A small claim takes the smallest fit.
    c.ok(&["apply", "-f", &c.manifest("little.yaml", &claim("little", "500Mi", "ReadWriteOnce"))]);
    wait_for(&c, &["get", "pvc", "little", "-o", "jsonpath={.spec.volumeName}"], "little bound", |s| {
        s == "small" || s == "spare"
    });
    let chosen = c.ok(&["get", "pvc", "little", "-o", "jsonpath={.spec.volumeName}"]);

    // Retain: the volume stays, Released. Delete: the volume goes.
    c.ok(&["delete", "pvc", "little", "large"]);
    wait_for(&c, &["get", "pv", &chosen, "-o", "jsonpath={.status.phase}"], "released", |s| s == "Released");
    wait_for(&c, &["get", "pv", "-o", "name"], "big deleted", |s| !s.contains("persistentvolume/big"));
    // A released volume is not handed to a new claim.
    c.ok(&["apply", "-f", &c.manifest("again.yaml", &claim("again", "500Mi", "ReadWriteOnce"))]);
    let other = if chosen == "small" { "spare" } else { "small" };
    wait_for(&c, &["get", "pvc", "again", "-o", "jsonpath={.spec.volumeName}"], "again bound", |s| s == other);
}
