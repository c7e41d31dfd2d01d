use super::*;
use crate::endpoints::reconcile::tests::{phase, pod, port, svc, terminating};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn numbered() -> Service {
    svc(vec![port("http", 80, IntOrString::Int(8080))])
}

/// Applies a plan to a simulated store, naming created slices `web-N`.
fn apply(store: &mut Vec<EndpointSlice>, plan: &Plan) {
    store.retain(|s| !plan.delete.contains(s.metadata.name.as_ref().unwrap()));
    for u in &plan.update {
        let i = store.iter().position(|s| s.metadata.name == u.metadata.name).expect("updated slice exists");
        store[i] = u.clone();
    }
    for c in &plan.create {
        let mut c = c.clone();
        let n = (0..).find(|n| !store.iter().any(|s| s.metadata.name.as_deref() == Some(&format!("web-{n}")))).unwrap();
        c.metadata.name = Some(format!("web-{n}"));
        store.push(c);
    }
}

fn sync(svc: &Service, pods: &[Pod], store: &mut Vec<EndpointSlice>) -> Plan {
    let pods: Vec<&Pod> = pods.iter().collect();
    let refs: Vec<&EndpointSlice> = store.iter().collect();
    let plan = reconcile(svc, &pods, &refs);
    apply(store, &plan);
    plan
}

/// (address, ready, serving, terminating) of every endpoint, sorted.
fn endpoints(store: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut out: Vec<_> = store
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            let c = e.conditions.clone().unwrap();
            (e.addresses[0].clone(), c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn conditions_table() {
    let mut publish = numbered();
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    type Case = (&'static str, Service, Vec<Pod>, Vec<(&'static str, bool, bool, bool)>);
    let cases: Vec<Case> = vec![
        (
            "ready, not ready, terminating; finished and foreign pods left out",
            numbered(),
            vec![
                pod("a", "web", "10.0.0.1", true, 1),
                pod("b", "web", "10.0.0.2", false, 1),
                terminating(pod("c", "web", "10.0.0.3", true, 1)),
                terminating(pod("d", "web", "10.0.0.4", false, 1)),
                phase(pod("e", "web", "10.0.0.5", true, 1), "Succeeded"),
                pod("f", "db", "10.0.0.6", true, 1),
                pod("g", "web", "", true, 1),
            ],
            vec![
                ("10.0.0.1", true, true, false),
                ("10.0.0.2", false, false, false),
                ("10.0.0.3", false, true, true),
                ("10.0.0.4", false, false, true),
            ],
        ),
        (
            "publishNotReadyAddresses makes every endpoint ready",
            publish,
            vec![pod("a", "web", "10.0.0.1", false, 1), terminating(pod("b", "web", "10.0.0.2", true, 1))],
            vec![("10.0.0.1", true, false, false), ("10.0.0.2", true, true, true)],
        ),
    ];
    for (name, svc, pods, want) in cases {
        let mut store = Vec::new();
        sync(&svc, &pods, &mut store);
        let want: Vec<_> = want.into_iter().map(|(a, r, s, t)| (a.to_string(), r, s, t)).collect();
        assert_eq!(endpoints(&store), want, "{name}");
        assert!(sync(&svc, &pods, &mut store).is_empty(), "{name}: a second sync writes nothing");
    }
}

#[test]
fn labels_owner_and_ports() {
    let mut store = Vec::new();
    let plan = sync(&numbered(), &[pod("a", "web", "10.0.0.1", true, 1)], &mut store);
    assert_eq!(plan.create.len(), 1);
    let s = &store[0];
    let labels = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[SERVICE_NAME], "web");
    assert_eq!(labels[MANAGED_BY], CONTROLLER_NAME);
    assert_eq!(labels["tier"], "front");
    assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("Service", "svc-uid", Some(true)));
    assert_eq!(s.address_type, "IPv4");
    let p = &s.ports.as_ref().unwrap()[0];
    assert_eq!((p.name.as_deref(), p.port, p.protocol.as_deref()), (Some("http"), Some(8080), Some("TCP")));
}

