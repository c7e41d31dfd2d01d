use std::path::Path;

use super::*;

const MANIFEST: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - {name: c, image: busybox:1.36}
";

fn web() -> Pod {
    parse(MANIFEST.as_bytes(), Path::new("/m/web.yaml"), "Node-1").unwrap()
}

#[test]
fn a_manifest_becomes_a_static_pod_as_upstream_names_it() {
    let p = web();
    assert_eq!(p.metadata.name.as_deref(), Some("web-node-1"));
    assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
    let uid = p.metadata.uid.clone().unwrap();
    assert_eq!(uid.len(), 32);
    let a = p.metadata.annotations.clone().unwrap();
    assert_eq!((a[CONFIG_HASH].as_str(), a[CONFIG_SOURCE].as_str()), (uid.as_str(), "file"));
    let spec = p.spec.clone().unwrap();
    assert_eq!(spec.node_name.as_deref(), Some("Node-1"));
    assert_eq!(spec.tolerations.unwrap()[0].effect.as_deref(), Some("NoExecute"));
    assert!(is_static(&p) && !is_mirror(&p));
}

#[test]
fn the_uid_follows_the_content_not_the_formatting() {
    let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},
                  "spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}"#;
    let same = parse(json.as_bytes(), Path::new("/m/web.yaml"), "Node-1").unwrap();
    assert_eq!(same.metadata.uid, web().metadata.uid);
    let edited = parse(MANIFEST.replace("1.36", "1.37").as_bytes(), Path::new("/m/web.yaml"), "Node-1").unwrap();
    assert_ne!(edited.metadata.uid, web().metadata.uid);
    let moved = parse(MANIFEST.as_bytes(), Path::new("/m/other.yaml"), "Node-1").unwrap();
    assert_ne!(moved.metadata.uid, web().metadata.uid);
}

#[test]
fn bad_manifests_say_why() {
    let p = Path::new("/m/x");
    assert!(matches!(parse(b"{", p, "n"), Err(Error::Syntax(_))));
    assert_eq!(parse(b"kind: Service", p, "n").unwrap_err(), Error::NotAPod("Service".into()));
    assert_eq!(parse(b"kind: Pod\nspec: {containers: []}", p, "n").unwrap_err(), Error::NoName);
    assert!(matches!(parse(b"kind: Pod\nmetadata: {name: 3}", p, "n"), Err(Error::Invalid(_))));
    assert!(!is_manifest_file(Path::new("/m/.web.yaml.swp")));
    assert!(is_manifest_file(Path::new("/m/web.yaml")));
}

#[test]
fn the_mirror_is_owned_by_the_node_and_carries_the_hash() {
    let m = mirror_pod(&web(), "Node-1", "node-uid");
    assert!(is_mirror(&m) && !is_static(&m));
    let a = m.metadata.annotations.clone().unwrap();
    assert_eq!(a[CONFIG_MIRROR], web().metadata.uid.unwrap());
    let owner = &m.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()), ("Node", "Node-1", "node-uid"));
    assert_eq!(owner.controller, Some(true));
    assert_eq!(m.metadata.uid, None);
    assert_eq!(m.metadata.labels.unwrap()["app"], "web");
}

fn in_api(p: &Pod, uid: &str) -> Pod {
    let mut m = mirror_pod(p, "Node-1", "node-uid");
    m.metadata.uid = Some(uid.into());
    m
}

#[test]
fn mirrors_are_created_replaced_recreated_and_removed() {
    let s = web();
    let sid = s.metadata.uid.clone().unwrap();
    let create = MirrorAction::Create { static_uid: sid.clone() };
    let del =
        |uid: &str| MirrorAction::Delete { namespace: "default".into(), name: "web-node-1".into(), uid: uid.into() };
    assert_eq!(reconcile(std::slice::from_ref(&s), &[]), vec![create]);
    assert!(reconcile(std::slice::from_ref(&s), &[in_api(&s, "m1")]).is_empty(), "in step");
    // An edited file: the old mirror goes (the new one is created next round).
    let edited = parse(MANIFEST.replace("1.36", "1.37").as_bytes(), Path::new("/m/web.yaml"), "Node-1").unwrap();
    assert_eq!(reconcile(&[edited], &[in_api(&s, "m1")]), vec![del("m1")]);
    // kubectl delete: the mirror being deleted is removed at once, then recreated.
    let mut deleting = in_api(&s, "m1");
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(chrono::Utc::now()));
    assert_eq!(reconcile(std::slice::from_ref(&s), &[deleting]), vec![del("m1")]);
    // The file is gone: so is the mirror; pods that are not mirrors stay.
    let mut plain = in_api(&s, "p1");
    plain.metadata.annotations = None;
    plain.metadata.name = Some("other".into());
    assert_eq!(reconcile(&[], &[in_api(&s, "m1"), plain.clone()]), vec![del("m1")]);
    // A pod of the same name that is not a mirror is left alone.
    plain.metadata.name = Some("web-node-1".into());
    assert!(reconcile(&[s], &[plain]).is_empty());
}
