//! Defaults of the workload kinds and Services.

use serde_json::{json, Value};

use super::{set, template};

pub fn deployment(obj: &mut Value) {
    set(obj, &["spec", "replicas"], json!(1));
    set(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
    // Only a rolling update gets its parameters (an unknown type is left for validation).
    if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
        set(obj, &["spec", "strategy", "rollingUpdate", "maxUnavailable"], json!("25%"));
        set(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"], json!("25%"));
    }
    set(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    template(obj, "/spec/template");
}

pub fn replica_set(obj: &mut Value) {
    set(obj, &["spec", "replicas"], json!(1));
    template(obj, "/spec/template");
}

pub fn replication_controller(obj: &mut Value) {
    set(obj, &["spec", "replicas"], json!(1));
    // An RC without a selector selects its template's labels.
    if obj.pointer("/spec/selector").is_none() {
        if let Some(labels) = obj.pointer("/spec/template/metadata/labels").cloned() {
            set(obj, &["spec", "selector"], labels);
        }
    }
    template(obj, "/spec/template");
}

pub fn stateful_set(obj: &mut Value) {
    set(obj, &["spec", "replicas"], json!(1));
    set(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    set(obj, &["spec", "updateStrategy", "type"], json!("RollingUpdate"));
    if obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
        set(obj, &["spec", "updateStrategy", "rollingUpdate", "partition"], json!(0));
    }
    set(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], json!("Retain"));
    set(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], json!("Retain"));
    for pvc in obj.pointer_mut("/spec/volumeClaimTemplates").and_then(Value::as_array_mut).into_iter().flatten() {
        set(pvc, &["spec", "volumeMode"], json!("Filesystem"));
        set(pvc, &["status", "phase"], json!("Pending"));
    }
    template(obj, "/spec/template");
}

pub fn daemon_set(obj: &mut Value) {
    set(obj, &["spec", "updateStrategy", "type"], json!("RollingUpdate"));
    if obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
        set(obj, &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], json!(1));
        set(obj, &["spec", "updateStrategy", "rollingUpdate", "maxSurge"], json!(0));
    }
    set(obj, &["spec", "revisionHistoryLimit"], json!(10));
    template(obj, "/spec/template");
}

pub fn job(obj: &mut Value) {
    let parallelism_set = obj.pointer("/spec/parallelism").is_some();
    let completions_set = obj.pointer("/spec/completions").is_some();
    if !completions_set && !parallelism_set {
        set(obj, &["spec", "completions"], json!(1));
        set(obj, &["spec", "parallelism"], json!(1));
    }
    set(obj, &["spec", "parallelism"], json!(1));
    set(obj, &["spec", "backoffLimit"], json!(6));
    set(obj, &["spec", "completionMode"], json!("NonIndexed"));
    set(obj, &["spec", "suspend"], json!(false));
    set(obj, &["spec", "manualSelector"], Value::Null);
    if obj.pointer("/spec/manualSelector").is_some_and(Value::is_null) {
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("manualSelector");
        }
    }
    set(obj, &["spec", "podReplacementPolicy"], json!("TerminatingOrFailed"));
    template(obj, "/spec/template");
}

pub fn cron_job(obj: &mut Value) {
    set(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
    set(obj, &["spec", "suspend"], json!(false));
    set(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
    set(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
    if let Some(job_spec) = obj.pointer_mut("/spec/jobTemplate") {
        job(job_spec);
    }
}

pub fn service(obj: &mut Value) {
    set(obj, &["spec", "type"], json!("ClusterIP"));
    set(obj, &["spec", "sessionAffinity"], json!("None"));
    let service_type = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    if service_type != "ExternalName" {
        set(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    }
    let external_ips = obj.pointer("/spec/externalIPs").and_then(Value::as_array).is_some_and(|ips| !ips.is_empty());
    if matches!(service_type.as_str(), "NodePort" | "LoadBalancer") || (service_type == "ClusterIP" && external_ips) {
        set(obj, &["spec", "externalTrafficPolicy"], json!("Cluster"));
    }
    if obj.pointer("/spec/sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
        set(obj, &["spec", "sessionAffinityConfig", "clientIP", "timeoutSeconds"], json!(10800));
    }
    for p in obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut).into_iter().flatten() {
        set(p, &["protocol"], json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            set(p, &["targetPort"], port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        let mut r = json!({"spec": {"strategy": {"type": "Recreate"}}});
        deployment(&mut r);
        assert!(r["spec"]["strategy"].get("rollingUpdate").is_none());
        let mut odd = json!({"spec": {"strategy": {"type": "Canary"}}});
        deployment(&mut odd);
        assert!(odd["spec"]["strategy"].get("rollingUpdate").is_none());
    }

    #[test]
    fn service_and_job_defaults() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        service(&mut s);
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        let mut j = json!({"spec": {"template": {"spec": {"containers": []}}}});
        job(&mut j);
        assert_eq!((j["spec"]["completions"].clone(), j["spec"]["parallelism"].clone()), (json!(1), json!(1)));
        assert!(j["spec"].get("manualSelector").is_none());
    }
}
