//! ConfigMaps and Secrets: keys, size, the keys each Secret type needs, and
//! `immutable` (upstream's `ValidateConfigMap`, `ValidateSecret` and their updates).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::Cause;

/// Upstream's `MaxSecretSize`, also the bound of a ConfigMap's data.
const MAX_SIZE: usize = 1 << 20;

const IMMUTABLE: &str = "field is immutable when `immutable` is set";

pub fn config_map(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let (data, binary) = (map(obj, "data"), map(obj, "binaryData"));
    let mut size = 0;
    for (key, value) in data.into_iter().flatten() {
        config_key("data", key, causes);
        if binary.is_some_and(|b| b.contains_key(key)) {
            causes.push(Cause::invalid(format!("data[{key}]"), &json!(key), "duplicate of key present in binaryData"));
        }
        size += value.as_str().map_or(0, str::len);
    }
    for (key, value) in binary.into_iter().flatten() {
        config_key("binaryData", key, causes);
        if data.is_some_and(|d| d.contains_key(key)) {
            causes.push(Cause::invalid(format!("binaryData[{key}]"), &json!(key), "duplicate of key present in data"));
        }
        size += decoded_len(value);
    }
    if size > MAX_SIZE {
        causes.push(Cause::too_long("", &json!(""), MAX_SIZE));
    }
    if let Some(old) = old {
        immutable(obj, old, &["data", "binaryData"], causes);
    }
}

pub fn secret(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let data = map(obj, "data");
    let mut size = 0;
    for (key, value) in data.into_iter().flatten() {
        config_key("data", key, causes);
        size += decoded_len(value);
    }
    if size > MAX_SIZE {
        causes.push(Cause::too_long("data", &json!(""), MAX_SIZE));
    }
    let has = |key: &str| data.is_some_and(|d| d.contains_key(key));
    let required = |key: &str| Cause::required(format!("data[{key}]"));
    match obj.get("type").and_then(Value::as_str).unwrap_or("") {
        "kubernetes.io/service-account-token" => {
            let name = obj.pointer("/metadata/annotations/kubernetes.io~1service-account.name");
            if name.and_then(Value::as_str).is_none_or(str::is_empty) {
                causes.push(Cause::required("metadata.annotations[kubernetes.io/service-account.name]"));
            }
        }
        "kubernetes.io/dockercfg" => docker_config(data, ".dockercfg", causes),
        "kubernetes.io/dockerconfigjson" => docker_config(data, ".dockerconfigjson", causes),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            causes.push(required("username"));
            causes.push(required("password"));
        }
        "kubernetes.io/ssh-auth" if data.and_then(|d| d.get("ssh-privatekey")).is_none_or(|v| decoded_len(v) == 0) => {
            causes.push(required("ssh-privatekey"))
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    causes.push(required(key));
                }
            }
        }
        _ => {}
    }
    if let Some(old) = old {
        if obj.get("type") != old.get("type") {
            causes.push(Cause::invalid("type", obj.get("type").unwrap_or(&Value::Null), "field is immutable"));
        }
        immutable(obj, old, &["data"], causes);
    }
}

fn map<'a>(obj: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
    obj.get(field).and_then(Value::as_object)
}

/// `IsConfigMapKey`.
fn config_key(field: &str, key: &str, causes: &mut Vec<Cause>) {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        causes.push(Cause::invalid(
            format!("{field}[{key}]"),
            &json!(key),
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ));
    }
}

/// The length of a base64 value once decoded (the decoder checked the encoding).
fn decoded_len(value: &Value) -> usize {
    let text = value.as_str().unwrap_or("");
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count();
    (text.len() / 4 * 3).saturating_sub(padding)
}

/// A docker config Secret needs its key, holding a JSON object.
fn docker_config(data: Option<&Map<String, Value>>, key: &str, causes: &mut Vec<Cause>) {
    let Some(value) = data.and_then(|d| d.get(key)) else {
        causes.push(Cause::required(format!("data[{key}]")));
        return;
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(value.as_str().unwrap_or("")).unwrap_or_default();
    if let Err(e) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
        causes.push(Cause::invalid(format!("data[{key}]"), &json!("<secret contents redacted>"), e.to_string()));
    }
}

