//! Reading and writing the PKI's PEM files. Writes are atomic (temporary file, fsync,
//! rename, fsync of the directory) so a crash never leaves a half-written key behind.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;

use super::PkiError;

/// File mode of private keys (and kubeconfigs, which embed one): owner read/write only.
pub(crate) const PRIVATE_MODE: u32 = 0o600;
/// File mode of certificates: they are public, any local user may read them.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Creates `dir` (and missing parents) with mode 0700: the directory holds private keys.
/// An existing directory keeps its mode (the operator may have chosen one on purpose).
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| PkiError::io(dir, e))
}

/// Writes `contents` to `path` atomically with file mode `mode`.
///
/// # Guarantees
/// After `Ok`, `path` holds exactly `contents` durably; after a crash at any point, `path`
/// holds either its old contents or the new ones, never a mix. The temporary file
/// (`<path>.tmp`) is created with `mode` from the start, so a key is never readable by others,
/// even for an instant.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let tmp = tmp_path(path);
    // A leftover temporary file from a crash may have another mode: start afresh.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        // The rename is durable only once the directory entry is.
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Reads `path` if it exists: `Ok(None)` when it does not.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| PkiError::corrupt(path, "file is not UTF-8 text (PEM expected)")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io(path, e)),
    }
}

/// The first certificate in a PEM text, with an error naming `path` when there is none.
pub(crate) fn parse_cert_pem(path: &Path, pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    let mut reader = pem.as_bytes();
    let first = rustls_pemfile::certs(&mut reader).next();
    match first {
        Some(Ok(der)) => Ok(der),
        Some(Err(e)) => Err(PkiError::corrupt(path, format!("malformed PEM: {e}"))),
        None => Err(PkiError::corrupt(path, "no CERTIFICATE block found")),
    }
}

/// Parses a PEM private key, with an error naming `path` when it is not one.
pub(crate) fn parse_key_pem(path: &Path, pem: &str) -> Result<rcgen::KeyPair, PkiError> {
    rcgen::KeyPair::from_pem(pem).map_err(|e| PkiError::corrupt(path, format!("not a usable private key: {e}")))
}

pub(crate) use skiff_der::pem_encode;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_sets_mode_and_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_atomic(&path, b"one", PRIVATE_MODE).unwrap();
        write_atomic(&path, b"two", PRIVATE_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn leftover_temporary_file_does_not_leak_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        fs::write(tmp_path(&path), b"junk").unwrap();
        fs::set_permissions(tmp_path(&path), fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&path, b"secret", PRIVATE_MODE).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn pem_round_trips_through_rustls_pemfile() {
        let der: Vec<u8> = (0..200u8).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        let parsed = parse_cert_pem(Path::new("x.crt"), &pem).unwrap();
        assert_eq!(parsed.as_ref(), &der[..]);
        assert!(pem.lines().all(|l| l.len() <= 64));
    }
}
