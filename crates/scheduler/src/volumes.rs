//! What the scheduler knows of storage: PersistentVolumeClaims (to which volume
//! each is bound, and their class), PersistentVolumes (their required node
//! affinity, which is how node-local volumes tie a pod to a node), and which
//! StorageClasses delay binding until a pod is scheduled (`WaitForFirstConsumer`).

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::selector::NodeSelectorTerms;

/// A claim: the volume it is bound to, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub volume_name: Option<String>,
    /// `spec.storageClassName` ("" or none: no class yet).
    pub class: Option<String>,
}

/// Claims by `namespace/name`, volumes by name.
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    pub claims: HashMap<String, Claim>,
    /// Each volume's required node affinity (`None`: any node).
    pub volumes: HashMap<String, Option<NodeSelectorTerms>>,
    /// Names of StorageClasses with `volumeBindingMode: WaitForFirstConsumer`.
    pub delayed_classes: HashSet<String>,
}

impl Volumes {
    pub fn claim_key(namespace: &str, name: &str) -> String {
        format!("{namespace}/{name}")
    }

    pub fn set_claim(&mut self, pvc: &PersistentVolumeClaim) {
        let key = Volumes::claim_key(
            pvc.metadata.namespace.as_deref().unwrap_or(""),
            pvc.metadata.name.as_deref().unwrap_or(""),
        );
        let volume_name = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
        let class = pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()).filter(|c| !c.is_empty());
        self.claims.insert(key, Claim { volume_name, class });
    }

    pub fn set_class(&mut self, class: &StorageClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        if class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer") {
            self.delayed_classes.insert(name);
        } else {
            self.delayed_classes.remove(&name);
        }
    }

    /// Whether an unbound claim waits for its first consumer's node: the
    /// scheduler picks the node and names it on the claim (PreBind), and the
    /// volume is bound or provisioned for that node.
    pub fn is_delayed(&self, claim: &Claim) -> bool {
        claim.volume_name.is_none() && claim.class.as_ref().is_some_and(|c| self.delayed_classes.contains(c))
    }

    pub fn set_volume(&mut self, pv: &PersistentVolume) {
        let affinity = pv
            .spec
            .as_ref()
            .and_then(|s| s.node_affinity.as_ref())
            .and_then(|a| a.required.as_ref())
            .map(NodeSelectorTerms::new);
        self.volumes.insert(pv.metadata.name.clone().unwrap_or_default(), affinity);
    }
}