/// Once `immutable` is true, it and the data stay as they are.
fn immutable(obj: &Value, old: &Value, fields: &[&str], causes: &mut Vec<Cause>) {
    if old.get("immutable") != Some(&json!(true)) {
        return;
    }
    if obj.get("immutable") != Some(&json!(true)) {
        causes.push(Cause::forbidden("immutable", IMMUTABLE));
    }
    for field in fields {
        if obj.get(*field) != old.get(*field) {
            causes.push(Cause::forbidden(*field, IMMUTABLE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(check: impl Fn(&mut Vec<Cause>)) -> Vec<(String, String)> {
        let mut causes = Vec::new();
        check(&mut causes);
        causes.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn config_map_keys_duplicates_and_size() {
        let cm = json!({"data": {"ok.key": "1", "bad/key": "2", "both": "x"}, "binaryData": {"both": "eA=="}});
        let got = fields(|c| config_map(&cm, None, c));
        let got: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(got, ["data[bad/key]", "data[both]", "binaryData[both]"]);
        let big = json!({"data": {"a": "x".repeat(MAX_SIZE), "b": "y"}});
        assert_eq!(fields(|c| config_map(&big, None, c)).len(), 1);
        assert!(fields(|c| config_map(&json!({"data": {"a": "x".repeat(MAX_SIZE)}}), None, c)).is_empty());
    }

    #[test]
    fn secret_types_need_their_keys() {
        let typed = |ty: &str, data: Value| json!({"type": ty, "data": data});
        let cases = [
            (typed("Opaque", json!({})), vec![]),
            (typed("bogus/type", json!({})), vec![]),
            (typed("kubernetes.io/tls", json!({"tls.crt": "eA=="})), vec![("data[tls.key]", "Required value")]),
            (typed("kubernetes.io/tls", json!({"tls.crt": "", "tls.key": ""})), vec![]),
            (
                typed("kubernetes.io/basic-auth", json!({})),
                vec![("data[username]", "Required value"), ("data[password]", "Required value")],
            ),
            (typed("kubernetes.io/basic-auth", json!({"password": ""})), vec![]),
            (
                typed("kubernetes.io/ssh-auth", json!({"ssh-privatekey": ""})),
                vec![("data[ssh-privatekey]", "Required value")],
            ),
            (typed("kubernetes.io/dockerconfigjson", json!({})), vec![("data[.dockerconfigjson]", "Required value")]),
            (typed("kubernetes.io/dockerconfigjson", json!({".dockerconfigjson": "e30="})), vec![]),
            (
                typed("kubernetes.io/service-account-token", json!({})),
                vec![("metadata.annotations[kubernetes.io/service-account.name]", "Required value")],
            ),
        ];
        for (s, want) in cases {
            let got = fields(|c| secret(&s, None, c));
            let got: Vec<(&str, &str)> = got.iter().map(|(f, m)| (f.as_str(), m.as_str())).collect();
            assert_eq!(got, want, "{s}");
        }
        // `not json` in base64.
        let bad = json!({"type": "kubernetes.io/dockercfg", "data": {".dockercfg": "bm90IGpzb24="}});
        let got = fields(|c| secret(&bad, None, c));
        assert_eq!(got[0].0, "data[.dockercfg]");
        assert!(got[0].1.starts_with("Invalid value: \"<secret contents redacted>\": "), "{}", got[0].1);
        let sa = json!({"type": "kubernetes.io/service-account-token",
            "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}}});
        assert!(fields(|c| secret(&sa, None, c)).is_empty());
    }

    #[test]
    fn immutable_data_and_secret_types_stay() {
        let old = json!({"immutable": true, "data": {"a": "b"}});
        assert!(fields(|c| config_map(&old, Some(&old), c)).is_empty());
        let changed = json!({"immutable": false, "data": {"a": "c"}});
        let got = fields(|c| config_map(&changed, Some(&old), c));
        assert_eq!(
            got,
            [
                ("immutable".to_string(), format!("Forbidden: {IMMUTABLE}")),
                ("data".to_string(), format!("Forbidden: {IMMUTABLE}")),
            ]
        );
        let mutable = json!({"data": {"a": "b"}});
        assert!(fields(|c| config_map(&changed, Some(&mutable), c)).is_empty());

        let old = json!({"type": "Opaque", "data": {}});
        let retyped = json!({"type": "kubernetes.io/basic-auth", "data": {"username": ""}});
        let got = fields(|c| secret(&retyped, Some(&old), c));
        assert_eq!(
            got,
            [("type".to_string(), "Invalid value: \"kubernetes.io/basic-auth\": field is immutable".to_string())]
        );
    }
}
