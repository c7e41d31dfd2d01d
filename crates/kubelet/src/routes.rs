//! Pods across nodes, host-gateway style: every agent routes each other
//! node's podCIDR to that node's InternalIP (flannel's `host-gw`), so a packet
//! for a pod on another node leaves through the host and arrives on the node
//! that owns the pod's /24. Nodes must share a link (L2 adjacency).
//!
//! Pure core: [`desired`] (Nodes → routes) and [`diff`] (what to change); a
//! [`RouteTable`] applies it: [`IpRouteTable`] with `ip route`, marking its
//! routes with protocol [`ROUTE_PROTO`] so that it only ever lists and removes
//! its own, or [`FakeRouteTable`] in memory.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio_util::sync::CancellationToken;

/// The routing protocol number on skiff's routes (unassigned in
/// /etc/iproute2/rt_protos), so `ip route show proto 77` lists exactly ours.
pub const ROUTE_PROTO: u8 = 77;

/// Destination CIDR → gateway.
pub type Routes = BTreeMap<String, IpAddr>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Replace { cidr: String, via: IpAddr },
    Delete { cidr: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("running ip {args}: {source}")]
    Spawn {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ip {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("reading the routes: {0}")]
    Parse(String),
}

/// The routes this node needs: every other node's podCIDRs via its
/// InternalIP of the same family. Nodes without either are skipped.
pub fn desired(nodes: &[Node], self_name: &str) -> Routes {
    let mut routes = Routes::new();
    for node in nodes {
        // Hollow nodes' pods exist nowhere: no route to them.
        let hollow = node.metadata.labels.as_ref().is_some_and(|l| l.contains_key(crate::hollow::HOLLOW_LABEL));
        if node.metadata.name.as_deref() == Some(self_name) || hollow {
            continue;
        }
        let spec = node.spec.as_ref();
        let mut cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
        if cidrs.is_empty() {
            cidrs.extend(spec.and_then(|s| s.pod_cidr.clone()));
        }
        let ips: Vec<IpAddr> = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .filter_map(|a| a.address.parse().ok())
            .collect();
        for cidr in cidrs {
            let v4 = !cidr.contains(':');
            if let Some(via) = ips.iter().find(|ip| ip.is_ipv4() == v4 && !ip.is_loopback()) {
                routes.insert(cidr, *via);
            }
        }
    }
    routes
}

/// What turns `current` into `want`: replaces first, then deletes.
pub fn diff(current: &Routes, want: &Routes) -> Vec<Change> {
    let mut out: Vec<Change> = want
        .iter()
        .filter(|(cidr, via)| current.get(*cidr) != Some(via))
        .map(|(cidr, via)| Change::Replace { cidr: cidr.clone(), via: *via })
        .collect();
    out.extend(current.keys().filter(|c| !want.contains_key(*c)).map(|cidr| Change::Delete { cidr: cidr.clone() }));
    out
}

/// The node's routing table, limited to skiff's routes.
///
/// # Contract
/// `list` returns only routes this table added; `apply` of a `Replace` makes
/// the route exist with that gateway whether or not it existed; `Delete` of a
/// missing route is not an error.
#[async_trait]
pub trait RouteTable: Send + Sync {
    async fn list(&self) -> Result<Routes, RouteError>;
    async fn apply(&self, change: &Change) -> Result<(), RouteError>;
}

/// `ip route` in the agent's network namespace.
#[derive(Debug, Default)]
pub struct IpRouteTable;

async fn ip(args: &[String]) -> Result<String, RouteError> {
    let joined = args.join(" ");
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|source| RouteError::Spawn { args: joined.clone(), source })?;
    if !out.status.success() {
        return Err(RouteError::Failed { args: joined, stderr: String::from_utf8_lossy(&out.stderr).trim().into() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `dst` and `gateway` of each route in `ip -j route show` output.
pub fn parse_ip_route_json(text: &str) -> Result<Routes, RouteError> {
    let v: serde_json::Value = serde_json::from_str(if text.trim().is_empty() { "[]" } else { text })
        .map_err(|e| RouteError::Parse(e.to_string()))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["dst"].as_str()?.to_string(), r["gateway"].as_str()?.parse().ok()?)))
        .collect())
}

