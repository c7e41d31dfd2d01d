//! The signing CA (upstream's `authority.CertificateAuthority` with its
//! `PermissiveSigningPolicy`): loads a certificate and key from PEM and issues
//! certificates for parsed requests.
//!
//! What an issued certificate holds, as upstream's: a random 128-bit serial; the
//! CA's subject as issuer and the request's subject, both byte for byte (several
//! `O` attributes are several groups); the request's public key and its DNS, email,
//! IP and URI names; the key usages and extended key usages of `spec.usages`;
//! basic constraints `CA:FALSE`; the CA's key identifier as authority key
//! identifier. Nothing else of the request (its other extensions) is copied.
//!
//! rcgen builds the certificate; as rcgen's subject type holds one value per
//! attribute type and re-encodes names, the issuer, subject and public key fields
//! are then replaced with the exact bytes and the result is signed again with the
//! CA's key (`resign`). The key may be ECDSA P-256/P-384, RSA or Ed25519, in PKCS#8,
//! PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) PEM.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RemoteKeyPair, SanType, SerialNumber, SignatureAlgorithm,
};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use rustls_pemfile::Item;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::request::CertRequest;
use skiff_der::{self as der, pem_encode, Malformed};

/// When an issued certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// Why the signing certificate and key cannot be used (a start-up error).
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("the signing certificate: {0}")]
    Certificate(String),
    #[error("the signing key: {0}")]
    Key(String),
    #[error("the signing key is not the private key of the signing certificate")]
    KeyMismatch,
    #[error("preparing the signing key: {0}")]
    Setup(#[source] rcgen::Error),
}

/// Why one certificate could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Upstream's `keyUsagesFromStrings` wording.
    #[error("unrecognized usage values: {0:?}")]
    UnrecognizedUsages(Vec<String>),
    #[error("unsupported public key algorithm in the request")]
    UnsupportedKey,
    #[error("building the certificate: {0}")]
    Build(#[source] rcgen::Error),
    #[error("re-encoding the certificate: {0}")]
    Malformed(#[from] Malformed),
    #[error("signing with the CA key failed")]
    Sign,
}

/// A CA certificate and its key, ready to sign.
pub struct Authority {
    key: Arc<CaKey>,
    /// The same key as rcgen sees it (signing through `key`).
    rcgen_key: KeyPair,
    /// An rcgen certificate standing for the CA: rcgen takes the issuer's key
    /// identifier from it; its name is replaced by `subject_der`.
    issuer: rcgen::Certificate,
    subject_der: Vec<u8>,
    has_key_id: bool,
    not_after: DateTime<Utc>,
}

impl fmt::Debug for Authority {
    // The key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority").field("not_after", &self.not_after).finish_non_exhaustive()
    }
}

