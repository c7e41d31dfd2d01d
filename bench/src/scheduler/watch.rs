//! The benchmark's own watch of bindings, decoding only what it needs (name,
//! resourceVersion, `spec.nodeName`), so its CPU stays small next to the
//! scheduler's in this process.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use serde::{Deserialize, Deserializer};
use tokio_util::sync::CancellationToken;

/// The bindings the benchmark's watch has seen.
pub type Bound = Arc<Mutex<Bindings>>;

#[derive(Default)]
pub struct Bindings {
    /// When each pod was first seen bound by a watch event, by name.
    pub at: HashMap<String, Instant>,
    /// Pods already bound in the watch's initial list: when they were bound is
    /// not known, so they have no time.
    pub listed: HashSet<String>,
    /// The initial list has been delivered.
    pub listed_all: bool,
}

impl Bindings {
    /// Pods seen bound, listed or not.
    pub fn len(&self) -> usize {
        self.at.len() + self.listed.len()
    }
}

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
        let (pod, listed) = match event {
            Some(Ok(Event::Apply(p))) => (p, false),
            Some(Ok(Event::InitApply(p))) => (p, true),
            Some(Ok(Event::InitDone)) => {
                bound.lock().unwrap().listed_all = true;
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                eprintln!("watch: {e}");
                continue;
            }
            None => return,
        };
        if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| !n.is_empty()) {
            let now = Instant::now();
            let name = pod.metadata.name.unwrap_or_default();
            let mut bound = bound.lock().unwrap();
            // A relist after a watch error lists pods already seen: keep their first time.
            if bound.at.contains_key(&name) || bound.listed.contains(&name) {
                continue;
            }
            match listed && !bound.listed_all {
                true => bound.listed.insert(name),
                false => bound.at.insert(name, now).is_none(),
            };
        }
    }
}
