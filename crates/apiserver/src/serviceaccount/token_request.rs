//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` — TokenRequest
//! (authentication.k8s.io/v1), as upstream's `serviceaccount/storage/token.go`:
//! audiences (default: the issuer), `expirationSeconds` (default 3600, at
//! least 600), an optional `boundObjectRef` to a Pod or Secret whose uid the
//! token carries (the token dies with that object). A pod-bound token asked
//! for 3607 s with the default audience — the kubelet's request — is valid for
//! a year with `warnafter` at the hour, as upstream's `--service-account-extend-token-expiration`.

use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::{meta, registry, ApiError, Cause};

use super::jwt::{self, Claims, KubernetesClaims, ObjectRef, ISSUER};
use crate::handlers::body::{check_type, decode_body};
use crate::handlers::Call;
use crate::response::{self, HttpResponse};

/// Upstream's minimum and default lifetimes.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The lifetime the kubelet asks for; such pod-bound tokens are extended.
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 3607;
/// How long an extended token really lives (one year).
pub const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;

/// The object a token is bound to, as found in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    Pod { name: String, uid: String, node: Option<ObjectRef> },
    Secret { name: String, uid: String },
}

/// What a TokenRequest asks, after defaulting and validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    /// kind, name, uid (may be empty) of `boundObjectRef`.
    pub bound_ref: Option<(String, String, String)>,
}

fn invalid(name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("authentication.k8s.io", "TokenRequest", name, causes)
}

