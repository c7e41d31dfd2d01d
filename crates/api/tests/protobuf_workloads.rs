//! Protobuf round trips of workload objects: build with k8s-pb, encode as client-go
//! does, decode with skiff_api::protobuf, compare with the Kubernetes JSON form.

mod protobuf_common;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use protobuf_common::{round_trip, s};
use serde_json::json;

fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn quantity(value: &str) -> Quantity {
    Quantity { string: s(value) }
}

fn int_or_string_int(value: i32) -> IntOrString {
    IntOrString { r#type: Some(0), int_val: Some(value), str_val: None }
}

fn int_or_string_str(value: &str) -> IntOrString {
    IntOrString { r#type: Some(1), int_val: None, str_val: s(value) }
}

fn container() -> core::Container {
    core::Container {
        name: s("web"),
        image: s("nginx:1.27"),
        args: vec!["--port".into(), "80".into()],
        ports: vec![core::ContainerPort { container_port: Some(80), protocol: s("TCP"), ..Default::default() }],
        env: vec![
            core::EnvVar { name: s("MODE"), value: s("prod"), value_from: None },
            core::EnvVar {
                name: s("PASSWORD"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    secret_key_ref: Some(core::SecretKeySelector {
                        local_object_reference: Some(core::LocalObjectReference { name: s("db") }),
                        key: s("password"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: [("cpu".to_string(), quantity("500m")), ("memory".to_string(), quantity("128Mi"))].into(),
            requests: [("cpu".to_string(), quantity("250m"))].into(),
            claims: vec![],
        }),
        // Plain bool with omitempty: false is "unset" in Go and left out.
        stdin: Some(false),
        tty: Some(true),
        ..Default::default()
    }
}

#[test]
fn deployment_with_explicit_zero_replicas_and_int_or_strings() {
    let deployment = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            namespace: s("default"),
            labels: labels(&[("app", "web")]),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector { match_labels: labels(&[("app", "web")]), match_expressions: vec![] }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta { labels: labels(&[("app", "web")]), ..Default::default() }),
                spec: Some(core::PodSpec { containers: vec![container()], ..Default::default() }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(int_or_string_int(1)),
                    max_surge: Some(int_or_string_str("25%")),
                }),
            }),
            min_ready_seconds: Some(0),      // plain int32, omitempty: dropped
            revision_history_limit: Some(0), // *int32: an explicit 0 is kept
            progress_deadline_seconds: Some(600),
            paused: None,
        }),
        status: None,
    };
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "args": ["--port", "80"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [
                        {"name": "MODE", "value": "prod"},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": false}}},
                    ],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
                    "tty": true,
                }]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            "revisionHistoryLimit": 0,
            "progressDeadlineSeconds": 600,
        },
    });
    let typed: k8s_openapi::api::apps::v1::Deployment = round_trip("apps/v1", "Deployment", &deployment, expected);
    assert_eq!(typed.spec.unwrap().replicas, Some(0));
}

#[test]
fn pod_with_times_inline_volume_sources_probes_and_managed_fields() {
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("p"),
            uid: s("6b1e7f52-0000-4000-8000-000000000001"),
            creation_timestamp: Some(meta::Time { seconds: Some(1_704_164_645), nanos: Some(0) }),
            generation: Some(0), // plain int64, omitempty: dropped
            owner_references: vec![meta::OwnerReference {
                api_version: s("apps/v1"),
                kind: s("ReplicaSet"),
                name: s("web-1"),
                uid: s("6b1e7f52-0000-4000-8000-000000000002"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl-run"),
                operation: s("Update"),
                api_version: s("v1"),
                time: Some(meta::Time { seconds: Some(1_704_164_645), nanos: Some(999_000_000) }),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 { raw: Some(br#"{"f:spec":{"f:containers":{}}}"#.to_vec()) }),
                subresource: None,
            }],
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: s("scratch"),
                volume_source: Some(core::VolumeSource {
                    empty_dir: Some(core::EmptyDirVolumeSource { medium: s(""), size_limit: Some(quantity("1Gi")) }),
                    ..Default::default()
                }),
            }],
            containers: vec![core::Container {
                name: s("c"),
                image: s("busybox"),
                command: vec!["sleep".into(), "3600".into()],
                security_context: Some(core::SecurityContext { run_as_user: Some(0), ..Default::default() }),
                liveness_probe: Some(core::Probe {
                    handler: Some(core::ProbeHandler {
                        http_get: Some(core::HttpGetAction {
                            path: s("/healthz"),
                            port: Some(int_or_string_str("http")),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    period_seconds: Some(10),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            restart_policy: s("Never"),
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            security_context: Some(core::PodSecurityContext {
                supplemental_groups: vec![1000, 2000],
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: Some(core::PodStatus {
            phase: s("Running"),
            start_time: Some(meta::Time { seconds: Some(1_704_164_700), nanos: None }),
            ..Default::default()
        }),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "uid": "6b1e7f52-0000-4000-8000-000000000001",
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
                "uid": "6b1e7f52-0000-4000-8000-000000000002", "controller": true, "blockOwnerDeletion": true,
            }],
            "managedFields": [{
                "manager": "kubectl-run", "operation": "Update", "apiVersion": "v1",
                "time": "2024-01-02T03:04:05Z", // Time keeps whole seconds, as upstream
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}},
            }],
        },
        "spec": {
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
            "containers": [{
                "name": "c",
                "image": "busybox",
                "command": ["sleep", "3600"],
                "securityContext": {"runAsUser": 0},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
            }],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "securityContext": {"supplementalGroups": [1000, 2000]},
        },
        "status": {"phase": "Running", "startTime": "2024-01-02T03:05:00Z"},
    });
    round_trip::<_, k8s_openapi::api::core::v1::Pod>("v1", "Pod", &pod, expected);
}

#[test]
fn service_ports_with_numeric_and_named_target_ports() {
    let service = core::Service {
        metadata: Some(meta::ObjectMeta { name: s("web"), ..Default::default() }),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    protocol: s("TCP"),
                    port: Some(80),
                    target_port: Some(int_or_string_int(8080)),
                    node_port: Some(0), // plain int32, omitempty: 0 means "allocate", left out
                    app_protocol: None,
                },
                core::ServicePort {
                    name: s("https"),
                    port: Some(443),
                    target_port: Some(int_or_string_str("https")),
                    ..Default::default()
                },
            ],
            selector: labels(&[("app", "web")]),
            cluster_ip: s(""),
            r#type: s("ClusterIP"),
            allocate_load_balancer_node_ports: Some(false),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus::default()),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": "https"},
            ],
            "selector": {"app": "web"},
            "type": "ClusterIP",
            "allocateLoadBalancerNodePorts": false,
        },
        "status": {},
    });
    round_trip::<_, k8s_openapi::api::core::v1::Service>("v1", "Service", &service, expected);
}

#[test]
fn controller_revision_data_is_embedded_json() {
    let revision = apps::ControllerRevision {
        metadata: Some(meta::ObjectMeta { name: s("web-5d4f"), ..Default::default() }),
        data: Some(k8s_pb::apimachinery::pkg::runtime::RawExtension {
            raw: Some(br#"{"spec":{"template":{"$patch":"replace"}}}"#.to_vec()),
        }),
        revision: Some(3),
    };
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "web-5d4f"},
        "data": {"spec": {"template": {"$patch": "replace"}}},
        "revision": 3,
    });
    round_trip::<_, k8s_openapi::api::apps::v1::ControllerRevision>(
        "apps/v1",
        "ControllerRevision",
        &revision,
        expected,
    );
}
