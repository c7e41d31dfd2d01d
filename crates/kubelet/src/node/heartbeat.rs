//! The node's heartbeat: its Lease renewed every [`LEASE_RENEW`], its status
//! written when it changes and at least every [`STATUS_REPORT`].

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use tokio_util::sync::CancellationToken;

use super::{changed, condition_changes, node_status, LeaseRenewer, Machine, Reserved, LEASE_RENEW};
use crate::cri;
use crate::pod::events::messages::{node_condition, starting};
use crate::pod::events::{Recorder, Subject};
use crate::runtime::Runtime;

/// An unchanged status is still written this often: upstream's
/// `nodeStatusReportFrequency` (5 min), since the Lease is the heartbeat. Once a
/// minute, 1,000 hollow nodes' status patches were a sixth of the server's
/// heartbeat load.
pub const STATUS_REPORT: Duration = Duration::from_secs(300);

/// Everything one node's heartbeat needs.
pub struct Heartbeat {
    pub client: kube::Client,
    /// The Node as registered.
    pub node: Node,
    pub node_ip: String,
    pub machine: Machine,
    pub reserved: Reserved,
    pub version: cri::VersionResponse,
    pub runtime: Arc<dyn Runtime>,
    /// How often the runtime's state is compared with the status written.
    pub check_every: Duration,
    /// For `Starting` and the conditions' events (`NodeReady`, ...).
    pub events: Recorder,
}

impl Heartbeat {
    /// Runs until `shutdown`; API errors are logged and retried next round.
    pub async fn run(self, shutdown: CancellationToken) {
        let Heartbeat { client, mut node, node_ip, machine, reserved, version, runtime, check_every, events } = self;
        let name = node.metadata.name.clone().unwrap_or_default();
        let subject = Subject::node(&name);
        events.record(&subject, starting());
        let nodes: Api<Node> = Api::all(client.clone());
        let mut lease = LeaseRenewer::new(client, &node);
        let mut last_status_write = tokio::time::Instant::now() - STATUS_REPORT;
        let mut lease_due = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= lease_due {
                if let Err(e) = lease.renew().await {
                    tracing::warn!(node = %name, "renewing the node lease: {e}");
                }
                lease_due = now + LEASE_RENEW;
            }
            let ready = runtime_ready(runtime.as_ref()).await;
            let images = runtime.list_images().await.unwrap_or_default();
            let status =
                node_status(&name, &node_ip, &machine, &reserved, &version, ready, &images, node.status.as_ref());
            let stale = now.duration_since(last_status_write) >= STATUS_REPORT;
            if stale || node.status.as_ref().is_none_or(|old| changed(old, &status)) {
                let patch = serde_json::json!({"status": status});
                match nodes.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    Ok(n) => {
                        for (condition, status) in condition_changes(node.status.as_ref(), &status) {
                            if let Some(said) = node_condition(&name, &condition, &status) {
                                events.record(&subject, said);
                            }
                        }
                        node = n;
                        last_status_write = now;
                    }
                    Err(e) => tracing::warn!(node = %name, "writing the node status: {e}"),
                }
            }
            let next = check_every.min(lease_due.saturating_duration_since(tokio::time::Instant::now()));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(next) => {}
            }
        }
    }
}

/// Ok when the runtime reports every condition (RuntimeReady, NetworkReady)
/// true, else why not.
async fn runtime_ready(rt: &dyn Runtime) -> Result<(), String> {
    match rt.status().await {
        Ok(st) => {
            let bad: Vec<_> =
                st.conditions.iter().filter(|c| !c.status).map(|c| format!("{}: {}", c.r#type, c.message)).collect();
            if bad.is_empty() {
                Ok(())
            } else {
                Err(bad.join("; "))
            }
        }
        Err(e) => Err(e.to_string()),
    }
}
