//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
//! into the JSON form the rest of skiff works with.
//!
//! kubectl sends its typed commands (`create namespace`, `run`, `auth can-i`,
//! `create token`, ...) as protobuf. The body is the magic `k8s\0` followed by a
//! `runtime.Unknown` envelope: `typeMeta {apiVersion = 1, kind = 2}`, `raw = 2` (the
//! object's own protobuf), `contentEncoding = 3`, `contentType = 4`.
//!
//! The object is decoded by walking its bytes with a generated descriptor table
//! (`descriptors_generated.rs`, from `tools/protobuf/gen_descriptors.py`) that knows,
//! for every message of the served groups, each field's tag, wire kind and JSON name,
//! and which Go-side rules shape its JSON (pointer vs value, `omitempty`, `,inline`).
//! No prost at run time: a small bounds-checked reader is all it takes.

mod decode;
mod descriptors;
#[rustfmt::skip]
mod descriptors_generated;
mod special;
mod wire;

use serde_json::{Map, Value};

use crate::ApiError;
use decode::Fail;
use wire::{Reader, WireType};

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

pub type Result<T, E = ProtobufError> = std::result::Result<T, E>;

/// Why a protobuf body could not be decoded. The API server answers 400 BadRequest
/// with the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the Kubernetes magic bytes \"k8s\\x00\"")]
    MissingMagic,
    /// The envelope names no apiVersion or no kind.
    #[error("protobuf envelope has no apiVersion or kind")]
    MissingTypeMeta,
    /// The envelope says the object is compressed or otherwise encoded.
    #[error("protobuf envelope content encoding {0:?} is not supported")]
    UnsupportedContentEncoding(String),
    /// The kind is not a built-in type of a served group (custom resources are JSON).
    #[error("no kind {kind:?} is registered for version {api_version:?} in the protobuf decoder")]
    UnknownKind { api_version: String, kind: String },
    /// The bytes are not a valid encoding of the named kind.
    #[error("invalid protobuf for {kind} at {}: {source}", if path.is_empty() { "the top level" } else { path })]
    Malformed {
        kind: String,
        /// The JSON path of the failing field, `spec.template.spec.containers[0].ports[1]`.
        path: String,
        #[source]
        source: WireError,
    },
}

/// What was wrong with the bytes of a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint longer than 64 bits")]
    VarintOverflow,
    #[error("{wanted} bytes announced but only {remaining} left")]
    Truncated { wanted: u64, remaining: usize },
    #[error("field number {0} is invalid")]
    InvalidFieldNumber(u64),
    #[error("wire type {0} is not supported (groups are not used by Kubernetes)")]
    UnsupportedWireType(u8),
    #[error("expected a {expected} value, found a {got} one")]
    WrongWireType { expected: &'static str, got: &'static str },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("IntOrString type {0} is neither 0 (int) nor 1 (string)")]
    BadIntOrStringType(u64),
    #[error("time {0}s (Unix) is outside the years 0 to 9999")]
    TimeOutOfRange(i64),
    #[error("embedded JSON is invalid: {0}")]
    InvalidJson(String),
    #[error("embedded object: {0}")]
    EmbeddedObject(Box<ProtobufError>),
    #[error("messages nested deeper than {0} levels")]
    TooDeep(usize),
}

impl From<ProtobufError> for ApiError {
    fn from(err: ProtobufError) -> ApiError {
        ApiError::BadRequest(err.to_string())
    }
}

/// Decodes a Kubernetes protobuf request body into the object's Kubernetes JSON form,
/// with `apiVersion` and `kind` taken from the envelope.
///
/// # Guarantees
/// - The result is what the JSON API would accept for the same object: JSON names,
///   `Time` as RFC 3339, quantities and int-or-strings as their JSON scalars, byte
///   fields and `Secret.data` as base64, maps as objects, `,inline` structs flattened.
/// - Fields absent on the wire are absent in JSON; a present explicit zero of a Go
///   pointer field (`replicas: 0`) is kept; the zero of a plain `omitempty` field,
///   which Go means as "unset", is left out.
/// - Fields the table does not know (newer than it) are skipped.
/// - Never panics, whatever the input.
///
/// # Errors
/// [`ProtobufError`] for a missing magic, an envelope without type information, a
/// kind outside the built-in types of the served groups, or malformed bytes (with the
/// JSON path to the failing field).
pub fn decode(body: &[u8]) -> Result<Value> {
    decode_nested(body, 0)
}

