//! The one description of every resource skiff serves. Discovery, routing, storage
//! keys, OpenAPI and printing are all derived from these entries — adding a resource
//! is one entry here plus, where it needs one, a strategy.

/// The verbs a resource (or subresource) supports, as discovery lists them.
pub type Verbs = &'static [&'static str];

pub const ALL_VERBS: Verbs = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/// Namespaces cannot be deleted as a collection.
pub const NO_COLLECTION_DELETE: Verbs = &["create", "delete", "get", "list", "patch", "update", "watch"];
pub const CREATE_ONLY: Verbs = &["create"];
pub const GET_LIST: Verbs = &["get", "list"];
const GET_PATCH_UPDATE: Verbs = &["get", "patch", "update"];
const CREATE_GET: Verbs = &["create", "get"];
const PROXY_VERBS: Verbs = &["create", "delete", "get", "patch", "update"];

/// A subresource such as `pods/status` or `deployments/scale`.
#[derive(Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    /// The group/version/kind of the subresource's body, when it differs from the
    /// parent's (`deployments/scale` is `autoscaling/v1` `Scale`).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: Verbs,
}

/// How a resource's objects are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Persisted in the store under `/registry/{key}/...`. Two group-versions of one
    /// resource share a key when upstream serves them from one storage.
    Stored { key: &'static str },
    /// Create-only requests answered without storing anything (reviews, bindings).
    Virtual,
}

/// One served resource of one group-version.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    pub verbs: Verbs,
    pub subresources: &'static [Subresource],
    pub storage: Storage,
}

impl Resource {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }
}

pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

const fn sub(name: &'static str, kind: &'static str, verbs: Verbs) -> Subresource {
    Subresource { name, group: "", version: "", kind, verbs }
}

const fn status(kind: &'static str) -> Subresource {
    sub("status", kind, GET_PATCH_UPDATE)
}

const fn scale() -> Subresource {
    Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: GET_PATCH_UPDATE }
}

/// Builds an entry with the common defaults; the table below overrides fields.
const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        singular,
        short_names: &[],
        categories: &[],
        namespaced,
        verbs: ALL_VERBS,
        subresources: &[],
        storage: Storage::Stored { key: plural },
    }
}

const ALL: &[&str] = &["all"];
const API_EXTENSIONS: &[&str] = &["api-extensions"];

macro_rules! with {
    ($base:expr $(, $field:ident : $value:expr)* $(,)?) => {
        Resource { $($field: $value,)* ..$base }
    };
}

