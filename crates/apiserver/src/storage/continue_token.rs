//! `continue` tokens: where the next page starts and the revision the first page was
//! read at, so every page of one list shows the same snapshot. Encoded as upstream
//! does (base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"..."}`), opaque to clients.

use base64::Engine;
use serde::{Deserialize, Serialize};
use skiff_api::{ApiError, ApiResult};
use skiff_store::Revision;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContinueToken {
    pub revision: Revision,
    /// The key to start from, relative to the list's prefix.
    pub start: String,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: String,
    rv: i64,
    start: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        let wire = Wire { v: "meta.k8s.io/v1".into(), rv: self.revision, start: self.start.clone() };
        base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    pub fn decode(token: &str) -> ApiResult<ContinueToken> {
        let invalid = || ApiError::BadRequest("continue key is not valid: the token is malformed".into());
        let bytes = base64::engine::general_purpose::URL_SAFE.decode(token).map_err(|_| invalid())?;
        let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if wire.v != "meta.k8s.io/v1" || wire.rv <= 0 || wire.start.contains("..") || wire.start.starts_with('/') {
            return Err(invalid());
        }
        Ok(ContinueToken { revision: wire.rv, start: wire.start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = ContinueToken { revision: 42, start: "ns/name\0".into() };
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        for bad in ["", "!!!", "e30=", &base64::engine::general_purpose::URL_SAFE.encode(br#"{"v":"meta.k8s.io/v1","rv":1,"start":"../x"}"#)] {
            assert_eq!(ContinueToken::decode(bad).unwrap_err().code(), 400, "{bad}");
        }
    }
}
