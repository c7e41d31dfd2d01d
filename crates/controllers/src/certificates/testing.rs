//! Test helpers: a CA, requests and CSR objects.

use chrono::{DateTime, Utc};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestSpec,
    CertificateSigningRequestStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::ByteString;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// A new P-256 CA `CN=test-ca` valid until `not_after`: `(cert_pem, key_pem)`.
pub fn ca_until(not_after: DateTime<Utc>) -> (String, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "test-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after.timestamp()).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A CA valid for ten years from the real now.
pub fn ca() -> (String, String) {
    ca_until(Utc::now() + chrono::Duration::days(3650))
}

/// A P-256 request for `cn` in organization `org` (if any) naming `sans`.
pub fn request(cn: &str, org: Option<&str>, sans: Vec<SanType>) -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(org) = org {
        params.distinguished_name.push(DnType::OrganizationName, org);
    }
    params.subject_alt_names = sans;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

pub fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// A pending CSR `name` for `signer` with `usages` and request `pem`.
pub fn csr(name: &str, signer: &str, usages: &[&str], pem: &str) -> CertificateSigningRequest {
    let mut csr = CertificateSigningRequest {
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.as_bytes().to_vec()),
            signer_name: signer.into(),
            usages: Some(usages.iter().map(|u| u.to_string()).collect()),
            username: Some("jane".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    csr.metadata.name = Some(name.into());
    csr.metadata.uid = Some(format!("uid-{name}"));
    csr.metadata.resource_version = Some("7".into());
    csr
}

/// `csr` with a condition of type `kind` (status True) last updated `at`.
pub fn with_condition(mut csr: CertificateSigningRequest, kind: &str, at: DateTime<Utc>) -> CertificateSigningRequest {
    let status = csr.status.get_or_insert_with(CertificateSigningRequestStatus::default);
    status.conditions.get_or_insert_with(Vec::new).push(CertificateSigningRequestCondition {
        type_: kind.into(),
        status: "True".into(),
        reason: Some(format!("Test{kind}")),
        last_update_time: Some(Time(at)),
        last_transition_time: Some(Time(at)),
        ..Default::default()
    });
    csr
}

/// `csr` with `status.certificate` = `pem`.
pub fn with_certificate(mut csr: CertificateSigningRequest, pem: &str) -> CertificateSigningRequest {
    csr.status.get_or_insert_with(CertificateSigningRequestStatus::default).certificate =
        Some(ByteString(pem.as_bytes().to_vec()));
    csr
}
