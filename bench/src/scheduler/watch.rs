//! The benchmark's own watch of bindings, decoding only what it needs (name,
//! resourceVersion, `spec.nodeName`), so its CPU stays small next to the
//! scheduler's in this process.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use serde::{Deserialize, Deserializer};
use tokio_util::sync::CancellationToken;

/// When each pod was first seen bound, by name.
pub type Bound = Arc<Mutex<HashMap<String, Instant>>>;

/// A pod as the benchmark sees it: every other field is skipped while parsing.
#[derive(Clone, Debug, Deserialize)]
pub struct BoundPod {
    #[serde(deserialize_with = "slim_meta")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<SlimSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct SlimSpec {
    #[serde(rename = "nodeName", default)]
    node_name: Option<String>,
}

#[derive(Deserialize)]
struct SlimMeta {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// Name, namespace and resourceVersion (the watcher resumes from it); the rest,
/// managedFields above all, is skipped without building values.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = SlimMeta::deserialize(d)?;
    Ok(ObjectMeta { name: m.name, namespace: m.namespace, resource_version: m.resource_version, ..Default::default() })
}

impl kube::Resource for BoundPod {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Records the first time each pod of `default` is seen with a node, until `stop`.
pub async fn watch_bindings(client: kube::Client, bound: Bound, stop: CancellationToken) {
    let pods: Api<BoundPod> = Api::namespaced(client, "default");
    let mut stream = watcher(pods, watcher::Config::default()).boxed();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = stream.next() => e,
        };
        let pod = match event {
            Some(Ok(Event::Apply(p) | Event::InitApply(p))) => p,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                eprintln!("watch: {e}");
                continue;
            }
            None => return,
        };
        if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| !n.is_empty()) {
            let now = Instant::now();
            bound.lock().unwrap().entry(pod.metadata.name.unwrap_or_default()).or_insert(now);
        }
    }
}
