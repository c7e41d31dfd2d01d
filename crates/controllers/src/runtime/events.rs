//! The event recorder: controllers record core/v1 Events (`SuccessfulCreate`,
//! `ScalingReplicaSet`, ...) without waiting; one writer posts them. Repeats of
//! the same event for the same object bump its `count` instead of creating
//! another (client-go's event correlator, reduced to exact repeats). When the
//! queue is full events are dropped, as client-go's broadcaster drops them, so
//! events never hold up a controller.

use std::collections::HashMap;

use chrono::Utc;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const QUEUE: usize = 1000;
/// Repeats remembered; the cache is cleared when it grows past this.
const CACHE: usize = 4096;

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub component: &'static str,
    pub object: ObjectReference,
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// Records events for one component (its name goes into `source.component`).
#[derive(Clone)]
pub struct Recorder {
    component: &'static str,
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// A recorder whose records go to `tx` (tests read them from there).
    pub fn new(component: &'static str, tx: mpsc::Sender<Record>) -> Recorder {
        Recorder { component, tx }
    }

    pub fn with_component(&self, component: &'static str) -> Recorder {
        Recorder { component, tx: self.tx.clone() }
    }

    pub fn record(&self, object: ObjectReference, type_: EventType, reason: &str, message: String) {
        let record = Record { component: self.component, object, type_, reason: reason.into(), message };
        if self.tx.try_send(record).is_err() {
            tracing::debug!("event queue full; dropping an event");
        }
    }

    pub fn normal(&self, object: ObjectReference, reason: &str, message: String) {
        self.record(object, EventType::Normal, reason, message);
    }

    pub fn warning(&self, object: ObjectReference, reason: &str, message: String) {
        self.record(object, EventType::Warning, reason, message);
    }
}

/// The reference an event about `obj` carries.
pub fn object_ref<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// A channel for recorders and the writer that drains it.
pub fn channel(client: kube::Client) -> (mpsc::Sender<Record>, EventWriter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (tx, EventWriter { client, rx, seen: HashMap::new() })
}

/// (object uid, type, reason, message).
type EventId = (String, &'static str, String, String);
/// (namespace, event name, count).
type Posted = (String, String, i32);

/// Posts recorded events until shutdown.
pub struct EventWriter {
    client: kube::Client,
    rx: mpsc::Receiver<Record>,
    seen: HashMap<EventId, Posted>,
}

impl EventWriter {
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let record = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.rx.recv() => match r { Some(r) => r, None => return },
            };
            self.write(record).await;
        }
    }

    async fn write(&mut self, r: Record) {
        let now = Utc::now();
        let namespace = r.object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let id = (r.object.uid.clone().unwrap_or_default(), r.type_.as_str(), r.reason.clone(), r.message.clone());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some((ns, name, count)) = self.seen.get_mut(&id) {
            *count += 1;
            let patch = serde_json::json!({"count": *count, "lastTimestamp": Time(now)});
            let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
            if api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                return;
            }
            self.seen.remove(&id);
        }
        let object_name = r.object.name.clone().unwrap_or_default();
        let name = format!("{object_name}.{:x}", now.timestamp_nanos_opt().unwrap_or_default());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..Default::default() },
            involved_object: r.object,
            reason: Some(r.reason),
            message: Some(r.message),
            type_: Some(r.type_.as_str().into()),
            source: Some(EventSource { component: Some(r.component.into()), host: None }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            reporting_component: Some(r.component.into()),
            reporting_instance: Some(r.component.into()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if self.seen.len() >= CACHE {
                    self.seen.clear();
                }
                self.seen.insert(id, (namespace, name, 1));
            }
            Err(e) => tracing::debug!(error = %e, "cannot post an event"),
        }
    }
}
