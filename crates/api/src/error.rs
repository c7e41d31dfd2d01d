//! API errors and their Kubernetes `Status` form. Every failure a client sees is one
//! of these, turned into a `Status` body in exactly one place (`ApiError::status`).

use serde_json::{json, Value};

/// Where a failed object is: its group, kind and name, as `Status.details` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub group: String,
    /// The resource's plural name (upstream puts the resource, not the kind, here).
    pub kind: String,
    pub name: String,
}

impl Target {
    pub fn new(group: &str, resource: &str, name: &str) -> Target {
        Target { group: group.into(), kind: resource.into(), name: name.into() }
    }

    /// `pods "web"` or `deployments.apps "web"`, as upstream writes it in messages.
    pub fn describe(&self) -> String {
        let qualified = if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) };
        if self.name.is_empty() {
            qualified
        } else {
            format!("{qualified} \"{}\"", self.name)
        }
    }
}

/// One invalid field, as in `Status.details.causes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, ...
    pub reason: String,
    pub message: String,
    /// The field path, `spec.containers[0].image`.
    pub field: String,
}

impl Cause {
    pub fn required(field: impl Into<String>) -> Cause {
        Cause { reason: "FieldValueRequired".into(), message: "Required value".into(), field: field.into() }
    }

    /// `Required value: <detail>`, for a requirement that needs explaining.
    pub fn required_because(field: impl Into<String>, detail: impl AsRef<str>) -> Cause {
        Cause {
            reason: "FieldValueRequired".into(),
            message: format!("Required value: {}", detail.as_ref()),
            field: field.into(),
        }
    }

    /// `Invalid value: "x": <detail>`, upstream's wording.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Cause {
        Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {}", short_value(value), detail.as_ref()),
            field: field.into(),
        }
    }

    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Cause {
        let list = supported.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!("Unsupported value: {}: supported values: {list}", short_value(value)),
            field: field.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {}", detail.into()),
            field: field.into(),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> Cause {
        Cause {
            reason: "FieldValueDuplicate".into(),
            message: format!("Duplicate value: {}", short_value(value)),
            field: field.into(),
        }
    }

    /// A list longer than allowed: `Too many: 101: must have at most 100 items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Cause {
        Cause {
            reason: "FieldValueTooMany".into(),
            message: format!("Too many: {actual}: must have at most {max} items"),
            field: field.into(),
        }
    }

    /// Upstream prints no value for a TooLong cause.
    pub fn too_long(field: impl Into<String>, _value: &Value, max: usize) -> Cause {
        Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: may not be more than {max} bytes"),
            field: field.into(),
        }
    }

    /// `field: message` as upstream joins causes into the Invalid message.
    pub fn summary(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

fn short_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Every error the API returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    NotFound(Target),
    AlreadyExists(Target),
    /// A stale resourceVersion or failed precondition.
    Conflict {
        target: Target,
        message: String,
    },
    /// Server-side apply would change fields other managers own: 409 with one
    /// `FieldManagerConflict` cause per field and, as upstream, no object in the details.
    ApplyConflict {
        message: String,
        causes: Vec<Cause>,
    },
    /// Validation failed: 422 with one cause per field.
    Invalid {
        target: Target,
        kind: String,
        causes: Vec<Cause>,
    },
    BadRequest(String),
    Unauthorized(String),
    Forbidden {
        target: Target,
        message: String,
    },
    MethodNotAllowed(String),
    /// History too old to serve (compacted): 410.
    Expired(String),
    /// 410 Gone for other reasons.
    Gone(String),
    RequestEntityTooLarge(String),
    UnsupportedMediaType(String),
    NotAcceptable(String),
    TooManyRequests {
        message: String,
        retry_after_seconds: u32,
    },
    /// The operation cannot be done now (e.g. a PDB blocks an eviction): 429.
    DisruptionBudget {
        target: Target,
        message: String,
    },
    Timeout(String),
    Internal(String),
    ServiceUnavailable(String),
}

