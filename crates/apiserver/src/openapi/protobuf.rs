//! The Swagger 2.0 document in gnostic's protobuf encoding (`openapi.v2.Document`), which
//! is how kubectl up to 1.27 asks for `/openapi/v2`
//! (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) and the only
//! form it decodes there.
//!
//! This encodes the JSON document `v2::document` builds, covering what that document
//! contains: field numbers are gnostic's `openapiv2/OpenAPIv2.proto`. Vendor extensions
//! are `NamedAny`s whose `yaml` holds the value as JSON (JSON is YAML; kube-openapi parses
//! them with a YAML decoder).

use serde_json::{Map, Value};

/// One message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A proto3 string: omitted when empty, like every proto3 scalar at its default.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn string_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn strings(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            self.bytes(field, s.as_bytes());
        }
    }

    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    /// A sub-message, written even when empty: presence matters for `oneof`s.
    fn message(&mut self, field: u32, m: Message) {
        self.bytes(field, &m.0);
    }
}

/// `openapi.v2.Document`.
pub(super) fn document(doc: &Value) -> Vec<u8> {
    let mut m = Message::default();
    m.string_of(1, doc.get("swagger"));
    if let Some(info) = doc.get("info") {
        let mut i = Message::default();
        i.string_of(1, info.get("title"));
        i.string_of(2, info.get("version"));
        m.message(2, i);
    }
    let mut paths = Message::default();
    for (name, item) in entries(doc.get("paths")) {
        paths.message(2, named(name, path_item(item)));
    }
    m.message(8, paths);
    let mut definitions = Message::default();
    for (name, s) in entries(doc.get("definitions")) {
        definitions.message(1, named(name, schema(s)));
    }
    m.message(9, definitions);
    for requirement in doc.get("security").and_then(Value::as_array).into_iter().flatten() {
        let mut r = Message::default();
        for (name, scopes) in entries(Some(requirement)) {
            let mut array = Message::default();
            array.strings(1, Some(scopes));
            r.message(1, named(name, array));
        }
        m.message(12, r);
    }
    let mut security = Message::default();
    for (name, scheme) in entries(doc.get("securityDefinitions")) {
        let mut api_key = Message::default();
        api_key.string_of(1, scheme.get("type"));
        api_key.string_of(2, scheme.get("name"));
        api_key.string_of(3, scheme.get("in"));
        api_key.string_of(4, scheme.get("description"));
        let mut item = Message::default();
        item.message(2, api_key);
        security.message(1, named(name, item));
    }
    m.message(13, security);
    m.0
}

fn entries(v: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    v.and_then(Value::as_object).into_iter().flatten()
}

/// The `Named*` messages that represent maps: name 1, value 2.
fn named(name: &str, value: Message) -> Message {
    let mut m = Message::default();
    m.string(1, name);
    m.message(2, value);
    m
}

/// `x-` keys as `repeated NamedAny`, each value in `Any.yaml` (field 2).
fn vendor_extensions(m: &mut Message, field: u32, object: &Map<String, Value>) {
    for (name, value) in object.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut any = Message::default();
        any.string(2, &value.to_string());
        m.message(field, named(name, any));
    }
}

fn path_item(item: &Value) -> Message {
    let mut m = Message::default();
    for (key, field) in [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("patch", 8)] {
        if let Some(op) = item.get(key) {
            m.message(field, operation(op));
        }
    }
    for p in item.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.message(9, parameter(p));
    }
    m
}

fn operation(op: &Value) -> Message {
    let mut m = Message::default();
    m.strings(1, op.get("tags"));
    m.string_of(3, op.get("description"));
    m.string_of(5, op.get("operationId"));
    m.strings(6, op.get("produces"));
    m.strings(7, op.get("consumes"));
    for p in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.message(8, parameter(p));
    }
    let mut responses = Message::default();
    for (code, response) in entries(op.get("responses")) {
        let mut r = Message::default();
        r.string_of(1, response.get("description"));
        if let Some(s) = response.get("schema") {
            let mut item = Message::default();
            item.message(1, schema(s));
            r.message(2, item);
        }
        let mut value = Message::default();
        value.message(1, r);
        responses.message(1, named(code, value));
    }
    m.message(9, responses);
    m.strings(10, op.get("schemes"));
    if let Some(object) = op.as_object() {
        vendor_extensions(&mut m, 13, object);
    }
    m
}

/// `ParametersItem` { `Parameter` { body 1 | non-body 2 { query 3 | path 4 } } }.
fn parameter(p: &Value) -> Message {
    let location = p.get("in").and_then(Value::as_str).unwrap_or("");
    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
    let mut parameter = Message::default();
    if location == "body" {
        let mut body = Message::default();
        body.string_of(1, p.get("description"));
        body.string_of(2, p.get("name"));
        body.string(3, location);
        body.bool(4, required);
        if let Some(s) = p.get("schema") {
            body.message(5, schema(s));
        }
        parameter.message(1, body);
    } else {
        // Query and path sub-schemas share their first fields; `type` and `uniqueItems`
        // sit one field later in the query one (after `allow_empty_value`).
        let query = location == "query";
        let mut sub = Message::default();
        sub.bool(1, required);
        sub.string(2, location);
        sub.string_of(3, p.get("description"));
        sub.string_of(4, p.get("name"));
        sub.string_of(if query { 6 } else { 5 }, p.get("type"));
        sub.bool(if query { 20 } else { 19 }, p.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false));
        let mut non_body = Message::default();
        non_body.message(if query { 3 } else { 4 }, sub);
        parameter.message(2, non_body);
    }
    let mut item = Message::default();
    item.message(1, parameter);
    item
}

