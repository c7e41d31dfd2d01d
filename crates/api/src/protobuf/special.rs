//! Messages whose Go types marshal to JSON in their own way: times, durations,
//! quantities, int-or-strings, embedded raw objects, and string lists.

use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;

use super::decode::{string, Fail};
use super::descriptors::Special;
use super::wire::{Reader, WireType};
use super::WireError;

/// `time.Time{}` as Unix seconds: Go's zero time, which marshals as `null`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

pub(crate) fn decode(special: Special, bytes: &[u8], depth: usize) -> Result<Value, Fail> {
    let fields = Fields::read(bytes)?;
    Ok(match special {
        Special::Plain => unreachable!("plain messages are decoded field by field"),
        Special::Time => {
            // Go's Time.Unmarshal keeps whole seconds only, to match its JSON form.
            if bytes.is_empty() || fields.varint(1)? as i64 == GO_ZERO_TIME_UNIX {
                Value::Null
            } else {
                time(fields.varint(1)? as i64, 0, "%Y-%m-%dT%H:%M:%SZ")?
            }
        }
        Special::MicroTime => {
            let (seconds, nanos) = (fields.varint(1)? as i64, fields.varint(2)? as i32);
            // time.Unix normalises nanos outside [0, 1e9) into the seconds.
            let seconds = seconds.saturating_add(i64::from(nanos).div_euclid(1_000_000_000));
            let nanos = i64::from(nanos).rem_euclid(1_000_000_000) as u32;
            if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
                Value::Null
            } else {
                time(seconds, nanos, "%Y-%m-%dT%H:%M:%S%.6fZ")?
            }
        }
        Special::Duration => Value::String(go_duration(fields.varint(1)? as i64)),
        Special::Quantity => match fields.bytes(1)? {
            Some(s) => Value::String(string(s)?),
            None => Value::String("0".into()), // the zero Quantity
        },
        Special::IntOrString => match fields.varint(1)? {
            0 => Value::from(fields.varint(2)? as i32),
            1 => Value::String(string(fields.bytes(3)?.unwrap_or_default())?),
            other => return Err(WireError::BadIntOrStringType(other).into()),
        },
        Special::FieldsV1 => match fields.bytes(1)? {
            Some(raw) if !raw.is_empty() => json(raw)?,
            _ => Value::Null,
        },
        Special::RawExtension => match fields.bytes(1)? {
            Some(raw) if raw.starts_with(super::MAGIC) => {
                super::decode_nested(raw, depth + 1).map_err(|err| WireError::EmbeddedObject(Box::new(err)))?
            }
            Some(raw) if !raw.is_empty() => json(raw)?,
            _ => Value::Null,
        },
        Special::StringList => {
            let items = fields.all(1).map(|item| match item {
                Err(bytes) => string(bytes).map(Value::String),
                Ok(_) => Err(WireError::WrongWireType { expected: "length-delimited", got: "varint" }),
            });
            Value::Array(items.collect::<Result<_, _>>()?)
        }
    })
}

/// A varint or a length-delimited payload.
type Scalar<'a> = Result<u64, &'a [u8]>;

/// Every field of a small message, in wire order (the last one wins for singular fields).
struct Fields<'a> {
    entries: Vec<(u32, Scalar<'a>)>,
}

impl<'a> Fields<'a> {
    fn read(bytes: &'a [u8]) -> Result<Fields<'a>, WireError> {
        let mut entries = Vec::new();
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let (tag, wire) = reader.key()?;
            let value = match wire {
                WireType::Varint => Ok(reader.varint()?),
                WireType::Len => Err(reader.len_delimited()?),
                other => {
                    reader.skip(other)?;
                    continue;
                }
            };
            entries.push((tag, value));
        }
        Ok(Fields { entries })
    }

    fn last(&self, tag: u32) -> Option<&Scalar<'a>> {
        self.entries.iter().rev().find(|(t, _)| *t == tag).map(|(_, v)| v)
    }

    /// A varint field; 0 when absent, an error when it has another wire type.
    fn varint(&self, tag: u32) -> Result<u64, WireError> {
        match self.last(tag) {
            None => Ok(0),
            Some(Ok(v)) => Ok(*v),
            Some(Err(_)) => Err(WireError::WrongWireType { expected: "varint", got: "length-delimited" }),
        }
    }

    /// A length-delimited field; `None` when absent, an error when it has another wire type.
    fn bytes(&self, tag: u32) -> Result<Option<&'a [u8]>, WireError> {
        match self.last(tag) {
            None => Ok(None),
            Some(Err(bytes)) => Ok(Some(bytes)),
            Some(Ok(_)) => Err(WireError::WrongWireType { expected: "length-delimited", got: "varint" }),
        }
    }

    /// Every value of a repeated field, in wire order.
    fn all(&self, tag: u32) -> impl Iterator<Item = Scalar<'a>> + '_ {
        self.entries.iter().filter(move |(t, _)| *t == tag).map(|(_, v)| *v)
    }
}

fn json(raw: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(raw).map_err(|err| WireError::InvalidJson(err.to_string()))
}

/// Formats a time as Go's JSON does: UTC, and only for years 0..=9999 (Go refuses others).
fn time(seconds: i64, nanos: u32, format: &str) -> Result<Value, WireError> {
    match DateTime::<Utc>::from_timestamp(seconds, nanos) {
        Some(t) if (0..=9999).contains(&t.year()) => Ok(Value::String(t.format(format).to_string())),
        _ => Err(WireError::TimeOutOfRange(seconds)),
    }
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn go_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (scale, unit) = if u < 1_000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{sign}{}{}{unit}", u / scale, fraction(u % scale, scale));
    }
    let (secs, frac) = (u / 1_000_000_000, fraction(u % 1_000_000_000, 1_000_000_000));
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{sign}{s}{frac}s"),
        (0, _) => format!("{sign}{m}m{s}{frac}s"),
        _ => format!("{sign}{h}h{m}m{s}{frac}s"),
    }
}

/// `.25` for 250 of 1000; empty for 0. Trailing zeros dropped, as Go does.
fn fraction(value: u64, scale: u64) -> String {
    if value == 0 {
        return String::new();
    }
    let digits = scale.ilog10() as usize;
    let text = format!(".{value:0digits$}");
    text.trim_end_matches('0').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration(-2_000_000_000), "-2s");
        assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn times_outside_go_json_range_are_errors() {
        assert_eq!(time(0, 0, "%Y-%m-%dT%H:%M:%SZ"), Ok(Value::String("1970-01-01T00:00:00Z".into())));
        assert_eq!(time(i64::MAX, 0, "%Y"), Err(WireError::TimeOutOfRange(i64::MAX)));
        assert_eq!(time(253_402_300_800, 0, "%Y"), Err(WireError::TimeOutOfRange(253_402_300_800)));
    }
}