#[test]
fn named_ports_split_slices_per_resolved_port() {
    let svc = svc(vec![port("http", 80, IntOrString::String("http".into()))]);
    let pods = [
        pod("a", "web", "10.0.0.1", true, 8080),
        pod("b", "web", "10.0.0.2", true, 9090),
        pod("c", "web", "10.0.0.3", true, 8080),
    ];
    let mut store = Vec::new();
    sync(&svc, &pods, &mut store);
    let mut shape: Vec<(i32, usize)> =
        store.iter().map(|s| (s.ports.as_ref().unwrap()[0].port.unwrap(), s.endpoints.len())).collect();
    shape.sort();
    assert_eq!(shape, vec![(8080, 2), (9090, 1)]);
}

#[test]
fn at_most_100_per_slice_and_little_churn() {
    let ip = |i: usize| format!("10.0.{}.{}", i / 250, i % 250 + 1);
    let mut pods: Vec<Pod> = (0..250).map(|i| pod(&format!("p{i}"), "web", &ip(i), true, 1)).collect();
    let mut store = Vec::new();
    sync(&numbered(), &pods, &mut store);
    let mut sizes: Vec<usize> = store.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100, 100]);
    // One pod goes away, one arrives: only the slices that change are written.
    pods.remove(0);
    pods.push(pod("new", "web", "10.1.0.1", true, 1));
    let plan = sync(&numbered(), &pods, &mut store);
    assert!(plan.create.is_empty() && plan.delete.is_empty(), "{plan:?}");
    assert!(plan.update.len() <= 2, "at most the slice that lost one and the one that gained one");
    assert_eq!(endpoints(&store).len(), 250);
    assert!(store.iter().all(|s| s.endpoints.len() <= MAX_ENDPOINTS));
    // A pod turning unready rewrites just its slice.
    let i = pods.iter().position(|p| p.metadata.name.as_deref() == Some("p7")).unwrap();
    pods[i] = pod("p7", "web", &ip(7), false, 1);
    let plan = sync(&numbered(), &pods, &mut store);
    assert_eq!(plan.update.len(), 1);
    assert!(plan.create.is_empty() && plan.delete.is_empty());
}

#[test]
fn placeholder_when_empty_then_replaced() {
    let mut store = Vec::new();
    let plan = sync(&numbered(), &[], &mut store);
    assert_eq!(plan.create.len(), 1);
    assert!(store[0].endpoints.is_empty() && store[0].ports.is_none());
    assert!(sync(&numbered(), &[], &mut store).is_empty(), "one placeholder is kept");
    let pods = [pod("a", "web", "10.0.0.1", true, 1)];
    let plan = sync(&numbered(), &pods, &mut store);
    assert_eq!((plan.create.len(), plan.delete.len()), (1, 1), "placeholder swapped for a real slice");
    assert_eq!(store.len(), 1);
    let plan = sync(&numbered(), &[], &mut store);
    assert_eq!((plan.create.len(), plan.delete.len()), (1, 1), "back to a placeholder");
    assert!(store[0].endpoints.is_empty());
}

#[test]
fn only_own_slices_and_selectorless_services() {
    let mut foreign = EndpointSlice {
        metadata: ObjectMeta {
            name: Some("web-mirror".into()),
            labels: Some([(SERVICE_NAME.to_string(), "web".to_string())].into()),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![],
        ports: None,
    };
    let mut store = vec![foreign.clone()];
    sync(&numbered(), &[pod("a", "web", "10.0.0.1", true, 1)], &mut store);
    assert!(store.iter().any(|s| s.metadata.name.as_deref() == Some("web-mirror")), "not ours: untouched");
    let mut no_selector = numbered();
    no_selector.spec.as_mut().unwrap().selector = None;
    let plan = sync(&no_selector, &[], &mut store);
    assert_eq!(plan.delete.len(), 1, "our slice goes, the foreign one stays");
    foreign.metadata.labels = None;
    assert_eq!(store.len(), 1);
}
