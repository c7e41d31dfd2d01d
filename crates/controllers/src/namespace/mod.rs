//! The namespace controller: a namespace being deleted is emptied — every
//! namespaced resource the server serves is deleted — and, once nothing is
//! left, its `kubernetes` finalizer is removed (through
//! `namespaces/{name}/finalize`) so the API server deletes it. Its status
//! conditions say what is still pending.

pub mod reconcile;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch};
use kube::discovery::verbs;
use kube::Api;

use reconcile::{verdict, Remaining};

use crate::runtime::discovery::{self, Served};
use crate::runtime::{key_of, Context, Controller, Informer, Outcome, Registration, SyncError, WorkQueue};

pub const NAMESPACE: Registration =
    Registration { name: "namespace", workers: 2, build: |ctx, q| Arc::new(NamespaceController::new(ctx, q)) };

/// The finalizer this controller owns.
const FINALIZER: &str = "kubernetes";
/// How soon to look again while content remains (pods wait for their
/// kubelets, objects for their finalizers).
const RECHECK: Duration = Duration::from_secs(1);

pub struct NamespaceController {
    ctx: Context,
    namespaces: Informer<Namespace>,
}

impl NamespaceController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> NamespaceController {
        let namespaces = ctx.informers.informer::<Namespace>();
        namespaces.on_change(move |c| {
            if c.object().metadata.deletion_timestamp.is_some() {
                queue.add(key_of(c.object().as_ref()));
            }
        });
        NamespaceController { ctx: ctx.clone(), namespaces }
    }

    /// Deletes one resource's objects in `namespace`; reports what is left.
    async fn empty(&self, namespace: &str, served: &Served) -> Remaining {
        let group = &served.resource.group;
        let resource = if group.is_empty() {
            served.resource.plural.clone()
        } else {
            format!("{}.{group}", served.resource.plural)
        };
        let mut out = Remaining { resource, ..Default::default() };
        let api: Api<DynamicObject> = Api::namespaced_with(self.ctx.client.clone(), namespace, &served.resource);
        let listed = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        };
        let live: Vec<&DynamicObject> =
            listed.items.iter().filter(|o| o.metadata.deletion_timestamp.is_none()).collect();
        if !live.is_empty() {
            let deleted = if served.supports(verbs::DELETE_COLLECTION) {
                api.delete_collection(&DeleteParams::default(), &ListParams::default()).await.map(|_| ())
            } else {
                let mut result = Ok(());
                for o in &live {
                    if let Err(e) = api.delete(o.metadata.name.as_deref().unwrap_or(""), &DeleteParams::default()).await
                    {
                        if !crate::replicaset::is_gone(&e) {
                            result = Err(e);
                        }
                    }
                }
                result
            };
            if let Err(e) = deleted {
                out.error = Some(e.to_string());
            }
        }
        let Ok(after) = api.list(&ListParams::default()).await else { return out };
        out.count = after.items.len();
        let mut finalizers = BTreeMap::new();
        for o in &after.items {
            for f in o.metadata.finalizers.iter().flatten() {
                *finalizers.entry(f.clone()).or_default() += 1;
            }
        }
        out.finalizers = finalizers;
        out
    }
}

#[async_trait::async_trait]
impl Controller for NamespaceController {
    async fn sync(&self, name: &str) -> Result<Outcome, SyncError> {
        let Some(ns) = self.namespaces.get("", name) else { return Ok(Outcome::Done) };
        let finalizers = ns.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
        if ns.metadata.deletion_timestamp.is_none() || !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Outcome::Done);
        }
        let (discovery_error, results) = match discovery::served(&self.ctx.client).await {
            Err(e) => (Some(e.to_string()), Vec::new()),
            Ok(served) => {
                let mut results = Vec::new();
                for s in served.iter().filter(|s| s.namespaced && s.supports(verbs::LIST) && s.supports(verbs::DELETE))
                {
                    results.push(self.empty(name, s).await);
                }
                (None, results)
            }
        };
        let old = ns.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let v = verdict(discovery_error.as_deref(), &results, &old, self.ctx.clock.now());
        let api: Api<Namespace> = Api::all(self.ctx.client.clone());
        if v.conditions != old {
            let patch = serde_json::json!({"status": {"conditions": v.conditions}});
            crate::replicaset::ignore_gone(
                api.patch_status(name, &crate::runtime::patch_params(), &Patch::Merge(&patch)).await,
            )?;
        }
        if !v.empty {
            return Ok(Outcome::RequeueAfter(RECHECK));
        }
        let mut finalized = (*ns).clone();
        finalized.spec.get_or_insert_with(Default::default).finalizers =
            Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
        let body = serde_json::to_vec(&finalized).map_err(|e| SyncError::Other(e.to_string()))?;
        crate::replicaset::ignore_gone(
            api.replace_subresource("finalize", name, &crate::runtime::post_params(), body).await,
        )?;
        Ok(Outcome::Done)
    }
}
