//! Partial iptables syncs, as upstream's iptables proxier does them: the kernel
//! already holds what the last sync wrote, so a sync writes only the chains whose
//! rules changed (declaring a chain in an `iptables-restore --noflush` input
//! flushes it; chains not mentioned are left alone) and deletes the chains that
//! are gone. A change to one Service therefore rewrites its KUBE-SVC/SEP chains
//! and the top-level chains that list it, not the chains of every Service.
//!
//! Pure: [`restore`] takes the rendered rules and what was written before, and
//! returns the restore text and what will be in place once it is applied.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::hash::{Hash, Hasher};

use super::iptables::IptablesRules;

/// From this many chains declared in one table, the transaction makes
/// iptables-restore read the whole table first (see `restore`).
pub const LIST_TABLE_FROM: usize = 500;

/// Chain name → fingerprint of its rules, for one table.
pub type Chains = BTreeMap<String, u64>;

/// Our chains in the kernel and their contents' fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub filter: Chains,
    pub nat: Chains,
}

impl Written {
    /// Chains known by name only (read back with `iptables-save`): their contents
    /// are unknown, so a sync from here must be a full one.
    pub fn names_only(filter: impl IntoIterator<Item = String>, nat: impl IntoIterator<Item = String>) -> Written {
        Written { filter: filter.into_iter().map(|c| (c, 0)).collect(), nat: nat.into_iter().map(|c| (c, 0)).collect() }
    }
}

/// One sync's `iptables-restore --noflush` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// Empty when nothing changed (no need to run the tool).
    pub text: String,
    /// What the kernel holds once `text` is applied.
    pub written: Written,
    /// Chains declared (flushed and rewritten, or deleted) by `text`.
    pub chains_changed: usize,
}

/// The restore input that turns `previous` into `rules`. With `full`, every
/// chain is rewritten (start, after a failure, and the periodic resync that
/// repairs rules someone else changed); otherwise only changed, new and stale ones.
pub fn restore(rules: &IptablesRules, previous: &Written, full: bool) -> Restore {
    let mut text = String::new();
    let mut written = Written::default();
    let mut chains_changed = 0;
    for (table, chains, rule_lines, prev, out) in [
        ("filter", &rules.filter_chains, &rules.filter_rules, &previous.filter, &mut written.filter),
        ("nat", &rules.nat_chains, &rules.nat_rules, &previous.nat, &mut written.nat),
    ] {
        let by_chain = group(chains, rule_lines);
        let changed: Vec<&str> = by_chain
            .iter()
            .filter(|(name, (fp, _))| full || prev.get(**name) != Some(fp))
            .map(|(name, _)| *name)
            .collect();
        let stale: Vec<&String> = prev.keys().filter(|c| !by_chain.contains_key(c.as_str())).collect();
        out.extend(by_chain.iter().map(|(name, (fp, _))| (name.to_string(), *fp)));
        if changed.is_empty() && stale.is_empty() {
            continue;
        }
        chains_changed += changed.len() + stale.len();
        let _ = writeln!(text, "*{table}");
        if changed.len() + stale.len() >= LIST_TABLE_FROM {
            // iptables-nft (1.8.9) with --noflush fetches only the chains a
            // transaction names, and collects their names in a list it searches
            // linearly for each rule: quadratic in the chains declared (a first
            // sync of 10,000 Services, ~30,000 chains, took minutes). A command
            // naming no chain makes it fetch the whole table instead; `-S` is
            // one that changes nothing (it lists the table on stdout).
            text.push_str("-S\n");
        }
        for c in changed.iter().copied().chain(stale.iter().map(|s| s.as_str())) {
            let _ = writeln!(text, ":{c} - [0:0]");
        }
        for c in &changed {
            for r in &by_chain[c].1 {
                text.push_str(r);
                text.push('\n');
            }
        }
        for c in &stale {
            let _ = writeln!(text, "-X {c}");
        }
        text.push_str("COMMIT\n");
    }
    Restore { text, written, chains_changed }
}