#[async_trait]
impl RouteTable for IpRouteTable {
    async fn list(&self) -> Result<Routes, RouteError> {
        let mut all = Routes::new();
        for family in ["-4", "-6"] {
            let args = [family, "-j", "route", "show", "proto", &ROUTE_PROTO.to_string()].map(String::from);
            all.extend(parse_ip_route_json(&ip(&args).await?)?);
        }
        Ok(all)
    }

    async fn apply(&self, change: &Change) -> Result<(), RouteError> {
        let proto = ROUTE_PROTO.to_string();
        match change {
            Change::Replace { cidr, via } => {
                let args = ["route", "replace", cidr, "via", &via.to_string(), "proto", &proto].map(String::from);
                ip(&args).await.map(drop)
            }
            Change::Delete { cidr } => {
                let args = ["route", "del", cidr, "proto", &proto].map(String::from);
                match ip(&args).await {
                    Err(RouteError::Failed { stderr, .. }) if stderr.contains("No such process") => Ok(()),
                    r => r.map(drop),
                }
            }
        }
    }
}

/// Routes in memory, recording every change applied.
#[derive(Debug, Default)]
pub struct FakeRouteTable {
    pub routes: Mutex<Routes>,
    pub applied: Mutex<Vec<Change>>,
}

#[async_trait]
impl RouteTable for FakeRouteTable {
    async fn list(&self) -> Result<Routes, RouteError> {
        Ok(self.routes.lock().unwrap().clone())
    }

    async fn apply(&self, change: &Change) -> Result<(), RouteError> {
        self.applied.lock().unwrap().push(change.clone());
        let mut r = self.routes.lock().unwrap();
        match change {
            Change::Replace { cidr, via } => r.insert(cidr.clone(), *via),
            Change::Delete { cidr } => r.remove(cidr),
        };
        Ok(())
    }
}

/// Watches the Nodes and keeps the routes in step until `shutdown`; also
/// re-checks every 30 s (someone may flush the table). Failures are logged
/// and retried on the next change or check.
pub async fn run(client: kube::Client, node_name: String, table: &dyn RouteTable, shutdown: CancellationToken) {
    let nodes: Api<Node> = Api::all(client);
    let mut stream = std::pin::pin!(watcher(nodes, watcher::Config::default()).default_backoff());
    let mut known: BTreeMap<String, Node> = BTreeMap::new();
    let mut relist: Option<BTreeMap<String, Node>> = None;
    let mut synced = false;
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            event = stream.next() => match event {
                None => return,
                Some(Ok(watcher::Event::Init)) => { relist = Some(BTreeMap::new()); continue }
                Some(Ok(watcher::Event::InitApply(n))) => {
                    relist.get_or_insert_with(BTreeMap::new).insert(n.metadata.name.clone().unwrap_or_default(), n);
                    continue;
                }
                Some(Ok(watcher::Event::InitDone)) => { known = relist.take().unwrap_or_default(); synced = true }
                Some(Ok(watcher::Event::Apply(n))) => { known.insert(n.metadata.name.clone().unwrap_or_default(), n); }
                Some(Ok(watcher::Event::Delete(n))) => { known.remove(n.metadata.name.as_deref().unwrap_or_default()); }
                Some(Err(e)) => { tracing::debug!("routes: watching nodes: {e}"); continue }
            },
        }
        if synced {
            let nodes: Vec<Node> = known.values().cloned().collect();
            if let Err(e) = sync(table, &desired(&nodes, &node_name)).await {
                eprintln!("skiff: agent: pod routes: {e}");
            }
        }
    }
}

