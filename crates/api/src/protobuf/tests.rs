//! Decoding hand-made bodies: envelope handling and malformed input. Round trips of
//! real objects built with k8s-pb live in `tests/protobuf_*.rs`.

use serde_json::json;

use super::*;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len_field(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn varint_field(tag: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3, &mut out);
    varint(value, &mut out);
    out
}

fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [len_field(1, api_version.as_bytes()), len_field(2, kind.as_bytes())].concat();
    [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, raw), len_field(4, CONTENT_TYPE.as_bytes())].concat()
}

fn malformed(result: Result<Value>) -> (String, WireError) {
    match result {
        Err(ProtobufError::Malformed { path, source, .. }) => (path, source),
        other => panic!("expected a Malformed error, got {other:?}"),
    }
}

#[test]
fn namespace_with_name_decodes() {
    let meta = len_field(1, b"demo");
    let decoded = decode(&body("v1", "Namespace", &len_field(1, &meta))).unwrap();
    assert_eq!(decoded, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}));
}

#[test]
fn bad_magic_is_rejected() {
    assert_eq!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtobufError::MissingMagic));
    assert_eq!(decode(b"k8s"), Err(ProtobufError::MissingMagic));
}

#[test]
fn envelope_without_kind_is_rejected() {
    assert_eq!(decode(MAGIC), Err(ProtobufError::MissingTypeMeta));
    assert_eq!(decode(&body("v1", "", &[])), Err(ProtobufError::MissingTypeMeta));
}

#[test]
fn compressed_envelope_is_rejected() {
    let mut b = body("v1", "Namespace", &[]);
    b.extend(len_field(3, b"gzip"));
    assert_eq!(decode(&b), Err(ProtobufError::UnsupportedContentEncoding("gzip".into())));
}

#[test]
fn unknown_kinds_and_groups_are_rejected() {
    for (api_version, kind) in [("v1", "Widget"), ("example.com/v1", "Deployment"), ("apps/v1beta1", "Deployment")] {
        assert_eq!(
            decode(&body(api_version, kind, &[])),
            Err(ProtobufError::UnknownKind { api_version: api_version.into(), kind: kind.into() })
        );
    }
}

#[test]
fn delete_options_decode_in_any_served_group_version() {
    let raw = len_field(4, b"Foreground");
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let decoded = decode(&body(api_version, "DeleteOptions", &raw)).unwrap();
        assert_eq!(decoded["propagationPolicy"], "Foreground", "{api_version}");
        assert_eq!(decoded["apiVersion"], api_version);
    }
}

#[test]
fn truncated_input_reports_the_field_path() {
    // Deployment.spec.template.spec.containers[0] with a name whose length overruns.
    let container = [len_field(1, b"web"), vec![0x12, 0x7f, b'x']].concat(); // image: 127 bytes announced
    let pod_spec = len_field(2, &container);
    let template = len_field(2, &pod_spec);
    let spec = len_field(3, &template);
    let (path, err) = malformed(decode(&body("apps/v1", "Deployment", &len_field(2, &spec))));
    assert_eq!(path, "spec.template.spec.containers[0].image");
    assert_eq!(err, WireError::Truncated { wanted: 127, remaining: 1 });
}

#[test]
fn wrong_wire_type_is_an_error() {
    // ObjectMeta.name sent as a varint.
    let raw = len_field(1, &varint_field(1, 5));
    let (path, err) = malformed(decode(&body("v1", "Namespace", &raw)));
    assert_eq!(path, "metadata.name");
    assert_eq!(err, WireError::WrongWireType { expected: "length-delimited", got: "varint" });
}

#[test]
fn invalid_utf8_is_an_error() {
    let raw = len_field(1, &len_field(1, &[0xff, 0xfe]));
    assert_eq!(malformed(decode(&body("v1", "Namespace", &raw))).1, WireError::InvalidUtf8);
}

#[test]
fn truncated_envelope_is_an_error() {
    let mut b = body("v1", "Namespace", &[1, 2, 3]);
    b.truncate(b.len() - 40);
    assert!(matches!(decode(&b), Err(ProtobufError::Malformed { .. })));
}

