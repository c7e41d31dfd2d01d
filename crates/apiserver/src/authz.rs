//! Authorization: a named, replaceable stage between authentication and the
//! handlers. Until RBAC lands, `AllowAuthenticated` lets any authenticated user do
//! everything (anonymous requests never reach it).

use crate::authn::UserInfo;

/// What a request wants to do, as authorizers see it (upstream's attributes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Set for non-resource requests (`/healthz`, `/apis`, ...).
    pub path: Option<String>,
}

impl Attributes {
    /// A request for a non-resource path (`/healthz`, `/apis`, ...).
    pub fn non_resource(verb: &str, path: &str) -> Attributes {
        Attributes {
            verb: verb.to_string(),
            group: String::new(),
            version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: Some(path.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied, with the reason to show in the 403 message.
    Deny(String),
    /// This authorizer has no opinion; the next one decides.
    NoOpinion,
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision;

    /// What `user` may do in `namespace`, as `SelfSubjectRulesReview` reports it:
    /// `(resourceRules, nonResourceRules)` in the API's JSON form.
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> (serde_json::Value, serde_json::Value);
}

/// Allows every authenticated user everything.
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn authorize(&self, user: &UserInfo, _attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == "system:authenticated") {
            Decision::Allow
        } else {
            Decision::Deny("not authenticated".into())
        }
    }

    fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> (serde_json::Value, serde_json::Value) {
        (
            serde_json::json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
            serde_json::json!([{"verbs": ["*"], "nonResourceURLs": ["*"]}]),
        )
    }
}

/// upstream's 403 message: `User "u" cannot list resource "pods" in API group "" in the namespace "ns"`.
pub fn forbidden_message(user: &UserInfo, attrs: &Attributes, reason: &str) -> String {
    let mut msg = match &attrs.path {
        Some(path) => format!("User \"{}\" cannot {} path \"{}\"", user.name, attrs.verb, path),
        None => {
            let resource = if attrs.subresource.is_empty() {
                attrs.resource.clone()
            } else {
                format!("{}/{}", attrs.resource, attrs.subresource)
            };
            let mut m = format!("User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\"", user.name, attrs.verb, attrs.group);
            if attrs.namespace.is_empty() {
                m.push_str(" at the cluster scope");
            } else {
                m.push_str(&format!(" in the namespace \"{}\"", attrs.namespace));
            }
            m
        }
    };
    if !reason.is_empty() {
        msg.push_str(&format!(": {reason}"));
    }
    msg
}
