//! The cluster PKI: a CA the server generates on first start, the API server's serving
//! certificate and the admin client certificate, kept as PEM files in one directory.
//!
//! Layout of the directory (`<data-dir>/tls` by convention):
//!
//! | file | what | mode |
//! | --- | --- | --- |
//! | `ca.crt`, `ca.key` | cluster CA, ECDSA P-256, 10 years | 0644, 0600 |
//! | `serving.crt`, `serving.key` | API server certificate, 1 year | 0644, 0600 |
//! | `admin.crt`, `admin.key` | `system:admin` in `system:masters`, 1 year | 0644, 0600 |
//!
//! One server owns a directory at a time (the data directory is locked by the store).

pub(crate) mod files;
mod inspect;
mod issue;
mod subject;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

pub(crate) use files::{write_atomic, PRIVATE_MODE};
pub use issue::{CA_COMMON_NAME, RENEW_BEFORE_DAYS};
pub use subject::SubjectError;

use files::{create_private_dir, parse_cert_pem, parse_key_pem, read_optional, PUBLIC_MODE};
use inspect::{check_leaf, ensure_key_matches, parse_x509, Verdict};
use issue::{Authority, Issued};

/// The first address of the default Service CIDR 10.43.0.0/16: the `kubernetes` Service.
pub const DEFAULT_SERVICE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 43, 0, 1));
/// User and group of the admin client certificate (upstream's superuser group).
pub const ADMIN_USER: &str = "system:admin";
pub const ADMIN_GROUP: &str = "system:masters";
/// Common name of the API server's serving certificate (clients check the SANs, not this).
pub const SERVING_COMMON_NAME: &str = "skiff-apiserver";

/// Errors of the PKI. Every variant about a file names that file.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file exists but does not hold what it should (bad PEM, not a certificate, not a key).
    #[error("{}: {reason}; fix or remove the file (removing a CA invalidates every kubeconfig)", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The CA's key does not belong to its certificate.
    #[error("{} is not the private key of {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// Half a CA: generating a new one would silently invalidate every certificate issued by
    /// the old one, so the operator has to decide.
    #[error(
        "{} exists but {} is missing, and certificates issued by that CA exist; restore the missing file, \
         or remove the whole directory {} to start a new CA",
        present.display(), missing.display(), dir.display()
    )]
    IncompleteCa { present: PathBuf, missing: PathBuf, dir: PathBuf },
    /// The file named as the CA certificate cannot sign certificates.
    #[error("{}: not a CA certificate (needs basic constraints CA:TRUE and the keyCertSign usage)", path.display())]
    NotCa { path: PathBuf },
    /// The CA has expired: no client would accept anything it signs.
    #[error("{}: the cluster CA expired at {not_after}; a new CA must be created and distributed", path.display())]
    CaExpired { path: PathBuf, not_after: String },
    /// A name cannot go into a certificate.
    #[error("invalid certificate name: {0}")]
    InvalidName(String),
    /// Key or certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[source] rcgen::Error),
    /// Re-encoding a client certificate's subject failed.
    #[error("encoding a client certificate's groups: {0}")]
    Rewrite(#[source] SubjectError),
}

impl PkiError {
    fn io(path: &Path, source: io::Error) -> PkiError {
        PkiError::Io { path: path.to_path_buf(), source }
    }

    fn corrupt(path: &Path, reason: impl Into<String>) -> PkiError {
        PkiError::Corrupt { path: path.to_path_buf(), reason: reason.into() }
    }
}

/// The names the serving certificate must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServingNames {
    /// This machine's host name (lowercased into the certificate; skipped when empty).
    pub host_name: String,
    /// Cluster domain, for `kubernetes.default.svc.<domain>`.
    pub cluster_domain: String,
    /// The `kubernetes` Service's cluster IP: the first address of the Service CIDR.
    pub service_ip: IpAddr,
    /// Addresses of this node that clients may use.
    pub node_ips: Vec<IpAddr>,
    /// More names, like k3s' `--tls-san`: an entry that parses as an IP address is one.
    pub extra_sans: Vec<String>,
}

impl ServingNames {
    /// The defaults for `host_name`: domain `cluster.local`, Service IP 10.43.0.1, no node IPs.
    pub fn new(host_name: impl Into<String>) -> ServingNames {
        ServingNames {
            host_name: host_name.into(),
            cluster_domain: "cluster.local".into(),
            service_ip: DEFAULT_SERVICE_IP,
            node_ips: Vec::new(),
            extra_sans: Vec::new(),
        }
    }

    /// DNS names, lowercased, without duplicates, in a stable order.
    pub fn dns_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.push(format!("kubernetes.default.svc.{}", self.cluster_domain));
        names.push(self.host_name.clone());
        names.extend(self.extra_sans.iter().filter(|s| s.parse::<IpAddr>().is_err()).cloned());
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// IP addresses: loopback (v4 and v6), the Service IP, node IPs, extra IPs; no duplicates.
    pub fn ip_addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        let candidates = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST), self.service_ip]
            .into_iter()
            .chain(self.node_ips.iter().copied())
            .chain(self.extra_sans.iter().filter_map(|s| s.trim().parse().ok()));
        for ip in candidates {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        out
    }
}

