//! Certificate profiles: what the CA, serving and client certificates contain.
//!
//! Key usages follow what Go's `crypto/x509` (kubectl, client-go, kubelet) checks:
//! the CA has `keyCertSign` and `CA:TRUE`; serving certificates have `digitalSignature`
//! and the `serverAuth` extended key usage; client certificates `digitalSignature` and
//! `clientAuth`. All keys are ECDSA P-256 (so no `keyEncipherment`, an RSA-only usage).

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Days, Months, Utc};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};

use super::subject::{encode_name, replace_subject};
use super::PkiError;

/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "skiff-ca";
/// The CA lives ten years: replacing it means redistributing every kubeconfig.
pub const CA_VALIDITY_MONTHS: u32 = 120;
/// Leaf certificates live one year (kubeadm's and k3s' choice) and are renewed at start-up
/// when less than [`RENEW_BEFORE_DAYS`] remain.
pub const LEAF_VALIDITY_MONTHS: u32 = 12;
pub const RENEW_BEFORE_DAYS: u64 = 90;

/// A freshly issued certificate and its private key, both PEM.
pub(crate) struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The CA: its key and an rcgen view of its certificate to sign with.
pub(crate) struct Authority {
    pub key: KeyPair,
    pub cert: Certificate,
}

fn new_key() -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::Generate)
}

/// Validity from the start of yesterday (clocks of other machines may lag a little) to
/// `months` later. rcgen takes whole days, which is precise enough for these lifetimes.
fn set_validity(params: &mut CertificateParams, now: DateTime<Utc>, months: u32) {
    let start = now.date_naive() - Days::new(1);
    let end = start.checked_add_months(Months::new(months)).unwrap_or(start);
    params.not_before = rcgen::date_time_ymd(start.year(), start.month() as u8, start.day() as u8);
    params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
}

/// A new self-signed cluster CA.
pub(crate) fn new_ca(now: DateTime<Utc>) -> Result<(Authority, Issued), PkiError> {
    let key = new_key()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, now, CA_VALIDITY_MONTHS);
    let cert = params.self_signed(&key).map_err(PkiError::Generate)?;
    let issued = Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() };
    Ok((Authority { key, cert }, issued))
}

/// Rebuilds the signing view of an existing CA from its certificate and key.
pub(crate) fn load_ca(cert_pem: &str, key: KeyPair) -> Result<Authority, rcgen::Error> {
    // rcgen keeps the subject and the subject key identifier of the original, which is all
    // that issued certificates copy (issuer name, authority key identifier).
    let params = CertificateParams::from_ca_cert_pem(cert_pem)?;
    let cert = params.self_signed(&key)?;
    Ok(Authority { key, cert })
}

/// A serving certificate for `dns_names` and `ips`, signed by `ca`.
pub(crate) fn serving_cert(
    ca: &Authority,
    common_name: &str,
    dns_names: &[String],
    ips: &[IpAddr],
    now: DateTime<Utc>,
) -> Result<Issued, PkiError> {
    let key = new_key()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    for name in dns_names {
        let ia5 = name.as_str().try_into().map_err(|_| PkiError::InvalidName(name.clone()))?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    params.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, LEAF_VALIDITY_MONTHS);
    let cert = params.signed_by(&key, &ca.cert, &ca.key).map_err(PkiError::Generate)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A client certificate for user `common_name` in `groups`, signed by `ca`.
pub(crate) fn client_cert(
    ca: &Authority,
    common_name: &str,
    groups: &[&str],
    now: DateTime<Utc>,
) -> Result<Issued, PkiError> {
    if common_name.is_empty() {
        return Err(PkiError::InvalidName("client certificate with an empty common name".into()));
    }
    let key = new_key()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, LEAF_VALIDITY_MONTHS);
    let cert = params.signed_by(&key, &ca.cert, &ca.key).map_err(PkiError::Generate)?;
    // One O attribute per group, which rcgen cannot express: see `subject.rs`.
    let der = replace_subject(cert.der(), &encode_name(common_name, groups), ca.key.serialized_der())
        .map_err(PkiError::Rewrite)?;
    Ok(Issued { cert_pem: super::files::pem_encode("CERTIFICATE", &der), key_pem: key.serialize_pem() })
}
