//! The garbage collector: `ownerReferences` drive cascading deletion.
//! Background (the owner is gone: delete its dependents), Foreground (the
//! owner carries `foregroundDeletion`: delete its dependents, then drop the
//! finalizer once no `blockOwnerDeletion` dependent is left) and Orphan (the
//! owner carries `orphan`: remove it from its dependents' ownerReferences,
//! then drop the finalizer). It watches every listable, deletable resource
//! through the shared informers (metadata view).

pub mod graph;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, Patch, Preconditions};
use kube::Api;
use tokio_util::sync::CancellationToken;

use graph::{decide, Action, Graph, Node, OwnerState, FOREGROUND};

use crate::replicaset::ignore_gone;
use crate::runtime::discovery::{self, Served};
use crate::runtime::{Context, Controller, Outcome, Registration, SyncError, WorkQueue};

pub const GARBAGE_COLLECTOR: Registration =
    Registration { name: "garbagecollector", workers: 5, build: |ctx, q| Arc::new(GarbageCollector::new(ctx, q)) };

pub struct GarbageCollector {
    ctx: Context,
    queue: WorkQueue<String>,
    graph: Arc<Mutex<Graph>>,
    resources: RwLock<Vec<Served>>,
}

impl GarbageCollector {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> GarbageCollector {
        GarbageCollector { ctx: ctx.clone(), queue, graph: Arc::default(), resources: RwLock::default() }
    }

    fn api(&self, resource: &Served, namespace: &str) -> Api<DynamicObject> {
        if resource.namespaced {
            Api::namespaced_with(self.ctx.client.clone(), namespace, &resource.resource)
        } else {
            Api::all_with(self.ctx.client.clone(), &resource.resource)
        }
    }

    /// What `owner` (referenced from an object in `namespace`) points at,
    /// checked against the API when the graph does not know it.
    async fn owner_state(&self, owner: &OwnerReference, namespace: &str) -> Result<OwnerState, kube::Error> {
        let known = self.graph.lock().expect("graph lock").node(&owner.uid).cloned();
        if let Some(node) = known {
            return Ok(state_of(node.deleting, &node.finalizers));
        }
        let group = owner.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let resource = {
            let resources = self.resources.read().expect("resources lock");
            resources.iter().find(|r| r.resource.group == group && r.resource.kind == owner.kind).cloned()
        };
        // An owner of a kind the server does not serve cannot be checked: keep
        // the dependent rather than guess.
        let Some(resource) = resource else { return Ok(OwnerState::Solid) };
        match self.api(&resource, namespace).get_opt(&owner.name).await? {
            None => Ok(OwnerState::Dangling),
            Some(o) if o.metadata.uid.as_deref() != Some(owner.uid.as_str()) => Ok(OwnerState::Dangling),
            Some(o) => {
                Ok(state_of(o.metadata.deletion_timestamp.is_some(), &o.metadata.finalizers.unwrap_or_default()))
            }
        }
    }

    async fn perform(&self, action: Action) -> Result<(), kube::Error> {
        let uid = match &action {
            Action::Delete { uid, .. } | Action::RemoveOwners { uid, .. } | Action::RemoveFinalizer { uid, .. } => uid,
        };
        let Some(node) = self.graph.lock().expect("graph lock").node(uid).cloned() else { return Ok(()) };
        let Some(resource) = self.resources.read().expect("resources lock").get(node.resource).cloned() else {
            return Ok(());
        };
        let api = self.api(&resource, &node.namespace);
        let pp = crate::runtime::patch_params();
        match action {
            Action::Delete { uid, policy } => {
                tracing::debug!(kind = %resource.resource.kind, name = %node.name, policy, "garbage collecting");
                let params = DeleteParams {
                    propagation_policy: Some(match policy {
                        "Foreground" => kube::api::PropagationPolicy::Foreground,
                        "Orphan" => kube::api::PropagationPolicy::Orphan,
                        _ => kube::api::PropagationPolicy::Background,
                    }),
                    preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                    ..Default::default()
                };
                ignore_gone(api.delete(&node.name, &params).await.map(|_| ()))
            }
            Action::RemoveOwners { uid, owners } => {
                let remaining: Vec<&OwnerReference> = node.owners.iter().filter(|o| !owners.contains(&o.uid)).collect();
                let patch = serde_json::json!({"metadata": {"ownerReferences": remaining, "uid": uid}});
                ignore_gone(api.patch(&node.name, &pp, &Patch::Merge(&patch)).await)
            }
            Action::RemoveFinalizer { uid, finalizer } => {
                let remaining: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
                let patch = serde_json::json!({"metadata": {"finalizers": remaining, "uid": uid}});
                ignore_gone(api.patch(&node.name, &pp, &Patch::Merge(&patch)).await)
            }
        }
    }
}

fn state_of(deleting: bool, finalizers: &[String]) -> OwnerState {
    if deleting && finalizers.iter().any(|f| f == FOREGROUND) {
        OwnerState::Waiting
    } else {
        OwnerState::Solid
    }
}

#[async_trait::async_trait]
impl Controller for GarbageCollector {
    /// Discovers the resources to watch and registers on their informers.
    async fn prepare(&self, shutdown: &CancellationToken) {
        let served = loop {
            match discovery::served(&self.ctx.client).await {
                Ok(s) => break s,
                Err(e) => tracing::warn!(error = %e, "garbage collector: discovery failed; retrying"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        let resources = discovery::collectable(&served);
        for (i, r) in resources.iter().enumerate() {
            let informer = self.ctx.informers.meta_informer(&r.resource);
            let (graph, queue) = (self.graph.clone(), self.queue.clone());
            informer.on_meta_change(Arc::new(move |old, new| {
                let again = {
                    let mut g = graph.lock().expect("graph lock");
                    match (old, new) {
                        (_, Some(meta)) => g.upsert(meta.uid.as_deref().unwrap_or(""), Node::from_meta(i, meta)),
                        (Some(meta), None) => g.remove(meta.uid.as_deref().unwrap_or("")),
                        (None, None) => Vec::new(),
                    }
                };
                again.into_iter().filter(|u| !u.is_empty()).for_each(|u| queue.add(u));
            }));
        }
        *self.resources.write().expect("resources lock") = resources;
    }

    async fn sync(&self, uid: &str) -> Result<Outcome, SyncError> {
        let Some(node) = self.graph.lock().expect("graph lock").node(uid).cloned() else { return Ok(Outcome::Done) };
        let mut states: HashMap<String, OwnerState> = HashMap::new();
        if !node.deleting {
            for owner in &node.owners {
                states.insert(owner.uid.clone(), self.owner_state(owner, &node.namespace).await?);
            }
        }
        let actions = {
            let g = self.graph.lock().expect("graph lock");
            decide(&g, uid, &|o| states.get(&o.uid).copied().unwrap_or(OwnerState::Solid))
        };
        for action in actions {
            self.perform(action).await?;
        }
        Ok(Outcome::Done)
    }
}