/// Where each file of a PKI directory lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiPaths {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
}

impl PkiPaths {
    pub fn new(dir: &Path) -> PkiPaths {
        PkiPaths {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            serving_cert: dir.join("serving.crt"),
            serving_key: dir.join("serving.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
        }
    }

    fn leaves(&self) -> [&Path; 4] {
        [&self.serving_cert, &self.serving_key, &self.admin_cert, &self.admin_key]
    }
}

/// The loaded PKI: CA, serving and admin certificates, all PEM, all validated.
///
/// # Guarantees
/// Every certificate parses, every key matches its certificate, and the serving and
/// admin certificates are signed by the CA and valid for at least [`RENEW_BEFORE_DAYS`] days.
pub struct Pki {
    paths: PkiPaths,
    ca: Authority,
    ca_cert_pem: String,
    serving: Issued,
    admin: Issued,
}

impl fmt::Debug for Pki {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki").field("paths", &self.paths).finish_non_exhaustive()
    }
}

impl Pki {
    /// Loads the PKI in `dir`, creating what is missing. See [`Pki::load_or_create_at`].
    pub fn load_or_create(dir: &Path, names: &ServingNames) -> Result<Pki, PkiError> {
        Pki::load_or_create_at(dir, names, Utc::now())
    }

    /// Loads the PKI in `dir` as of time `now`, creating what is missing.
    ///
    /// - No CA yet (first start): creates the CA, then the serving and admin certificates.
    /// - A CA exists: it is reused, never replaced. The serving certificate is re-issued
    ///   (from the same CA, with a new key) when it lacks a name of `names`, is not signed by
    ///   the CA, its key does not match, or it expires within [`RENEW_BEFORE_DAYS`] days;
    ///   the admin certificate likewise (except for names).
    ///
    /// # Errors
    /// [`PkiError::Corrupt`] naming the file when one is unreadable as PEM, certificate or
    /// key; [`PkiError::KeyMismatch`] when `ca.key` does not belong to `ca.crt`;
    /// [`PkiError::IncompleteCa`] when only one of `ca.crt`/`ca.key` exists but certificates
    /// issued by it do (only after an interrupted first start is the CA made anew);
    /// [`PkiError::NotCa`], [`PkiError::CaExpired`]; [`PkiError::Io`] for file system errors.
    pub fn load_or_create_at(dir: &Path, names: &ServingNames, now: DateTime<Utc>) -> Result<Pki, PkiError> {
        let paths = PkiPaths::new(dir);
        create_private_dir(dir)?;
        let (ca, ca_cert_pem) = load_or_create_ca(&paths, now)?;
        let ca_der = parse_cert_pem(&paths.ca_cert, &ca_cert_pem)?;
        let ca_x509 = parse_x509(&paths.ca_cert, &ca_der)?;

        let (dns, ips) = (names.dns_names(), names.ip_addresses());
        let serving = ensure_leaf(&paths.serving_cert, &paths.serving_key, &ca_x509, &dns, &ips, now, || {
            issue::serving_cert(&ca, SERVING_COMMON_NAME, &dns, &ips, now)
        })?;
        let admin = ensure_leaf(&paths.admin_cert, &paths.admin_key, &ca_x509, &[], &[], now, || {
            issue::client_cert(&ca, ADMIN_USER, &[ADMIN_GROUP], now)
        })?;
        Ok(Pki { paths, ca, ca_cert_pem, serving, admin })
    }

    /// Issues a client certificate for user `common_name` in `groups` (one `O` attribute per
    /// group, which is how Kubernetes reads groups), valid for one year.
    /// Returns `(cert_pem, key_pem)`; nothing is written to disk.
    ///
    /// # Errors
    /// [`PkiError::InvalidName`] for an empty common name, [`PkiError::Generate`] or
    /// [`PkiError::Rewrite`] if signing fails.
    pub fn issue_client_cert(&self, common_name: &str, groups: &[&str]) -> Result<(String, String), PkiError> {
        let issued = issue::client_cert(&self.ca, common_name, groups, Utc::now())?;
        Ok((issued.cert_pem, issued.key_pem))
    }

    /// Issues a serving certificate for other components (the kubelet's port 10250, for
    /// example) naming `dns_names` and `ips`, valid for one year. Returns `(cert_pem, key_pem)`.
    ///
    /// # Errors
    /// [`PkiError::InvalidName`] for a name that is not ASCII, [`PkiError::Generate`].
    pub fn issue_serving_cert(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
    ) -> Result<(String, String), PkiError> {
        let issued = issue::serving_cert(&self.ca, common_name, dns_names, ips, Utc::now())?;
        Ok((issued.cert_pem, issued.key_pem))
    }

    pub fn paths(&self) -> &PkiPaths {
        &self.paths
    }

    /// The CA certificate, PEM: what clients trust (`certificate-authority-data`).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    pub fn serving_cert_pem(&self) -> &str {
        &self.serving.cert_pem
    }

    pub fn serving_key_pem(&self) -> &str {
        &self.serving.key_pem
    }

    pub fn admin_cert_pem(&self) -> &str {
        &self.admin.cert_pem
    }

    pub fn admin_key_pem(&self) -> &str {
        &self.admin.key_pem
    }
}

