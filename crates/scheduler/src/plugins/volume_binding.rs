//! VolumeBinding: a pod's PersistentVolumeClaims must exist and be bound — or
//! be of a `WaitForFirstConsumer` class, whose claims wait for the pod's node —
//! and a bound volume's node affinity (node-local volumes: `local`, `hostPath`
//! PVs pinned to a node) must match the node. For delayed claims the binder
//! names the chosen node on the claim (`volume.kubernetes.io/selected-node`,
//! upstream's PreBind) before binding the pod, and the volume controller or a
//! provisioner binds a volume on that node. Not done: checking before that
//! choice that a matching static volume or the class's allowed topologies fit
//! the node.

use std::sync::Arc;

use crate::framework::{CycleState, Filter, Fit, Plugin, PreFilter};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::selector::NodeSelectorTerms;
use crate::snapshot::Snapshot;
use crate::volumes::Volumes;

pub const NAME: &str = "VolumeBinding";
pub const REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const REASON_PV_NOT_EXIST: &str = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
pub const REASON_UNBOUND: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The claims' volumes: their node affinities, and whether one is missing.
#[derive(Clone)]
struct State {
    affinities: Vec<Arc<NodeSelectorTerms>>,
    missing_volume: bool,
}

pub struct VolumeBinding;

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// The claim names a pod uses: `persistentVolumeClaim` volumes, and the claims
/// generic ephemeral volumes get (`<pod>-<volume>`).
pub(crate) fn claim_names(pod: &PodInfo) -> Vec<String> {
    pod.spec()
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            if let Some(pvc) = &v.persistent_volume_claim {
                Some(pvc.claim_name.clone())
            } else {
                v.ephemeral.as_ref().map(|_| format!("{}-{}", pod.name, v.name))
            }
        })
        .collect()
}

impl PreFilter for VolumeBinding {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Fit {
        let claims = claim_names(pod);
        if claims.is_empty() {
            state.skip_filter(NAME);
            return Fit::Fits;
        }
        let mut s = State { affinities: Vec::new(), missing_volume: false };
        for name in claims {
            let Some(claim) = snap.volumes.claims.get(&Volumes::claim_key(&pod.namespace, &name)) else {
                return Fit::unresolvable(format!("persistentvolumeclaim \"{name}\" not found"));
            };
            if snap.volumes.is_delayed(claim) {
                continue;
            }
            let Some(volume) = &claim.volume_name else { return Fit::unresolvable(REASON_UNBOUND) };
            match snap.volumes.volumes.get(volume) {
                Some(Some(terms)) => s.affinities.push(Arc::new(terms.clone())),
                Some(None) => {}
                None => s.missing_volume = true,
            }
        }
        state.write(NAME, s);
        Fit::Fits
    }
}

impl Filter for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Fit {
        let Some(s) = state.read::<State>(NAME) else { return Fit::Fits };
        if s.missing_volume {
            return Fit::unresolvable(REASON_PV_NOT_EXIST);
        }
        if s.affinities.iter().all(|terms| terms.matches(&node.name, &node.labels)) {
            Fit::Fits
        } else {
            Fit::unresolvable(REASON_NODE_CONFLICT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::node_affinity::term;
    use crate::pod_info::testing::*;
    use k8s_openapi::api::core::v1::{
        NodeSelector, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
        PersistentVolumeClaimVolumeSource, PersistentVolumeSpec, Volume, VolumeNodeAffinity,
    };

    fn claim(name: &str, volume: Option<&str>) -> PersistentVolumeClaim {
        let mut pvc = PersistentVolumeClaim {
            spec: Some(PersistentVolumeClaimSpec { volume_name: volume.map(Into::into), ..Default::default() }),
            ..Default::default()
        };
        pvc.metadata.name = Some(name.into());
        pvc.metadata.namespace = Some("default".into());
        pvc
    }

    fn local_volume(name: &str, host: &str) -> PersistentVolume {
        let mut pv = PersistentVolume {
            spec: Some(PersistentVolumeSpec {
                node_affinity: Some(VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![term("kubernetes.io/hostname", "In", &[host])],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        pv.metadata.name = Some(name.into());
        pv
    }

    fn using(claims: &[&str]) -> PodInfo {
        pod("p")
            .with_spec(|s| {
                s.volumes = Some(
                    claims
                        .iter()
                        .map(|c| Volume {
                            name: format!("v-{c}"),
                            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                                claim_name: c.to_string(),
                                read_only: None,
                            }),
                            ..Default::default()
                        })
                        .collect(),
                )
            })
            .info()
    }

    fn verdicts(p: &PodInfo) -> Result<Vec<Fit>, Fit> {
        let mut volumes = Volumes::default();
        volumes.set_claim(&claim("data", Some("pv-n2")));
        volumes.set_claim(&claim("pending", None));
        volumes.set_claim(&claim("dangling", Some("gone")));
        let mut delayed = claim("delayed", None);
        delayed.spec.as_mut().unwrap().storage_class_name = Some("local-path".into());
        volumes.set_claim(&delayed);
        let mut class = k8s_openapi::api::storage::v1::StorageClass {
            volume_binding_mode: Some("WaitForFirstConsumer".into()),
            ..Default::default()
        };
        class.metadata.name = Some("local-path".into());
        volumes.set_class(&class);
        volumes.set_volume(&local_volume("pv-n2", "n2"));
        let mut snap = Snapshot::from_nodes(vec![NodeInfo::new(node("n1").build()), NodeInfo::new(node("n2").build())]);
        snap.volumes = Arc::new(volumes);
        let mut s = CycleState::new();
        let fit = VolumeBinding.pre_filter(&mut s, p, &snap);
        if !fit.fits() {
            return Err(fit);
        }
        Ok(snap.nodes.iter().map(|n| VolumeBinding.filter(&s, p, n)).collect())
    }

    #[test]
    fn table() {
        let conflict = Fit::unresolvable(REASON_NODE_CONFLICT);
        assert_eq!(verdicts(&pod("p").info()), Ok(vec![Fit::Fits, Fit::Fits]));
        assert_eq!(verdicts(&using(&["data"])), Ok(vec![conflict, Fit::Fits]));
        assert_eq!(
            verdicts(&using(&["missing"])),
            Err(Fit::unresolvable("persistentvolumeclaim \"missing\" not found"))
        );
        assert_eq!(verdicts(&using(&["pending"])), Err(Fit::unresolvable(REASON_UNBOUND)));
        let gone = Fit::unresolvable(REASON_PV_NOT_EXIST);
        assert_eq!(verdicts(&using(&["dangling"])), Ok(vec![gone.clone(), gone]));
        // A WaitForFirstConsumer claim waits for the pod's node: any node fits.
        assert_eq!(verdicts(&using(&["delayed"])), Ok(vec![Fit::Fits, Fit::Fits]));
        assert_eq!(
            verdicts(&using(&["delayed", "data"])),
            Ok(vec![Fit::unresolvable(REASON_NODE_CONFLICT), Fit::Fits])
        );
    }
}
