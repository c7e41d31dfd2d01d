use super::*;
use crate::certificates::request;
use crate::certificates::testing::{ca, dns, request as new_request};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::X509Certificate;

fn der_of(pem: &str) -> Vec<u8> {
    Pem::iter_from_buffer(pem.as_bytes()).next().unwrap().unwrap().contents
}

fn window() -> Validity {
    let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    Validity { not_before: now - chrono::Duration::minutes(5), not_after: now + chrono::Duration::hours(24) }
}

fn usages(list: &[&str]) -> Vec<String> {
    list.iter().map(|u| u.to_string()).collect()
}

/// Signs `csr_pem` with the CA `(cert, key)` and checks what every issued
/// certificate must be; returns the certificate's DER.
fn issue(ca: &(String, String), csr_pem: &[u8], list: &[&str]) -> Vec<u8> {
    let authority = Authority::from_pem(&ca.0, &ca.1).unwrap();
    let req = request::parse(csr_pem).unwrap();
    let pem = authority.sign(&req, &usages(list), &window()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n") && pem.lines().all(|l| l.len() <= 64), "{pem}");
    let der = der_of(&pem);
    let ca_der = der_of(&ca.0);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    let (rest, cert) = X509Certificate::from_der(&der).unwrap();
    assert!(rest.is_empty());
    cert.verify_signature(Some(ca_cert.public_key())).expect("signed by the CA");
    assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw(), "issuer is the CA's subject, byte for byte");
    assert_eq!(cert.subject().as_raw(), &req.subject_der[..], "subject is the request's, byte for byte");
    assert_eq!(cert.public_key().raw, &req.spki_der[..]);
    assert_eq!(cert.validity().not_before.timestamp(), window().not_before.timestamp());
    assert_eq!(cert.validity().not_after.timestamp(), window().not_after.timestamp());
    assert!(!cert.is_ca());
    assert!(cert.basic_constraints().unwrap().unwrap().critical);
    assert!(cert.raw_serial().len() <= 17 && cert.tbs_certificate.serial.bits() <= 128);
    der
}

#[test]
fn client_certificates_carry_the_subject_key_and_usages_of_the_request() {
    let ca = ca();
    let der = issue(
        &ca,
        include_bytes!("../testdata/jane-rsa.csr"),
        &["digital signature", "key encipherment", "client auth"],
    );
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let cn: Vec<_> = cert.subject().iter_common_name().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(cn, ["jane"]);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && ku.value.key_encipherment() && !ku.value.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    // The CA's key identifier names the issuer.
    let ca_der = der_of(&ca.0);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    let ski = ca_cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        _ => None,
    });
    let aki = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|id| id.0.to_vec()),
        _ => None,
    });
    assert!(ski.is_some());
    assert_eq!(aki, ski);
}

#[test]
fn every_organization_of_the_request_stays_a_group() {
    let der = issue(&ca(), include_bytes!("../testdata/two-organizations.csr"), &["client auth"]);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let orgs: Vec<_> = cert.subject().iter_organization().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(orgs, ["dev", "ops"]);
    assert!(cert.key_usage().unwrap().is_none(), "no key usage asked, none written (as Go)");
}

#[test]
fn serving_certificates_carry_the_requested_names() {
    let sans = vec![dns("node1"), rcgen::SanType::IpAddress("10.0.0.7".parse().unwrap())];
    let pem = new_request("system:node:node1", Some("system:nodes"), sans);
    let der = issue(&ca(), pem.as_bytes(), &["digital signature", "server auth"]);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let names = &cert.subject_alternative_name().unwrap().unwrap().value.general_names;
    assert_eq!(names, &[GeneralName::DNSName("node1"), GeneralName::IPAddress(&[10, 0, 0, 7])]);
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
}

#[test]
fn extended_usages_are_written_in_gos_order_once() {
    let (key, extended) =
        key_usages(&usages(&["client auth", "server auth", "signing", "digital signature", "client auth"])).unwrap();
    assert_eq!(key, [KeyUsagePurpose::DigitalSignature]);
    assert_eq!(extended, [ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]);
    let err = key_usages(&usages(&["client auth", "frobnicate"])).unwrap_err();
    assert_eq!(err.to_string(), r#"unrecognized usage values: ["frobnicate"]"#);
}

#[test]
fn rsa_and_sec1_ec_keys_sign_too() {
    let rsa_cert = include_str!("../testdata/rsa-ca.crt");
    for key in [include_str!("../testdata/rsa-ca.pkcs1.key"), include_str!("../testdata/rsa-ca.pkcs8.key")] {
        let ca = (rsa_cert.to_string(), key.to_string());
        issue(&ca, include_bytes!("../testdata/jane-rsa.csr"), &["client auth"]);
    }
    let ec = (
        include_str!("../testdata/ec384-ca.crt").to_string(),
        include_str!("../testdata/ec384-ca.sec1.key").to_string(),
    );
    let der = issue(&ec, include_bytes!("../testdata/two-organizations.csr"), &["client auth"]);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    // ecdsa-with-SHA384, as Go signs with a P-384 key.
    assert_eq!(cert.signature_algorithm.algorithm.to_id_string(), "1.2.840.10045.4.3.3");
}

#[test]
fn a_key_of_another_certificate_or_no_key_is_refused() {
    let (cert, _) = ca();
    let (_, other_key) = ca();
    assert!(matches!(Authority::from_pem(&cert, &other_key), Err(AuthorityError::KeyMismatch)));
    assert!(matches!(Authority::from_pem(&cert, "nothing"), Err(AuthorityError::Key(_))));
    assert!(matches!(Authority::from_pem("nothing", &other_key), Err(AuthorityError::Certificate(_))));
    let authority =
        Authority::from_pem(include_str!("../testdata/rsa-ca.crt"), include_str!("../testdata/rsa-ca.pkcs1.key"))
            .unwrap();
    assert!(authority.not_after() > Utc::now());
    assert!(!format!("{authority:?}").contains("PRIVATE"));
}
