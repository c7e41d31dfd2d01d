use super::*;
use crate::config::SchedulerConfig;
use crate::pod_info::testing::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn run(nodes: Vec<NodeInfo>, p: PodInfo) -> Result<ScheduleResult, ScheduleError> {
    let config = SchedulerConfig::default();
    let snap = Snapshot::from_nodes(nodes);
    let mut rng = StdRng::seed_from_u64(1);
    Algorithm::default().schedule(&config.profiles[0], &mut CycleState::new(), &p, &snap, &Nominated::new(), &mut rng)
}

#[test]
fn num_feasible_nodes_table() {
    let cases = [
        (None, 50, 50),
        (None, 99, 99),
        (None, 100, 100),
        (None, 1000, 420),  // 50 - 8 = 42%
        (None, 5000, 500),  // 50 - 40 = 10%
        (None, 10000, 500), // floor of 5%
        (Some(30), 1000, 300),
        (Some(1), 1000, 100), // never under 100
        (Some(100), 5000, 5000),
    ];
    for (pct, n, want) in cases {
        assert_eq!(num_feasible_nodes_to_find(pct, n), want, "{pct:?} of {n}");
    }
}

#[test]
fn message_counts_reasons_like_upstream() {
    let nodes = vec![
        NodeInfo::new(node("a").alloc(&[("cpu", "1"), ("pods", "10")]).build()),
        NodeInfo::new(node("b").taint("dedicated", "gpu", "NoSchedule").build()),
        NodeInfo::new(node("c").taint("dedicated", "gpu", "NoSchedule").build()),
    ];
    let err = run(nodes, pod("p").req(&[("cpu", "2")]).info()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}."
    );
}

#[test]
fn histogram_counts_every_reason_of_a_node() {
    let nodes = vec![
        NodeInfo::new(node("a").alloc(&[("cpu", "1"), ("memory", "1Gi"), ("pods", "10")]).build()),
        NodeInfo::new(node("b").alloc(&[("cpu", "1"), ("memory", "8Gi"), ("pods", "10")]).build()),
    ];
    let err = run(nodes, pod("p").req(&[("cpu", "2"), ("memory", "2Gi")]).info()).unwrap_err();
    assert_eq!(err.to_string(), "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.");
    let with_post = FitError {
        post_filter_msg: Some("preemption: not eligible".into()),
        ..match err {
            ScheduleError::Unfit(e) => e,
            _ => unreachable!(),
        }
    };
    assert!(with_post.to_string().ends_with("2 Insufficient cpu. preemption: not eligible."));
}

#[test]
fn empty_cluster_has_no_nodes() {
    assert_eq!(run(vec![], pod("p").info()), Err(ScheduleError::NoNodes));
    assert_eq!(ScheduleError::NoNodes.to_string(), "no nodes available to schedule pods");
}

#[test]
fn picks_the_least_allocated_node() {
    let mut busy = NodeInfo::new(node("busy").build());
    busy.add_pod(pod("x").req(&[("cpu", "3"), ("memory", "6Gi")]).node("busy").build());
    let nodes = vec![busy, NodeInfo::new(node("idle").build())];
    let got = run(nodes, pod("p").req(&[("cpu", "100m"), ("memory", "100Mi")]).info()).unwrap();
    assert_eq!(got.node, "idle");
    assert_eq!((got.evaluated, got.feasible), (2, 2));
}

#[test]
fn ties_are_broken_by_the_injected_rng() {
    let scores = [5, 9, 9, 1, 9];
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..50 {
        let pick = select_host(&scores, &mut StdRng::seed_from_u64(seed));
        assert_eq!(scores[pick], 9);
        seen.insert(pick);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 4]);
    // Same seed, same choice.
    assert_eq!(
        select_host(&scores, &mut StdRng::seed_from_u64(7)),
        select_host(&scores, &mut StdRng::seed_from_u64(7))
    );
    // Uniform among the ties (3,000 fixed seeds: each tie near 1,000).
    let mut counts = [0; 5];
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..3000 {
        counts[select_host(&scores, &mut rng)] += 1;
    }
    assert_eq!((counts[0], counts[3]), (0, 0));
    assert!([1, 2, 4].iter().all(|i| (850..1150).contains(&counts[*i])), "{counts:?}");
    // One best, or nothing to choose from.
    assert_eq!(select_host(&[1, 7, 3], &mut rng), 1);
    assert_eq!(select_host(&[], &mut rng), 0);
}

#[test]
fn search_resumes_where_the_last_cycle_stopped() {
    // 200 identical nodes: each cycle evaluates 100 (the minimum), then the next starts after them.
    let nodes: Vec<_> = (0..200).map(|i| NodeInfo::new(node(&format!("n{i:03}")).build())).collect();
    let snap = Snapshot::from_nodes(nodes);
    let config = SchedulerConfig::default();
    let mut alg = Algorithm::default();
    let mut rng = StdRng::seed_from_u64(1);
    let p = pod("p").info();
    let first =
        alg.schedule(&config.profiles[0], &mut CycleState::new(), &p, &snap, &Nominated::new(), &mut rng).unwrap();
    assert_eq!(first.evaluated, 100);
    assert_eq!(alg.next_start, 100);
}

#[test]
fn nominated_pods_hold_their_room() {
    let n = NodeInfo::new(node("n").alloc(&[("cpu", "1"), ("pods", "10")]).build());
    let snap = Snapshot::from_nodes(vec![n]);
    let config = SchedulerConfig::default();
    let mut nominated = Nominated::new();
    nominated.insert("n".into(), vec![pod("vip").req(&[("cpu", "1")]).priority(100).build()]);
    let mut rng = StdRng::seed_from_u64(1);
    let low = pod("low").req(&[("cpu", "1")]).priority(1).info();
    let got =
        Algorithm::default().schedule(&config.profiles[0], &mut CycleState::new(), &low, &snap, &nominated, &mut rng);
    assert!(matches!(got, Err(ScheduleError::Unfit(_))), "the room is kept for the nominated pod");
    let high = pod("high").req(&[("cpu", "1")]).priority(200).info();
    let got =
        Algorithm::default().schedule(&config.profiles[0], &mut CycleState::new(), &high, &snap, &nominated, &mut rng);
    assert!(got.is_ok(), "a higher-priority pod is not held back");
}