/// [`decode`] for an object embedded `depth` messages deep (a RawExtension).
fn decode_nested(body: &[u8], depth: usize) -> Result<Value> {
    let raw_envelope = body.strip_prefix(MAGIC.as_slice()).ok_or(ProtobufError::MissingMagic)?;
    let malformed = |fail: Fail, kind: &str| ProtobufError::Malformed {
        kind: kind.to_owned(),
        path: fail.path(),
        source: fail.error,
    };
    let envelope = Envelope::read(raw_envelope).map_err(|err| malformed(err.into(), "runtime.Unknown"))?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(envelope.content_encoding));
    }
    let Envelope { api_version, kind, raw, .. } = envelope;
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    let Some(message) = message_for(&api_version, &kind) else {
        return Err(ProtobufError::UnknownKind { api_version, kind });
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind.clone()));
    match decode::message(raw, message, depth).map_err(|fail| malformed(fail, &kind))? {
        Value::Object(fields) => object.extend(fields),
        _ => unreachable!("top-level kinds are plain messages"),
    }
    Ok(Value::Object(object))
}

/// The served groups, by the proto package name k8s-pb (and upstream) gives them.
const GROUPS: &[(&str, &str)] = &[
    ("", "core"),
    ("admissionregistration.k8s.io", "admissionregistration"),
    ("apps", "apps"),
    ("authentication.k8s.io", "authentication"),
    ("authorization.k8s.io", "authorization"),
    ("autoscaling", "autoscaling"),
    ("batch", "batch"),
    ("certificates.k8s.io", "certificates"),
    ("coordination.k8s.io", "coordination"),
    ("discovery.k8s.io", "discovery"),
    ("events.k8s.io", "events"),
    ("networking.k8s.io", "networking"),
    ("node.k8s.io", "node"),
    ("policy", "policy"),
    ("rbac.authorization.k8s.io", "rbac"),
    ("scheduling.k8s.io", "scheduling"),
    ("storage.k8s.io", "storage"),
];

/// Option kinds upstream registers in every group-version (`metav1.AddToGroupVersion`),
/// so a DELETE to `apps/v1` may carry `apps/v1` DeleteOptions.
const META_KINDS: &[&str] =
    &["CreateOptions", "DeleteOptions", "GetOptions", "ListOptions", "PatchOptions", "UpdateOptions"];

fn message_for(api_version: &str, kind: &str) -> Option<&'static descriptors::Message> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if version.contains('.') || kind.contains('.') {
        return None;
    }
    let is_meta_kind = META_KINDS.contains(&kind);
    let in_group = GROUPS
        .iter()
        .find(|(name, _)| *name == group)
        .and_then(|(_, package)| descriptors::by_name(&format!("k8s.io.api.{package}.{version}.{kind}")))
        .filter(|_| !is_meta_kind);
    let known_group = group == "meta.k8s.io" || GROUPS.iter().any(|(name, _)| *name == group);
    in_group.or_else(|| {
        (is_meta_kind && known_group && version == "v1")
            .then(|| descriptors::by_name(&format!("k8s.io.apimachinery.pkg.apis.meta.v1.{kind}")))
            .flatten()
    })
}

/// `runtime.Unknown`, read by hand: it is the one message whose raw bytes we keep.
#[derive(Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn read(bytes: &'a [u8]) -> std::result::Result<Envelope<'a>, WireError> {
        let mut envelope = Envelope::default();
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            match reader.key()? {
                (1, WireType::Len) => {
                    let mut type_meta = Reader::new(reader.len_delimited()?);
                    while !type_meta.is_empty() {
                        match type_meta.key()? {
                            (1, WireType::Len) => envelope.api_version = decode::string(type_meta.len_delimited()?)?,
                            (2, WireType::Len) => envelope.kind = decode::string(type_meta.len_delimited()?)?,
                            (_, wire) => type_meta.skip(wire)?,
                        }
                    }
                }
                (2, WireType::Len) => envelope.raw = reader.len_delimited()?,
                (3, WireType::Len) => envelope.content_encoding = decode::string(reader.len_delimited()?)?,
                // contentType (4) is informational: the raw bytes are protobuf.
                (_, wire) => reader.skip(wire)?,
            }
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests;
