//! The rendered rules load into the real kernel: inside a network namespace this
//! test creates, every golden iptables file goes through `iptables-restore`, every
//! nft script through `nft -f`, and the real sinks apply a plan twice (the second
//! time removing a Service, whose chains must be gone). Needs root, iptables and nft.

use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_proxy::fixtures::{endpoint, service, slice};
use skiff_proxy::plan::plan;
use skiff_proxy::sink::{IptablesSink, NftSink, RuleSink, Tools};
use skiff_proxy::{NodeContext, Options};

struct Netns(String);

impl Netns {
    fn create(name: &str) -> Netns {
        let name = format!("{name}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let out = Command::new("ip").args(["netns", "add", &name]).output().expect("ip (iproute2) is needed");
        assert!(out.status.success(), "ip netns add (needs root): {}", String::from_utf8_lossy(&out.stderr));
        Netns(name)
    }
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.0))
    }
    fn run(&self, program: &str, args: &[&str], stdin: Option<&Path>) -> String {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path().display())).arg("--").arg(program).args(args);
        if let Some(f) = stdin {
            c.stdin(std::fs::File::open(f).unwrap());
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{program} {args:?} {stdin:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

#[test]
fn every_golden_file_loads_into_the_kernel() {
    let ns = Netns::create("skiff-proxy-golden");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("iptables") => ns.run("iptables-restore", &["-w", "--noflush"], Some(&path)),
            Some("nft") => ns.run("nft", &["-f", "-"], Some(&path)),
            _ => continue,
        };
        n += 1;
    }
    assert!(n >= 14, "golden files found: {n}");
}

#[tokio::test]
async fn sinks_apply_replace_and_remove_rules() {
    let ns = Netns::create("skiff-proxy-sinks");
    let node = NodeContext { name: "node-a".into(), ..Default::default() };
    let web = service("default", "web", "10.43.0.20", &[("http", 80, "TCP")]);
    let gone = service("default", "gone", "10.43.0.21", &[("", 81, "TCP")]);
    let slices = [
        slice("default", "web", &[("http", 8080, "TCP")], vec![endpoint("10.42.0.5", "node-a", None, None, None)]),
        slice("default", "gone", &[("", 8081, "TCP")], vec![endpoint("10.42.0.6", "node-a", None, None, None)]),
    ];
    let both = plan(&[web.clone(), gone], &slices, &node);
    let one = plan(&[web], &slices, &node);
    let tools = Tools { netns: Some(ns.path()) };

    let mut ipt = IptablesSink::new(tools.clone());
    ipt.apply(&both, &node, &Options::default()).await.unwrap();
    let save = ns.run("iptables-save", &[], None);
    assert!(save.contains("--to-destination 10.42.0.6:8081"), "{save}");
    assert!(
        save.contains("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
        "{save}"
    );
    // A fresh sink (a restarted agent) finds the old chains and removes the stale ones.
    let mut ipt = IptablesSink::new(tools.clone());
    ipt.apply(&one, &node, &Options::default()).await.unwrap();
    ipt.apply(&one, &node, &Options::default()).await.unwrap();
    let save = ns.run("iptables-save", &[], None);
    assert!(!save.contains("10.42.0.6"), "{save}");
    assert!(save.contains("--to-destination 10.42.0.5:8080"), "{save}");
    assert_eq!(save.matches("-j KUBE-POSTROUTING").count(), 1, "jumps are not duplicated: {save}");

    // Partial syncs: a re-added Service writes only its own chains and the top-level
    // chain that lists it; removing it again deletes them.
    ipt.apply(&both, &node, &Options::default()).await.unwrap();
    assert_eq!(ipt.last_chains_changed, 3, "KUBE-SERVICES, KUBE-SVC and KUBE-SEP of `gone`");
    assert!(ns.run("iptables-save", &[], None).contains("--to-destination 10.42.0.6:8081"));
    ipt.apply(&one, &node, &Options::default()).await.unwrap();
    assert_eq!(ipt.last_chains_changed, 3);
    let save = ns.run("iptables-save", &[], None);
    assert!(!save.contains("10.42.0.6") && save.contains("--to-destination 10.42.0.5:8080"), "{save}");
    // Something else flushes web's endpoint chain: a partial sync cannot see it,
    // the periodic full one repairs it.
    let sep = save.lines().find(|l| l.contains("--to-destination 10.42.0.5:8080")).unwrap();
    let sep = sep.split_whitespace().nth(1).unwrap().to_string();
    ns.run("iptables", &["-w", "-t", "nat", "-F", &sep], None);
    ipt.apply(&one, &node, &Options::default()).await.unwrap();
    assert_eq!(ipt.last_chains_changed, 0);
    assert!(!ns.run("iptables-save", &[], None).contains("--to-destination 10.42.0.5:8080"));
    ipt.request_full_sync();
    ipt.apply(&one, &node, &Options::default()).await.unwrap();
    assert!(ns.run("iptables-save", &[], None).contains("--to-destination 10.42.0.5:8080"));

    let mut nft = NftSink::new(tools.clone());
    nft.apply(&both, &node, &Options::default()).await.unwrap();
    assert!(ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None).contains("dnat to 10.42.0.6:8081"));
    nft.apply(&one, &node, &Options::default()).await.unwrap();
    assert!(nft.last_chains_changed > 0);
    let table = ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None);
    assert!(!table.contains("dnat to 10.42.0.6") && table.contains("dnat to 10.42.0.5:8080"), "{table}");
    // The removed Service's emptied chains go in the next sync.
    nft.apply(&one, &node, &Options::default()).await.unwrap();
    let table = ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None);
    assert!(!table.contains("10.42.0.6") && table.contains("dnat to 10.42.0.5:8080"), "{table}");
    assert_eq!(nft.last_chains_changed, 0);
}