impl ApiError {
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::NotFound(Target::new(group, resource, name))
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::AlreadyExists(Target::new(group, resource, name))
    }

    /// upstream's optimistic-concurrency conflict.
    pub fn stale(group: &str, resource: &str, name: &str) -> ApiError {
        let target = Target::new(group, resource, name);
        let message = format!(
            "Operation cannot be fulfilled on {}: the object has been modified; please apply your changes to the latest version and try again",
            target.describe()
        );
        ApiError::Conflict { target, message }
    }

    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::Invalid {
            target: Target { group: group.into(), kind: kind.into(), name: name.into() },
            kind: kind.into(),
            causes,
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::AlreadyExists(_) | ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => 409,
            ApiError::Expired(_) | ApiError::Gone(_) => 410,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Invalid { .. } => 422,
            ApiError::TooManyRequests { .. } | ApiError::DisruptionBudget { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::ServiceUnavailable(_) => 503,
            ApiError::Timeout(_) => 504,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::Expired(_) => "Expired",
            ApiError::Gone(_) => "Gone",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::TooManyRequests { .. } | ApiError::DisruptionBudget { .. } => "TooManyRequests",
            ApiError::Timeout(_) => "Timeout",
            ApiError::Internal(_) => "InternalError",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::NotFound(t) => format!("{} not found", t.describe()),
            ApiError::AlreadyExists(t) => format!("{} already exists", t.describe()),
            ApiError::Conflict { message, .. }
            | ApiError::ApplyConflict { message, .. }
            | ApiError::Forbidden { message, .. }
            | ApiError::DisruptionBudget { message, .. } => message.clone(),
            ApiError::Invalid { target, kind, causes } => {
                let subject = if target.group.is_empty() { kind.clone() } else { format!("{kind}.{}", target.group) };
                // As upstream's aggregate error, a repeated cause is told once here
                // (the causes themselves keep every one).
                let mut lines: Vec<String> = Vec::new();
                for summary in causes.iter().map(Cause::summary) {
                    if !lines.contains(&summary) {
                        lines.push(summary);
                    }
                }
                let detail = match lines.as_slice() {
                    [] => String::new(),
                    [one] => format!(": {one}"),
                    many => format!(": [{}]", many.join(", ")),
                };
                format!("{subject} \"{}\" is invalid{detail}", target.name)
            }
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::Expired(m)
            | ApiError::Gone(m)
            | ApiError::RequestEntityTooLarge(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::NotAcceptable(m)
            | ApiError::Timeout(m)
            | ApiError::Internal(m)
            | ApiError::ServiceUnavailable(m) => m.clone(),
            ApiError::TooManyRequests { message, .. } => message.clone(),
        }
    }

    /// The `meta.k8s.io/v1 Status` body for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound(t)
            | ApiError::AlreadyExists(t)
            | ApiError::Conflict { target: t, .. }
            | ApiError::Forbidden { target: t, .. }
            | ApiError::DisruptionBudget { target: t, .. } => Some(details(t, &[])),
            ApiError::Invalid { target, causes, .. } => Some(details(target, causes)),
            ApiError::ApplyConflict { causes, .. } => Some(details(&Target::default(), causes)),
            ApiError::TooManyRequests { retry_after_seconds, .. } => {
                Some(json!({ "retryAfterSeconds": retry_after_seconds }))
            }
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

fn details(target: &Target, causes: &[Cause]) -> Value {
    let mut d = json!({});
    if !target.name.is_empty() {
        d["name"] = json!(target.name);
    }
    if !target.group.is_empty() {
        d["group"] = json!(target.group);
    }
    if !target.kind.is_empty() {
        d["kind"] = json!(target.kind);
    }
    if !causes.is_empty() {
        d["causes"] = causes
            .iter()
            .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
            .collect::<Vec<_>>()
            .into();
    }
    d
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_upstream() {
        let s = ApiError::not_found("apps", "deployments", "web").status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"], json!({"name": "web", "group": "apps", "kind": "deployments"}));
    }

    #[test]
    fn conflict_message_matches_upstream() {
        let s = ApiError::stale("", "configmaps", "c").status();
        assert_eq!(
            s["message"],
            "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(s["code"], 409);
    }

    #[test]
    fn invalid_lists_causes() {
        let e = ApiError::invalid(
            "",
            "Pod",
            "p",
            vec![Cause::required("spec.containers"), Cause::invalid("metadata.name", &json!("A"), "bad")],
        );
        let s = e.status();
        assert_eq!(s["code"], 422);
        assert_eq!(
            s["message"],
            "Pod \"p\" is invalid: [spec.containers: Required value, metadata.name: Invalid value: \"A\": bad]"
        );
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(s["details"]["kind"], "Pod");
    }

    #[test]
    fn a_repeated_cause_is_told_once_in_the_message() {
        let twice = Cause::not_supported("spec.metrics[0].type", &json!("Custom"), &["Pods"]);
        let e = ApiError::invalid("autoscaling", "HorizontalPodAutoscaler", "h", vec![twice.clone(), twice]);
        let s = e.status();
        assert_eq!(
            s["message"],
            "HorizontalPodAutoscaler.autoscaling \"h\" is invalid: spec.metrics[0].type: Unsupported value: \"Custom\": supported values: \"Pods\""
        );
        assert_eq!(s["details"]["causes"].as_array().map(Vec::len), Some(2));
    }
}