fn schema(s: &Value) -> Message {
    let mut m = Message::default();
    let Some(object) = s.as_object() else { return m };
    m.string_of(1, object.get("$ref"));
    m.string_of(2, object.get("format"));
    m.string_of(3, object.get("title"));
    m.string_of(4, object.get("description"));
    m.strings(19, object.get("required"));
    match object.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Message::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            m.message(21, a);
        }
        Some(v @ Value::Object(_)) => {
            let mut a = Message::default();
            a.message(1, schema(v));
            m.message(21, a);
        }
        _ => {}
    }
    match object.get("type") {
        Some(Value::String(t)) => {
            let mut types = Message::default();
            types.string(1, t);
            m.message(22, types);
        }
        Some(list @ Value::Array(_)) => {
            let mut types = Message::default();
            types.strings(1, Some(list));
            m.message(22, types);
        }
        _ => {}
    }
    if let Some(items) = object.get("items") {
        let mut list = Message::default();
        match items {
            Value::Array(all) => all.iter().for_each(|i| list.message(1, schema(i))),
            one => list.message(1, schema(one)),
        }
        m.message(23, list);
    }
    for s in object.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        m.message(24, schema(s));
    }
    if let Some(Value::Object(properties)) = object.get("properties") {
        let mut p = Message::default();
        for (name, s) in properties {
            p.message(1, named(name, schema(s)));
        }
        m.message(25, p);
    }
    m.bool(27, object.get("readOnly").and_then(Value::as_bool).unwrap_or(false));
    vendor_extensions(&mut m, 31, object);
    m
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    /// Splits one message into its fields, (number, bytes of a length-delimited value or
    /// `None` for a varint): only the wire types the encoder writes.
    fn fields(mut bytes: &[u8]) -> Vec<(u32, Option<&[u8]>)> {
        fn varint(bytes: &mut &[u8]) -> u64 {
            let (mut n, mut shift) = (0u64, 0);
            loop {
                let b = bytes[0];
                *bytes = &bytes[1..];
                n |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return n;
                }
            }
        }
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let key = varint(&mut bytes);
            let field = (key >> 3) as u32;
            match key & 7 {
                0 => {
                    varint(&mut bytes);
                    out.push((field, None));
                }
                2 => {
                    let len = varint(&mut bytes) as usize;
                    out.push((field, Some(&bytes[..len])));
                    bytes = &bytes[len..];
                }
                other => panic!("unexpected wire type {other}"),
            }
        }
        out
    }

    fn field(message: &[u8], number: u32) -> Vec<&[u8]> {
        fields(message).into_iter().filter(|(n, _)| *n == number).filter_map(|(_, b)| b).collect()
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    /// `Named*` entries (name 1, value 2) of a repeated field, as (name, value).
    fn named_entries(message: &[u8], number: u32) -> Vec<(&str, &[u8])> {
        field(message, number).into_iter().map(|e| (text(field(e, 1)[0]), field(e, 2)[0])).collect()
    }

    /// Reads the protobuf document the way kubectl 1.27's query parameter verifier and
    /// OpenAPI models do: gnostic's field numbers, vendor extensions as YAML (JSON) text.
    #[test]
    fn v2_protobuf_carries_paths_parameters_and_extensions() {
        let doc = &super::super::v2_protobuf().bytes;
        assert_eq!(text(field(doc, 1)[0]), "2.0");
        let paths = named_entries(field(doc, 8)[0], 2);
        let (_, item) =
            paths.iter().find(|(p, _)| *p == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}").unwrap();
        let patch = field(item, 8)[0];
        assert_eq!(text(field(patch, 5)[0]), "patchAppsV1NamespacedDeployment");
        let extensions = named_entries(patch, 13);
        let (_, extension) = extensions.iter().find(|(n, _)| *n == "x-kubernetes-group-version-kind").unwrap();
        let yaml: Value = serde_json::from_str(text(field(extension, 2)[0])).unwrap();
        assert_eq!(yaml, json!({"group": "apps", "kind": "Deployment", "version": "v1"}));
        let query_names: Vec<&str> = field(patch, 8)
            .into_iter()
            .filter_map(|item| field(field(item, 1)[0], 2).first().copied()) // ParametersItem.parameter.non_body
            .filter_map(|non_body| field(non_body, 3).first().copied()) // query sub-schema
            .map(|query| text(field(query, 4)[0]))
            .collect();
        assert!(query_names.contains(&"fieldValidation"), "{query_names:?}");
        assert!(field(patch, 7).iter().any(|c| text(c) == "application/strategic-merge-patch+json"));

        let definitions = named_entries(field(doc, 9)[0], 1);
        let (_, pod_spec) = definitions.iter().find(|(n, _)| *n == "io.k8s.api.core.v1.PodSpec").unwrap();
        let properties = named_entries(field(pod_spec, 25)[0], 1);
        let (_, containers) = properties.iter().find(|(n, _)| *n == "containers").unwrap();
        assert_eq!(text(field(field(containers, 22)[0], 1)[0]), "array");
        let items = field(field(containers, 23)[0], 1);
        assert_eq!(text(field(items[0], 1)[0]), "#/definitions/io.k8s.api.core.v1.Container");
        let extensions: Vec<(&str, &str)> =
            named_entries(containers, 31).into_iter().map(|(n, any)| (n, text(field(any, 2)[0]))).collect();
        assert!(extensions.contains(&("x-kubernetes-patch-merge-key", "\"name\"")), "{extensions:?}");
        let (_, deployment) = definitions.iter().find(|(n, _)| *n == "io.k8s.api.apps.v1.Deployment").unwrap();
        assert!(named_entries(deployment, 31).iter().any(|(n, _)| *n == "x-kubernetes-group-version-kind"));
    }
}