#[tokio::test]
async fn nft_partial_syncs_keep_affinity_of_unchanged_services() {
    let ns = Netns::create("skiff-proxy-nft");
    let node = NodeContext { name: "node-a".into(), ..Default::default() };
    let mut sticky = service("default", "sticky", "10.43.0.30", &[("", 80, "TCP")]);
    sticky.spec.as_mut().unwrap().session_affinity = Some("ClientIP".into());
    let other = service("default", "other", "10.43.0.31", &[("", 80, "TCP")]);
    let ep = |svc: &str, ip: &str| {
        slice("default", svc, &[("", 8080, "TCP")], vec![endpoint(ip, "node-a", None, None, None)])
    };
    let before = plan(&[sticky.clone(), other.clone()], &[ep("sticky", "10.42.0.5"), ep("other", "10.42.0.6")], &node);
    let after = plan(&[sticky, other], &[ep("sticky", "10.42.0.5"), ep("other", "10.42.0.7")], &node);
    let mut nft = NftSink::new(Tools { netns: Some(ns.path()) });
    nft.apply(&before, &node, &Options::default()).await.unwrap();
    // A client the sticky Service remembers.
    let table = ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None);
    let set = table.lines().find_map(|l| l.trim().strip_prefix("set ")).unwrap().trim_end_matches(" {").to_string();
    ns.run("nft", &["add", "element", "ip", "skiff-proxy", &set, "{ 10.42.9.9 }"], None);
    // Another Service's endpoint moves: the partial sync leaves the set alone.
    nft.apply(&after, &node, &Options::default()).await.unwrap();
    let table = ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None);
    assert!(table.contains("dnat to 10.42.0.7:8080") && !table.contains("dnat to 10.42.0.6"), "{table}");
    assert!(table.contains("10.42.9.9"), "the affinity entry survives: {table}");
    // Something else empties an endpoint chain: the periodic full resync refills
    // every chain, and still keeps the affinity entry.
    let chain = table.lines().find_map(|l| l.trim().strip_prefix("chain endpoint-")).unwrap();
    let chain = format!("endpoint-{}", chain.trim_end_matches(" {"));
    ns.run("nft", &["flush", "chain", "ip", "skiff-proxy", &chain], None);
    nft.request_full_sync();
    nft.apply(&after, &node, &Options::default()).await.unwrap();
    let table = ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None);
    assert!(table.contains("dnat to 10.42.0.5:8080") && table.contains("dnat to 10.42.0.7:8080"), "{table}");
    assert!(table.contains("10.42.9.9"), "{table}");
}

