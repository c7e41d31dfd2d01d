//! The create-only review resources that are answered, not stored:
//! SelfSubjectReview (`kubectl auth whoami`), SelfSubjectAccessReview (`kubectl auth
//! can-i`), SelfSubjectRulesReview (`can-i --list`), SubjectAccessReview,
//! LocalSubjectAccessReview and TokenReview.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::ApiError;

use super::body::{check_type, decode_body};
use super::Call;
use crate::authn::{AuthnRequest, UserInfo};
use crate::authz::{Attributes, Decision};
use crate::response::{self, HttpResponse};

pub async fn create(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let res = call.resource;
    let mut review = decode_body(call)?;
    check_type(call, &mut review, res.kind, &res.api_version())?;
    let status = match (res.group, res.kind) {
        ("authentication.k8s.io", "SelfSubjectReview") => json!({"userInfo": user_info_json(call.user)}),
        ("authentication.k8s.io", "TokenReview") => token_review(call, &review).await,
        ("authorization.k8s.io", "SelfSubjectAccessReview") => access_review(call, call.user, &review, None)?,
        ("authorization.k8s.io", "SubjectAccessReview") => {
            let user = user_from_spec(review.get("spec").unwrap_or(&Value::Null));
            access_review(call, &user, &review, None)?
        }
        ("authorization.k8s.io", "LocalSubjectAccessReview") => {
            let user = user_from_spec(review.get("spec").unwrap_or(&Value::Null));
            access_review(call, &user, &review, Some(&call.req.namespace))?
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => rules_review(call, &review),
        _ => return Err(ApiError::MethodNotAllowed(format!("{} cannot be created here", res.plural))),
    };
    review["status"] = status;
    review["metadata"]["creationTimestamp"] = Value::Null;
    Ok(response::object(StatusCode::CREATED, &review, call.output))
}

fn user_info_json(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

fn user_from_spec(spec: &Value) -> UserInfo {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array).into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
    };
    let extra: BTreeMap<String, Vec<String>> = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(Some(v)))).collect())
        .unwrap_or_default();
    UserInfo {
        name: spec.get("user").and_then(Value::as_str).unwrap_or("").to_string(),
        uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").to_string(),
        groups: strings(spec.get("groups")),
        extra,
    }
}

fn access_review(call: &Call<'_>, user: &UserInfo, review: &Value, namespace: Option<&str>) -> Result<Value, ApiError> {
    let spec = review.get("spec").unwrap_or(&Value::Null);
    let s = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    let attrs = if let Some(r) = spec.get("resourceAttributes") {
        let ns = s(r, "namespace");
        if let Some(expected) = namespace {
            if !ns.is_empty() && ns != expected {
                return Err(ApiError::invalid(
                    "authorization.k8s.io",
                    "LocalSubjectAccessReview",
                    "",
                    vec![skiff_api::Cause::invalid("spec.resourceAttributes.namespace", &json!(ns), "must match metadata.namespace")],
                ));
            }
        }
        Attributes {
            verb: s(r, "verb"),
            group: s(r, "group"),
            version: s(r, "version"),
            resource: s(r, "resource"),
            subresource: s(r, "subresource"),
            namespace: namespace.map(String::from).unwrap_or(ns),
            name: s(r, "name"),
            path: None,
        }
    } else if let Some(n) = spec.get("nonResourceAttributes") {
        Attributes::non_resource(&s(n, "verb"), &s(n, "path"))
    } else {
        return Err(ApiError::invalid(
            call.resource.group,
            call.resource.kind,
            "",
            vec![skiff_api::Cause::invalid(
                "spec.resourceAttributes",
                &Value::Null,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        ));
    };
    Ok(match call.ctx.authorizer.authorize(user, &attrs) {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion => json!({"allowed": false}),
    })
}

fn rules_review(call: &Call<'_>, review: &Value) -> Value {
    let namespace = review.pointer("/spec/namespace").and_then(Value::as_str).unwrap_or("");
    let (resource_rules, non_resource_rules) = call.ctx.authorizer.rules_for(call.user, namespace);
    json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false})
}

async fn token_review(call: &Call<'_>, review: &Value) -> Value {
    let token = review.pointer("/spec/token").and_then(Value::as_str).unwrap_or("");
    let header = format!("Bearer {token}");
    let audiences: Vec<String> = review
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let request = AuthnRequest { authorization: Some(&header), peer_certificates: &[], audiences: &audiences };
    match call.ctx.authenticator.authenticate(&request).await {
        Ok(Some(user)) => json!({
            "authenticated": true,
            "user": user_info_json(&user),
            "audiences": crate::serviceaccount::authn::matching_audiences(token, &audiences),
        }),
        Ok(None) => json!({"authenticated": false}),
        Err(e) => json!({"authenticated": false, "error": e.message()}),
    }
}
