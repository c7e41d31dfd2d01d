//! Client certificate authentication, as upstream's `request/x509` with
//! `CommonNameUserConversion`: the subject's CN is the user name, its O attributes the groups.

use skiff_api::ApiError;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{Authenticator, AuthnRequest, UserInfo};

/// Authenticates a request by its client certificate.
///
/// # Assumes
/// The chain was verified by the TLS layer ([`crate::tls::server_config`] rejects a
/// certificate that does not chain to the cluster CA or lacks `clientAuth`), so only the
/// leaf is read here. Upstream verifies inside the authenticator because Go's server only
/// requests certificates; rustls verifies during the handshake instead.
#[derive(Clone, Copy, Debug, Default)]
pub struct X509Authenticator;

impl X509Authenticator {
    pub fn new() -> X509Authenticator {
        X509Authenticator
    }
}

#[async_trait::async_trait]
impl Authenticator for X509Authenticator {
    /// `Ok(None)` without a certificate, and (as upstream) for a certificate without a CN.
    /// `Err` when the leaf cannot be read.
    async fn authenticate(&self, request: &AuthnRequest<'_>) -> Result<Option<UserInfo>, ApiError> {
        let Some(leaf) = request.peer_certificates.first() else {
            return Ok(None);
        };
        let cert = match X509Certificate::from_der(leaf) {
            Ok((_, cert)) => cert,
            Err(e) => return Err(ApiError::Unauthorized(format!("unreadable client certificate: {e}"))),
        };
        let subject = cert.subject();
        let unreadable = |e| ApiError::Unauthorized(format!("unreadable client certificate subject: {e}"));
        // Go keeps the last CN when a subject has several; do the same.
        let name = match subject.iter_common_name().last() {
            Some(cn) => cn.as_str().map_err(unreadable)?,
            None => "",
        };
        if name.is_empty() {
            return Ok(None);
        }
        let groups = subject
            .iter_organization()
            .map(|o| o.as_str().map(str::to_string))
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        Ok(Some(UserInfo { name: name.to_string(), groups, ..UserInfo::default() }))
    }
}
