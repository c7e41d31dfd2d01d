//! `metadata.managedFields`: who owns which fields, one entry per manager, decoded from
//! and encoded to the object (upstream's `managedfields/internal/managedfields.go`).

use serde_json::Value;

use super::set::FieldSet;

/// How an entry's fields were set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    pub operation: Operation,
    /// The version of the resource the fields are named in (`apps/v1`).
    pub api_version: String,
    /// RFC 3339, seconds; `None` when never set.
    pub time: Option<String>,
    /// `""` for the main resource, else `status`, `scale`, ...
    pub subresource: String,
    pub fields: FieldSet,
}

/// One `managedFields` entry as the API writes it; `fields_v1` is already in its
/// `fieldsV1` form.
pub(super) fn encode_entry(
    manager: &str,
    operation: Operation,
    api_version: &str,
    time: Option<&str>,
    subresource: &str,
    fields_v1: Value,
) -> Value {
    // Built by hand: `json!` goes through `Serialize` for every string.
    let text = |s: &str| Value::String(s.to_string());
    let mut entry = serde_json::Map::new();
    entry.insert("manager".into(), text(manager));
    entry.insert("operation".into(), text(operation.as_str()));
    entry.insert("apiVersion".into(), text(api_version));
    if let Some(time) = time {
        entry.insert("time".into(), text(time));
    }
    entry.insert("fieldsType".into(), text("FieldsV1"));
    entry.insert("fieldsV1".into(), fields_v1);
    if !subresource.is_empty() {
        entry.insert("subresource".into(), text(subresource));
    }
    Value::Object(entry)
}

impl ManagedFieldsEntry {
    /// Whether `self` and `other` are the same manager. Appliers are one manager whatever
    /// version they apply; updaters are one per version (upstream's manager identifier).
    pub fn same_manager(&self, other: &ManagedFieldsEntry) -> bool {
        self.is(&other.manager, other.operation, &other.subresource, &other.api_version)
    }

    pub fn is(&self, manager: &str, operation: Operation, subresource: &str, api_version: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    /// How conflict messages name this manager: `"kubectl"`, `"kubectl-edit" using apps/v1`,
    /// `"controller" with subresource "status" using v1` (upstream's `printManager`).
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            out.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    fn encode(&self) -> Value {
        encode_entry(
            &self.manager,
            self.operation,
            &self.api_version,
            self.time.as_deref(),
            &self.subresource,
            self.fields.to_fields_v1(),
        )
    }

    fn decode(i: usize, entry: &Value) -> Result<ManagedFieldsEntry, String> {
        let text = |field: &str| entry.get(field).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = match text("operation").as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err(format!("managed fields entry {i}: operation must be `Apply` or `Update`")),
        };
        if text("apiVersion").is_empty() {
            return Err(format!("managed fields entry {i}: apiVersion must not be empty"));
        }
        match text("fieldsType").as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => return Err(format!("invalid fieldsType {other:?} in managed fields entry {i}")),
        }
        let fields = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v).map_err(|e| format!("managed fields entry {i}: {e}"))?,
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager"),
            operation,
            api_version: text("apiVersion"),
            time: entry.get("time").and_then(Value::as_str).map(String::from),
            subresource: text("subresource"),
            fields,
        })
    }
}

/// An object's managed fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedFields {
    pub entries: Vec<ManagedFieldsEntry>,
}

/// What a written object's own `managedFields` asks for (upstream's `decodeLiveOrNew`).
#[derive(Debug, PartialEq, Eq)]
pub enum Requested {
    /// Absent, `null`, or not valid: keep the live object's, so clients unaware of the
    /// field never erase it.
    Keep,
    /// `[]` or `[{}]`: start over from nothing.
    Reset,
    /// Valid entries: they replace the live object's (how ownership is moved by hand, and
    /// how kubectl migrates client-side apply ownership to server-side apply).
    Replace(ManagedFields),
}

impl ManagedFields {
    /// Decodes an object's `metadata.managedFields`; absent or `null` is empty.
    ///
    /// # Errors
    /// A description of the first invalid entry.
    pub fn from_object(obj: &Value) -> Result<ManagedFields, String> {
        match listed(obj) {
            None | Some(Value::Null) => Ok(ManagedFields::default()),
            Some(Value::Array(list)) => {
                let mut out = ManagedFields::default();
                for (i, entry) in list.iter().enumerate() {
                    out.put(ManagedFieldsEntry::decode(i, entry)?);
                }
                Ok(out)
            }
            Some(_) => Err("managedFields must be a list".into()),
        }
    }

