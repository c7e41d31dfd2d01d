//! kubeconfig files: the admin's, written at start-up, and (through [`render`]) any
//! component's that authenticates with a client certificate.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::json;

use crate::pki::{write_atomic, Pki, PRIVATE_MODE};

/// Name of the cluster and of the context in generated kubeconfigs.
pub const CLUSTER_NAME: &str = "skiff";
/// Name of the admin user entry in the admin kubeconfig.
pub const ADMIN_USER_ENTRY: &str = "admin";

/// Why a kubeconfig could not be written.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("writing kubeconfig {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding kubeconfig: {0}")]
    Encode(#[from] serde_yaml::Error),
}

/// A kubeconfig YAML with one cluster (`skiff`, at `server_url`, trusting `ca_cert_pem`),
/// one user (`user`, authenticating with `cert_pem`/`key_pem`) and one context `skiff`
/// joining them, which is the current context. Certificates and key are embedded
/// (`*-data`), so the file is self-contained.
///
/// # Errors
/// Only if YAML encoding fails, which it does not for string inputs.
pub fn render(
    server_url: &str,
    ca_cert_pem: &str,
    user: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<String, KubeconfigError> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CLUSTER_NAME,
            "cluster": {
                "server": server_url,
                "certificate-authority-data": BASE64.encode(ca_cert_pem),
            },
        }],
        "users": [{
            "name": user,
            "user": {
                "client-certificate-data": BASE64.encode(cert_pem),
                "client-key-data": BASE64.encode(key_pem),
            },
        }],
        "contexts": [{
            "name": CLUSTER_NAME,
            "context": { "cluster": CLUSTER_NAME, "user": user },
        }],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// Writes the admin kubeconfig (user `admin` with the PKI's `system:admin` certificate) for
/// a server at `server_url` (e.g. `https://127.0.0.1:6443`) to `path`, creating the parent
/// directory if needed.
///
/// # Guarantees
/// The file has mode 0600 from the moment it exists (it embeds a private key) and is
/// replaced atomically, so a reader never sees a partial file.
///
/// # Errors
/// [`KubeconfigError::Io`] naming `path` when it cannot be written.
pub fn write_admin_kubeconfig(path: &Path, server_url: &str, pki: &Pki) -> Result<(), KubeconfigError> {
    let yaml = render(server_url, pki.ca_cert_pem(), ADMIN_USER_ENTRY, pki.admin_cert_pem(), pki.admin_key_pem())?;
    let io_error = |source| KubeconfigError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    write_atomic(path, yaml.as_bytes(), PRIVATE_MODE).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::pki::ServingNames;

    #[test]
    fn admin_kubeconfig_parses_with_every_expected_field_and_is_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(&tmp.path().join("tls"), &ServingNames::new("node-1")).unwrap();
        let path = tmp.path().join("sub/dir/admin.kubeconfig");
        write_admin_kubeconfig(&path, "https://127.0.0.1:6443", &pki).unwrap();

        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let config: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let decode = |v: &serde_yaml::Value| String::from_utf8(BASE64.decode(v.as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(config["apiVersion"], "v1");
        assert_eq!(config["kind"], "Config");
        assert_eq!(config["current-context"], "skiff");
        let cluster = &config["clusters"][0];
        assert_eq!(cluster["name"], "skiff");
        assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(decode(&cluster["cluster"]["certificate-authority-data"]), pki.ca_cert_pem());
        let user = &config["users"][0];
        assert_eq!(user["name"], "admin");
        assert_eq!(decode(&user["user"]["client-certificate-data"]), pki.admin_cert_pem());
        assert_eq!(decode(&user["user"]["client-key-data"]), pki.admin_key_pem());
        let context = &config["contexts"][0];
        assert_eq!(context["name"], "skiff");
        assert_eq!(context["context"]["cluster"], "skiff");
        assert_eq!(context["context"]["user"], "admin");
    }

    #[test]
    fn rewriting_keeps_mode_0600_even_over_a_looser_file() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(tmp.path(), &ServingNames::new("n")).unwrap();
        let path = tmp.path().join("kubeconfig");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_admin_kubeconfig(&path, "https://10.0.0.1:6443", &pki).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains("https://10.0.0.1:6443"));
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(tmp.path(), &ServingNames::new("n")).unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let err = write_admin_kubeconfig(&blocker.join("kubeconfig"), "https://x", &pki).unwrap_err();
        assert!(err.to_string().contains("file/kubeconfig"), "{err}");
    }
}
