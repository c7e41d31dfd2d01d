//! The descriptor-driven walk from protobuf bytes to Kubernetes JSON.
//!
//! JSON follows what Go's encoding/json writes for the struct that upstream's
//! generated unmarshaller fills, with one deliberate difference: values Go treats as
//! "unset" (zero values of plain `omitempty` fields, zero `Time`s, which Go writes as
//! `null`) are left out, so that JSON-side defaulting sees them as absent.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::descriptors::{by_index, Field, Kind, Message, Special, INLINE, KEEP_ZERO, REPEATED};
use super::special;
use super::wire::{Reader, WireType};
use super::WireError;

/// Nesting limit: the deepest built-in object nests about 15 messages; bodies nested
/// deeper are hostile, and recursion must stay bounded.
pub(crate) const MAX_DEPTH: usize = 64;

/// A decoding failure with the JSON path to it, innermost segment first.
#[derive(Debug)]
pub(crate) struct Fail {
    pub error: WireError,
    pub path: Vec<String>,
}

impl From<WireError> for Fail {
    fn from(error: WireError) -> Fail {
        Fail { error, path: Vec::new() }
    }
}

impl Fail {
    /// `spec.template.spec.containers[0]`, or `""` at the top.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev().filter(|s| !s.is_empty()) {
            if !out.is_empty() && !segment.starts_with('[') {
                out.push('.');
            }
            out.push_str(segment);
        }
        out
    }
}

/// Decodes one message into its JSON value.
pub(crate) fn message(bytes: &[u8], msg: &'static Message, depth: usize) -> Result<Value, Fail> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep(MAX_DEPTH).into());
    }
    match msg.special {
        Special::Plain => object(bytes, msg, depth).map(Value::Object),
        other => special::decode(other, bytes, depth),
    }
}

fn object(bytes: &[u8], msg: &'static Message, depth: usize) -> Result<Map<String, Value>, Fail> {
    let mut out = Map::new();
    let mut reader = Reader::new(bytes);
    while !reader.is_empty() {
        let (tag, wire) = reader.key()?;
        let Some(field) = msg.field(tag) else {
            reader.skip(wire)?; // a field newer than our table: ignored, as upstream does
            continue;
        };
        field_value(&mut reader, wire, field, &mut out, depth).map_err(|mut fail| {
            fail.path.push(segment(field, &out));
            fail
        })?;
    }
    Ok(out)
}

/// The path segment of a failing field: `containers[2]` for the element being read.
fn segment(field: &Field, out: &Map<String, Value>) -> String {
    if field.has(INLINE) {
        return String::new();
    }
    match out.get(field.json) {
        Some(Value::Array(items)) if field.has(REPEATED) => format!("{}[{}]", field.json, items.len()),
        None if field.has(REPEATED) => format!("{}[0]", field.json),
        _ => field.json.to_owned(),
    }
}

fn field_value(
    reader: &mut Reader<'_>,
    wire: WireType,
    field: &Field,
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), Fail> {
    match field.kind {
        Kind::MapStr | Kind::MapBytes | Kind::MapMsg(_) => {
            expect(wire, WireType::Len)?;
            let (key, value) = map_entry(reader.len_delimited()?, field.kind, depth)?;
            let map = out.entry(field.json).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = map {
                map.insert(key, value);
            }
        }
        Kind::Msg(index) => {
            expect(wire, WireType::Len)?;
            let value = message(reader.len_delimited()?, by_index(index), depth + 1)?;
            place(out, field, value);
        }
        scalar => {
            let packable = !matches!(scalar, Kind::Str | Kind::Bytes);
            if wire == WireType::Len && packable && field.has(REPEATED) {
                // Packed repeated numbers: one length-delimited run of values.
                let mut packed = Reader::new(reader.len_delimited()?);
                while !packed.is_empty() {
                    let value = scalar_value(&mut packed, scalar)?;
                    place(out, field, value);
                }
            } else {
                expect(wire, scalar_wire(scalar))?;
                let value = scalar_value(reader, scalar)?;
                place(out, field, value);
            }
        }
    }
    Ok(())
}

/// Puts a decoded value where JSON wants it. A singular field seen twice keeps the
/// last value, as protobuf says for scalars.
fn place(out: &mut Map<String, Value>, field: &Field, value: Value) {
    if field.has(REPEATED) {
        match out.get_mut(field.json) {
            Some(Value::Array(items)) => items.push(value),
            _ => {
                out.insert(field.json.to_owned(), Value::Array(vec![value]));
            }
        }
    } else if field.has(INLINE) {
        if let Value::Object(inner) = value {
            out.extend(inner);
        }
    } else if value.is_null() || (!field.has(KEEP_ZERO) && is_zero(&value)) {
        out.remove(field.json);
    } else {
        out.insert(field.json.to_owned(), value);
    }
}

/// Go's "empty" for `omitempty`, on the JSON side.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(_) => false, // Go never omits a struct value
    }
}

fn expect(got: WireType, want: WireType) -> Result<(), WireError> {
    if got == want {
        Ok(())
    } else {
        Err(WireError::WrongWireType { expected: want.describe(), got: got.describe() })
    }
}

fn scalar_wire(kind: Kind) -> WireType {
    match kind {
        Kind::I32 | Kind::I64 | Kind::Bool => WireType::Varint,
        _ => WireType::Len,
    }
}

pub(crate) fn scalar_value(reader: &mut Reader<'_>, kind: Kind) -> Result<Value, WireError> {
    Ok(match kind {
        Kind::Str => Value::String(string(reader.len_delimited()?)?),
        Kind::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(reader.len_delimited()?)),
        // int32 is sign-extended to 64 bits on the wire: the low 32 bits are the value.
        Kind::I32 => Value::from(reader.varint()? as i32),
        Kind::I64 => Value::from(reader.varint()? as i64),
        Kind::Bool => Value::Bool(reader.varint()? != 0),
        Kind::Msg(_) | Kind::MapStr | Kind::MapBytes | Kind::MapMsg(_) => unreachable!("not a scalar kind"),
    })
}

pub(crate) fn string(bytes: &[u8]) -> Result<String, WireError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| WireError::InvalidUtf8)
}

/// One `{key = 1, value = 2}` map entry; a missing part is its type's zero value.
fn map_entry(bytes: &[u8], kind: Kind, depth: usize) -> Result<(String, Value), Fail> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(bytes);
    while !reader.is_empty() {
        match reader.key()? {
            (1, wire) => {
                expect(wire, WireType::Len)?;
                key = string(reader.len_delimited()?)?;
            }
            (2, wire) => {
                expect(wire, WireType::Len)?;
                value = Some(match kind {
                    Kind::MapMsg(index) => {
                        message(reader.len_delimited()?, by_index(index), depth + 1).map_err(|mut fail| {
                            fail.path.push(format!("[{key:?}]"));
                            fail
                        })?
                    }
                    Kind::MapBytes => scalar_value(&mut reader, Kind::Bytes)?,
                    _ => scalar_value(&mut reader, Kind::Str)?,
                });
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    let value = match (value, kind) {
        (Some(value), _) => value,
        (None, Kind::MapMsg(index)) => message(&[], by_index(index), depth + 1)?,
        (None, _) => Value::String(String::new()),
    };
    Ok((key, value))
}
