//! Shared helpers of the protobuf decoding tests: wrap a k8s-pb message in the
//! `k8s\0` + runtime.Unknown envelope the way client-go does, decode it, and check
//! the JSON against the expected value and against k8s-openapi's typed model.

use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The request body client-go would send for `object`.
pub fn envelope<M: Message>(api_version: &str, kind: &str, object: &M) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(skiff_api::protobuf::CONTENT_TYPE.into()),
    };
    [skiff_api::protobuf::MAGIC.as_slice(), &unknown.encode_to_vec()].concat()
}

/// Decodes `object` through the envelope, asserts the JSON, and asserts that the
/// JSON is exactly what k8s-openapi's `T` reads and writes back (which catches a
/// wrong JSON name: k8s-openapi drops fields it does not know).
pub fn round_trip<M: Message, T: DeserializeOwned + Serialize>(
    api_version: &str,
    kind: &str,
    object: &M,
    expected: Value,
) -> T {
    let decoded = skiff_api::protobuf::decode(&envelope(api_version, kind, object)).expect("decodes");
    assert_eq!(decoded, expected, "decoded:\n{}", serde_json::to_string_pretty(&decoded).unwrap());
    let typed: T = serde_json::from_value(decoded.clone()).expect("k8s-openapi reads the decoded JSON");
    assert_eq!(serde_json::to_value(&typed).unwrap(), decoded, "k8s-openapi writes back the same JSON");
    typed
}

pub fn s(value: &str) -> Option<String> {
    Some(value.to_owned())
}
