//! The API calls volumes need: each claim and the volume it is bound to, and
//! ServiceAccount tokens. The decisions are in [`super::claims`] and
//! [`super::tokens`].

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::Api;

use super::claims::{self, ClaimPaths};
use super::tokens::{Issued, TokenKey};

/// Resolves every persistentVolumeClaim volume of `pod` to its directory.
///
/// # Errors
/// The first claim that cannot be used yet (see [`claims::resolve`]) or an API
/// failure, as the message the pod's `FailedMount` event carries.
pub async fn fetch_claims(client: &kube::Client, pod: &Pod) -> Result<ClaimPaths, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let mut out = ClaimPaths::new();
    for v in claims::claim_volumes(pod) {
        let pvc = pvcs.get_opt(&v.claim).await.map_err(|e| format!("error processing PVC {ns}/{}: {e}", v.claim))?;
        let pv_name = pvc.as_ref().and_then(|c| c.spec.as_ref()).and_then(|s| s.volume_name.clone());
        let pv = match pv_name.filter(|n| !n.is_empty()) {
            Some(n) => pvs.get_opt(&n).await.map_err(|e| format!("error fetching PV {n}: {e}"))?,
            None => None,
        };
        let path = claims::resolve(ns, &v, pvc.as_ref(), pv.as_ref())
            .map_err(|why| format!("error processing PVC {ns}/{}: {why}", v.claim))?;
        out.insert(v.volume, path);
    }
    Ok(out)
}

/// Asks the API for a token of the pod's ServiceAccount, as `key` says,
/// bound to the pod (TokenRequest).
///
/// # Errors
/// The API's refusal or a failure to reach it, as a message.
pub async fn request_token(client: &kube::Client, pod: &Pod, key: &TokenKey) -> Result<Issued, String> {
    use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let sa = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).filter(|s| !s.is_empty());
    let sa = sa.unwrap_or_else(|| "default".into());
    let (audience, seconds) = key;
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: if audience.is_empty() { vec![] } else { vec![audience.clone()] },
            expiration_seconds: Some(*seconds),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let issued_at = chrono::Utc::now().timestamp();
    let answer = api
        .create_token_request(&sa, &kube::api::PostParams::default(), &request)
        .await
        .map_err(|e| format!("failed to fetch token for serviceaccount {ns}/{sa}: {e}"))?;
    let status = answer.status.ok_or_else(|| format!("TokenRequest for {ns}/{sa} came back without a status"))?;
    Ok(Issued { token: status.token, issued_at, expires_at: status.expiration_timestamp.0.timestamp() })
}