impl Authority {
    /// The CA in `cert_pem` (its first certificate) with the key in `key_pem`.
    ///
    /// # Errors
    /// [`AuthorityError::Certificate`] when there is no parsable certificate,
    /// [`AuthorityError::Key`] when the key is unreadable or of an unsupported
    /// kind, [`AuthorityError::KeyMismatch`] when they do not belong together.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Authority, AuthorityError> {
        let block = match Pem::iter_from_buffer(cert_pem.as_bytes()).next() {
            Some(Ok(block)) if block.label == "CERTIFICATE" => block,
            _ => return Err(AuthorityError::Certificate("no CERTIFICATE PEM block".into())),
        };
        let (_, cert) =
            X509Certificate::from_der(&block.contents).map_err(|e| AuthorityError::Certificate(e.to_string()))?;
        let key = Arc::new(CaKey::from_pem(key_pem).map_err(AuthorityError::Key)?);
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key() {
            return Err(AuthorityError::KeyMismatch);
        }
        let key_id = cert.tbs_certificate.extensions().iter().find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        });
        let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
            .ok_or_else(|| AuthorityError::Certificate("expiry out of range".into()))?;
        let rcgen_key = KeyPair::from_remote(Box::new(Remote(key.clone()))).map_err(AuthorityError::Setup)?;
        let mut params = CertificateParams::default();
        params.key_identifier_method = KeyIdMethod::PreSpecified(key_id.clone().unwrap_or_default());
        let issuer = params.self_signed(&rcgen_key).map_err(AuthorityError::Setup)?;
        Ok(Authority {
            key,
            rcgen_key,
            issuer,
            subject_der: cert.subject().as_raw().to_vec(),
            has_key_id: key_id.is_some(),
            not_after,
        })
    }

    /// When the CA itself expires: no certificate it issues outlives it.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// Issues a certificate for `request` with `usages` (upstream's names) and
    /// `validity`. Returns it as PEM.
    ///
    /// # Errors
    /// [`SignError::UnrecognizedUsages`] for a usage upstream does not know,
    /// [`SignError::UnsupportedKey`] for a public key rcgen cannot carry, else
    /// errors that mean a bug or a broken CA key.
    pub fn sign(&self, request: &CertRequest, usages: &[String], validity: &Validity) -> Result<String, SignError> {
        let (key_usages, extended) = key_usages(usages)?;
        let public_key =
            rcgen::SubjectPublicKeyInfo::from_der(&request.spki_der).map_err(|_| SignError::UnsupportedKey)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.serial_number = Some(SerialNumber::from_slice(&serial()?));
        params.not_before = offset(validity.not_before);
        params.not_after = offset(validity.not_after);
        // Go's order: DNS names, emails, IP addresses, URIs. All were checked ASCII.
        let ia5 = |s: &String| s.as_str().try_into().map_err(SignError::Build);
        for name in &request.dns_names {
            params.subject_alt_names.push(SanType::DnsName(ia5(name)?));
        }
        for email in &request.emails {
            params.subject_alt_names.push(SanType::Rfc822Name(ia5(email)?));
        }
        params.subject_alt_names.extend(request.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        for uri in &request.uris {
            params.subject_alt_names.push(SanType::URI(ia5(uri)?));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = key_usages;
        params.extended_key_usages = extended;
        params.use_authority_key_identifier_extension = self.has_key_id;
        let built = params.signed_by(&public_key, &self.issuer, &self.rcgen_key).map_err(SignError::Build)?;
        let der = resign(built.der(), &self.subject_der, &request.subject_der, &request.spki_der, &self.key)?;
        Ok(pem_encode("CERTIFICATE", &der))
    }
}

/// `cert` with its issuer, subject and public key replaced, signed again by `key`
/// with the signature algorithm it already names.
fn resign(cert: &[u8], issuer: &[u8], subject: &[u8], spki: &[u8], key: &CaKey) -> Result<Vec<u8>, SignError> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let parts = der::elements(der::contents(cert, der::SEQUENCE)?)?;
    let [tbs, algorithm, _] = parts[..] else { return Err(Malformed.into()) };
    // TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer,
    //                               validity, subject, subjectPublicKeyInfo, [3] extensions }
    let mut fields = der::elements(der::contents(tbs, der::SEQUENCE)?)?;
    if fields.len() < 7 {
        return Err(Malformed.into());
    }
    fields[3] = issuer;
    fields[5] = subject;
    fields[6] = spki;
    let tbs = der::tlv(der::SEQUENCE, &fields.concat());
    let signature = key.sign(&tbs).map_err(|_| SignError::Sign)?;
    let mut bits = vec![0u8]; // no unused bits
    bits.extend_from_slice(&signature);
    Ok(der::tlv(der::SEQUENCE, &[tbs, algorithm.to_vec(), der::tlv(der::BIT_STRING, &bits)].concat()))
}

/// Upstream's `keyUsagesFromStrings`: key usages and extended key usages (in Go's
/// order, without repeats) of `usages`.
fn key_usages(usages: &[String]) -> Result<(Vec<KeyUsagePurpose>, Vec<ExtendedKeyUsagePurpose>), SignError> {
    use ExtendedKeyUsagePurpose as E;
    use KeyUsagePurpose as K;
    let mut key = Vec::new();
    // Go's ExtKeyUsage numbering, which is the order it writes them in.
    let mut extended: Vec<(u8, E)> = Vec::new();
    let mut unrecognized = Vec::new();
    for usage in usages {
        let k = match usage.as_str() {
            "signing" | "digital signature" => Some(K::DigitalSignature),
            "content commitment" => Some(K::ContentCommitment),
            "key encipherment" => Some(K::KeyEncipherment),
            "key agreement" => Some(K::KeyAgreement),
            "data encipherment" => Some(K::DataEncipherment),
            "cert sign" => Some(K::KeyCertSign),
            "crl sign" => Some(K::CrlSign),
            "encipher only" => Some(K::EncipherOnly),
            "decipher only" => Some(K::DecipherOnly),
            _ => None,
        };
        let e = match usage.as_str() {
            "any" => Some((0, E::Any)),
            "server auth" => Some((1, E::ServerAuth)),
            "client auth" => Some((2, E::ClientAuth)),
            "code signing" => Some((3, E::CodeSigning)),
            "email protection" | "s/mime" => Some((4, E::EmailProtection)),
            "ipsec end system" => Some((5, E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 5]))),
            "ipsec tunnel" => Some((6, E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 6]))),
            "ipsec user" => Some((7, E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 7]))),
            "timestamping" => Some((8, E::TimeStamping)),
            "ocsp signing" => Some((9, E::OcspSigning)),
            "microsoft sgc" => Some((10, E::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 3]))),
            "netscape sgc" => Some((11, E::Other(vec![2, 16, 840, 1, 113730, 4, 1]))),
            _ => None,
        };
        match (k, e) {
            (Some(k), _) if !key.contains(&k) => key.push(k),
            (Some(_), _) => {}
            (None, Some(e)) if !extended.contains(&e) => extended.push(e),
            (None, Some(_)) => {}
            (None, None) => unrecognized.push(usage.clone()),
        }
    }
    if !unrecognized.is_empty() {
        return Err(SignError::UnrecognizedUsages(unrecognized));
    }
    extended.sort_by_key(|(n, _)| *n);
    Ok((key, extended.into_iter().map(|(_, e)| e).collect()))
}

