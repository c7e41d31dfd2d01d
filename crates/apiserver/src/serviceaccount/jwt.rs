//! ServiceAccount tokens as upstream signs them: JWS compact serialization,
//! ES256 (ECDSA P-256 with SHA-256), a `kid` header naming the key, and
//! upstream's claims (`iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti` and the
//! private `kubernetes.io` claim binding the token to its ServiceAccount and,
//! optionally, a Pod or Secret). Pure: time and randomness come from callers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The issuer of this cluster's tokens (upstream's `--service-account-issuer`
/// default in kubeadm and k3s) and the audience a token has when none is asked.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Why a token was not accepted (or could not be made).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts with a JSON header and payload.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    #[error("invalid signature")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audiences {0:?} do not match any accepted audience")]
    Audience(Vec<String>),
    #[error("cannot use the signing key: {0}")]
    Key(String),
}

/// A name and uid, as the `kubernetes.io` claim references objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// The private `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    pub serviceaccount: ObjectRef,
    /// When a token extended past what was asked (see `token_request`) should
    /// have been replaced; upstream logs use after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// The claims of a ServiceAccount token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(deserialize_with = "audiences")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    pub nbf: i64,
    pub sub: String,
}

/// RFC 7519 allows `aud` as one string or an array of them.
fn audiences<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(a) => a,
    })
}

/// The user name of a ServiceAccount (`system:serviceaccount:NS:NAME`).
pub fn subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kid: String,
}

/// The ES256 key tokens are signed and checked with.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish()
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl SigningKey {
    /// A new key, and its PKCS#8 DER to keep.
    ///
    /// # Errors
    /// [`JwtError::Key`] when the system's random source fails.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), JwtError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| JwtError::Key("cannot generate a P-256 key".into()))?;
        let der = pkcs8.as_ref().to_vec();
        Ok((SigningKey::from_pkcs8(&der)?, der))
    }

    /// Loads a key kept as PKCS#8 DER.
    ///
    /// # Errors
    /// [`JwtError::Key`] when `der` is not a P-256 PKCS#8 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, JwtError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
            .map_err(|e| JwtError::Key(e.to_string()))?;
        // Upstream's key id: base64url(SHA-256(DER public key)).
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(&spki));
        Ok(SigningKey { pair, kid })
    }

    /// The key id in every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` into a compact JWS.
    ///
    /// # Errors
    /// [`JwtError::Key`] when signing fails (the random source).
    pub fn sign(&self, claims: &Claims) -> Result<String, JwtError> {
        let header = Header { alg: "ES256".into(), kid: self.kid.clone() };
        let part = |v: Vec<u8>| URL_SAFE_NO_PAD.encode(v);
        let json = |e: serde_json::Error| JwtError::Key(e.to_string());
        let input = format!(
            "{}.{}",
            part(serde_json::to_vec(&header).map_err(json)?),
            part(serde_json::to_vec(claims).map_err(json)?)
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| JwtError::Key("signing failed".into()))?;
        Ok(format!("{input}.{}", part(sig.as_ref().to_vec())))
    }

    /// The claims of `token` if this key signed it. Says nothing about time,
    /// audience or issuer: see [`validate`].
    ///
    /// # Errors
    /// [`JwtError::Malformed`], [`JwtError::Algorithm`] or [`JwtError::Signature`].
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let parts = split(token)?;
        if parts.header.alg != "ES256" {
            return Err(JwtError::Algorithm(parts.header.alg));
        }
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
            .verify(parts.signing_input.as_bytes(), &parts.signature)
            .map_err(|_| JwtError::Signature)?;
        serde_json::from_slice(&parts.payload)
            .map_err(|_| JwtError::Malformed("claims are not a ServiceAccount token's"))
    }
}

/// A compact JWS taken apart.
struct Parts<'a> {
    header: Header,
    payload: Vec<u8>,
    /// `header.payload` as sent: what the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed("a part is not base64url"));
    let header: Header =
        serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed("the header is not a JWS header"))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Parts { header, payload: decode(p)?, signing_input, signature: decode(s)? })
}

/// The issuer `token` claims, without checking anything: how an authenticator
/// tells its own tokens from other kinds of bearer tokens.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&split(token).ok()?.payload).ok()?;
    v.get("iss")?.as_str().map(String::from)
}

