//! Tokens for projected `serviceAccountToken` sources, as upstream's kubelet
//! token manager: one TokenRequest per (audience, lifetime) of a pod, bound
//! to the pod, kept until 80% of its lifetime has passed or it is 24 h old,
//! then replaced (the volume is rewritten in place). Pure bookkeeping here;
//! the worker asks the API.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, ServiceAccountTokenProjection};

/// Upstream's default `expirationSeconds` of a projection.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// A token is replaced at the latest when it is this old.
pub const MAX_AGE_SECONDS: i64 = 24 * 3600;

/// What a projection asks for: audience ("" = the API server's) and lifetime.
pub type TokenKey = (String, i64);

/// The tokens a pod's projections use, by what they ask for.
pub type Tokens = BTreeMap<TokenKey, String>;

pub fn key(p: &ServiceAccountTokenProjection) -> TokenKey {
    (p.audience.clone().unwrap_or_default(), p.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS))
}

/// Every distinct token the pod's projected volumes need.
pub fn wanted(pod: &Pod) -> Vec<TokenKey> {
    let mut keys: Vec<TokenKey> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| p.sources.iter().flatten())
        .filter_map(|s| s.service_account_token.as_ref().map(key))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A token the API issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    /// Unix seconds: when it was issued and when the API said it expires.
    pub issued_at: i64,
    pub expires_at: i64,
}

impl Issued {
    /// Whether to ask for a new one at `now`: past 80% of its lifetime (or
    /// expired), or older than a day.
    pub fn needs_refresh(&self, now: i64) -> bool {
        let ttl = (self.expires_at - self.issued_at).max(0);
        now >= self.expires_at - ttl / 5 || now >= self.issued_at + MAX_AGE_SECONDS
    }
}

/// The tokens of one pod.
#[derive(Debug, Default)]
pub struct TokenCache {
    issued: BTreeMap<TokenKey, Issued>,
}

impl TokenCache {
    /// The keys among `wanted` that have no token or need a new one at `now`.
    pub fn due(&self, wanted: &[TokenKey], now: i64) -> Vec<TokenKey> {
        wanted.iter().filter(|k| self.issued.get(*k).is_none_or(|t| t.needs_refresh(now))).cloned().collect()
    }

    pub fn insert(&mut self, key: TokenKey, issued: Issued) {
        self.issued.insert(key, issued);
    }

    /// The current token of each key that has one.
    pub fn tokens(&self) -> Tokens {
        self.issued.iter().map(|(k, t)| (k.clone(), t.token.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_at_80_percent_or_after_a_day() {
        let t = Issued { token: "t".into(), issued_at: 1000, expires_at: 1000 + 3607 };
        assert!(!t.needs_refresh(1000));
        assert!(!t.needs_refresh(1000 + 2885), "before 80%");
        assert!(t.needs_refresh(1000 + 2886), "at 80% of 3607 s");
        let long = Issued { token: "t".into(), issued_at: 0, expires_at: 365 * 24 * 3600 };
        assert!(!long.needs_refresh(MAX_AGE_SECONDS - 1));
        assert!(long.needs_refresh(MAX_AGE_SECONDS), "a day old");
    }

    #[test]
    fn due_lists_missing_and_stale_tokens_once() {
        let pod: Pod = serde_json::from_value(serde_json::json!({"spec": {"containers": [], "volumes": [
            {"name": "a", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}},
            {"name": "b", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "audience": "vault"}},
                                                      {"serviceAccountToken": {"path": "t2", "expirationSeconds": 3607}}]}}]}}))
        .unwrap();
        let keys = wanted(&pod);
        assert_eq!(keys, [(String::new(), 3607), ("vault".to_string(), 3600)]);
        let mut cache = TokenCache::default();
        assert_eq!(cache.due(&keys, 0), keys);
        cache.insert(keys[0].clone(), Issued { token: "x".into(), issued_at: 0, expires_at: 3607 });
        assert_eq!(cache.due(&keys, 10), [keys[1].clone()]);
        assert_eq!(cache.due(&keys, 3000).len(), 2);
        assert_eq!(cache.tokens().get(&keys[0]).map(String::as_str), Some("x"));
    }
}
