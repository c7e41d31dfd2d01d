//! The signing key of ServiceAccount tokens: generated at the first start and
//! kept as `<data-dir>/tls/service-account.key` (PKCS#8 PEM, mode 0600), so
//! tokens stay valid across restarts.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::jwt::{JwtError, SigningKey};
use crate::pki::files::{write_atomic, PRIVATE_MODE};

/// Why the signing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: JwtError,
    },
}

const LABEL: &str = "PRIVATE KEY";

/// The key in `path`, or a new one written there.
///
/// # Errors
/// [`KeyError::Io`] when the file cannot be read or written; [`KeyError::Invalid`]
/// when it holds something other than a P-256 PKCS#8 key (it is never replaced:
/// tokens already handed out depend on it).
pub fn load_or_create(path: &Path) -> Result<SigningKey, KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    let invalid = |source| KeyError::Invalid { path: path.to_path_buf(), source };
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            let der = from_pem(&pem).ok_or(invalid(JwtError::Key(format!("no {LABEL} PEM block"))))?;
            SigningKey::from_pkcs8(&der).map_err(invalid)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, der) = SigningKey::generate().map_err(invalid)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            write_atomic(path, to_pem(&der).as_bytes(), PRIVATE_MODE).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

fn to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!("-----BEGIN {LABEL}-----\n{}\n-----END {LABEL}-----\n", lines.join("\n"))
}

fn from_pem(pem: &str) -> Option<Vec<u8>> {
    let body =
        pem.split(&format!("-----BEGIN {LABEL}-----")).nth(1)?.split(&format!("-----END {LABEL}-----")).next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls/service-account.key");
        let first = load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.kid(), again.kid());
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(load_or_create(&path), Err(KeyError::Invalid { .. })), "a bad key is not replaced");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
    }
}
