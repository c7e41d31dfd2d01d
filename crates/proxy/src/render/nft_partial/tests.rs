use super::*;
use crate::fixtures::{endpoint, service, slice};
use crate::model::{NodeContext, Options};
use crate::render::nft::render;

type Objects = (k8s_openapi::api::core::v1::Service, k8s_openapi::api::discovery::v1::EndpointSlice);

/// Service `name` (port 80 → 8080/TCP), ClientIP affinity when `sticky`, with
/// ready endpoints at `ips`.
fn svc(name: &str, sticky: bool, ips: &[&str]) -> Objects {
    let n = name.bytes().next().unwrap();
    let mut s = service("default", name, &format!("10.43.0.{n}"), &[("", 80, "TCP")]);
    if sticky {
        s.spec.as_mut().unwrap().session_affinity = Some("ClientIP".into());
    }
    let eps = ips.iter().map(|ip| endpoint(ip, "node-1", Some(true), Some(true), Some(false))).collect();
    (s, slice("default", name, &[("", 8080, "TCP")], eps))
}

fn full(objects: &[Objects]) -> String {
    let node = NodeContext { name: "node-1".into(), addresses: vec![[192, 168, 5, 1].into()], pod_cidr: None };
    let (svcs, slices): (Vec<_>, Vec<_>) = objects.iter().cloned().unzip();
    render(&crate::plan::plan(&svcs, &slices, &node), &Options::default())
}

#[test]
fn parsing_finds_every_chain_set_and_map_element() {
    let t = Table::parse(&full(&[svc("a", true, &["10.42.0.5", "10.42.0.6"])]));
    assert!(t.chains.contains_key("services") && t.chains.contains_key("nat-prerouting"));
    assert_eq!(t.chains.keys().filter(|c| c.starts_with("endpoint-")).count(), 2);
    assert_eq!(t.sets.len(), 2);
    let ips = &t.maps["service-ips"].1;
    assert_eq!(ips.len(), 1);
    let (key, verdict) = ips.iter().next().unwrap();
    assert_eq!(key, "10.43.0.97 . tcp . 80");
    assert!(verdict.starts_with("goto service-"), "{verdict}");
}

#[test]
fn without_a_previous_sync_the_whole_table_is_replaced() {
    let text = full(&[svc("a", false, &["10.42.0.5"])]);
    let s = script(&text, None, false);
    assert!(s.full);
    assert_eq!(s.script, text);
}

#[test]
fn an_unchanged_plan_writes_nothing() {
    let text = full(&[svc("a", false, &["10.42.0.5"])]);
    let first = script(&text, None, false);
    let again = script(&text, Some(&first.written), false);
    assert_eq!((again.script.as_str(), again.full, again.chains_changed), ("", false, 0));
}

#[test]
fn an_endpoint_change_touches_only_that_service_and_keeps_other_affinity_sets() {
    let first = script(&full(&[svc("a", true, &["10.42.0.5"]), svc("b", false, &["10.42.0.6"])]), None, false);
    let s = script(
        &full(&[svc("a", true, &["10.42.0.5"]), svc("b", false, &["10.42.0.6", "10.42.0.7"])]),
        Some(&first.written),
        false,
    );
    assert!(!s.full);
    assert!(!s.script.contains("delete table") && !s.script.contains("default/a/"), "{}", s.script);
    assert!(!s.script.contains("set affinity"), "a's affinity set is kept: {}", s.script);
    assert!(s.script.contains("add chain ip skiff-proxy endpoint-") && s.script.contains("10.42.0.7"), "{}", s.script);
    assert!(s.script.contains("flush chain ip skiff-proxy service-"), "{}", s.script);
    assert!(!s.script.contains("element"), "the maps did not change: {}", s.script);
    assert_eq!(s.chains_changed, 2);
}

#[test]
fn a_removed_service_loses_its_map_elements_now_and_its_chains_in_the_next_sync() {
    let first = script(&full(&[svc("a", true, &["10.42.0.5"]), svc("b", false, &["10.42.0.6"])]), None, false);
    let only_b = full(&[svc("b", false, &["10.42.0.6"])]);
    let s = script(&only_b, Some(&first.written), false);
    assert!(s.script.contains("delete element ip skiff-proxy service-ips { 10.43.0.97 . tcp . 80 }"), "{}", s.script);
    let flushed: Vec<&str> = s.script.lines().filter_map(|l| l.strip_prefix("flush chain ip skiff-proxy ")).collect();
    assert_eq!(flushed.len(), 2, "a's service and endpoint chains: {}", s.script);
    assert!(!s.script.contains("delete chain"), "{}", s.script);
    assert_eq!(s.written.doomed_chains.len(), 2);
    assert_eq!(s.written.doomed_sets.len(), 1);
    // The flush happens after the map element that pointed at the chain is gone.
    assert!(s.script.find("delete element").unwrap() < s.script.find("flush chain").unwrap(), "{}", s.script);

    let next = script(&only_b, Some(&s.written), false);
    let deleted: Vec<&str> = next.script.lines().filter_map(|l| l.strip_prefix("delete ")).collect();
    assert_eq!(deleted.len(), 3, "two chains and the affinity set: {}", next.script);
    assert!(next.written.doomed_chains.is_empty() && next.written.doomed_sets.is_empty());
    assert_eq!(script(&only_b, Some(&next.written), false).script, "");
}

#[test]
fn a_service_that_comes_back_before_its_chains_are_deleted_refills_them() {
    let both = full(&[svc("a", false, &["10.42.0.5"]), svc("b", false, &["10.42.0.6"])]);
    let first = script(&both, None, false);
    let gone = script(&full(&[svc("b", false, &["10.42.0.6"])]), Some(&first.written), false);
    let back = script(&both, Some(&gone.written), false);
    assert!(!back.script.contains("delete chain") && !back.script.contains("add chain"), "{}", back.script);
    assert_eq!(back.script.matches("flush chain").count(), 2, "{}", back.script);
    assert!(back.script.contains("add element ip skiff-proxy service-ips { 10.43.0.97 . tcp . 80 : goto service-"));
}

#[test]
fn a_changed_affinity_timeout_replaces_the_whole_table() {
    let first = script(&full(&[svc("a", true, &["10.42.0.5"])]), None, false);
    let (mut s, sl) = svc("a", true, &["10.42.0.5"]);
    s.spec.as_mut().unwrap().session_affinity_config = Some(k8s_openapi::api::core::v1::SessionAffinityConfig {
        client_ip: Some(k8s_openapi::api::core::v1::ClientIPConfig { timeout_seconds: Some(60) }),
    });
    assert!(script(&full(&[(s, sl)]), Some(&first.written), false).full);
}

#[test]
fn a_rewrite_refills_every_chain_and_map_but_keeps_the_sets() {
    let text = full(&[svc("a", true, &["10.42.0.5"])]);
    let first = script(&text, None, false);
    let s = script(&text, Some(&first.written), true);
    assert!(!s.full && !s.script.contains("delete table") && !s.script.contains("set affinity"), "{}", s.script);
    assert_eq!(s.chains_changed, first.written.table.chains.len());
    assert_eq!(s.script.matches("flush map").count(), 4, "{}", s.script);
    assert!(s.script.contains("add element ip skiff-proxy service-ips { 10.43.0.97 . tcp . 80 : goto service-"));
}