    /// What `obj`'s `managedFields` asks for.
    ///
    /// Runs on every write; [`listed`] keeps it cheap when there are none.
    pub fn requested(obj: &Value) -> Requested {
        match listed(obj) {
            Some(Value::Array(list)) if list.is_empty() => Requested::Reset,
            Some(Value::Array(list)) if list.len() == 1 && list[0].as_object().is_some_and(|m| m.is_empty()) => {
                Requested::Reset
            }
            _ => match ManagedFields::from_object(obj) {
                Ok(m) if !m.entries.is_empty() => Requested::Replace(m),
                _ => Requested::Keep,
            },
        }
    }

    /// Adds `entry`, replacing an entry of the same manager.
    pub fn put(&mut self, entry: ManagedFieldsEntry) {
        self.entries.retain(|e| !e.same_manager(&entry));
        self.entries.push(entry);
    }

    pub fn find(
        &self,
        manager: &str,
        operation: Operation,
        subresource: &str,
        api_version: &str,
    ) -> Option<&ManagedFieldsEntry> {
        self.entries.iter().find(|e| e.is(manager, operation, subresource, api_version))
    }

    /// The union of every entry's fields but those of `except`.
    pub fn owned_by_others(&self, except: &ManagedFieldsEntry) -> FieldSet {
        self.entries.iter().filter(|e| !e.same_manager(except)).fold(FieldSet::new(), |acc, e| acc.union(&e.fields))
    }

    /// Drops entries that own nothing.
    pub fn prune_empty(&mut self) {
        self.entries.retain(|e| !e.fields.is_empty());
    }

