use super::*;
use crate::config::SchedulerConfig;
use crate::pod_info::testing::*;
use crate::schedule::{Algorithm, ScheduleError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn with_pods(name: &str, pods: Vec<PodBuilder>) -> NodeInfo {
    let mut n = NodeInfo::new(node(name).alloc(&[("cpu", "2"), ("memory", "8Gi"), ("pods", "10")]).build());
    for p in pods {
        n.add_pod(p.node(name).build());
    }
    n
}

fn try_preempt(nodes: Vec<NodeInfo>, p: PodInfo, pdbs: &[Pdb]) -> Preemption {
    let config = SchedulerConfig::default();
    let profile = &config.profiles[0];
    let snap = Snapshot::from_nodes(nodes);
    let mut state = CycleState::new();
    let mut rng = StdRng::seed_from_u64(1);
    let err = match Algorithm::default().schedule(profile, &mut state, &p, &snap, &Nominated::new(), &mut rng) {
        Err(ScheduleError::Unfit(e)) => e,
        other => panic!("expected no fit, got {other:?}"),
    };
    preempt(profile, &state, &p, &snap, &err, pdbs, &Nominated::new())
}

fn victims(p: &Preemption) -> (String, Vec<String>) {
    match p {
        Preemption::Candidate(c) => (c.node.clone(), c.victims.iter().map(|v| v.name.clone()).collect()),
        Preemption::Failed(m) => panic!("no candidate: {m}"),
    }
}

fn cpu(name: &str, amount: &str, priority: i32) -> PodBuilder {
    pod(name).req(&[("cpu", amount)]).priority(priority).labels(&[("app", name)])
}

#[test]
fn evicts_the_fewest_lowest_priority_pods() {
    let nodes = vec![
        // Needs two victims to free 1 cpu.
        with_pods("a", vec![cpu("a1", "500m", 1), cpu("a2", "500m", 1), cpu("a3", "1", 50)]),
        // One victim of priority 5 frees a whole cpu.
        with_pods("b", vec![cpu("b1", "1", 5), cpu("b2", "1", 50)]),
    ];
    let got = try_preempt(nodes, cpu("vip", "1", 100).info(), &[]);
    // Node a's highest victim has priority 1 < 5, so a wins on upstream's second criterion.
    assert_eq!(victims(&got), ("a".into(), vec!["a1".into(), "a2".into()]));
}

#[test]
fn keeps_pods_that_need_not_go() {
    let nodes = vec![with_pods("a", vec![cpu("small", "200m", 1), cpu("big", "1", 1), cpu("mid", "800m", 2)])];
    // 2 cpu used; the pod needs 1: evicting "big" alone is enough.
    let got = try_preempt(nodes, cpu("vip", "1", 100).info(), &[]);
    assert_eq!(victims(&got), ("a".into(), vec!["big".into()]));
}

#[test]
fn prefers_nodes_without_pdb_violations() {
    let nodes = vec![with_pods("a", vec![cpu("guarded", "2", 1)]), with_pods("b", vec![cpu("free", "2", 3)])];
    let pdb = Pdb {
        namespace: "default".into(),
        selector: Selector::from_label_selector(Some(&LabelSelector {
            match_labels: Some(labels(&[("app", "guarded")])),
            ..Default::default()
        })),
        disruptions_allowed: 0,
        disrupted_pods: Default::default(),
    };
    let got = try_preempt(nodes, cpu("vip", "1", 100).info(), &[pdb]);
    assert_eq!(victims(&got), ("b".into(), vec!["free".into()]));
}

#[test]
fn never_preempts_equal_or_higher_priority() {
    let nodes = vec![with_pods("a", vec![cpu("peer", "2", 100)])];
    match try_preempt(nodes, cpu("vip", "1", 100).info(), &[]) {
        Preemption::Failed(m) => {
            assert_eq!(m, "0/1 nodes are available: 1 No preemption victims found for incoming pod")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unresolvable_nodes_are_not_helped() {
    let mut tainted = with_pods("t", vec![cpu("x", "2", 1)]);
    tainted.taints =
        vec![k8s_openapi::api::core::v1::Taint { key: "k".into(), effect: "NoSchedule".into(), ..Default::default() }]
            .into();
    match try_preempt(vec![tainted], cpu("vip", "1", 100).info(), &[]) {
        Preemption::Failed(m) => assert_eq!(m, "0/1 nodes are available: 1 Preemption is not helpful for scheduling"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_never_is_not_eligible() {
    let nodes = vec![with_pods("a", vec![cpu("low", "2", 1)])];
    let p = cpu("vip", "1", 100).with_spec(|s| s.preemption_policy = Some("Never".into())).info();
    assert!(matches!(try_preempt(nodes, p, &[]), Preemption::Failed(m) if m.contains("preemptionPolicy=Never")));
}
