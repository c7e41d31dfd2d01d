//! Decoding request bodies (JSON, YAML, Kubernetes protobuf) into objects, with
//! the checks every write makes on the envelope: size, nesting, and that the
//! apiVersion/kind match the URL.

use serde_json::Value;
use skiff_api::ApiError;

use super::Call;
use crate::request::{negotiate, BodyFormat};

/// Deeper nesting than this is rejected before anything else reads the body.
const MAX_DEPTH: usize = 100;

/// Decodes the request body in its declared format.
pub fn decode_body(call: &Call<'_>) -> Result<Value, ApiError> {
    let content_type = call.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let format = negotiate::body_format(content_type)?;
    parse(call.body, format)
}

pub fn parse(body: &[u8], format: BodyFormat) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    let value = match format {
        BodyFormat::Json => parse_json(body)?,
        BodyFormat::Yaml => {
            let text =
                std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the YAML body is not UTF-8".into()))?;
            check_depth_text(text)?;
            let value: Value = serde_yaml::from_str(text)
                .map_err(|e| ApiError::BadRequest(format!("error converting YAML to JSON: yaml: {e}")))?;
            value
        }
        BodyFormat::Protobuf => skiff_api::protobuf::decode(body).map_err(ApiError::from)?,
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest(format!(
            "the body must be a JSON object, not {}",
            match value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )));
    }
    Ok(value)
}

/// Parses JSON after a cheap depth scan (serde_json's recursion limit is 128; we
/// want a clean 400 with our own bound and no deep recursion at all).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    check_depth(body)?;
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}")))
}

/// Counts brackets outside strings. Strings are jumped over from quote to quote
/// (`raw::string_end`): a create's body is mostly long strings, and stepping
/// through them byte by byte was ~3 % of a create's CPU. What is not JSON is left
/// for the parser to reject.
fn check_depth(body: &[u8]) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => match crate::storage::raw::string_end(body, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => break,
            },
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ApiError::BadRequest(format!(
                        "the request body is nested more than {MAX_DEPTH} levels deep"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn check_depth_text(text: &str) -> Result<(), ApiError> {
    // YAML flow collections nest with brackets; block nesting with indentation.
    let brackets = text.bytes().filter(|b| *b == b'[' || *b == b'{').count();
    let indent = text.lines().map(|l| l.len() - l.trim_start().len()).max().unwrap_or(0);
    if brackets > 10_000 || indent > 2 * MAX_DEPTH {
        return Err(ApiError::BadRequest(format!("the request body is nested more than {MAX_DEPTH} levels deep")));
    }
    Ok(())
}

/// Checks (and fills in, when absent) `apiVersion` and `kind` against the resource
/// the URL names, as upstream's decoder does.
pub fn check_type(
    call: &Call<'_>,
    obj: &mut Value,
    expected_kind: &str,
    expected_api_version: &str,
) -> Result<(), ApiError> {
    let (api_version, kind) = skiff_api::meta::type_meta(obj);
    let (api_version, kind) = (api_version.to_string(), kind.to_string());
    if !api_version.is_empty() && api_version != expected_api_version {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected_api_version})"
        )));
    }
    if !kind.is_empty() && kind != expected_kind {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({expected_kind}) for {}",
            call.resource.plural
        )));
    }
    obj["apiVersion"] = Value::String(expected_api_version.to_string());
    obj["kind"] = Value::String(expected_kind.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_bodies_with_400() {
        for (body, format) in [
            (&b"{not json"[..], BodyFormat::Json),
            (b"", BodyFormat::Json),
            (b"[1,2]", BodyFormat::Json),
            (b"a: [b", BodyFormat::Yaml),
            (b"- 1", BodyFormat::Yaml),
        ] {
            assert_eq!(parse(body, format).unwrap_err().code(), 400, "{}", String::from_utf8_lossy(body));
        }
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(parse(deep.as_bytes(), BodyFormat::Json).unwrap_err().code(), 400);
        let tricky = br#"{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#;
        assert!(parse(tricky, BodyFormat::Json).is_ok(), "brackets inside strings do not count");
        assert!(parse(b"kind: ConfigMap\nmetadata:\n  name: x\n", BodyFormat::Yaml).is_ok());
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_depth(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert!(check_depth(nested(MAX_DEPTH + 1).as_bytes()).is_err());
        // Escaped quotes do not end a string; what follows its real end counts again.
        let escaped = format!(r#"{{"a": "\"{}\\", "b": {}}}"#, "[".repeat(500), nested(MAX_DEPTH));
        assert!(check_depth(escaped.as_bytes()).is_err(), "{escaped}");
        let escaped = format!(r#"{{"a": "\"{}\\", "b": {}}}"#, "[".repeat(500), nested(MAX_DEPTH - 1));
        assert!(check_depth(escaped.as_bytes()).is_ok());
        assert_eq!(parse_json(escaped.as_bytes()).unwrap()["a"].as_str().unwrap().len(), 502);
        // An unterminated string stops the scan; the parser rejects the body.
        for bad in [&br#"{"a": "[[[["#[..], br#"{"a": "\"#, br#"{"a": "x\"#] {
            assert!(check_depth(bad).is_ok());
            assert_eq!(parse_json(bad).unwrap_err().code(), 400);
        }
    }
}
