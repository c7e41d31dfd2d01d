//! Protobuf round trips of the objects kubectl's typed commands send (namespaces,
//! config, reviews, tokens, deletes, evictions, scale) and of the types with special
//! JSON forms (MicroTime, ExtraValue, bytes).

mod protobuf_common;

use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use protobuf_common::{round_trip, s};
use serde_json::json;

fn named(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta { name: s(name), ..Default::default() })
}

#[test]
fn namespace() {
    let namespace = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("demo"),
            labels: [("team".to_string(), "a".to_string())].into(),
            ..Default::default()
        }),
        spec: Some(core::NamespaceSpec { finalizers: vec!["kubernetes".into()] }),
        status: Some(core::NamespaceStatus::default()),
    };
    let expected = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "demo", "labels": {"team": "a"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {},
    });
    round_trip::<_, k8s_openapi::api::core::v1::Namespace>("v1", "Namespace", &namespace, expected);
}

#[test]
fn config_map_data_and_binary_data() {
    let config_map = core::ConfigMap {
        metadata: named("c"),
        immutable: Some(false), // *bool: kept
        data: [("a".to_string(), "b".to_string()), ("empty".to_string(), String::new())].into(),
        binary_data: [("bin".to_string(), vec![0u8, 159, 146, 150])].into(),
    };
    let expected = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "immutable": false,
        "data": {"a": "b", "empty": ""},
        "binaryData": {"bin": "AJ+Slg=="},
    });
    round_trip::<_, k8s_openapi::api::core::v1::ConfigMap>("v1", "ConfigMap", &config_map, expected);
}

#[test]
fn secret_data_is_base64() {
    let secret = core::Secret {
        metadata: named("s"),
        data: [("password".to_string(), b"hunter2".to_vec())].into(),
        string_data: [("user".to_string(), "admin".to_string())].into(),
        r#type: s("Opaque"),
        immutable: None,
    };
    let expected = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"user": "admin"},
        "type": "Opaque",
    });
    round_trip::<_, k8s_openapi::api::core::v1::Secret>("v1", "Secret", &secret, expected);
}

#[test]
fn self_subject_access_review() {
    let review = authz::SelfSubjectAccessReview {
        metadata: Some(meta::ObjectMeta::default()),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: s("default"),
                verb: s("get"),
                resource: s("pods"),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(authz::SubjectAccessReviewStatus { allowed: Some(false), ..Default::default() }),
    };
    let expected = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
        "status": {"allowed": false}, // plain bool without omitempty: kept
    });
    round_trip::<_, k8s_openapi::api::authorization::v1::SelfSubjectAccessReview>(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &review,
        expected,
    );
}

#[test]
fn delete_options_with_preconditions_and_zero_grace_period() {
    let options = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(meta::Preconditions { uid: s("u-1"), resource_version: s("42") }),
        propagation_policy: s("Foreground"),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    let expected = json!({
        "apiVersion": "v1", "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u-1", "resourceVersion": "42"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    });
    round_trip::<_, k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>(
        "v1",
        "DeleteOptions",
        &options,
        expected,
    );
}

#[test]
fn token_request() {
    let request = authn::TokenRequest {
        metadata: named("default"),
        spec: Some(authn::TokenRequestSpec {
            audiences: vec!["https://kubernetes.default.svc".into()],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        }),
        status: Some(authn::TokenRequestStatus {
            token: s(""),
            expiration_timestamp: Some(meta::Time::default()), // Go's zero time: null, left out
        }),
    };
    let expected = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "metadata": {"name": "default"},
        "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600},
        "status": {"token": ""},
    });
    let decoded =
        skiff_api::protobuf::decode(&protobuf_common::envelope("authentication.k8s.io/v1", "TokenRequest", &request))
            .unwrap();
    // An empty Time message is Go's zero time; k8s-openapi needs the field, so compare JSON only.
    assert_eq!(decoded, expected);
}

#[test]
fn certificate_signing_request_bytes_and_extra_values() {
    let csr = k8s_pb::api::certificates::v1::CertificateSigningRequest {
        metadata: named("csr"),
        spec: Some(k8s_pb::api::certificates::v1::CertificateSigningRequestSpec {
            request: Some(b"-----BEGIN CERTIFICATE REQUEST-----".to_vec()),
            signer_name: s("kubernetes.io/kube-apiserver-client"),
            usages: vec!["client auth".into()],
            extra: [(
                "scopes".to_string(),
                k8s_pb::api::certificates::v1::ExtraValue { items: vec!["a".into(), "b".into()] },
            )]
            .into(),
            ..Default::default()
        }),
        status: None,
    };
    let expected = json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr"},
        "spec": {
            "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0=",
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "extra": {"scopes": ["a", "b"]},
        },
    });
    round_trip::<_, k8s_openapi::api::certificates::v1::CertificateSigningRequest>(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        &csr,
        expected,
    );
}

