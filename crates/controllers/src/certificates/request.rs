//! A CSR's `spec.request` read as upstream reads it (`ParseCSR`, then
//! `CheckSignature`): the first PEM block, which must be a `CERTIFICATE REQUEST`,
//! parsed as PKCS#10, its self-signature verified. What the signer needs of it is
//! kept: the subject (raw, to copy into the certificate byte for byte, and the
//! common name and organizations the signers check) and the public key and
//! subject alternative names it asks for.

use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

/// A parsed, signature-checked certificate request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRequest {
    /// The subject Name, DER, as the requester wrote it.
    pub subject_der: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// The subject's common name (the last, as Go's `pkix.Name` keeps it).
    pub common_name: String,
    /// The subject's organizations, in order (Kubernetes reads them as groups).
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub emails: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub uris: Vec<String>,
}

/// Why a request cannot be signed, ever: it is marked Failed with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Upstream's `ParseCSR` wording.
    #[error("PEM block type must be CERTIFICATE REQUEST")]
    NotPem,
    #[error("unable to parse certificate request: {0}")]
    Parse(String),
    #[error("unable to verify certificate request signature: {0}")]
    Signature(String),
}

/// Reads `pem` (the bytes of `spec.request`).
///
/// # Errors
/// [`RequestError::NotPem`] without a `CERTIFICATE REQUEST` block first,
/// [`RequestError::Parse`] when the block is not a PKCS#10 request (or names a
/// SAN that cannot be one), [`RequestError::Signature`] when its signature does not
/// verify or uses an algorithm ring lacks (RSA PKCS#1, ECDSA P-256/P-384, Ed25519
/// are supported).
pub fn parse(pem: &[u8]) -> Result<CertRequest, RequestError> {
    let block = match Pem::iter_from_buffer(pem).next() {
        Some(Ok(block)) if block.label == "CERTIFICATE REQUEST" => block,
        _ => return Err(RequestError::NotPem),
    };
    let request = match X509CertificationRequest::from_der(&block.contents) {
        Ok(([], request)) => request,
        Ok(_) => return Err(RequestError::Parse("trailing data after the request".into())),
        Err(e) => return Err(RequestError::Parse(e.to_string())),
    };
    request.verify_signature().map_err(|e| RequestError::Signature(e.to_string()))?;
    let info = &request.certification_request_info;
    let strings = |attrs: Vec<&x509_parser::x509::AttributeTypeAndValue<'_>>| -> Vec<String> {
        attrs.into_iter().filter_map(|a| a.as_str().ok().map(str::to_string)).collect()
    };
    let mut out = CertRequest {
        subject_der: info.subject.as_raw().to_vec(),
        spki_der: info.subject_pki.raw.to_vec(),
        common_name: strings(info.subject.iter_common_name().collect()).pop().unwrap_or_default(),
        organizations: strings(info.subject.iter_organization().collect()),
        dns_names: Vec::new(),
        emails: Vec::new(),
        ips: Vec::new(),
        uris: Vec::new(),
    };
    for extension in request.requested_extensions().into_iter().flatten() {
        match extension {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    add_name(&mut out, name)?;
                }
            }
            ParsedExtension::ParseError { error } => {
                return Err(RequestError::Parse(format!("malformed requested extension: {error}")))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Keeps a SAN of the four kinds Go's `x509.CertificateRequest` has.
fn add_name(out: &mut CertRequest, name: &GeneralName<'_>) -> Result<(), RequestError> {
    // The string kinds are IA5String (ASCII); x509-parser also lets UTF-8 through,
    // which could not be written into a certificate.
    let ia5 = |kind: &str, s: &str| {
        if s.is_ascii() {
            Ok(s.to_string())
        } else {
            Err(RequestError::Parse(format!("{kind} SAN {s:?} is not an IA5String")))
        }
    };
    match name {
        GeneralName::DNSName(s) => out.dns_names.push(ia5("DNS", s)?),
        GeneralName::RFC822Name(s) => out.emails.push(ia5("email", s)?),
        GeneralName::URI(s) => out.uris.push(ia5("URI", s)?),
        GeneralName::IPAddress(bytes) => {
            let ip = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).map(IpAddr::from).ok(),
                16 => <[u8; 16]>::try_from(*bytes).map(IpAddr::from).ok(),
                _ => None,
            };
            let ip =
                ip.ok_or_else(|| RequestError::Parse(format!("cannot parse IP address of length {}", bytes.len())))?;
            out.ips.push(ip);
        }
        // Go drops the other kinds, and so does the certificate.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn pem(subject: &[(DnType, &str)], sans: Vec<SanType>) -> String {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (ty, value) in subject {
            params.distinguished_name.push(ty.clone(), *value);
        }
        params.subject_alt_names = sans;
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn subject_key_and_alternative_names_are_read() {
        let sans = vec![
            SanType::DnsName("node1.example".try_into().unwrap()),
            SanType::IpAddress("10.0.0.7".parse().unwrap()),
            SanType::IpAddress("fd00::7".parse().unwrap()),
            SanType::Rfc822Name("a@example.com".try_into().unwrap()),
            SanType::URI("spiffe://cluster/x".try_into().unwrap()),
        ];
        let pem = pem(&[(DnType::CommonName, "system:node:node1"), (DnType::OrganizationName, "system:nodes")], sans);
        let req = parse(pem.as_bytes()).unwrap();
        assert_eq!(req.common_name, "system:node:node1");
        assert_eq!(req.organizations, ["system:nodes"]);
        assert_eq!(req.dns_names, ["node1.example"]);
        assert_eq!(req.ips, ["10.0.0.7".parse::<IpAddr>().unwrap(), "fd00::7".parse().unwrap()]);
        assert_eq!(req.emails, ["a@example.com"]);
        assert_eq!(req.uris, ["spiffe://cluster/x"]);
        assert_eq!(req.subject_der[0], 0x30);
        assert_eq!(req.spki_der[0], 0x30);
    }

    #[test]
    fn several_organizations_are_all_kept() {
        let req = parse(include_bytes!("testdata/two-organizations.csr")).unwrap();
        assert_eq!(req.common_name, "jane");
        assert_eq!(req.organizations, ["dev", "ops"]);
    }

    #[test]
    fn openssl_rsa_requests_verify() {
        let req = parse(include_bytes!("testdata/jane-rsa.csr")).unwrap();
        assert_eq!((req.common_name.as_str(), req.organizations.as_slice()), ("jane", &["dev".to_string()][..]));
        assert!(req.dns_names.is_empty() && req.ips.is_empty());
    }

    #[test]
    fn garbage_and_wrong_blocks_are_errors() {
        assert_eq!(parse(b"not pem at all"), Err(RequestError::NotPem));
        let cert = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        assert_eq!(parse(cert.cert.pem().as_bytes()), Err(RequestError::NotPem));
        let junk = "-----BEGIN CERTIFICATE REQUEST-----\nAAECAwQF\n-----END CERTIFICATE REQUEST-----\n";
        assert!(matches!(parse(junk.as_bytes()), Err(RequestError::Parse(_))));
    }

    #[test]
    fn a_tampered_request_fails_its_signature_check() {
        let good = pem(&[(DnType::CommonName, "jane")], vec![]);
        let block = Pem::iter_from_buffer(good.as_bytes()).next().unwrap().unwrap();
        let mut der = block.contents.clone();
        // "jane" → "jana": the subject no longer matches what was signed.
        let at = der.windows(4).position(|w| w == b"jane").unwrap();
        der[at + 3] = b'a';
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let tampered = format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n");
        assert!(
            matches!(parse(tampered.as_bytes()), Err(RequestError::Signature(_))),
            "{:?}",
            parse(tampered.as_bytes())
        );
    }
}