    /// The `managedFields` list, in upstream's order: appliers first, then by time,
    /// manager, apiVersion and subresource.
    pub fn encode(&self) -> Value {
        let mut entries: Vec<&ManagedFieldsEntry> = self.entries.iter().collect();
        entries.sort_by(|a, b| {
            (a.operation, seconds(a), &a.manager, &a.api_version, &a.subresource).cmp(&(
                b.operation,
                seconds(b),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
        });
        Value::Array(entries.into_iter().map(ManagedFieldsEntry::encode).collect())
    }

    /// Writes these managed fields into `obj`, removing `managedFields` when there are none.
    pub fn write_to(&self, obj: &mut Value) {
        if self.entries.is_empty() {
            crate::meta::remove_meta(obj, "managedFields");
        } else {
            crate::meta::set_meta(obj, "managedFields", self.encode());
        }
    }

    /// Keeps at most `max` `Update` entries by merging the oldest, per apiVersion, into an
    /// `ancient-changes` entry (upstream's `capManagersManager`).
    pub fn cap_updaters(&mut self, max: usize) {
        const BUCKET: &str = "ancient-changes";
        let count = |m: &ManagedFields| m.entries.iter().filter(|e| e.operation == Operation::Update).count();
        let mut oldest: Vec<ManagedFieldsEntry> =
            self.entries.iter().filter(|e| e.operation == Operation::Update && e.manager != BUCKET).cloned().collect();
        oldest.sort_by(|a, b| (seconds(a), &a.manager).cmp(&(seconds(b), &b.manager)));
        for entry in oldest {
            if count(self) <= max {
                break;
            }
            self.entries.retain(|e| !e.same_manager(&entry));
            let bucket = self.entries.iter_mut().find(|e| e.is(BUCKET, Operation::Update, "", &entry.api_version));
            match bucket {
                Some(b) => {
                    b.fields = b.fields.union(&entry.fields);
                    b.time = entry.time.clone();
                }
                None => self.entries.push(ManagedFieldsEntry {
                    manager: BUCKET.into(),
                    subresource: String::new(),
                    ..entry
                }),
            }
        }
    }
}

/// `metadata.managedFields` of `obj`. `Value::pointer` would allocate a string per
/// path segment to unescape it, on every write.
fn listed(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?.get("managedFields")
}

fn seconds(entry: &ManagedFieldsEntry) -> i64 {
    entry.time.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map_or(0, |t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(manager: &str, operation: Operation, api_version: &str, time: &str) -> ManagedFieldsEntry {
        let mut fields = FieldSet::new();
        fields.insert(&[super::super::path::PathElement::field(manager)]);
        ManagedFieldsEntry {
            manager: manager.into(),
            operation,
            api_version: api_version.into(),
            time: Some(time.into()),
            subresource: String::new(),
            fields,
        }
    }

    #[test]
    fn encodes_in_upstream_order_and_decodes_back() {
        let mut m = ManagedFields::default();
        m.put(entry("b", Operation::Update, "v1", "2024-01-01T00:00:02Z"));
        m.put(entry("a", Operation::Update, "v1", "2024-01-01T00:00:02Z"));
        m.put(entry("z", Operation::Apply, "v1", "2024-01-01T00:00:09Z"));
        let mut status = entry("c", Operation::Update, "v1", "2024-01-01T00:00:01Z");
        status.subresource = "status".into();
        m.put(status);
        let encoded = m.encode();
        let order: Vec<&str> = encoded.as_array().unwrap().iter().map(|e| e["manager"].as_str().unwrap()).collect();
        assert_eq!(order, ["z", "c", "a", "b"]);
        assert_eq!(encoded[1]["subresource"], "status");
        assert_eq!(encoded[0]["fieldsType"], "FieldsV1");
        assert_eq!(encoded[0]["fieldsV1"], json!({"f:z": {}}));
        let obj = json!({"metadata": {"managedFields": encoded}});
        let decoded = ManagedFields::from_object(&obj).unwrap();
        assert_eq!(decoded.encode(), m.encode());
    }

    #[test]
    fn identity_ignores_the_version_of_appliers_only() {
        let apply = entry("m", Operation::Apply, "v1", "2024-01-01T00:00:00Z");
        let update = entry("m", Operation::Update, "v1", "2024-01-01T00:00:00Z");
        assert!(apply.same_manager(&ManagedFieldsEntry { api_version: "v2".into(), ..apply.clone() }));
        assert!(!update.same_manager(&ManagedFieldsEntry { api_version: "v2".into(), ..update.clone() }));
        assert!(!apply.same_manager(&update));
        assert_eq!(apply.describe(), "\"m\"");
        let status = ManagedFieldsEntry { subresource: "status".into(), ..update };
        assert_eq!(status.describe(), "\"m\" with subresource \"status\" using v1");
    }

    #[test]
    fn requested_managed_fields() {
        let valid = json!([{"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:a": {}}}]);
        let cases = [
            (json!({}), "keep"),
            (json!({"metadata": {"managedFields": null}}), "keep"),
            (json!({"metadata": {"managedFields": []}}), "reset"),
            (json!({"metadata": {"managedFields": [{}]}}), "reset"),
            (json!({"metadata": {"managedFields": [{"manager": "m"}]}}), "keep"),
            (
                json!({"metadata": {"managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "v1"}]}}),
                "keep",
            ),
            (json!({"metadata": {"managedFields": valid}}), "replace"),
        ];
        for (obj, expected) in cases {
            let got = match ManagedFields::requested(&obj) {
                Requested::Keep => "keep",
                Requested::Reset => "reset",
                Requested::Replace(_) => "replace",
            };
            assert_eq!(got, expected, "{obj}");
        }
    }

    #[test]
    fn caps_update_entries_by_merging_the_oldest() {
        let mut m = ManagedFields::default();
        for i in 0..12 {
            m.put(entry(&format!("u{i:02}"), Operation::Update, "v1", &format!("2024-01-01T00:00:{i:02}Z")));
        }
        m.put(entry("applier", Operation::Apply, "v1", "2024-01-01T00:00:00Z"));
        m.cap_updaters(10);
        let updaters: Vec<&str> =
            m.entries.iter().filter(|e| e.operation == Operation::Update).map(|e| e.manager.as_str()).collect();
        assert_eq!(updaters.len(), 10);
        assert!(updaters.contains(&"ancient-changes") && !updaters.contains(&"u00") && !updaters.contains(&"u02"));
        let bucket = m.find("ancient-changes", Operation::Update, "", "v1").unwrap();
        assert!(bucket.fields.has(&[super::super::path::PathElement::field("u00")]));
        assert!(m.find("applier", Operation::Apply, "", "v1").is_some());
    }
}
