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
            let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the YAML body is not UTF-8".into()))?;
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
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ApiError::BadRequest(format!("the request body is nested more than {MAX_DEPTH} levels deep")));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}")))
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
pub fn check_type(call: &Call<'_>, obj: &mut Value, expected_kind: &str, expected_api_version: &str) -> Result<(), ApiError> {
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
}
