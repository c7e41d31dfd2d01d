//! Columns and cells per kind, matching upstream's printers
//! (`pkg/printers/internalversion/printers.go`, Kubernetes 1.32). Kinds upstream
//! has no printer for (LimitRange, Role, ClusterRole, ...) get NAME and CREATED AT,
//! as upstream's default table convertor gives them.
//!
//! The server always renders the wide columns (upstream's table convertor asks
//! its printers for `Wide: true`); kubectl hides `priority > 0` columns unless
//! `-o wide`.

mod autoscaling;
mod batch;
mod cluster;
mod core;
mod event;
mod network;
mod pod;
mod storage;
mod workloads;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use skiff_api::Resource;

use super::age::{age, parse_time};
use super::fields::str_at;

/// One column of a Table.
#[derive(Debug)]
pub struct Column {
    /// As upstream writes it ("Up-to-date"); kubectl upper-cases it.
    pub name: &'static str,
    /// `string`, `integer`, `boolean`, `date`.
    pub kind: &'static str,
    /// `name` marks the column kubectl prefixes with `kind/`.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 always shown; 1 only with `-o wide`.
    pub priority: u8,
}

/// A kind's columns and the function computing one object's cells (one per
/// column, in order) at the instant `now`.
pub struct Printer {
    pub columns: &'static [Column],
    pub cells: fn(&Value, DateTime<Utc>) -> Vec<Value>,
}

/// A column shown by default.
pub const fn col(name: &'static str, kind: &'static str) -> Column {
    Column { name, kind, format: "", description: "", priority: 0 }
}

/// A column shown only with `-o wide`.
pub const fn wide(name: &'static str, kind: &'static str) -> Column {
    Column { name, kind, format: "", description: "", priority: 1 }
}

pub const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some \
        resources may allow a client to request the generation of an appropriate name automatically. Name is \
        primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    priority: 0,
};

const CREATION_TIMESTAMP_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this \
    object was created. It is not guaranteed to be set in happens-before order across separate operations. \
    Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. \
    Read-only. Null for lists. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub const AGE: Column =
    Column { name: "Age", kind: "string", format: "", description: CREATION_TIMESTAMP_DOC, priority: 0 };

/// Upstream's default table (`rest.NewDefaultTableConvertor`).
const DEFAULT: Printer = Printer {
    columns: &[
        NAME,
        Column { name: "Created At", kind: "date", format: "", description: CREATION_TIMESTAMP_DOC, priority: 0 },
    ],
    cells: default_cells,
};

/// The created-at cell is RFC 3339 in UTC, whole seconds; a missing timestamp is
/// Go's zero time.
fn default_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let created = parse_time(str_at(obj, "/metadata/creationTimestamp"))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    vec![name(obj), json!(created)]
}

/// The name cell.
pub fn name(obj: &Value) -> Value {
    json!(str_at(obj, "/metadata/name"))
}

/// The age cell.
pub fn age_cell(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(age(obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now))
}

/// The printer for `res`; the default table for kinds upstream does not print.
pub fn printer(res: &Resource) -> &'static Printer {
    match (res.group, res.kind) {
        ("", "Pod") => &pod::POD,
        ("", "PodTemplate") => &pod::POD_TEMPLATE,
        ("", "Node") => &core::NODE,
        ("", "Namespace") => &core::NAMESPACE,
        ("", "ConfigMap") => &core::CONFIG_MAP,
        ("", "Secret") => &core::SECRET,
        ("", "ServiceAccount") => &core::SERVICE_ACCOUNT,
        ("", "ResourceQuota") => &core::RESOURCE_QUOTA,
        ("", "ComponentStatus") => &core::COMPONENT_STATUS,
        ("", "Event") => &event::CORE_EVENT,
        ("events.k8s.io", "Event") => &event::EVENTS_EVENT,
        ("", "Service") => &network::SERVICE,
        ("", "Endpoints") => &network::ENDPOINTS,
        ("discovery.k8s.io", "EndpointSlice") => &network::ENDPOINT_SLICE,
        ("networking.k8s.io", "Ingress") => &network::INGRESS,
        ("networking.k8s.io", "IngressClass") => &network::INGRESS_CLASS,
        ("networking.k8s.io", "NetworkPolicy") => &network::NETWORK_POLICY,
        ("", "PersistentVolume") => &storage::PERSISTENT_VOLUME,
        ("", "PersistentVolumeClaim") => &storage::PERSISTENT_VOLUME_CLAIM,
        ("storage.k8s.io", "StorageClass") => &storage::STORAGE_CLASS,
        ("storage.k8s.io", "CSIDriver") => &storage::CSI_DRIVER,
        ("storage.k8s.io", "CSINode") => &storage::CSI_NODE,
        ("storage.k8s.io", "CSIStorageCapacity") => &storage::CSI_STORAGE_CAPACITY,
        ("storage.k8s.io", "VolumeAttachment") => &storage::VOLUME_ATTACHMENT,
        ("", "ReplicationController") => &workloads::REPLICATION_CONTROLLER,
        ("apps", "ReplicaSet") => &workloads::REPLICA_SET,
        ("apps", "Deployment") => &workloads::DEPLOYMENT,
        ("apps", "StatefulSet") => &workloads::STATEFUL_SET,
        ("apps", "DaemonSet") => &workloads::DAEMON_SET,
        ("apps", "ControllerRevision") => &workloads::CONTROLLER_REVISION,
        ("batch", "Job") => &batch::JOB,
        ("batch", "CronJob") => &batch::CRON_JOB,
        ("autoscaling", "HorizontalPodAutoscaler") => &autoscaling::HPA,
        ("policy", "PodDisruptionBudget") => &autoscaling::POD_DISRUPTION_BUDGET,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => &cluster::ROLE_BINDING,
        ("scheduling.k8s.io", "PriorityClass") => &cluster::PRIORITY_CLASS,
        ("node.k8s.io", "RuntimeClass") => &cluster::RUNTIME_CLASS,
        ("coordination.k8s.io", "Lease") => &cluster::LEASE,
        ("certificates.k8s.io", "CertificateSigningRequest") => &cluster::CSR,
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration") => {
            &cluster::WEBHOOK_CONFIGURATION
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => &cluster::VALIDATING_ADMISSION_POLICY,
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => &cluster::POLICY_BINDING,
        _ => &DEFAULT,
    }
}

pub fn columns(res: &Resource) -> &'static [Column] {
    printer(res).columns
}

/// One object's cells at `now`.
pub fn cells(res: &Resource, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    (printer(res).cells)(obj, now)
}

/// The row conditions upstream sets: pods that finished are marked `Completed`.
pub fn row_conditions(res: &Resource, obj: &Value) -> Option<Value> {
    if (res.group, res.kind) == ("", "Pod") {
        pod::row_conditions(obj)
    } else {
        None
    }
}

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests;