/// Every built-in resource skiff serves, grouped by group-version in discovery order.
pub static RESOURCES: &[Resource] = &[
    // ---- core/v1 -------------------------------------------------------------
    with!(res("", "v1", "Binding", "bindings", "binding", true), verbs: CREATE_ONLY, storage: Storage::Virtual),
    with!(res("", "v1", "ComponentStatus", "componentstatuses", "componentstatus", false),
        short_names: &["cs"], verbs: GET_LIST, storage: Storage::Virtual),
    with!(res("", "v1", "ConfigMap", "configmaps", "configmap", true), short_names: &["cm"]),
    with!(res("", "v1", "Endpoints", "endpoints", "endpoints", true), short_names: &["ep"]),
    with!(res("", "v1", "Event", "events", "event", true), short_names: &["ev"]),
    with!(res("", "v1", "LimitRange", "limitranges", "limitrange", true), short_names: &["limits"]),
    with!(res("", "v1", "Namespace", "namespaces", "namespace", false), short_names: &["ns"],
        verbs: NO_COLLECTION_DELETE,
        subresources: &[sub("finalize", "Namespace", &["update"]), status("Namespace")]),
    with!(res("", "v1", "Node", "nodes", "node", false), short_names: &["no"],
        subresources: &[sub("proxy", "NodeProxyOptions", PROXY_VERBS), status("Node")]),
    with!(res("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true),
        short_names: &["pvc"], subresources: &[status("PersistentVolumeClaim")]),
    with!(res("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false),
        short_names: &["pv"], subresources: &[status("PersistentVolume")]),
    with!(res("", "v1", "Pod", "pods", "pod", true), short_names: &["po"], categories: ALL,
    subresources: &[
        sub("attach", "PodAttachOptions", CREATE_GET),
        sub("binding", "Binding", CREATE_ONLY),
        sub("ephemeralcontainers", "Pod", GET_PATCH_UPDATE),
        Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: CREATE_ONLY },
        sub("exec", "PodExecOptions", CREATE_GET),
        sub("log", "Pod", &["get"]),
        sub("portforward", "PodPortForwardOptions", CREATE_GET),
        sub("proxy", "PodProxyOptions", PROXY_VERBS),
        status("Pod"),
    ]),
    with!(res("", "v1", "PodTemplate", "podtemplates", "podtemplate", true)),
    with!(res("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", true),
        short_names: &["rc"], categories: ALL, subresources: &[scale(), status("ReplicationController")]),
    with!(res("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true), short_names: &["quota"],
        subresources: &[status("ResourceQuota")]),
    with!(res("", "v1", "Secret", "secrets", "secret", true)),
    with!(res("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true), short_names: &["sa"],
        subresources: &[Subresource { name: "token", group: "authentication.k8s.io", version: "v1",
            kind: "TokenRequest", verbs: CREATE_ONLY }]),
    with!(res("", "v1", "Service", "services", "service", true), short_names: &["svc"], categories: ALL,
        subresources: &[sub("proxy", "ServiceProxyOptions", PROXY_VERBS), status("Service")]),
    // ---- admissionregistration.k8s.io/v1 -------------------------------------
    with!(res("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", false), categories: API_EXTENSIONS),
    with!(res("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies", "validatingadmissionpolicy", false), categories: API_EXTENSIONS,
        subresources: &[status("ValidatingAdmissionPolicy")]),
    with!(res("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", false), categories: API_EXTENSIONS),
    with!(res("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations", "validatingwebhookconfiguration", false), categories: API_EXTENSIONS),
    // ---- apps/v1 --------------------------------------------------------------
    with!(res("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", true)),
    with!(res("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true), short_names: &["ds"], categories: ALL,
        subresources: &[status("DaemonSet")]),
    with!(res("apps", "v1", "Deployment", "deployments", "deployment", true), short_names: &["deploy"],
        categories: ALL, subresources: &[scale(), status("Deployment")]),
    with!(res("apps", "v1", "ReplicaSet", "replicasets", "replicaset", true), short_names: &["rs"],
        categories: ALL, subresources: &[scale(), status("ReplicaSet")]),
    with!(res("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true), short_names: &["sts"],
        categories: ALL, subresources: &[scale(), status("StatefulSet")]),
    // ---- authentication.k8s.io/v1 ---------------------------------------------
    with!(res("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", false),
        verbs: CREATE_ONLY, storage: Storage::Virtual),
    with!(res("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", false),
        verbs: CREATE_ONLY, storage: Storage::Virtual),
    // ---- authorization.k8s.io/v1 ----------------------------------------------
    with!(res("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
        "localsubjectaccessreview", true), verbs: CREATE_ONLY, storage: Storage::Virtual),
    with!(res("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        "selfsubjectaccessreview", false), verbs: CREATE_ONLY, storage: Storage::Virtual),
    with!(res("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
        "selfsubjectrulesreview", false), verbs: CREATE_ONLY, storage: Storage::Virtual),
    with!(res("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview",
        false), verbs: CREATE_ONLY, storage: Storage::Virtual),
    // ---- autoscaling/v1 and v2 (one storage) ----------------------------------
    with!(res("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
        true), short_names: &["hpa"], categories: ALL, subresources: &[status("HorizontalPodAutoscaler")]),
    with!(res("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
        true), short_names: &["hpa"], categories: ALL, subresources: &[status("HorizontalPodAutoscaler")]),
    // ---- batch/v1 ------------------------------------------------------------
    with!(res("batch", "v1", "CronJob", "cronjobs", "cronjob", true), short_names: &["cj"], categories: ALL,
        subresources: &[status("CronJob")]),
    with!(res("batch", "v1", "Job", "jobs", "job", true), categories: ALL, subresources: &[status("Job")]),
    // ---- certificates.k8s.io/v1 ------------------------------------------------
    with!(res("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
        "certificatesigningrequest", false), short_names: &["csr"],
        subresources: &[sub("approval", "CertificateSigningRequest", GET_PATCH_UPDATE),
            status("CertificateSigningRequest")]),
    // ---- coordination.k8s.io/v1 -------------------------------------------------
    with!(res("coordination.k8s.io", "v1", "Lease", "leases", "lease", true)),
    // ---- discovery.k8s.io/v1 ---------------------------------------------------
    with!(res("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true)),
    // ---- events.k8s.io/v1 ------------------------------------------------------
    with!(res("events.k8s.io", "v1", "Event", "events", "event", true), short_names: &["ev"],
        storage: Storage::Stored { key: "events" }),
    // ---- networking.k8s.io/v1 ----------------------------------------------------
    with!(res("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", false)),
    with!(res("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true), short_names: &["ing"],
        subresources: &[status("Ingress")]),
    with!(res("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true),
        short_names: &["netpol"]),
    // ---- node.k8s.io/v1 ------------------------------------------------------------
    with!(res("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", "runtimeclass", false)),
    // ---- policy/v1 -------------------------------------------------------------------
    with!(res("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true),
        short_names: &["pdb"], subresources: &[status("PodDisruptionBudget")]),
    // ---- rbac.authorization.k8s.io/v1 ------------------------------------------------
    with!(res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false
    )),
    with!(res("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false)),
    with!(res("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true)),
    with!(res("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true)),
    // ---- scheduling.k8s.io/v1 ----------------------------------------------------------
    with!(res("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", false),
        short_names: &["pc"]),
    // ---- storage.k8s.io/v1 ---------------------------------------------------------------
    with!(res("storage.k8s.io", "v1", "CSIDriver", "csidrivers", "csidriver", false)),
    with!(res("storage.k8s.io", "v1", "CSINode", "csinodes", "csinode", false)),
    with!(res("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", "csistoragecapacity", true)),
    with!(res("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false),
        short_names: &["sc"]),
    with!(res("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", "volumeattachment", false),
        subresources: &[status("VolumeAttachment")]),
];

/// The groups in discovery order (core first), each with its versions, preferred first.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

/// The resources of one group-version.
pub fn resources_of<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Resource> + 'a {
    RESOURCES.iter().filter(move |r| r.group == group && r.version == version)
}

/// Looks a resource up by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by group, version and kind.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn entries_are_unique_per_group_version() {
        let mut seen = HashSet::new();
        for r in RESOURCES {
            assert!(seen.insert((r.group, r.version, r.plural)), "duplicate {}/{} {}", r.group, r.version, r.plural);
            assert!(r.plural.chars().all(|c| c.is_ascii_lowercase()), "{}", r.plural);
            assert_eq!(r.singular, r.kind.to_ascii_lowercase(), "{}", r.kind);
        }
    }

    #[test]
    fn scale_subresources_are_autoscaling_v1() {
        for plural in ["deployments", "replicasets", "statefulsets"] {
            let s = find("apps", "v1", plural).unwrap().subresource("scale").unwrap();
            assert_eq!((s.group, s.version, s.kind), ("autoscaling", "v1", "Scale"));
        }
        assert!(find("", "v1", "replicationcontrollers").unwrap().subresource("scale").is_some());
    }

    #[test]
    fn groups_list_core_first_and_preferred_versions_first() {
        let groups = groups();
        assert_eq!(groups[0], ("", vec!["v1"]));
        let autoscaling = groups.iter().find(|(g, _)| *g == "autoscaling").unwrap();
        assert_eq!(autoscaling.1, vec!["v2", "v1"]);
    }

    #[test]
    fn hpa_versions_share_storage() {
        let v1 = find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let v2 = find("autoscaling", "v2", "horizontalpodautoscalers").unwrap();
        assert_eq!(v1.storage, v2.storage);
    }
}
