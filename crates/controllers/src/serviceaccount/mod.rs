//! Two small per-namespace controllers: `serviceaccount` keeps a `default`
//! ServiceAccount in every namespace, and `root-ca-cert-publisher` keeps the
//! `kube-root-ca.crt` ConfigMap holding the cluster CA (what pods use to trust
//! the API server). Neither writes into a namespace being deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;

use crate::runtime::{Context, Controller, Informer, Outcome, Registration, SyncError, WorkQueue};

pub const SERVICE_ACCOUNT: Registration =
    Registration { name: "serviceaccount", workers: 2, build: |ctx, q| Arc::new(ServiceAccounts::new(ctx, q)) };

pub const ROOT_CA_PUBLISHER: Registration =
    Registration { name: "root-ca-cert-publisher", workers: 2, build: |ctx, q| Arc::new(RootCaPublisher::new(ctx, q)) };

pub const DEFAULT: &str = "default";
pub const ROOT_CA: &str = "kube-root-ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Enqueues a namespace when it appears, and when the object named `name`
/// in it changes or goes.
fn watch_namespaces<K>(
    namespaces: &Informer<Namespace>,
    objects: &Informer<K>,
    name: &'static str,
    queue: &WorkQueue<String>,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let q = queue.clone();
    namespaces.on_change(move |c| q.add(c.object().metadata.name.clone().unwrap_or_default()));
    let q = queue.clone();
    objects.on_change(move |c| {
        let meta = c.object().meta();
        if meta.name.as_deref() == Some(name) {
            q.add(meta.namespace.clone().unwrap_or_default());
        }
    });
}

/// The namespace, if it exists and is not being deleted.
fn active(namespaces: &Informer<Namespace>, name: &str) -> bool {
    namespaces.get("", name).is_some_and(|ns| ns.metadata.deletion_timestamp.is_none())
}

/// A create that lost a race with another creator is fine.
fn created<T>(result: Result<T, kube::Error>) -> Result<(), SyncError> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        // The namespace started terminating meanwhile.
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub struct ServiceAccounts {
    ctx: Context,
    namespaces: Informer<Namespace>,
    accounts: Informer<ServiceAccount>,
}

impl ServiceAccounts {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> ServiceAccounts {
        let namespaces = ctx.informers.informer::<Namespace>();
        let accounts = ctx.informers.informer::<ServiceAccount>();
        watch_namespaces(&namespaces, &accounts, DEFAULT, &queue);
        ServiceAccounts { ctx: ctx.clone(), namespaces, accounts }
    }
}

#[async_trait::async_trait]
impl Controller for ServiceAccounts {
    async fn sync(&self, namespace: &str) -> Result<Outcome, SyncError> {
        if !active(&self.namespaces, namespace) || self.accounts.get(namespace, DEFAULT).is_some() {
            return Ok(Outcome::Done);
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(DEFAULT.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<ServiceAccount> = Api::namespaced(self.ctx.client.clone(), namespace);
        created(api.create(&crate::runtime::post_params(), &sa).await)?;
        Ok(Outcome::Done)
    }
}

pub struct RootCaPublisher {
    ctx: Context,
    namespaces: Informer<Namespace>,
    config_maps: Informer<ConfigMap>,
}

impl RootCaPublisher {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> RootCaPublisher {
        let namespaces = ctx.informers.informer::<Namespace>();
        let config_maps = ctx.informers.informer::<ConfigMap>();
        watch_namespaces(&namespaces, &config_maps, ROOT_CA, &queue);
        RootCaPublisher { ctx: ctx.clone(), namespaces, config_maps }
    }
}

#[async_trait::async_trait]
impl Controller for RootCaPublisher {
    async fn sync(&self, namespace: &str) -> Result<Outcome, SyncError> {
        let Some(ca) = self.ctx.root_ca.as_deref() else { return Ok(Outcome::Done) };
        if !active(&self.namespaces, namespace) {
            return Ok(Outcome::Done);
        }
        let data: BTreeMap<String, String> = [("ca.crt".to_string(), ca.to_string())].into();
        let annotations: BTreeMap<String, String> =
            [("kubernetes.io/description".to_string(), DESCRIPTION.to_string())].into();
        let api: Api<ConfigMap> = Api::namespaced(self.ctx.client.clone(), namespace);
        match self.config_maps.get(namespace, ROOT_CA) {
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(ROOT_CA.into()),
                        namespace: Some(namespace.into()),
                        annotations: Some(annotations),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                created(api.create(&crate::runtime::post_params(), &cm).await)?;
            }
            Some(cm) if cm.data.as_ref() != Some(&data) => {
                let mut cm = (*cm).clone();
                cm.data = Some(data);
                cm.binary_data = None;
                cm.metadata.annotations.get_or_insert_with(BTreeMap::new).extend(annotations);
                crate::replicaset::ignore_gone(api.replace(ROOT_CA, &crate::runtime::post_params(), &cm).await)?;
            }
            Some(_) => {}
        }
        Ok(Outcome::Done)
    }
}
