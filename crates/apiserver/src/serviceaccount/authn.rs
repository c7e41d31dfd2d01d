//! Authenticating ServiceAccount tokens, as upstream's `serviceaccount`
//! token authenticator with bound-token validation: a bearer JWT from this
//! cluster's issuer, signed by its key, within its time window and meant for
//! one of the accepted audiences, whose ServiceAccount (and bound Pod or
//! Secret) still exists with the uid the token names.
//!
//! The objects are read from the store (a consistent read), so a token stops
//! working the moment its ServiceAccount or pod is gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use skiff_api::{meta, registry, ApiError};

use super::jwt::{self, Claims, SigningKey, ISSUER};
use crate::authn::{bearer_token, Authenticator, AuthnRequest, UserInfo};
use crate::storage::Objects;

/// Group of every ServiceAccount, and the prefix of each namespace's group.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// How long after its deletion started a bound object's tokens keep working
/// (upstream: one minute, so a terminating pod can still finish talking).
const DELETION_GRACE_SECONDS: i64 = 60;

pub struct ServiceAccountAuthenticator {
    key: Arc<SigningKey>,
    objects: Objects,
}

impl ServiceAccountAuthenticator {
    pub fn new(key: Arc<SigningKey>, objects: Objects) -> Self {
        ServiceAccountAuthenticator { key, objects }
    }

    /// The object `namespace/name` of `resource` if it exists, has `uid` and is
    /// not deleted for longer than the grace.
    async fn live(&self, resource: &str, namespace: &str, name: &str, uid: &str, now: i64) -> Result<(), ApiError> {
        let res = registry::find("", "v1", resource).expect("registered");
        let obj = match self.objects.get(res, namespace, name).await {
            Ok(obj) => obj,
            Err(ApiError::NotFound(_)) => {
                return Err(unauthorized(format!("{resource} {namespace}/{name} has been deleted")))
            }
            Err(e) => return Err(e),
        };
        if meta::uid(&obj) != uid {
            return Err(unauthorized(format!(
                "{resource} {namespace}/{name} uid {} does not match the token's {uid}",
                meta::uid(&obj)
            )));
        }
        let deleted = meta::deletion_timestamp(&obj)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.timestamp() + DELETION_GRACE_SECONDS < now);
        if deleted {
            return Err(unauthorized(format!("{resource} {namespace}/{name} is being deleted")));
        }
        Ok(())
    }
}

fn unauthorized(why: String) -> ApiError {
    ApiError::Unauthorized(why)
}

/// The user a valid token authenticates as: `system:serviceaccount:NS:NAME`,
/// uid the ServiceAccount's, its groups, and upstream's `extra` keys.
pub fn user_info(claims: &Claims) -> UserInfo {
    let k = &claims.kubernetes;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut put = |key: &str, v: &str| {
        extra.insert(format!("authentication.kubernetes.io/{key}"), vec![v.to_string()]);
    };
    if !claims.jti.is_empty() {
        put("credential-id", &format!("JTI={}", claims.jti));
    }
    if let Some(node) = &k.node {
        put("node-name", &node.name);
        put("node-uid", &node.uid);
    }
    if let Some(pod) = &k.pod {
        put("pod-name", &pod.name);
        put("pod-uid", &pod.uid);
    }
    UserInfo {
        name: jwt::subject(&k.namespace, &k.serviceaccount.name),
        uid: k.serviceaccount.uid.clone(),
        groups: vec![ALL_SERVICE_ACCOUNTS.into(), format!("{ALL_SERVICE_ACCOUNTS}:{}", k.namespace)],
        extra,
    }
}

#[async_trait::async_trait]
impl Authenticator for ServiceAccountAuthenticator {
    /// `Ok(None)` for anything that is not a bearer JWT from this issuer (it may
    /// be another authenticator's token); `Err` (401) for one that is but fails a check.
    async fn authenticate(&self, request: &AuthnRequest<'_>) -> Result<Option<UserInfo>, ApiError> {
        let Some(token) = request.authorization.and_then(bearer_token) else { return Ok(None) };
        if jwt::unverified_issuer(token).as_deref() != Some(ISSUER) {
            return Ok(None);
        }
        let claims = self.key.verify(token).map_err(|e| unauthorized(e.to_string()))?;
        let now = chrono::Utc::now().timestamp();
        let own = [ISSUER.to_string()];
        let accepted = if request.audiences.is_empty() { &own[..] } else { request.audiences };
        jwt::validate(&claims, now, accepted).map_err(|e| unauthorized(e.to_string()))?;
        let k = &claims.kubernetes;
        if claims.sub != jwt::subject(&k.namespace, &k.serviceaccount.name) {
            return Err(unauthorized("the token's subject does not match its service account".into()));
        }
        self.live("serviceaccounts", &k.namespace, &k.serviceaccount.name, &k.serviceaccount.uid, now).await?;
        if let Some(pod) = &k.pod {
            self.live("pods", &k.namespace, &pod.name, &pod.uid, now).await?;
        }
        if let Some(secret) = &k.secret {
            self.live("secrets", &k.namespace, &secret.name, &secret.uid, now).await?;
        }
        Ok(Some(user_info(&claims)))
    }
}

/// The audiences of `token` among `accepted` (what a TokenReview reports).
pub fn matching_audiences(token: &str, accepted: &[String]) -> Vec<String> {
    let own = [ISSUER.to_string()];
    let accepted = if accepted.is_empty() { &own[..] } else { accepted };
    let claims = token.split('.').nth(1).and_then(|p| {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok()?;
        serde_json::from_slice::<Value>(&bytes).ok()
    });
    let aud: Vec<String> = match claims.as_ref().and_then(|c| c.get("aud")) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|s| s.as_str().map(String::from)).collect(),
        _ => return Vec::new(),
    };
    accepted.iter().filter(|a| aud.contains(a)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serviceaccount::jwt::{KubernetesClaims, ObjectRef};

    #[test]
    fn a_pod_bound_token_is_its_service_account_with_upstreams_extras() {
        let claims = Claims {
            aud: vec![ISSUER.into()],
            jti: "abc".into(),
            sub: "system:serviceaccount:ns:builder".into(),
            kubernetes: KubernetesClaims {
                namespace: "ns".into(),
                serviceaccount: ObjectRef { name: "builder".into(), uid: "sa-1".into() },
                pod: Some(ObjectRef { name: "p".into(), uid: "pod-1".into() }),
                ..Default::default()
            },
            ..Default::default()
        };
        let user = user_info(&claims);
        assert_eq!(user.name, "system:serviceaccount:ns:builder");
        assert_eq!(user.uid, "sa-1");
        assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:ns"]);
        assert_eq!(user.extra["authentication.kubernetes.io/pod-uid"], ["pod-1"]);
        assert_eq!(user.extra["authentication.kubernetes.io/credential-id"], ["JTI=abc"]);
    }
}
