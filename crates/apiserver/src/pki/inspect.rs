//! Checks on certificates found on disk: do they still fit, or must they be re-issued?

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use chrono::{DateTime, Utc};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::issue::RENEW_BEFORE_DAYS;
use super::PkiError;

/// What to do with a leaf certificate found on disk.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    /// Issue a new one; the reason is logged.
    Reissue(String),
}

/// Parses DER known to come from `path`, with an error naming the file.
pub(crate) fn parse_x509<'a>(path: &Path, der: &'a [u8]) -> Result<X509Certificate<'a>, PkiError> {
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(PkiError::corrupt(path, format!("not an X.509 certificate: {e}"))),
    }
}

/// Fails unless `key` is the private key of `cert`.
pub(crate) fn ensure_key_matches(
    cert: &X509Certificate<'_>,
    cert_path: &Path,
    key: &rcgen::KeyPair,
    key_path: &Path,
) -> Result<(), PkiError> {
    if cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw() {
        Ok(())
    } else {
        Err(PkiError::KeyMismatch { cert: cert_path.to_path_buf(), key: key_path.to_path_buf() })
    }
}

/// Whether a leaf certificate can be kept: it must be signed by `ca`, valid for at least
/// [`RENEW_BEFORE_DAYS`] more days, and name every one of `dns_names` and `ips`
/// (extra names are fine: dropping one is not worth re-issuing).
pub(crate) fn check_leaf(
    leaf: &X509Certificate<'_>,
    ca: &X509Certificate<'_>,
    dns_names: &[String],
    ips: &[IpAddr],
    now: DateTime<Utc>,
) -> Verdict {
    if leaf.verify_signature(Some(ca.public_key())).is_err() {
        return Verdict::Reissue("it is not signed by the current CA".into());
    }
    let not_after = leaf.validity().not_after.timestamp();
    let renew_at = not_after - RENEW_BEFORE_DAYS as i64 * 86_400;
    if now.timestamp() >= renew_at {
        return Verdict::Reissue(format!(
            "it expires at {} (renewed {RENEW_BEFORE_DAYS} days ahead)",
            leaf.validity().not_after
        ));
    }
    let (have_dns, have_ips) = subject_alt_names(leaf);
    let missing: Vec<String> = dns_names
        .iter()
        .filter(|name| !have_dns.contains(&name.to_ascii_lowercase()))
        .cloned()
        .chain(ips.iter().filter(|ip| !have_ips.contains(ip)).map(|ip| ip.to_string()))
        .collect();
    if !missing.is_empty() {
        return Verdict::Reissue(format!("it lacks the subject alternative names {}", missing.join(", ")));
    }
    Verdict::Keep
}

/// The DNS names (lowercased) and IP addresses a certificate names.
pub(crate) fn subject_alt_names(cert: &X509Certificate<'_>) -> (BTreeSet<String>, BTreeSet<IpAddr>) {
    let mut dns = BTreeSet::new();
    let mut ips = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => {
                    dns.insert(d.to_ascii_lowercase());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ips.insert(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ips.insert(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (dns, ips)
}

/// Seconds since the epoch at which `cert` expires.
pub(crate) fn not_after(cert: &X509Certificate<'_>) -> i64 {
    cert.validity().not_after.timestamp()
}