/// Makes the table hold exactly `want`.
pub async fn sync(table: &dyn RouteTable, want: &Routes) -> Result<(), RouteError> {
    let current = table.list().await?;
    for change in diff(&current, want) {
        table.apply(&change).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: Option<&str>, ip: Option<&str>) -> Node {
        let mut v = serde_json::json!({"metadata": {"name": name}, "spec": {}, "status": {"addresses": []}});
        if let Some(c) = cidr {
            v["spec"] = serde_json::json!({"podCIDR": c, "podCIDRs": [c]});
        }
        if let Some(ip) = ip {
            v["status"]["addresses"] =
                serde_json::json!([{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn other_nodes_pod_cidrs_go_via_their_internal_ip() {
        let nodes = [
            node("a", Some("10.42.0.0/24"), Some("192.168.5.1")),
            node("b", Some("10.42.1.0/24"), Some("192.168.5.2")),
            node("c", None, Some("192.168.5.3")),
            node("d", Some("10.42.3.0/24"), None),
            node("e", Some("10.42.4.0/24"), Some("127.0.0.1")),
            node("f", Some("fd00:42:5::/64"), Some("192.168.5.6")),
        ];
        let want = desired(&nodes, "a");
        assert_eq!(want, Routes::from([("10.42.1.0/24".into(), "192.168.5.2".parse().unwrap())]));
        let mut hollow = node("h", Some("10.42.7.0/24"), Some("192.168.5.7"));
        hollow.metadata.labels = Some([(crate::hollow::HOLLOW_LABEL.to_string(), "true".to_string())].into());
        assert!(desired(&[hollow], "a").is_empty(), "no route to a hollow node's pods");
    }

    #[test]
    fn diff_replaces_changed_and_deletes_gone() {
        let current = Routes::from([
            ("10.42.1.0/24".into(), "192.168.5.2".parse().unwrap()),
            ("10.42.2.0/24".into(), "192.168.5.3".parse().unwrap()),
            ("10.42.9.0/24".into(), "192.168.5.9".parse().unwrap()),
        ]);
        let want = Routes::from([
            ("10.42.1.0/24".into(), "192.168.5.2".parse().unwrap()),
            ("10.42.2.0/24".into(), "192.168.5.4".parse().unwrap()),
            ("10.42.3.0/24".into(), "192.168.5.5".parse().unwrap()),
        ]);
        assert_eq!(
            diff(&current, &want),
            [
                Change::Replace { cidr: "10.42.2.0/24".into(), via: "192.168.5.4".parse().unwrap() },
                Change::Replace { cidr: "10.42.3.0/24".into(), via: "192.168.5.5".parse().unwrap() },
                Change::Delete { cidr: "10.42.9.0/24".into() },
            ]
        );
        assert!(diff(&want, &want).is_empty());
    }

    #[tokio::test]
    async fn sync_converges_the_fake_table() {
        let table = FakeRouteTable::default();
        table.routes.lock().unwrap().insert("10.42.9.0/24".into(), "192.168.5.9".parse().unwrap());
        let want = Routes::from([("10.42.1.0/24".into(), "192.168.5.2".parse().unwrap())]);
        sync(&table, &want).await.unwrap();
        assert_eq!(*table.routes.lock().unwrap(), want);
        sync(&table, &want).await.unwrap();
        assert_eq!(table.applied.lock().unwrap().len(), 2, "nothing to do the second time");
    }

    #[test]
    fn ip_route_json_is_read() {
        let text = r#"[{"dst":"10.42.1.0/24","gateway":"192.168.5.2","dev":"eth0","protocol":"77","flags":[]},
                       {"dst":"default","dev":"eth0","flags":[]}]"#;
        assert_eq!(
            parse_ip_route_json(text).unwrap(),
            Routes::from([("10.42.1.0/24".into(), "192.168.5.2".parse().unwrap())])
        );
        assert!(parse_ip_route_json("").unwrap().is_empty());
    }
}