/// A random positive 128-bit serial number (upstream's range).
fn serial() -> Result<[u8; 16], SignError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).map_err(|_| SignError::Sign)?;
    // Never zero (RFC 5280 wants positive serials).
    bytes[15] |= 1;
    Ok(bytes)
}

fn offset(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The CA's private key, as ring signs with it.
enum CaKey {
    Ecdsa(EcdsaKeyPair, &'static SignatureAlgorithm),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// DER of the AlgorithmIdentifier `id-ecPublicKey` with the named curve `curve`
/// (an encoded OBJECT IDENTIFIER), for wrapping SEC1 keys into PKCS#8.
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

impl CaKey {
    fn from_pem(pem: &str) -> Result<CaKey, String> {
        let mut reader = pem.as_bytes();
        loop {
            match rustls_pemfile::read_one(&mut reader) {
                Ok(Some(Item::Pkcs1Key(k))) => {
                    return RsaKeyPair::from_der(k.secret_pkcs1_der())
                        .map(CaKey::Rsa)
                        .map_err(|e| format!("RSA key: {e}"))
                }
                Ok(Some(Item::Pkcs8Key(k))) => return CaKey::from_pkcs8(k.secret_pkcs8_der()),
                Ok(Some(Item::Sec1Key(k))) => return CaKey::from_sec1(k.secret_sec1_der()),
                Ok(Some(_)) => continue,
                Ok(None) => return Err("no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY PEM block".into()),
                Err(e) => return Err(format!("malformed PEM: {e:?}")),
            }
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<CaKey, String> {
        if let Some(key) = CaKey::ecdsa(der) {
            return Ok(key);
        }
        if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            return Ok(CaKey::Rsa(pair));
        }
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(CaKey::Ed25519)
            .map_err(|_| "not an ECDSA P-256/P-384, RSA or Ed25519 key".to_string())
    }

    /// A SEC1 key wrapped into PKCS#8 for each curve ring signs with.
    fn from_sec1(sec1: &[u8]) -> Result<CaKey, String> {
        [P256, P384]
            .into_iter()
            .find_map(|curve| {
                let algorithm = der::tlv(der::SEQUENCE, &[EC_PUBLIC_KEY, curve].concat());
                let body = [der::tlv(der::INTEGER, &[0]), algorithm, der::tlv(der::OCTET_STRING, sec1)].concat();
                CaKey::ecdsa(&der::tlv(der::SEQUENCE, &body))
            })
            .ok_or_else(|| "not a P-256 or P-384 EC key that includes its public key".to_string())
    }

    fn ecdsa(pkcs8: &[u8]) -> Option<CaKey> {
        let rng = SystemRandom::new();
        [
            (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rcgen::PKCS_ECDSA_P256_SHA256),
            (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, &rcgen::PKCS_ECDSA_P384_SHA384),
        ]
        .into_iter()
        .find_map(|(alg, rcgen_alg)| {
            EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).ok().map(|k| CaKey::Ecdsa(k, rcgen_alg))
        })
    }

    /// The public key as it appears in a certificate's SubjectPublicKeyInfo.
    fn public_key(&self) -> &[u8] {
        match self {
            CaKey::Ecdsa(k, _) => k.public_key().as_ref(),
            CaKey::Rsa(k) => k.public_key().as_ref(),
            CaKey::Ed25519(k) => k.public_key().as_ref(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::Ecdsa(_, alg) => alg,
            CaKey::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            CaKey::Ed25519(_) => &rcgen::PKCS_ED25519,
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        let rng = SystemRandom::new();
        match self {
            CaKey::Ecdsa(k, _) => Ok(k.sign(&rng, msg)?.as_ref().to_vec()),
            CaKey::Rsa(k) => {
                let mut out = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut out)?;
                Ok(out)
            }
            CaKey::Ed25519(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

/// The CA key as rcgen signs with it.
struct Remote(Arc<CaKey>);

impl RemoteKeyPair for Remote {
    fn public_key(&self) -> &[u8] {
        self.0.public_key()
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg).map_err(|_| rcgen::Error::RingUnspecified)
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

#[cfg(test)]
mod tests;