#[tokio::test]
async fn ipvs_mode_refuses_to_start_without_ipvs_in_the_kernel() {
    // Inside a fresh namespace on this kernel (no ip_vs), the probe must fail with
    // a message that says what to do; where IPVS exists it must succeed.
    let ns = Netns::create("skiff-proxy-ipvs");
    let has_ipvs = Command::new("ipvsadm").arg("-Ln").output().map(|o| o.status.success()).unwrap_or(false);
    let r = skiff_proxy::sink_for(skiff_proxy::ProxyMode::Ipvs, Tools { netns: Some(ns.path()) }).await;
    match (has_ipvs, r) {
        (false, Err(e)) => {
            let msg = e.to_string();
            assert!(msg.contains("--proxy-mode=ipvs needs IPVS") && msg.contains("iptables or nftables"), "{msg}");
        }
        (true, Ok(_)) => {}
        (has, r) => panic!("ipvs present: {has}, probe: {:?}", r.map(|_| ())),
    }
}

#[tokio::test]
async fn stale_udp_flows_to_a_removed_endpoint_are_deleted_from_conntrack() {
    use skiff_proxy::conntrack::{stale_entries, Conntrack, ConntrackTool};
    let ns = Netns::create("skiff-proxy-ct");
    // Pod addresses sit behind a port-less bridge: packets go nowhere, but each
    // flow gets its conntrack entry.
    for args in [
        &["ip", "link", "set", "lo", "up"][..],
        &["ip", "link", "add", "uplink0", "type", "bridge"],
        &["ip", "addr", "add", "10.42.0.1/24", "dev", "uplink0"],
        &["ip", "link", "set", "uplink0", "up"],
        &["ip", "route", "add", "default", "dev", "uplink0"],
    ] {
        ns.run(args[0], &args[1..], None);
    }
    let node = NodeContext { name: "node-a".into(), ..Default::default() };
    let dns = service("kube-system", "kube-dns", "10.43.0.10", &[("dns", 53, "UDP")]);
    let with = |ip: &str| {
        let eps = vec![endpoint(ip, "node-a", Some(true), None, None)];
        plan(std::slice::from_ref(&dns), &[slice("kube-system", "kube-dns", &[("dns", 5353, "UDP")], eps)], &node)
    };
    let (old, new) = (with("10.42.0.5"), with("10.42.0.6"));
    let tools = Tools { netns: Some(ns.path()) };
    let mut ipt = IptablesSink::new(tools);
    ipt.apply(&old, &node, &Options::default()).await.unwrap();
    ns.run("bash", &["-c", "echo hello > /dev/udp/10.43.0.10/53"], None);
    let flows = || {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", ns.path().display()))
            .args(["--", "conntrack", "-L", "-p", "udp"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = flows();
    assert!(before.contains("dst=10.43.0.10") && before.contains("src=10.42.0.5"), "DNATed flow: {before}");

    // The endpoint moves: the proxy's cleanup after the sync drops the old flow, so
    // the client's next datagram is DNATed afresh instead of following the old entry.
    ipt.apply(&new, &node, &Options::default()).await.unwrap();
    let deletions = stale_entries(&old, &new);
    assert!(!deletions.is_empty());
    let mut ct = ConntrackTool { netns: Some(ns.path()) };
    for d in &deletions {
        ct.delete(d).await.unwrap();
    }
    let after = flows();
    assert!(!after.contains("src=10.42.0.5"), "{after}");
    // Deleting what is no longer there is not an error.
    ct.delete(&deletions[0]).await.unwrap();
    ns.run("bash", &["-c", "echo hello > /dev/udp/10.43.0.10/53"], None);
    let again = flows();
    assert!(again.contains("src=10.42.0.6"), "the next datagram goes to the new endpoint: {again}");
}
