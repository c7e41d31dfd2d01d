//! Client certificates with several `O` (group) attributes.
//!
//! Kubernetes reads a client certificate's groups from its subject's Organization
//! attributes, one group per attribute. rcgen's `DistinguishedName` holds one value per
//! attribute type, so for client certificates we let rcgen build and sign the certificate,
//! then replace its subject with our own encoding and sign the result again with the CA key.
//! The rest of the certificate (serial, validity, key, extensions) is kept byte for byte.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use skiff_der::{contents, split_first as split_tlv, tlv, Malformed, BIT_STRING, OID, SEQUENCE, SET, UTF8_STRING};
/// id-at-commonName (2.5.4.3) and id-at-organizationName (2.5.4.10), encoded.
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
const OID_ORGANIZATION: [u8; 3] = [0x55, 0x04, 0x0a];

/// Why a certificate could not be rewritten (a bug or an unsupported CA key, never bad input
/// from a client).
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    #[error("malformed DER in the certificate being rewritten")]
    Malformed,
    #[error("the CA key is not an ECDSA P-256 key (the only kind skiff generates)")]
    UnsupportedCaKey,
    #[error("signing with the CA key failed")]
    Sign,
}

/// The DER of a Name `O=<group>, ..., CN=<cn>`: one attribute per RDN, Organizations
/// first, as Go's `pkix.Name` writes it (order does not matter to readers).
pub fn encode_name(common_name: &str, organizations: &[&str]) -> Vec<u8> {
    let mut rdns = Vec::new();
    for org in organizations {
        rdns.extend(rdn(&OID_ORGANIZATION, org));
    }
    rdns.extend(rdn(&OID_COMMON_NAME, common_name));
    tlv(SEQUENCE, &rdns)
}

fn rdn(oid: &[u8], value: &str) -> Vec<u8> {
    let mut attr = tlv(OID, oid);
    attr.extend(tlv(UTF8_STRING, value.as_bytes()));
    tlv(SET, &tlv(SEQUENCE, &attr))
}

/// Returns `cert_der` with its subject replaced by `subject_der`, signed again with
/// `ca_pkcs8` (an ECDSA P-256 key in PKCS#8, matching the certificate's signature algorithm).
///
/// # Errors
/// `Malformed` if `cert_der` is not a certificate, `UnsupportedCaKey` if the key is not
/// ECDSA P-256, `Sign` if signing fails.
pub fn replace_subject(cert_der: &[u8], subject_der: &[u8], ca_pkcs8: &[u8]) -> Result<Vec<u8>, SubjectError> {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, ca_pkcs8, &rng)
        .map_err(|_| SubjectError::UnsupportedCaKey)?;

    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let cert = contents(cert_der, SEQUENCE)?;
    let (tbs, rest) = split_tlv(cert)?;
    let (sig_alg, _old_signature) = split_tlv(rest)?;

    // TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity,
    //                               subject, subjectPublicKeyInfo, ... }
    // rcgen always writes the version, so the subject is the sixth element.
    let tbs_body = contents(tbs, SEQUENCE)?;
    let mut offset = 0;
    for _ in 0..5 {
        let (element, _) = split_tlv(&tbs_body[offset..])?;
        offset += element.len();
    }
    let (old_subject, after_subject) = split_tlv(&tbs_body[offset..])?;
    if old_subject.first() != Some(&SEQUENCE) {
        return Err(SubjectError::Malformed);
    }
    let mut new_tbs_body = tbs_body[..offset].to_vec();
    new_tbs_body.extend_from_slice(subject_der);
    new_tbs_body.extend_from_slice(after_subject);
    let new_tbs = tlv(SEQUENCE, &new_tbs_body);

    let signature = key.sign(&rng, &new_tbs).map_err(|_| SubjectError::Sign)?;
    let mut bits = vec![0u8]; // no unused bits in the BIT STRING
    bits.extend_from_slice(signature.as_ref());

    let mut body = new_tbs;
    body.extend_from_slice(sig_alg);
    body.extend(tlv(BIT_STRING, &bits));
    Ok(tlv(SEQUENCE, &body))
}

impl From<Malformed> for SubjectError {
    fn from(_: Malformed) -> SubjectError {
        SubjectError::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    #[test]
    fn name_with_several_organizations_parses_back_in_order() {
        let name = encode_name("alice", &["dev", "ops", "system:masters"]);
        let (rest, parsed) = X509Name::from_der(&name).unwrap();
        assert!(rest.is_empty());
        let cn: Vec<_> = parsed.iter_common_name().map(|a| a.as_str().unwrap()).collect();
        let orgs: Vec<_> = parsed.iter_organization().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(cn, ["alice"]);
        assert_eq!(orgs, ["dev", "ops", "system:masters"]);
    }

    #[test]
    fn long_values_use_multi_byte_lengths() {
        let long = "g".repeat(300);
        let name = encode_name(&long, &[]);
        let (_, parsed) = X509Name::from_der(&name).unwrap();
        assert_eq!(parsed.iter_common_name().next().unwrap().as_str().unwrap(), long);
    }

    #[test]
    fn truncated_certificate_is_malformed_not_a_panic() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap().self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        for cut in [0, 1, 5, der.len() / 2, der.len() - 1] {
            let result = replace_subject(&der[..cut], &encode_name("a", &[]), &key.serialize_der());
            assert!(matches!(result, Err(SubjectError::Malformed)), "cut at {cut}");
        }
    }
}
