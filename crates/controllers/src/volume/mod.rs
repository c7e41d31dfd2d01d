//! Persistent volumes: the binder (`persistentvolume-binder`, upstream's
//! PersistentVolume controller) binds claims to matching volumes and tracks
//! volume phases and reclaim policies; the built-in local-path provisioner
//! (`local-path-provisioner`) makes hostPath volumes for the default class.

pub mod binder;
pub mod local_path;
pub mod reconcile;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::replicaset::{ignore_gone, is_gone};
use crate::runtime::{
    key_of, object_ref, split_key, Context, Controller, Informer, Outcome, Recorder, Registration, SyncError, WorkQueue,
};
use binder::{BETA_STORAGE_PROVISIONER, BIND_COMPLETED, BOUND_BY_CONTROLLER, SELECTED_NODE, STORAGE_PROVISIONER};
use local_path::{HostDirs, VolumeDirs};
use reconcile::{sync_claim, sync_volume, Action, ClaimLookup};

pub const PERSISTENTVOLUME_BINDER: Registration = Registration {
    name: "persistentvolume-binder",
    workers: 2,
    build: |ctx, q| Arc::new(VolumeController::new(ctx, q)),
};

pub const LOCAL_PATH_PROVISIONER: Registration = Registration {
    name: "local-path-provisioner",
    workers: 2,
    build: |ctx, q| Arc::new(LocalPathProvisioner::new(ctx, q, Arc::new(HostDirs))),
};

/// Where local-path volumes live when the manager is not told.
pub const DEFAULT_LOCAL_PATH_DIR: &str = "/var/lib/skiff/storage";

/// Keys: claims are `namespace/name`, volumes (cluster-scoped) `name` — the
/// two never collide.
fn is_claim_key(key: &str) -> bool {
    key.contains('/')
}

pub struct VolumeController {
    ctx: Context,
    claims: Informer<PersistentVolumeClaim>,
    volumes: Informer<PersistentVolume>,
    classes: Informer<StorageClass>,
    recorder: Recorder,
}