/// Checks the time window (`nbf` ≤ `now` < `exp`) and that one of the token's
/// audiences is in `accepted`.
///
/// # Errors
/// [`JwtError::Expired`], [`JwtError::NotYetValid`] or [`JwtError::Audience`].
pub fn validate(claims: &Claims, now: i64, accepted: &[String]) -> Result<(), JwtError> {
    if now >= claims.exp {
        return Err(JwtError::Expired);
    }
    if now < claims.nbf {
        return Err(JwtError::NotYetValid);
    }
    if !claims.aud.iter().any(|a| accepted.contains(a)) {
        return Err(JwtError::Audience(claims.aud.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            aud: vec![ISSUER.into()],
            exp: now + 3600,
            iat: now,
            nbf: now,
            iss: ISSUER.into(),
            jti: "j1".into(),
            sub: subject("ns", "builder"),
            kubernetes: KubernetesClaims {
                namespace: "ns".into(),
                serviceaccount: ObjectRef { name: "builder".into(), uid: "sa-uid".into() },
                pod: Some(ObjectRef { name: "p".into(), uid: "pod-uid".into() }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn signed_tokens_verify_with_their_claims_and_upstream_shape() {
        let (key, der) = SigningKey::generate().unwrap();
        let token = key.sign(&claims(1000)).unwrap();
        assert_eq!(key.verify(&token).unwrap(), claims(1000));
        let reloaded = SigningKey::from_pkcs8(&der).unwrap();
        assert_eq!(reloaded.kid(), key.kid());
        assert_eq!(reloaded.verify(&token).unwrap(), claims(1000), "a reloaded key checks old tokens");
        let parts: Vec<&str> = token.split('.').collect();
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "ES256", "kid": key.kid()}));
        let body: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body["sub"], "system:serviceaccount:ns:builder");
        assert_eq!(body["aud"], serde_json::json!([ISSUER]));
        assert_eq!(body["kubernetes.io"]["pod"]["uid"], "pod-uid");
        assert_eq!(body["kubernetes.io"]["serviceaccount"]["name"], "builder");
        assert!(body["kubernetes.io"].get("secret").is_none());
        assert_eq!(unverified_issuer(&token).as_deref(), Some(ISSUER));
    }

    #[test]
    fn foreign_tampered_and_malformed_tokens_are_rejected() {
        let (key, _) = SigningKey::generate().unwrap();
        let (other, _) = SigningKey::generate().unwrap();
        let token = other.sign(&claims(0)).unwrap();
        assert_eq!(key.verify(&token), Err(JwtError::Signature), "another cluster's key");
        let mine = key.sign(&claims(0)).unwrap();
        let parts: Vec<&str> = mine.split('.').collect();
        let mut forged = claims(0);
        forged.sub = subject("kube-system", "admin");
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{forged_body}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&tampered), Err(JwtError::Signature));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(key.verify(&none), Err(JwtError::Algorithm("none".into())));
        assert!(matches!(key.verify("abc"), Err(JwtError::Malformed(_))));
        assert!(matches!(key.verify("a.b.c.d"), Err(JwtError::Malformed(_))));
        assert_eq!(unverified_issuer("static-token"), None);
    }

    #[test]
    fn time_window_and_audiences_are_enforced() {
        let c = claims(1000);
        let issuer = [ISSUER.to_string()];
        assert_eq!(validate(&c, 1000, &issuer), Ok(()));
        assert_eq!(validate(&c, 4599, &issuer), Ok(()));
        assert_eq!(validate(&c, 4600, &issuer), Err(JwtError::Expired));
        assert_eq!(validate(&c, 999, &issuer), Err(JwtError::NotYetValid));
        assert_eq!(validate(&c, 1000, &["vault".to_string()]), Err(JwtError::Audience(vec![ISSUER.into()])));
        let one: Claims =
            serde_json::from_value(serde_json::json!({"aud": "vault", "exp": 2, "iat": 1, "nbf": 1, "iss": ISSUER,
                "sub": "s", "kubernetes.io": {"namespace": "n", "serviceaccount": {"name": "a", "uid": "u"}}}))
            .unwrap();
        assert_eq!(one.aud, ["vault"], "a single-string aud");
    }
}
