//! Authentication: who is making a request.
//!
//! Each [`Authenticator`] looks at the credentials of a request (the `Authorization`
//! header, the client certificate verified by TLS) and answers one of three ways:
//! a user, "nothing to say" (`Ok(None)`: no credentials of its kind), or "credentials
//! presented but invalid" (`Err`, a 401). [`UnionAuthenticator`] asks each in turn, like
//! upstream's `unionauth`, and adds the `system:authenticated` group.
//!
//! A request no authenticator claims is anonymous ([`UserInfo::anonymous`]); the server
//! lets anonymous requests reach only `/healthz`, `/livez`, `/readyz` and `/version`.

mod csv;
mod tokenfile;
mod union;
mod x509;

use std::collections::BTreeMap;

use rustls::pki_types::CertificateDer;
use skiff_api::ApiError;

pub(crate) use tokenfile::bearer_token;
pub use tokenfile::{TokenFileAuthenticator, TokenFileError};
pub use union::UnionAuthenticator;
pub use x509::X509Authenticator;

/// Group of every authenticated user.
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";
/// Group and name of the anonymous user.
pub const SYSTEM_UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// An authenticated user, as upstream's `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The user of a request without credentials: `system:anonymous` in
    /// `system:unauthenticated`.
    pub fn anonymous() -> UserInfo {
        UserInfo { name: ANONYMOUS_USER.into(), groups: vec![SYSTEM_UNAUTHENTICATED.into()], ..UserInfo::default() }
    }
}

/// The credentials of one request.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthnRequest<'a> {
    /// The `Authorization` header, if the request has one (and it is valid UTF-8).
    pub authorization: Option<&'a str>,
    /// The client certificate chain the TLS layer verified against the cluster CA, leaf
    /// first; empty when the client presented none (or the connection is not TLS).
    pub peer_certificates: &'a [CertificateDer<'static>],
    /// The audiences a token must be meant for (TokenReview's `spec.audiences`);
    /// empty means the API server's own.
    pub audiences: &'a [String],
}

/// One way of authenticating requests. Async because some kinds of credentials
/// (ServiceAccount tokens) are only valid while objects they name exist.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// `Ok(Some(user))` when the request carries valid credentials of this authenticator's
    /// kind, `Ok(None)` when it carries none, `Err` (an [`ApiError::Unauthorized`]) when it
    /// carries credentials of this kind that are not valid.
    async fn authenticate(&self, request: &AuthnRequest<'_>) -> Result<Option<UserInfo>, ApiError>;
}

#[cfg(test)]
mod tests;