/// Each declared chain's rules in order, with their fingerprint.
fn group<'a>(chains: &'a [String], rules: &'a [String]) -> BTreeMap<&'a str, (u64, Vec<&'a str>)> {
    let mut by_chain: BTreeMap<&str, Vec<&str>> = chains.iter().map(|c| (c.as_str(), Vec::new())).collect();
    for r in rules {
        let chain = r.strip_prefix("-A ").and_then(|rest| rest.split(' ').next()).unwrap_or("");
        by_chain.entry(chain).or_default().push(r);
    }
    by_chain
        .into_iter()
        .map(|(name, rules)| {
            let mut h = DefaultHasher::new();
            rules.hash(&mut h);
            // 0 means "unknown contents" (Written::names_only).
            (name, (h.finish().max(1), rules))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{endpoint, service, slice};
    use crate::model::{NodeContext, Options, ServicePortPlan};
    use crate::render::iptables::render;

    /// Service `name` (port 80 → 8080/TCP) with ready endpoints at `ips`.
    fn service_port(
        name: &str,
        ips: &[&str],
    ) -> (k8s_openapi::api::core::v1::Service, k8s_openapi::api::discovery::v1::EndpointSlice) {
        let n = name.bytes().next().unwrap();
        let svc = service("default", name, &format!("10.43.0.{n}"), &[("", 80, "TCP")]);
        let eps = ips.iter().map(|ip| endpoint(ip, "node-1", Some(true), Some(true), Some(false))).collect();
        (svc, slice("default", name, &[("", 8080, "TCP")], eps))
    }

    fn rules_of(
        services: &[(k8s_openapi::api::core::v1::Service, k8s_openapi::api::discovery::v1::EndpointSlice)],
    ) -> IptablesRules {
        let node = NodeContext { name: "node-1".into(), addresses: vec![[192, 168, 5, 1].into()], pod_cidr: None };
        let (svcs, slices): (Vec<_>, Vec<_>) = services.iter().cloned().unzip();
        let plan: Vec<ServicePortPlan> = crate::plan::plan(&svcs, &slices, &node);
        render(&plan, &Options::default())
    }

    fn declared(text: &str) -> Vec<&str> {
        text.lines().filter_map(|l| l.strip_prefix(':')).map(|l| l.split(' ').next().unwrap()).collect()
    }

    #[test]
    fn a_full_restore_declares_every_chain_and_deletes_stale_ones() {
        let rules = rules_of(&[service_port("a", &["10.42.0.5"])]);
        let prev = Written::names_only([], ["KUBE-SVC-OLD".to_string()]);
        let r = restore(&rules, &prev, true);
        for c in rules.nat_chains.iter().chain(&rules.filter_chains) {
            assert!(declared(&r.text).contains(&c.as_str()), "{c} in {}", r.text);
        }
        assert!(r.text.contains("-X KUBE-SVC-OLD\n"), "{}", r.text);
        assert!(!r.written.nat.contains_key("KUBE-SVC-OLD"));
        assert_eq!(r.written.nat.len(), rules.nat_chains.len());
    }

    #[test]
    fn a_large_transaction_lists_the_table_first_so_iptables_nft_reads_it_whole() {
        let rules = rules_of(&[service_port("a", &["10.42.0.5"])]);
        let small = restore(&rules, &Written::default(), true);
        assert!(!small.text.contains("-S\n"), "{}", small.text);
        let many = (0..LIST_TABLE_FROM).map(|i| format!("KUBE-SEP-OLD{i}"));
        let large = restore(&rules, &Written::names_only([], many), true);
        assert!(large.text.contains("*nat\n-S\n:"), "right after the table line");
        assert!(large.text.starts_with("*filter\n:"), "not in the small filter table");
    }

    #[test]
    fn an_unchanged_plan_writes_nothing() {
        let rules = rules_of(&[service_port("a", &["10.42.0.5"])]);
        let first = restore(&rules, &Written::default(), true);
        let again = restore(&rules, &first.written, false);
        assert_eq!(again.text, "");
        assert_eq!(again.chains_changed, 0);
        assert_eq!(again.written, first.written);
    }

    #[test]
    fn an_endpoint_change_rewrites_only_that_service_and_the_top_level_chains_that_changed() {
        let a = service_port("a", &["10.42.0.5"]);
        let b = service_port("b", &["10.42.0.6"]);
        let first = restore(&rules_of(&[a.clone(), b.clone()]), &Written::default(), true);
        let b2 = service_port("b", &["10.42.0.6", "10.42.0.7"]);
        let r = restore(&rules_of(&[a, b2]), &first.written, false);
        let chains = declared(&r.text);
        // b's KUBE-SVC chain (its jumps) and the new endpoint's KUBE-SEP chain.
        assert_eq!(chains.iter().filter(|c| c.starts_with("KUBE-SVC-")).count(), 1, "{}", r.text);
        assert_eq!(chains.iter().filter(|c| c.starts_with("KUBE-SEP-")).count(), 1, "{}", r.text);
        assert!(!r.text.contains("10.42.0.5"), "a's chains are left alone: {}", r.text);
        assert!(!chains.contains(&"KUBE-SERVICES"), "the service list did not change: {}", r.text);
        assert!(!r.text.contains("*filter"), "{}", r.text);
    }

    #[test]
    fn a_removed_service_has_its_chains_deleted_after_the_jumps_to_them_are_rewritten() {
        let a = service_port("a", &["10.42.0.5"]);
        let b = service_port("b", &["10.42.0.6"]);
        let first = restore(&rules_of(&[a.clone(), b]), &Written::default(), true);
        let r = restore(&rules_of(&[a]), &first.written, false);
        let x: Vec<&str> = r.text.lines().filter_map(|l| l.strip_prefix("-X ")).collect();
        assert_eq!(x.len(), 2, "b's KUBE-SVC and KUBE-SEP: {}", r.text);
        assert!(declared(&r.text).contains(&"KUBE-SERVICES"), "{}", r.text);
        assert!(r.text.find("-A KUBE-SERVICES").unwrap() < r.text.find("-X ").unwrap(), "{}", r.text);
        assert!(x.iter().all(|c| !r.written.nat.contains_key(*c)));
    }

    #[test]
    fn chains_known_only_by_name_are_rewritten_even_in_a_partial_sync() {
        let rules = rules_of(&[service_port("a", &["10.42.0.5"])]);
        let prev = Written::names_only(rules.filter_chains.clone(), rules.nat_chains.clone());
        let r = restore(&rules, &prev, false);
        assert_eq!(r.chains_changed, rules.nat_chains.len() + rules.filter_chains.len());
    }
}
