use super::*;

fn owner(uid: &str, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: uid.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(block),
    }
}

fn node(owners: Vec<OwnerReference>, finalizers: &[&str], deleting: bool) -> Node {
    Node {
        resource: 0,
        namespace: "ns".into(),
        name: "x".into(),
        owners,
        finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
        deleting,
    }
}

fn state(states: &'static [(&'static str, OwnerState)]) -> impl Fn(&OwnerReference) -> OwnerState {
    move |o| states.iter().find(|(u, _)| *u == o.uid).map(|(_, s)| *s).unwrap_or(OwnerState::Solid)
}

#[test]
fn dependents_follow_their_owners_state() {
    struct Case {
        name: &'static str,
        owners: Vec<OwnerReference>,
        states: &'static [(&'static str, OwnerState)],
        want: Vec<Action>,
    }
    let cases = [
        Case { name: "a solid owner keeps the object", owners: vec![owner("a", true)], states: &[], want: vec![] },
        Case {
            name: "its only owner is gone: background delete",
            owners: vec![owner("a", true)],
            states: &[("a", OwnerState::Dangling)],
            want: vec![Action::Delete { uid: "pod".into(), policy: "Background" }],
        },
        Case {
            name: "one owner left: the dangling reference is removed",
            owners: vec![owner("a", true), owner("b", false)],
            states: &[("a", OwnerState::Dangling)],
            want: vec![Action::RemoveOwners { uid: "pod".into(), owners: vec!["a".into()] }],
        },
        Case {
            name: "an owner waiting in the foreground",
            owners: vec![owner("a", true)],
            states: &[("a", OwnerState::Waiting)],
            want: vec![Action::Delete { uid: "pod".into(), policy: "Background" }],
        },
    ];
    for c in cases {
        let mut g = Graph::default();
        g.upsert("pod", node(c.owners, &[], false));
        assert_eq!(decide(&g, "pod", &state(c.states)), c.want, "{}", c.name);
    }
}

#[test]
fn foreground_deletes_dependents_and_waits_for_blocking_ones() {
    let mut g = Graph::default();
    g.upsert("rs", node(vec![], &[FOREGROUND], true));
    g.upsert("p1", node(vec![owner("rs", true)], &[], false));
    g.upsert("p2", node(vec![owner("rs", false)], &[], true));
    let actions = decide(&g, "rs", &state(&[]));
    assert_eq!(actions, [Action::Delete { uid: "p1".into(), policy: "Background" }], "p2 is already going; p1 blocks");
    assert_eq!(g.remove("p1"), ["rs"], "the owner is looked at again");
    assert_eq!(
        decide(&g, "rs", &state(&[])),
        [Action::RemoveFinalizer { uid: "rs".into(), finalizer: FOREGROUND }],
        "p2 does not block"
    );
}

#[test]
fn orphan_unlinks_dependents_then_drops_the_finalizer() {
    let mut g = Graph::default();
    g.upsert("rs", node(vec![], &[ORPHAN], true));
    g.upsert("p1", node(vec![owner("rs", true)], &[], false));
    assert_eq!(
        decide(&g, "rs", &state(&[])),
        [
            Action::RemoveOwners { uid: "p1".into(), owners: vec!["rs".into()] },
            Action::RemoveFinalizer { uid: "rs".into(), finalizer: ORPHAN },
        ]
    );
}

#[test]
fn removing_an_owner_requeues_its_dependents() {
    let mut g = Graph::default();
    g.upsert("d", node(vec![], &[], false));
    assert_eq!(g.upsert("rs", node(vec![owner("d", true)], &[], false)), ["rs"]);
    assert_eq!(g.remove("d"), ["rs"]);
    // Dropping an owner reference looks at that owner again.
    assert_eq!(g.upsert("rs", node(vec![], &[], false)), ["d"]);
}