impl VolumeController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> VolumeController {
        let claims = ctx.informers.informer::<PersistentVolumeClaim>();
        let volumes = ctx.informers.informer::<PersistentVolume>();
        let classes = ctx.informers.informer::<StorageClass>();
        {
            let queue = queue.clone();
            claims.on_change(move |c| {
                let claim = c.object();
                queue.add(key_of(claim.as_ref()));
                // Its volume learns the claim is gone or bound.
                if let Some(v) = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty()) {
                    queue.add(v);
                }
            });
        }
        {
            let (queue, claims) = (queue.clone(), claims.clone());
            volumes.on_change(move |c| {
                let pv = c.object();
                queue.add(key_of(pv.as_ref()));
                if let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                    queue.add(format!("{}/{}", r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or("")));
                } else {
                    // A new free volume may be what a pending claim waits for.
                    claims
                        .list()
                        .iter()
                        .filter(|c| c.spec.as_ref().and_then(|s| s.volume_name.as_ref()).is_none())
                        .for_each(|c| queue.add(key_of(c.as_ref())));
                }
            });
        }
        {
            let (queue, claims) = (queue.clone(), claims.clone());
            classes.on_change(move |_| {
                claims.list().iter().for_each(|c| queue.add(key_of(c.as_ref())));
            });
        }
        VolumeController {
            ctx: ctx.clone(),
            claims,
            volumes,
            classes,
            recorder: ctx.recorder.with_component("persistentvolume-controller"),
        }
    }

    async fn claim_action(&self, claim: &PersistentVolumeClaim, action: Action) -> Result<(), kube::Error> {
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        let uid = claim.metadata.uid.clone().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
        let pvs: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let pp = crate::runtime::patch_params();
        match action {
            Action::SetClaimClass(class) => {
                let patch = json!({"metadata": {"uid": uid}, "spec": {"storageClassName": class}});
                ignore_gone(api.patch(&name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::RequestProvisioning(p) => {
                let patch = json!({"metadata": {"uid": uid, "annotations": {STORAGE_PROVISIONER: p, BETA_STORAGE_PROVISIONER: p}}});
                ignore_gone(api.patch(&name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::BindVolume { volume, claim_ref } => {
                let patch = json!({
                    "metadata": {"annotations": {BOUND_BY_CONTROLLER: "yes"}},
                    "spec": {"claimRef": claim_ref},
                });
                pvs.patch(&volume, &pp, &Patch::Merge(&patch)).await.map(|_| ())
            }
            Action::BindClaim { volume } => {
                let patch = json!({
                    "metadata": {"uid": uid, "annotations": {BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}},
                    "spec": {"volumeName": volume},
                });
                ignore_gone(api.patch(&name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::ClaimPhase { phase, capacity, access_modes } => {
                let patch = json!({"status": {"phase": phase, "capacity": capacity, "accessModes": access_modes}});
                ignore_gone(api.patch_status(&name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::Event { warning, reason, message } => {
                if warning {
                    self.recorder.warning(object_ref(claim), reason, message);
                } else {
                    self.recorder.normal(object_ref(claim), reason, message);
                }
                Ok(())
            }
            Action::VolumePhase { .. } | Action::UnbindVolume | Action::DeleteVolume => Ok(()),
        }
    }

    async fn volume_action(&self, pv: &PersistentVolume, action: Action) -> Result<(), kube::Error> {
        let name = pv.metadata.name.clone().unwrap_or_default();
        let api: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let pp = crate::runtime::patch_params();
        match action {
            Action::VolumePhase { phase, message } => {
                let patch = json!({"status": {"phase": phase, "message": message}});
                ignore_gone(api.patch_status(&name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::UnbindVolume => {
                let patch = json!({"metadata": {"uid": pv.metadata.uid}, "spec": {"claimRef": null}});
                ignore_gone(api.patch(&name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::DeleteVolume => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: pv.metadata.uid.clone(), resource_version: None }),
                    ..Default::default()
                };
                ignore_gone(api.delete(&name, &params).await)
            }
            Action::Event { warning, reason, message } => {
                if warning {
                    self.recorder.warning(object_ref(pv), reason, message);
                } else {
                    self.recorder.normal(object_ref(pv), reason, message);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The claim a volume refers to: from the cache, confirmed with a live
    /// read before calling it gone (a stale cache must not release a volume).
    async fn lookup(&self, pv: &PersistentVolume) -> Result<Option<Arc<PersistentVolumeClaim>>, kube::Error> {
        let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return Ok(None) };
        let (ns, name) = (r.namespace.clone().unwrap_or_default(), r.name.clone().unwrap_or_default());
        if let Some(c) = self.claims.get(&ns, &name) {
            return Ok(Some(c));
        }
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
        Ok(api.get_opt(&name).await?.map(Arc::new))
    }
}

#[async_trait::async_trait]
impl Controller for VolumeController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let volumes = self.volumes.list();
        let volumes: Vec<&PersistentVolume> = volumes.iter().map(|v| v.as_ref()).collect();
        if is_claim_key(key) {
            let Some(claim) = self.claims.get_key(key) else { return Ok(Outcome::Done) };
            let classes = self.classes.list();
            let classes: Vec<&StorageClass> = classes.iter().map(|c| c.as_ref()).collect();
            for action in sync_claim(&claim, &volumes, &classes) {
                self.claim_action(&claim, action).await?;
            }
            return Ok(Outcome::Done);
        }
        let Some(pv) = self.volumes.get_key(key) else { return Ok(Outcome::Done) };
        let found = self.lookup(&pv).await?;
        let ref_uid = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| r.uid.clone());
        let lookup = match (&found, pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref())) {
            (_, None) => ClaimLookup::NoRef,
            (Some(c), Some(_)) if ref_uid.is_none() || ref_uid == c.metadata.uid => ClaimLookup::Found(c),
            // A pre-bound volume whose claim does not exist yet waits for it.
            (None, Some(_)) if ref_uid.is_none() => ClaimLookup::NoRef,
            _ => ClaimLookup::Gone,
        };
        for action in sync_volume(&pv, lookup, local_path::PROVISIONER) {
            self.volume_action(&pv, action).await?;
        }
        Ok(Outcome::Done)
    }
}

/// The local-path provisioner's shell.
pub struct LocalPathProvisioner {
    ctx: Context,
    claims: Informer<PersistentVolumeClaim>,
    volumes: Informer<PersistentVolume>,
    classes: Informer<StorageClass>,
    nodes: Informer<Node>,
    dirs: Arc<dyn VolumeDirs>,
    base: PathBuf,
    recorder: Recorder,
}

impl LocalPathProvisioner {
    pub fn new(ctx: &Context, queue: WorkQueue<String>, dirs: Arc<dyn VolumeDirs>) -> LocalPathProvisioner {
        let claims = ctx.informers.informer::<PersistentVolumeClaim>();
        let volumes = ctx.informers.informer::<PersistentVolume>();
        let classes = ctx.informers.informer::<StorageClass>();
        let nodes = ctx.informers.informer::<Node>();
        {
            let queue = queue.clone();
            claims.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        {
            let queue = queue.clone();
            volumes.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        let base =
            ctx.local_path_dir.as_deref().map_or_else(|| PathBuf::from(DEFAULT_LOCAL_PATH_DIR), Path::to_path_buf);
        LocalPathProvisioner {
            ctx: ctx.clone(),
            claims,
            volumes,
            classes,
            nodes,
            dirs,
            base,
            recorder: ctx.recorder.with_component("rancher.io/local-path_skiff"),
        }
    }
}

#[async_trait::async_trait]
impl Controller for LocalPathProvisioner {
    /// Creates the default StorageClass unless one named `local-path` exists.
    async fn prepare(&self, shutdown: &CancellationToken) {
        let api: Api<StorageClass> = Api::all(self.ctx.client.clone());
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            let result = match api.get_opt(local_path::CLASS).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => api.create(&crate::runtime::post_params(), &local_path::default_class()).await.map(|_| ()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return,
                Err(kube::Error::Api(s)) if s.code == 409 => return,
                Err(e) => tracing::warn!(error = %e, "cannot create the local-path StorageClass; retrying"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(10));
        }
    }

    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let pp = crate::runtime::post_params();
        if is_claim_key(key) {
            let Some(claim) = self.claims.get_key(key) else { return Ok(Outcome::Done) };
            let class_name = binder::claim_class(&claim);
            let class = self.classes.get("", class_name);
            if !local_path::wants_volume(&claim, class.as_deref()) {
                return Ok(Outcome::Done);
            }
            let name = local_path::volume_name(&claim);
            if self.volumes.get("", &name).is_some() {
                return Ok(Outcome::Done);
            }
            let selected = binder::annotation(&claim.metadata.annotations, SELECTED_NODE).unwrap_or("").to_string();
            let node = self.nodes.get("", &selected);
            let class = class.expect("wants_volume checked the class");
            let pv = local_path::provision(&claim, &class, node.as_deref(), &selected, &self.base);
            let api: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
            match api.create(&pp, &pv).await {
                Ok(_) => self.recorder.normal(
                    object_ref(claim.as_ref()),
                    "ProvisioningSucceeded",
                    format!("Successfully provisioned volume {name}"),
                ),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => {
                    self.recorder.warning(
                        object_ref(claim.as_ref()),
                        "ProvisioningFailed",
                        format!("failed to provision volume with StorageClass \"{class_name}\": {e}"),
                    );
                    return Err(e.into());
                }
            }
            return Ok(Outcome::Done);
        }
        let (_, name) = split_key(key);
        let Some(pv) = self.volumes.get("", name) else { return Ok(Outcome::Done) };
        if !local_path::should_delete(&pv) {
            return Ok(Outcome::Done);
        }
        match local_path::removable_dir(&pv, &self.base) {
            Some(dir) => {
                if let Err(e) = self.dirs.remove(&dir) {
                    self.recorder.warning(
                        object_ref(pv.as_ref()),
                        "VolumeFailedDelete",
                        format!("cannot remove {}: {e}", dir.display()),
                    );
                    return Err(SyncError::Other(format!("removing {}: {e}", dir.display())));
                }
            }
            None => tracing::warn!(volume = name, "volume directory is outside the storage directory; left in place"),
        }
        let api: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: pv.metadata.uid.clone(), resource_version: None }),
            ..Default::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => Ok(Outcome::Done),
            Err(e) if is_gone(&e) => Ok(Outcome::Done),
            Err(e) => Err(e.into()),
        }
    }
}