/// Reads and validates a TokenRequest body.
///
/// # Errors
/// 422 for a lifetime under 10 minutes or over 2^32 s, or a bound object that
/// is not a `v1` Pod or Secret or has no name.
pub fn parse(body: &Value, name: &str) -> Result<Request, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let audiences = if audiences.is_empty() { vec![ISSUER.to_string()] } else { audiences };
    let expiration_seconds =
        spec.get("expirationSeconds").and_then(Value::as_i64).unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            vec![Cause::invalid(
                "spec.expirationSeconds",
                &json!(expiration_seconds),
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    if expiration_seconds > 1 << 32 {
        return Err(invalid(
            name,
            vec![Cause::invalid(
                "spec.expirationSeconds",
                &json!(expiration_seconds),
                "may not specify a duration larger than 2^32 seconds",
            )],
        ));
    }
    let bound_ref = match spec.get("boundObjectRef").filter(|r| r.is_object()) {
        None => None,
        Some(r) => {
            let s = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or("").to_string();
            let (kind, api_version, ref_name) = (s("kind"), s("apiVersion"), s("name"));
            if !matches!(kind.as_str(), "Pod" | "Secret") || !(api_version.is_empty() || api_version == "v1") {
                return Err(invalid(
                    name,
                    vec![Cause::invalid(
                        "spec.boundObjectRef",
                        &json!(format!("{api_version} {kind}")),
                        "token may only be bound to a v1 Pod or Secret",
                    )],
                ));
            }
            if ref_name.is_empty() {
                return Err(invalid(name, vec![Cause::required("spec.boundObjectRef.name")]));
            }
            Some((kind, ref_name, s("uid")))
        }
    };
    Ok(Request { audiences, expiration_seconds, bound_ref })
}

/// The claims of the token for `request` on ServiceAccount `namespace/sa`
/// (`sa_uid`), bound to `bound`, issued at `now`; and the lifetime to report.
pub fn claims(
    request: &Request,
    namespace: &str,
    sa: &str,
    sa_uid: &str,
    bound: Option<&Bound>,
    now: i64,
    jti: String,
) -> Claims {
    let mut exp = now + request.expiration_seconds;
    let mut kubernetes = KubernetesClaims {
        namespace: namespace.into(),
        serviceaccount: ObjectRef { name: sa.into(), uid: sa_uid.into() },
        ..Default::default()
    };
    match bound {
        Some(Bound::Pod { name, uid, node }) => {
            kubernetes.pod = Some(ObjectRef { name: name.clone(), uid: uid.clone() });
            kubernetes.node = node.clone();
            if request.expiration_seconds == WARN_ONLY_EXPIRATION_SECONDS && request.audiences == [ISSUER] {
                kubernetes.warnafter = Some(exp);
                exp = now + EXTENDED_EXPIRATION_SECONDS;
            }
        }
        Some(Bound::Secret { name, uid }) => {
            kubernetes.secret = Some(ObjectRef { name: name.clone(), uid: uid.clone() })
        }
        None => {}
    }
    Claims {
        aud: request.audiences.clone(),
        exp,
        iat: now,
        iss: ISSUER.into(),
        jti,
        kubernetes,
        nbf: now,
        sub: jwt::subject(namespace, sa),
    }
}

/// Looks up the bound object and checks it may carry a token of `sa`.
async fn find_bound(call: &Call<'_>, sa: &str, kind: &str, name: &str, uid: &str) -> Result<Bound, ApiError> {
    let ns = &call.req.namespace;
    let res = registry::find("", "v1", if kind == "Pod" { "pods" } else { "secrets" }).expect("registered");
    let obj = call.ctx.objects.get(res, ns, name).await?;
    if !uid.is_empty() && meta::uid(&obj) != uid {
        return Err(ApiError::Conflict {
            target: skiff_api::Target::new("", res.plural, name),
            message: format!("the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"),
        });
    }
    if kind == "Secret" {
        return Ok(Bound::Secret { name: name.into(), uid: meta::uid(&obj).into() });
    }
    let pod_sa = obj.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("default");
    if pod_sa != sa {
        return Err(ApiError::BadRequest(format!(
            "cannot bind token for serviceaccount \"{sa}\" to pod running with different serviceaccount name."
        )));
    }
    let node_name = obj.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    let node = if node_name.is_empty() {
        None
    } else {
        let nodes = registry::find("", "v1", "nodes").expect("registered");
        call.ctx
            .objects
            .get(nodes, "", node_name)
            .await
            .ok()
            .map(|n| ObjectRef { name: node_name.into(), uid: meta::uid(&n).into() })
    };
    Ok(Bound::Pod { name: name.into(), uid: meta::uid(&obj).into(), node })
}

/// Serves `serviceaccounts/{name}/token`.
pub async fn create(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let Some(key) = call.ctx.service_account_key.get() else {
        return Err(ApiError::ServiceUnavailable("the token signing key is not loaded".into()));
    };
    let mut body = decode_body(call)?;
    check_type(call, &mut body, "TokenRequest", "authentication.k8s.io/v1")?;
    let sa_name = &call.req.name;
    let request = parse(&body, sa_name)?;
    let sas = registry::find("", "v1", "serviceaccounts").expect("registered");
    let sa = call.ctx.objects.get(sas, &call.req.namespace, sa_name).await?;
    let bound = match &request.bound_ref {
        Some((kind, name, uid)) => Some(find_bound(call, sa_name, kind, name, uid).await?),
        None => None,
    };
    let now = chrono::Utc::now().timestamp();
    let claims = claims(
        &request,
        &call.req.namespace,
        sa_name,
        meta::uid(&sa),
        bound.as_ref(),
        now,
        uuid::Uuid::new_v4().to_string(),
    );
    let token = key.sign(&claims).map_err(|e| ApiError::Internal(e.to_string()))?;
    let expires = chrono::DateTime::from_timestamp(now + request.expiration_seconds, 0).unwrap_or_default();
    body["metadata"] = json!({
        "name": sa_name, "namespace": call.req.namespace,
        "creationTimestamp": chrono::DateTime::from_timestamp(now, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    body["spec"]["audiences"] = json!(request.audiences);
    body["spec"]["expirationSeconds"] = json!(request.expiration_seconds);
    body["status"] = json!({"token": token, "expirationTimestamp": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string()});
    Ok(response::object(StatusCode::CREATED, &body, call.output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_default_and_validate_as_upstream() {
        let r = parse(&json!({"spec": {}}), "default").unwrap();
        assert_eq!(r, Request { audiences: vec![ISSUER.into()], expiration_seconds: 3600, bound_ref: None });
        let e = parse(&json!({"spec": {"expirationSeconds": 599}}), "default").unwrap_err();
        assert_eq!(e.code(), 422);
        assert!(e.message().contains("less than 10 minutes"), "{}", e.message());
        let e = parse(&json!({"spec": {"boundObjectRef": {"kind": "ConfigMap", "name": "x"}}}), "d").unwrap_err();
        assert_eq!(e.code(), 422);
        let r = parse(&json!({"spec": {"audiences": ["vault"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}}}), "d")
            .unwrap();
        assert_eq!(r.audiences, ["vault"]);
        assert_eq!(r.bound_ref, Some(("Pod".into(), "p".into(), "u".into())));
    }

    #[test]
    fn claims_bind_the_object_and_the_kubelets_tokens_are_extended() {
        let pod = Bound::Pod {
            name: "p".into(),
            uid: "pu".into(),
            node: Some(ObjectRef { name: "n".into(), uid: "nu".into() }),
        };
        let plain = Request { audiences: vec![ISSUER.into()], expiration_seconds: 3600, bound_ref: None };
        let c = claims(&plain, "ns", "sa", "sau", Some(&pod), 100, "j".into());
        assert_eq!((c.sub.as_str(), c.exp, c.iat, c.nbf), ("system:serviceaccount:ns:sa", 3700, 100, 100));
        assert_eq!(c.kubernetes.pod, Some(ObjectRef { name: "p".into(), uid: "pu".into() }));
        assert_eq!(c.kubernetes.node.as_ref().map(|n| n.name.as_str()), Some("n"));
        assert_eq!(c.kubernetes.warnafter, None);
        let kubelet = Request { expiration_seconds: WARN_ONLY_EXPIRATION_SECONDS, ..plain.clone() };
        let c = claims(&kubelet, "ns", "sa", "sau", Some(&pod), 100, "j".into());
        assert_eq!((c.kubernetes.warnafter, c.exp), (Some(3707), 100 + EXTENDED_EXPIRATION_SECONDS));
        let unbound = claims(&kubelet, "ns", "sa", "sau", None, 100, "j".into());
        assert_eq!(unbound.exp, 3707, "only pod-bound tokens are extended");
        let secret = Bound::Secret { name: "s".into(), uid: "su".into() };
        let c = claims(&plain, "ns", "sa", "sau", Some(&secret), 100, "j".into());
        assert_eq!(c.kubernetes.secret.map(|s| s.uid), Some("su".into()));
    }
}