#[test]
fn deep_nesting_is_bounded() {
    // JSONSchema-like self nesting is impossible in the served types, so build depth
    // through RawExtensions holding protobuf objects holding RawExtensions.
    let mut object = body("v1", "Namespace", &[]);
    for _ in 0..40 {
        // ControllerRevision.data (tag 2) is a RawExtension whose raw (tag 1) is a whole body.
        object = body("apps/v1", "ControllerRevision", &len_field(2, &len_field(1, &object)));
    }
    let err = decode(&object).unwrap_err();
    assert!(err.to_string().contains("nested deeper than"), "{err}");
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic fuzz: every prefix and many byte flips of a valid body.
    let container = [len_field(1, b"web"), len_field(2, b"busybox"), varint_field(7, 1)].concat();
    let spec = len_field(3, &len_field(2, &len_field(2, &container)));
    let valid = body("apps/v1", "Deployment", &[len_field(1, &len_field(1, b"d")), len_field(2, &spec)].concat());
    for end in 0..valid.len() {
        let _ = decode(&valid[..end]);
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut mutated = valid.clone();
        let at = 4 + (seed as usize % (mutated.len() - 4));
        mutated[at] = (seed >> 32) as u8;
        let _ = decode(&mutated);
    }
}

#[test]
fn errors_become_bad_request() {
    let err: ApiError = ProtobufError::MissingMagic.into();
    assert!(matches!(err, ApiError::BadRequest(ref m) if m.contains("magic")), "{err:?}");
}

#[test]
fn every_served_kind_and_subresource_body_has_a_descriptor() {
    for resource in crate::RESOURCES {
        let api_version = resource.api_version();
        // Virtual resources (reviews, bindings) have no list type upstream.
        let lists = matches!(resource.storage, crate::Storage::Stored { .. }).then(|| resource.list_kind());
        for kind in std::iter::once(resource.kind.to_owned()).chain(lists) {
            let decoded = decode(&body(&api_version, &kind, &[]));
            assert!(decoded.is_ok(), "{api_version} {kind}: {decoded:?}");
        }
        for sub in resource.subresources.iter().filter(|s| !s.kind.is_empty()) {
            // An empty version means the parent's group-version.
            let api_version = match sub.version {
                "" => api_version.clone(),
                version => crate::registry::api_version(sub.group, version),
            };
            let decoded = decode(&body(&api_version, sub.kind, &[]));
            assert!(decoded.is_ok(), "{}/{}: {api_version} {}: {decoded:?}", resource.plural, sub.name, sub.kind);
        }
    }
}

#[test]
fn map_value_errors_name_the_key() {
    // ResourceQuota.spec.hard{"cpu": IntOrString-like garbage}: Quantity.string sent as a varint.
    let entry = [len_field(1, b"cpu"), len_field(2, &varint_field(1, 7))].concat();
    let raw = len_field(2, &len_field(1, &entry));
    let (path, err) = malformed(decode(&body("v1", "ResourceQuota", &raw)));
    assert_eq!(path, "spec.hard[\"cpu\"]");
    assert_eq!(err, WireError::WrongWireType { expected: "length-delimited", got: "varint" });
}

#[test]
fn int_or_string_with_an_unknown_type_is_an_error() {
    // PodDisruptionBudget.spec.minAvailable {type: 7}
    let raw = len_field(2, &len_field(1, &varint_field(1, 7)));
    let (path, err) = malformed(decode(&body("policy/v1", "PodDisruptionBudget", &raw)));
    assert_eq!((path.as_str(), err), ("spec.minAvailable", WireError::BadIntOrStringType(7)));
}

#[test]
fn error_messages_name_kind_and_path() {
    let raw = len_field(1, &[0x0a, 0x09, b'x']);
    let err = decode(&body("v1", "Namespace", &raw)).unwrap_err();
    assert_eq!(err.to_string(), "invalid protobuf for Namespace at metadata.name: 9 bytes announced but only 1 left");
}
