use super::*;
use k8s_openapi::api::core::v1::ServicePort;
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub(crate) fn svc(ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            uid: Some("svc-uid".into()),
            labels: Some([("tier".to_string(), "front".to_string())].into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some([("app".to_string(), "web".to_string())].into()),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

pub(crate) fn port(name: &str, port: i32, target: IntOrString) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(target),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// A pod of `app` with `ip` ("" = none yet), ready or not, serving `http` on `http_port`.
pub(crate) fn pod(name: &str, app: &str, ip: &str, ready: bool, http_port: i32) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("{name}-uid")),
            labels: Some([("app".to_string(), app.to_string())].into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("n1".into()),
            containers: vec![Container {
                name: "c".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: http_port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: (!ip.is_empty()).then(|| ip.to_string()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

pub(crate) fn terminating(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(chrono::Utc::now()));
    p
}

pub(crate) fn phase(mut p: Pod, phase: &str) -> Pod {
    p.status.as_mut().unwrap().phase = Some(phase.into());
    p
}

/// A subset as `(ready ips, not ready ips, ports)`.
type Summary = (Vec<String>, Vec<String>, Vec<(String, i32)>);

fn summary(subsets: &[EndpointSubset]) -> Vec<Summary> {
    subsets
        .iter()
        .map(|s| {
            let ips = |a: &Option<Vec<EndpointAddress>>| a.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>();
            let ports = s.ports.iter().flatten().map(|p| (p.name.clone().unwrap_or_default(), p.port)).collect();
            (ips(&s.addresses), ips(&s.not_ready_addresses), ports)
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn subsets_table() {
    let named = vec![port("http", 80, IntOrString::String("http".into()))];
    let numbered = vec![port("http", 80, IntOrString::Int(8080))];
    type Case = (&'static str, Service, Vec<Pod>, Vec<Summary>);
    let mut publish = svc(numbered.clone());
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let mut headless = svc(vec![]);
    headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
    let cases: Vec<Case> = vec![
        ("no pods", svc(numbered.clone()), vec![], vec![]),
        (
            "ready and not ready, other app and no ip skipped",
            svc(numbered.clone()),
            vec![
                pod("a", "web", "10.0.0.2", true, 1),
                pod("b", "web", "10.0.0.1", false, 1),
                pod("c", "db", "10.0.0.3", true, 1),
                pod("d", "web", "", true, 1),
            ],
            vec![(s(&["10.0.0.2"]), s(&["10.0.0.1"]), vec![("http".into(), 8080)])],
        ),
        (
            "named target port resolved per pod",
            svc(named.clone()),
            vec![pod("a", "web", "10.0.0.1", true, 8080), pod("b", "web", "10.0.0.2", true, 9090)],
            vec![
                (s(&["10.0.0.1"]), vec![], vec![("http".into(), 8080)]),
                (s(&["10.0.0.2"]), vec![], vec![("http".into(), 9090)]),
            ],
        ),
        (
            "terminating and finished pods left out",
            svc(numbered.clone()),
            vec![
                terminating(pod("a", "web", "10.0.0.1", true, 1)),
                phase(pod("b", "web", "10.0.0.2", false, 1), "Succeeded"),
                phase(pod("c", "web", "10.0.0.3", false, 1), "Failed"),
                pod("d", "web", "10.0.0.4", true, 1),
            ],
            vec![(s(&["10.0.0.4"]), vec![], vec![("http".into(), 8080)])],
        ),
        (
            "publishNotReadyAddresses: not ready and terminating pods are ready",
            publish,
            vec![pod("a", "web", "10.0.0.1", false, 1), terminating(pod("b", "web", "10.0.0.2", true, 1))],
            vec![(s(&["10.0.0.1", "10.0.0.2"]), vec![], vec![("http".into(), 8080)])],
        ),
        (
            "headless without ports lists addresses",
            headless,
            vec![pod("a", "web", "10.0.0.1", true, 1)],
            vec![(s(&["10.0.0.1"]), vec![], vec![])],
        ),
        (
            "a named port the pod lacks leaves it out",
            svc(vec![port("metrics", 9100, IntOrString::String("metrics".into()))]),
            vec![pod("a", "web", "10.0.0.1", true, 1)],
            vec![],
        ),
    ];
    for (name, svc, pods, want) in cases {
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(summary(&subsets(&svc, &refs)), want, "{name}");
    }
}

#[test]
fn two_ports_pack_into_one_subset() {
    let svc = svc(vec![port("http", 80, IntOrString::Int(8080)), port("https", 443, IntOrString::Int(8443))]);
    let pods = [pod("a", "web", "10.0.0.1", true, 1)];
    let refs: Vec<&Pod> = pods.iter().collect();
    assert_eq!(
        summary(&subsets(&svc, &refs)),
        vec![(s(&["10.0.0.1"]), vec![], vec![("http".into(), 8080), ("https".into(), 8443)])]
    );
}

#[test]
fn create_update_or_nothing() {
    let svc = svc(vec![port("http", 80, IntOrString::Int(8080))]);
    let pods = [pod("a", "web", "10.0.0.1", true, 1)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let Some(Action::Create(created)) = reconcile(&svc, &refs, None) else { panic!("expected a create") };
    assert_eq!(created.metadata.name.as_deref(), Some("web"));
    let labels = created.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    assert_eq!(labels.get(SKIP_MIRROR).map(String::as_str), Some("true"));
    assert_eq!(reconcile(&svc, &refs, Some(&created)), None, "already right");
    let Some(Action::Update(updated)) = reconcile(&svc, &[], Some(&created)) else { panic!("expected an update") };
    assert_eq!(updated.subsets, None);
    let mut no_selector = svc.clone();
    no_selector.spec.as_mut().unwrap().selector = None;
    assert_eq!(reconcile(&no_selector, &refs, None), None, "selectorless Services are not ours");
    let mut external = svc.clone();
    external.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
    assert_eq!(reconcile(&external, &refs, None), None);
}