#[test]
fn lease_and_event_micro_times() {
    let micro = meta::MicroTime { seconds: Some(1_704_164_645), nanos: Some(123_456_789) };
    let lease = k8s_pb::api::coordination::v1::Lease {
        metadata: named("node-a"),
        spec: Some(k8s_pb::api::coordination::v1::LeaseSpec {
            holder_identity: s("node-a"),
            lease_duration_seconds: Some(40),
            renew_time: Some(micro),
            ..Default::default()
        }),
    };
    let expected = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "node-a"},
        "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 40, "renewTime": "2024-01-02T03:04:05.123456Z"},
    });
    round_trip::<_, k8s_openapi::api::coordination::v1::Lease>("coordination.k8s.io/v1", "Lease", &lease, expected);

    let event = k8s_pb::api::events::v1::Event {
        metadata: named("e"),
        event_time: Some(micro),
        reporting_controller: s("skiff/test"),
        reporting_instance: s("i"),
        action: s("Scheduled"),
        reason: s("Scheduled"),
        regarding: Some(core::ObjectReference { kind: s("Pod"), name: s("p"), ..Default::default() }),
        r#type: s("Normal"),
        ..Default::default()
    };
    let expected = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e"},
        "eventTime": "2024-01-02T03:04:05.123456Z",
        "reportingController": "skiff/test",
        "reportingInstance": "i",
        "action": "Scheduled",
        "reason": "Scheduled",
        "regarding": {"kind": "Pod", "name": "p"},
        "type": "Normal",
    });
    round_trip::<_, k8s_openapi::api::events::v1::Event>("events.k8s.io/v1", "Event", &event, expected);
}

#[test]
fn job_with_zero_backoff_limit() {
    let job = k8s_pb::api::batch::v1::Job {
        metadata: named("j"),
        spec: Some(k8s_pb::api::batch::v1::JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(0),
            template: Some(core::PodTemplateSpec {
                metadata: None,
                spec: Some(core::PodSpec {
                    containers: vec![core::Container { name: s("j"), image: s("busybox"), ..Default::default() }],
                    restart_policy: s("Never"),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let expected = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 0,
            "template": {"spec": {"containers": [{"name": "j", "image": "busybox"}], "restartPolicy": "Never"}},
        },
    });
    round_trip::<_, k8s_openapi::api::batch::v1::Job>("batch/v1", "Job", &job, expected);
}

#[test]
fn eviction_and_scale_subresource_bodies() {
    let eviction = k8s_pb::api::policy::v1::Eviction {
        metadata: Some(meta::ObjectMeta { name: s("p"), namespace: s("default"), ..Default::default() }),
        delete_options: Some(meta::DeleteOptions { grace_period_seconds: Some(30), ..Default::default() }),
    };
    let expected = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "p", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 30},
    });
    round_trip::<_, k8s_openapi::api::policy::v1::Eviction>("policy/v1", "Eviction", &eviction, expected);

    let scale = k8s_pb::api::autoscaling::v1::Scale {
        metadata: named("web"),
        spec: Some(k8s_pb::api::autoscaling::v1::ScaleSpec { replicas: Some(3) }),
        status: Some(k8s_pb::api::autoscaling::v1::ScaleStatus { replicas: Some(1), selector: s("app=web") }),
    };
    let expected = json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web"},
        "spec": {"replicas": 3},
        "status": {"replicas": 1, "selector": "app=web"},
    });
    round_trip::<_, k8s_openapi::api::autoscaling::v1::Scale>("autoscaling/v1", "Scale", &scale, expected);
}

#[test]
fn unknown_fields_are_skipped() {
    // A field number the table does not know (a newer API) is ignored, as upstream does.
    let mut raw = prost::Message::encode_to_vec(&core::Namespace { metadata: named("n"), ..Default::default() });
    raw.extend([0xf8, 0x3e, 0x01]); // field 999, varint 1
    raw.extend([0xfa, 0x3e, 0x02, b'h', b'i']); // field 999, bytes "hi"
    let body = protobuf_common::envelope("v1", "Namespace", &RawBytes(raw));
    let decoded = skiff_api::protobuf::decode(&body).unwrap();
    assert_eq!(decoded, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}));
}

/// Pre-encoded message bytes, to put arbitrary bytes inside the envelope.
#[derive(Debug, Default)]
struct RawBytes(Vec<u8>);

impl prost::Message for RawBytes {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        _: u32,
        _: prost::encoding::WireType,
        _: &mut impl prost::bytes::Buf,
        _: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        unreachable!("only encoded")
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}
