//! The shape of the generated descriptor table (`descriptors_generated.rs`): for every
//! protobuf message of the served API groups, its fields with their tag, JSON name,
//! wire kind and the Go-side facts that decide the JSON form.

use super::descriptors_generated::MESSAGES;

/// How a field is encoded on the wire and turned into JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    /// `[]byte`: base64 in JSON, as Go's encoding/json writes it.
    Bytes,
    I32,
    I64,
    Bool,
    /// An embedded message, by index into [`MESSAGES`].
    Msg(u16),
    /// `map<string, string>`: repeated entries `{key = 1, value = 2}`.
    MapStr,
    /// `map<string, bytes>` (Secret.data): base64 values.
    MapBytes,
    /// `map<string, Message>` (ResourceList values are Quantities).
    MapMsg(u16),
}

/// The field repeats (a JSON array).
pub(crate) const REPEATED: u8 = 1;
/// A present zero value (`0`, `""`, `false`) is kept. Set for Go pointer fields (a
/// present `replicas: 0` is an explicit zero) and fields without `omitempty`. Unset
/// for plain Go values with `omitempty`: upstream marshallers always write those, and
/// their zero means "unset", which JSON says by leaving them out.
pub(crate) const KEEP_ZERO: u8 = 2;
/// A Go struct embedded with `json:",inline"` (`Volume.volumeSource`, `Probe.handler`):
/// its fields are flattened into the parent object.
pub(crate) const INLINE: u8 = 4;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub tag: u32,
    pub json: &'static str,
    pub kind: Kind,
    pub flags: u8,
}

impl Field {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Shorthand the generated table is written with.
pub(crate) const fn f(tag: u32, json: &'static str, kind: Kind, flags: u8) -> Field {
    Field { tag, json, kind, flags }
}

/// Messages whose Go type marshals to JSON in its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// A struct: a JSON object of its fields.
    Plain,
    /// `metav1.Time`: RFC 3339 in whole seconds.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with 6 fractional digits.
    MicroTime,
    /// `metav1.Duration`: Go's duration string (`1h2m3s`).
    Duration,
    /// `metav1.FieldsV1`: raw JSON (managedFields).
    FieldsV1,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: the embedded object (JSON, or protobuf with the magic).
    RawExtension,
    /// A named `[]string` wrapped in a message (`ExtraValue`, `Verbs`): a JSON array.
    StringList,
}

#[derive(Debug)]
pub(crate) struct Message {
    /// The full proto name, `k8s.io.api.apps.v1.Deployment`.
    pub name: &'static str,
    pub special: Special,
    /// Sorted by tag.
    pub fields: &'static [Field],
}

impl Message {
    pub fn field(&self, tag: u32) -> Option<&Field> {
        self.fields.binary_search_by_key(&tag, |f| f.tag).ok().map(|i| &self.fields[i])
    }
}

/// The message with this full proto name (the table is sorted by name).
pub(crate) fn by_name(name: &str) -> Option<&'static Message> {
    MESSAGES.binary_search_by(|m| m.name.cmp(name)).ok().map(|i| &MESSAGES[i])
}

pub(crate) fn by_index(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_by_name_and_fields_by_tag() {
        assert!(MESSAGES.windows(2).all(|w| w[0].name < w[1].name));
        for m in MESSAGES.iter() {
            assert!(m.fields.windows(2).all(|w| w[0].tag < w[1].tag), "{}", m.name);
        }
    }

    #[test]
    fn go_facts_are_in_the_table() {
        let spec = by_name("k8s.io.api.apps.v1.DeploymentSpec").unwrap();
        let replicas = spec.field(1).unwrap();
        assert_eq!((replicas.json, replicas.kind), ("replicas", Kind::I32));
        assert!(replicas.has(KEEP_ZERO), "*int32: an explicit 0 is kept");
        assert!(!spec.field(5).unwrap().has(KEEP_ZERO), "minReadySeconds is a plain int32 with omitempty");
        let pod_status = by_name("k8s.io.api.core.v1.PodStatus").unwrap();
        assert!(pod_status.fields.iter().any(|f| f.json == "podIP"), "JSON names come from Go, not from snake_case");
        let volume = by_name("k8s.io.api.core.v1.Volume").unwrap();
        assert!(volume.field(2).unwrap().has(INLINE));
    }
}
