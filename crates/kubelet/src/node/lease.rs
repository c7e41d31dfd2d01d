//! The node's Lease in `kube-node-lease`: the heartbeat the node lifecycle
//! controller watches. Like upstream's lease controller, the renewer keeps the
//! Lease it last wrote and updates it directly, so a renewal is one request; it
//! reads the Lease again only when that update conflicts or finds it gone.

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};

use super::LEASE_DURATION_SECONDS;

/// Renews one node's Lease.
pub struct LeaseRenewer {
    leases: Api<Lease>,
    name: String,
    node_uid: String,
    /// The Lease as last written (its resourceVersion makes the next update cheap).
    last: Option<Lease>,
}

impl LeaseRenewer {
    /// For the Lease named after `node`, owned by it.
    pub fn new(client: kube::Client, node: &Node) -> LeaseRenewer {
        LeaseRenewer {
            leases: Api::namespaced(client, "kube-node-lease"),
            name: node.metadata.name.clone().unwrap_or_default(),
            node_uid: node.metadata.uid.clone().unwrap_or_default(),
            last: None,
        }
    }

    /// Sets `renewTime` to now, creating the Lease if needed.
    ///
    /// # Errors
    /// The API's error when the Lease can be neither updated nor created.
    pub async fn renew(&mut self) -> Result<(), kube::Error> {
        if let Some(mut lease) = self.last.take() {
            self.stamp(&mut lease);
            match self.leases.replace(&self.name, &PostParams::default(), &lease).await {
                Ok(written) => {
                    self.last = Some(written);
                    return Ok(());
                }
                // Someone else wrote it, or it was deleted: start from the API's copy.
                Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        match self.leases.get_opt(&self.name).await? {
            Some(mut lease) => {
                self.stamp(&mut lease);
                self.last = Some(self.leases.replace(&self.name, &PostParams::default(), &lease).await?);
            }
            None => {
                let mut lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some("kube-node-lease".into()),
                        owner_references: Some(vec![OwnerReference {
                            api_version: "v1".into(),
                            kind: "Node".into(),
                            name: self.name.clone(),
                            uid: self.node_uid.clone(),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    },
                    spec: None,
                };
                self.stamp(&mut lease);
                match self.leases.create(&PostParams::default(), &lease).await {
                    Ok(written) => self.last = Some(written),
                    // Created meanwhile: the next renewal reads and updates it.
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    fn stamp(&self, lease: &mut Lease) {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.renew_time = Some(MicroTime(Utc::now()));
        spec.holder_identity = Some(self.name.clone());
        spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
    }
}
