use super::*;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, PodSpec};

fn parent() -> StatefulSet {
    let mut s = StatefulSet::default();
    s.metadata.name = Some("web".into());
    s.metadata.namespace = Some("default".into());
    s.metadata.uid = Some("u1".into());
    s.metadata.annotations = Some(BTreeMap::from([("kubernetes.io/change-cause".to_string(), "v2".to_string())]));
    s
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

fn revision(name: &str, image: &str, number: i64) -> ControllerRevision {
    ControllerRevision {
        metadata: ObjectMeta { name: Some(name.into()), uid: Some(format!("uid-{name}")), ..Default::default() },
        data: Some(RawExtension(template_patch(&template(image)))),
        revision: number,
    }
}

#[test]
fn template_round_trips_through_the_patch() {
    let t = template("busybox:1");
    let patch = template_patch(&t);
    assert_eq!(patch["spec"]["template"]["$patch"], "replace");
    assert_eq!(template_of(&revision("r", "busybox:1", 1)), Some(t));
}

#[test]
fn hash_depends_on_data_and_collision_count() {
    let a = template_patch(&template("a"));
    let b = template_patch(&template("b"));
    assert_eq!(hash(&a, None), hash(&a, None));
    assert_ne!(hash(&a, None), hash(&b, None));
    assert_ne!(hash(&a, None), hash(&a, Some(1)));
    assert!(hash(&a, None).chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
}

#[test]
fn next_revision_creates_reuses_or_renumbers() {
    let set = parent();
    let r1 = revision("web-1", "busybox:1", 1);
    let r2 = revision("web-2", "busybox:2", 2);
    let labels = template("x").metadata.unwrap().labels;
    struct Case {
        name: &'static str,
        existing: Vec<&'static ControllerRevision>,
        image: &'static str,
    }
    let r1: &'static ControllerRevision = Box::leak(Box::new(r1));
    let r2: &'static ControllerRevision = Box::leak(Box::new(r2));
    let cases = [
        Case { name: "first revision", existing: vec![], image: "busybox:1" },
        Case { name: "newest holds it", existing: vec![r1, r2], image: "busybox:2" },
        Case { name: "rollback renumbers", existing: vec![r2, r1], image: "busybox:1" },
        Case { name: "new template", existing: vec![r1, r2], image: "busybox:3" },
    ];
    for case in cases {
        let data = template_patch(&template(case.image));
        let (update, step) = next(&set, labels.as_ref(), &case.existing, data.clone(), None);
        match case.name {
            "first revision" | "new template" => {
                let Step::Create(created) = step else { panic!("{}: {step:?}", case.name) };
                assert_eq!(*created, update);
                let want = if case.name == "first revision" { 1 } else { 3 };
                assert_eq!(created.revision, want, "{}", case.name);
                assert_eq!(created.metadata.name, Some(format!("web-{}", hash(&data, None))));
                let labels = created.metadata.labels.unwrap();
                assert_eq!(labels["app"], "web");
                assert_eq!(labels[HASH_LABEL], hash(&data, None));
                assert_eq!(created.metadata.annotations.unwrap()["kubernetes.io/change-cause"], "v2");
                assert_eq!(created.metadata.owner_references.unwrap()[0].uid, "u1");
            }
            "newest holds it" => {
                assert_eq!(step, Step::Current);
                assert_eq!(update.metadata.name.as_deref(), Some("web-2"));
            }
            _ => {
                assert_eq!(step, Step::Renumber { name: "web-1".into(), revision: 3 });
                assert_eq!(update.revision, 3);
            }
        }
    }
}

#[test]
fn truncation_keeps_live_revisions_and_the_newest_old_ones() {
    let revs: Vec<ControllerRevision> = (1..=5).map(|i| revision(&format!("r{i}"), &format!("i{i}"), i)).collect();
    let refs: Vec<&ControllerRevision> = revs.iter().collect();
    let live: HashSet<String> = ["r1".to_string(), "r5".to_string()].into();
    let cases = [(0, vec!["r2", "r3", "r4"]), (1, vec!["r2", "r3"]), (3, vec![]), (10, vec![])];
    for (limit, want) in cases {
        let got: Vec<String> = to_truncate(&refs, &live, limit).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, want, "limit {limit}");
    }
}
