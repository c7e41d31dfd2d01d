//! Writes events in the background, as upstream's broadcaster does: recording
//! never waits for the API server, a full queue drops the event (an event is a
//! courtesy and must not hold a pod back), and repeats raise the count of the
//! event already written (see `correlate`).

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::mpsc;

use super::correlate::{Correlator, Key, Write};
use super::messages::Said;

/// Events waiting to be written; beyond this they are dropped (upstream's
/// broadcaster queues 1,000 too).
const QUEUE: usize = 1000;

/// What an event is about: a pod, one of its containers, or the node.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    kind: &'static str,
    /// The object's namespace; empty for the node.
    namespace: String,
    name: String,
    uid: String,
    resource_version: Option<String>,
    /// `spec.containers{name}` or `spec.initContainers{name}`; empty for the pod.
    field_path: String,
}

impl Subject {
    pub fn pod(pod: &Pod) -> Subject {
        Subject {
            kind: "Pod",
            namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            resource_version: pod.metadata.resource_version.clone(),
            field_path: String::new(),
        }
    }

    /// Container `name` of `pod`, with upstream's field path.
    pub fn container(pod: &Pod, name: &str) -> Subject {
        let init = pod.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).any(|c| c.name == name);
        let list = if init { "initContainers" } else { "containers" };
        Subject { field_path: format!("spec.{list}{{{name}}}"), ..Subject::pod(pod) }
    }

    /// Node `name`: upstream's kubelet uses the name as the reference's uid.
    pub fn node(name: &str) -> Subject {
        Subject { kind: "Node", name: name.into(), uid: name.into(), ..Default::default() }
    }

    /// Where the event is written: the object's namespace, `default` for the
    /// node (as upstream's events about cluster-scoped objects).
    fn event_namespace(&self) -> &str {
        if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }
}

struct Record {
    subject: Subject,
    said: Said,
    at: Time,
}

/// Records events about pods for one node. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
    /// Whether Normal events are written (hollow nodes write only warnings).
    normal: bool,
}

impl Recorder {
    /// Starts the writer for node `node` on the current tokio runtime. It ends
    /// when the last clone of the recorder is dropped.
    pub fn start(client: kube::Client, node: &str, normal: bool) -> Recorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(client, node.to_string(), rx));
        Recorder { tx, normal }
    }

    pub fn record(&self, subject: &Subject, said: Said) {
        if !said.warning && !self.normal {
            return;
        }
        let record = Record { subject: subject.clone(), said, at: Time(chrono::Utc::now()) };
        if let Err(mpsc::error::TrySendError::Full(r)) = self.tx.try_send(record) {
            tracing::debug!(reason = r.said.reason, "event queue full; dropping the event");
        }
    }
}

async fn write_events(client: kube::Client, node: String, mut rx: mpsc::Receiver<Record>) {
    let mut correlator = Correlator::default();
    while let Some(r) = rx.recv().await {
        let key = Key {
            namespace: r.subject.event_namespace().to_string(),
            uid: r.subject.uid.clone(),
            field_path: r.subject.field_path.clone(),
            warning: r.said.warning,
            reason: r.said.reason.to_string(),
            message: r.said.message.clone(),
        };
        let api: Api<Event> = Api::namespaced(client.clone(), r.subject.event_namespace());
        if let Write::Count { name, count } = correlator.next(&key) {
            let patch = serde_json::json!({"count": count, "lastTimestamp": r.at});
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => continue,
                // Expired (events live an hour): written anew below.
                Err(kube::Error::Api(e)) if e.code == 404 => correlator.forget(&key),
                Err(e) => {
                    tracing::debug!(reason = r.said.reason, "cannot count an event: {e}");
                    continue;
                }
            }
        }
        match api.create(&PostParams::default(), &event(&node, &r)).await {
            Ok(created) => correlator.created(key, created.metadata.name.unwrap_or_default()),
            Err(e) => tracing::debug!(reason = r.said.reason, "cannot record an event: {e}"),
        }
    }
}

/// The event as upstream's kubelet writes it: `source.component: kubelet`,
/// the node as host.
fn event(node: &str, r: &Record) -> Event {
    let s = &r.subject;
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", s.name)),
            namespace: Some(s.event_namespace().to_string()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some(s.kind.into()),
            name: Some(s.name.clone()),
            namespace: (!s.namespace.is_empty()).then(|| s.namespace.clone()),
            uid: Some(s.uid.clone()),
            resource_version: s.resource_version.clone(),
            field_path: (!s.field_path.is_empty()).then(|| s.field_path.clone()),
        },
        reason: Some(r.said.reason.into()),
        message: Some(r.said.message.clone()),
        type_: Some(if r.said.warning { "Warning" } else { "Normal" }.into()),
        source: Some(EventSource { component: Some("kubelet".into()), host: Some(node.into()) }),
        first_timestamp: Some(r.at.clone()),
        last_timestamp: Some(r.at.clone()),
        count: Some(1),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(node.into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_events_name_the_container_as_upstream() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "main"}]}
        }))
        .unwrap();
        assert_eq!(Subject::container(&pod, "main").field_path, "spec.containers{main}");
        assert_eq!(Subject::container(&pod, "setup").field_path, "spec.initContainers{setup}");
        let r = Record {
            subject: Subject::container(&pod, "main"),
            said: super::super::messages::started("main"),
            at: Time(chrono::Utc::now()),
        };
        let e = event("node-1", &r);
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(e.involved_object.field_path.as_deref(), Some("spec.containers{main}"));
        assert_eq!(e.source.unwrap().host.as_deref(), Some("node-1"));
        assert_eq!(e.metadata.generate_name.as_deref(), Some("p."));
        assert_eq!(e.metadata.namespace.as_deref(), Some("ns"));

        let r = Record { subject: Subject::node("n1"), said: super::super::messages::starting(), at: r.at };
        let e = event("n1", &r);
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"), "events about a node go to default");
        assert_eq!(e.involved_object.kind.as_deref(), Some("Node"));
        assert_eq!(e.involved_object.uid.as_deref(), Some("n1"));
        assert_eq!(e.involved_object.namespace, None);
    }
}
