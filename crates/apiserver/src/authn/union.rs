//! Several authenticators as one, as upstream's `request/union` followed by the
//! `AuthenticatedGroupAdder`.

use skiff_api::ApiError;

use super::{Authenticator, AuthnRequest, UserInfo, SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED};

/// Asks each authenticator in order; the first user found wins.
///
/// # Guarantees
/// - A user returned has the group `system:authenticated` exactly once (unless an
///   authenticator already placed it in `system:unauthenticated`, as upstream).
/// - An authenticator's error does not stop the others (a bearer token unknown to the
///   token file may be valid for a later one); only when none finds a user and at least
///   one failed is the result an error: 401 with the message `Unauthorized`, as upstream
///   answers (the reasons go to the debug log, not to the client).
/// - `Ok(None)` when no authenticator found credentials of its kind: anonymous.
pub struct UnionAuthenticator {
    authenticators: Vec<Box<dyn Authenticator>>,
}

impl UnionAuthenticator {
    pub fn new(authenticators: Vec<Box<dyn Authenticator>>) -> UnionAuthenticator {
        UnionAuthenticator { authenticators }
    }
}

#[async_trait::async_trait]
impl Authenticator for UnionAuthenticator {
    async fn authenticate(&self, request: &AuthnRequest<'_>) -> Result<Option<UserInfo>, ApiError> {
        let mut failed = false;
        for authenticator in &self.authenticators {
            match authenticator.authenticate(request).await {
                Ok(Some(user)) => return Ok(Some(with_authenticated_group(user))),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = ?e, "authenticator rejected the request's credentials");
                    failed = true;
                }
            }
        }
        if failed {
            Err(ApiError::Unauthorized("Unauthorized".into()))
        } else {
            Ok(None)
        }
    }
}

fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == SYSTEM_AUTHENTICATED || g == SYSTEM_UNAUTHENTICATED) {
        user.groups.push(SYSTEM_AUTHENTICATED.into());
    }
    user
}
