//! What the scheduler knows of storage: PersistentVolumeClaims (to which volume
//! each is bound) and PersistentVolumes (their required node affinity, which is
//! how node-local volumes tie a pod to a node).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use crate::selector::NodeSelectorTerms;

/// A claim: the volume it is bound to, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub volume_name: Option<String>,
}

/// Claims by `namespace/name`, volumes by name.
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    pub claims: HashMap<String, Claim>,
    /// Each volume's required node affinity (`None`: any node).
    pub volumes: HashMap<String, Option<NodeSelectorTerms>>,
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
        self.claims.insert(key, Claim { volume_name });
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
