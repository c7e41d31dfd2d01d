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

    let mut nft = NftSink { tools };
    nft.apply(&both, &node, &Options::default()).await.unwrap();
    assert!(ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None).contains("dnat to 10.42.0.6:8081"));
    nft.apply(&one, &node, &Options::default()).await.unwrap();
    let table = ns.run("nft", &["list", "table", "ip", "skiff-proxy"], None);
    assert!(!table.contains("10.42.0.6") && table.contains("dnat to 10.42.0.5:8080"), "{table}");
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