/// Loads the CA, or creates it when there is none. Never replaces a CA that exists.
fn load_or_create_ca(paths: &PkiPaths, now: DateTime<Utc>) -> Result<(Authority, String), PkiError> {
    let cert_pem = read_optional(&paths.ca_cert)?;
    let key_pem = read_optional(&paths.ca_key)?;
    match (cert_pem, key_pem) {
        (Some(cert_pem), Some(key_pem)) => {
            let ca = load_ca(paths, &cert_pem, &key_pem, now)?;
            Ok((ca, cert_pem))
        }
        (None, None) => create_ca(paths, now),
        (cert, _) => {
            let (present, missing) =
                if cert.is_some() { (&paths.ca_cert, &paths.ca_key) } else { (&paths.ca_key, &paths.ca_cert) };
            if paths.leaves().iter().any(|p| p.exists()) {
                return Err(PkiError::IncompleteCa {
                    present: present.clone(),
                    missing: missing.clone(),
                    dir: paths.dir.clone(),
                });
            }
            // Nothing was ever issued by this CA: the first start was interrupted between
            // writing the CA's two files. Starting over invalidates nothing.
            tracing::warn!(present = %present.display(), "incomplete CA from an interrupted first start: creating a new CA");
            create_ca(paths, now)
        }
    }
}

fn load_ca(paths: &PkiPaths, cert_pem: &str, key_pem: &str, now: DateTime<Utc>) -> Result<Authority, PkiError> {
    let der = parse_cert_pem(&paths.ca_cert, cert_pem)?;
    let x509 = parse_x509(&paths.ca_cert, &der)?;
    let can_sign = x509.key_usage().ok().flatten().map(|ku| ku.value.key_cert_sign()).unwrap_or(true);
    if !x509.is_ca() || !can_sign {
        return Err(PkiError::NotCa { path: paths.ca_cert.clone() });
    }
    if inspect::not_after(&x509) <= now.timestamp() {
        return Err(PkiError::CaExpired {
            path: paths.ca_cert.clone(),
            not_after: x509.validity().not_after.to_string(),
        });
    }
    let key = parse_key_pem(&paths.ca_key, key_pem)?;
    ensure_key_matches(&x509, &paths.ca_cert, &key, &paths.ca_key)?;
    issue::load_ca(cert_pem, key).map_err(|e| PkiError::corrupt(&paths.ca_cert, format!("unusable as a CA: {e}")))
}

fn create_ca(paths: &PkiPaths, now: DateTime<Utc>) -> Result<(Authority, String), PkiError> {
    let (ca, issued) = issue::new_ca(now)?;
    // Key first: a crash between the two writes leaves a key without a certificate, which
    // the next start recognizes as an interrupted first start (see `load_or_create_ca`).
    write(&paths.ca_key, &issued.key_pem, PRIVATE_MODE)?;
    write(&paths.ca_cert, &issued.cert_pem, PUBLIC_MODE)?;
    tracing::info!(dir = %paths.dir.display(), "created a new cluster CA");
    Ok((ca, issued.cert_pem))
}

/// Loads a leaf certificate and its key, or issues (and writes) a new pair when they are
/// missing or no longer fit (see [`check_leaf`]).
fn ensure_leaf(
    cert_path: &Path,
    key_path: &Path,
    ca: &x509_parser::certificate::X509Certificate<'_>,
    dns: &[String],
    ips: &[IpAddr],
    now: DateTime<Utc>,
    issue: impl FnOnce() -> Result<Issued, PkiError>,
) -> Result<Issued, PkiError> {
    let verdict = match (read_optional(cert_path)?, read_optional(key_path)?) {
        (Some(cert_pem), Some(key_pem)) => {
            let der = parse_cert_pem(cert_path, &cert_pem)?;
            let x509 = parse_x509(cert_path, &der)?;
            let key = parse_key_pem(key_path, &key_pem)?;
            if ensure_key_matches(&x509, cert_path, &key, key_path).is_err() {
                // A leaf is cheap to replace; a crash between writing its two files ends here.
                Verdict::Reissue("its key file does not match it".into())
            } else {
                match check_leaf(&x509, ca, dns, ips, now) {
                    Verdict::Keep => return Ok(Issued { cert_pem, key_pem }),
                    reissue => reissue,
                }
            }
        }
        (None, None) => Verdict::Reissue("it does not exist yet".into()),
        _ => Verdict::Reissue("its certificate or key file is missing".into()),
    };
    if let Verdict::Reissue(reason) = verdict {
        tracing::info!(path = %cert_path.display(), %reason, "issuing certificate");
    }
    let issued = issue()?;
    write(key_path, &issued.key_pem, PRIVATE_MODE)?;
    write(cert_path, &issued.cert_pem, PUBLIC_MODE)?;
    Ok(issued)
}

fn write(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    write_atomic(path, contents.as_bytes(), mode).map_err(|e| PkiError::io(path, e))
}

#[cfg(test)]
mod tests;
