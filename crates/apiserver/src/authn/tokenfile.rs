//! Static bearer tokens from a CSV file, as upstream's `--token-auth-file`
//! (`token/tokenfile` behind `request/bearertoken`).
//!
//! Format: one `token,user,uid[,"group1,group2"]` record a line; further columns are
//! ignored. The file is read once, when the authenticator is built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use skiff_api::ApiError;

use super::{csv, Authenticator, AuthnRequest, UserInfo};

/// Why a token file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("token file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record is malformed; `line` is 1-based.
    #[error("token file {} line {line}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, message: String },
}

/// Authenticates `Authorization: Bearer <token>` against a static token file.
///
/// Tokens are kept only as SHA-256 digests: lookups take time independent of how much of
/// a guessed token matches, and the tokens themselves do not sit in memory.
pub struct TokenFileAuthenticator {
    users: HashMap<[u8; 32], UserInfo>,
}

impl std::fmt::Debug for TokenFileAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFileAuthenticator").field("tokens", &self.users.len()).finish()
    }
}

impl TokenFileAuthenticator {
    /// Reads the token file at `path`.
    ///
    /// # Errors
    /// [`TokenFileError::Io`] if the file cannot be read; [`TokenFileError::Parse`] with the
    /// line number for a CSV syntax error or a record with fewer than 3 columns. As upstream,
    /// records with an empty token are skipped and a duplicate token's last record wins
    /// (both logged as warnings).
    pub fn from_file(path: &Path) -> Result<TokenFileAuthenticator, TokenFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenFileError::Io { path: path.to_path_buf(), source })?;
        TokenFileAuthenticator::from_csv(path, &text)
    }

    /// Parses token file contents; `path` is only used in messages.
    ///
    /// # Errors
    /// As [`TokenFileAuthenticator::from_file`], without I/O.
    pub fn from_csv(path: &Path, text: &str) -> Result<TokenFileAuthenticator, TokenFileError> {
        let parse_error = |line, message: String| TokenFileError::Parse { path: path.to_path_buf(), line, message };
        let records = csv::parse(text).map_err(|e| parse_error(e.line, e.message.to_string()))?;
        let mut users = HashMap::new();
        for record in records {
            let fields = record.fields;
            if fields.len() < 3 {
                return Err(parse_error(
                    record.line,
                    format!("must have at least 3 columns (token, user name, user uid), found {}", fields.len()),
                ));
            }
            if fields[0].is_empty() {
                tracing::warn!(path = %path.display(), line = record.line, "empty token in token file: record skipped");
                continue;
            }
            // Upstream splits on commas without trimming; empty entries (from `""` or
            // `a,,b`) would be groups named "", which nothing can mean, so they are dropped.
            let groups = fields
                .get(3)
                .map(|g| g.split(',').filter(|g| !g.is_empty()).map(str::to_string).collect())
                .unwrap_or_default();
            let user = UserInfo { name: fields[1].clone(), uid: fields[2].clone(), groups, ..UserInfo::default() };
            if users.insert(digest(&fields[0]), user).is_some() {
                tracing::warn!(path = %path.display(), line = record.line, "duplicate token in token file: last one wins");
            }
        }
        Ok(TokenFileAuthenticator { users })
    }

    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of a bearer `Authorization` header, parsed exactly as upstream's
/// `bearertoken`: trimmed, split on single spaces, scheme `bearer` in any case, and the
/// second part non-empty. `None` for any other header.
pub(crate) fn bearer_token(authorization: &str) -> Option<&str> {
    let mut parts = authorization.trim().split(' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[async_trait::async_trait]
impl Authenticator for TokenFileAuthenticator {
    /// `Ok(None)` without a bearer token; `Err` for a bearer token not in the file.
    async fn authenticate(&self, request: &AuthnRequest<'_>) -> Result<Option<UserInfo>, ApiError> {
        let Some(token) = request.authorization.and_then(bearer_token) else {
            return Ok(None);
        };
        match self.users.get(&digest(token)) {
            Some(user) => Ok(Some(user.clone())),
            None => Err(ApiError::Unauthorized("invalid bearer token".into())),
        }
    }
}
