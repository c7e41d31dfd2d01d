//! CertificateSigningRequests (`ValidateCertificateSigningRequestCreate` and
//! `...Update`). The request and any issued certificate are read as Go's
//! `encoding/pem` reads them; the DER inside is not parsed (no X.509 parser is at
//! hand), so a well-framed block of garbage, or a request whose signature does not
//! verify, passes here where upstream rejects it.
//!
//! Which subresource an update came through is not known here, so the rules that
//! depend on it (only `/approval` may add or change Approved and Denied
//! conditions, only `/status` may set the certificate) are left to the handlers;
//! the rules that hold for every path are checked.

use std::collections::HashSet;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::{json, Value};

use super::common::{dns1123_label, dns1123_subdomain, invalid_shown, set, text};
use super::gostr;
use crate::Cause;

const LEGACY_SIGNER: &str = "kubernetes.io/legacy-unknown";
const USAGES: [&str; 23] = [
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];
/// Condition types that may only be `True`.
const TRUE_ONLY: [&str; 3] = ["Approved", "Denied", "Failed"];

/// Go's `base64.StdEncoding`: padded, line breaks ignored, loose about the bits
/// of the last symbol.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

fn go_base64(data: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = data.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    GO_STD.decode(clean).ok()
}

/// A `[]byte` field as Go decodes it from JSON: absent or null is nil.
fn bytes_field(v: Option<&Value>, key: &str) -> Option<Vec<u8>> {
    set(v, key).and_then(Value::as_str).map(|s| go_base64(s.as_bytes()).unwrap_or_default())
}

/// One PEM block: its type, whether it has headers, and its bytes.
struct Block {
    kind: String,
    headers: bool,
}

/// Go's `pem.Decode`: the first well-formed block in `data`, and what follows it.
fn pem_decode(data: &[u8]) -> Option<(Block, &[u8])> {
    const START: &[u8] = b"\n-----BEGIN ";
    const END: &[u8] = b"\n-----END ";
    const DASHES: &[u8] = b"-----";
    let mut rest = data;
    loop {
        if rest.starts_with(&START[1..]) {
            rest = &rest[START.len() - 1..];
        } else if let Some(i) = find(rest, START) {
            rest = &rest[i + START.len()..];
        } else {
            return None;
        }
        let (type_line, after) = line(rest);
        rest = after;
        let Some(kind) = type_line.strip_suffix(DASHES) else { continue };
        let mut headers = false;
        loop {
            if rest.is_empty() {
                return None;
            }
            let (l, next) = line(rest);
            if !l.contains(&b':') {
                break;
            }
            headers = true;
            rest = next;
        }
        let (end, trailer_at) = if !headers && rest.starts_with(&END[1..]) {
            (0, END.len() - 1)
        } else {
            match find(rest, END) {
                Some(i) => (i, i + END.len()),
                None => continue,
            }
        };
        let trailer = &rest[trailer_at..];
        let trailer_len = kind.len() + DASHES.len();
        if trailer.len() < trailer_len {
            continue;
        }
        let (trailer, rest_of_line) = trailer.split_at(trailer_len);
        if !trailer.starts_with(kind) || !trailer.ends_with(DASHES) || !line(rest_of_line).0.is_empty() {
            continue;
        }
        let body: Vec<u8> = rest[..end].iter().copied().filter(|b| *b != b' ' && *b != b'\t').collect();
        if go_base64(&body).is_none() {
            continue;
        }
        let (_, after) = line(&rest[end + END.len() - 1..]);
        let kind = String::from_utf8_lossy(kind).into_owned();
        return Some((Block { kind, headers }, after));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Go's `getLine`: up to `\n` (or `\r\n`), trailing spaces and tabs trimmed.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut i, j) = match data.iter().position(|b| *b == b'\n') {
        None => (data.len(), data.len()),
        Some(i) if i > 0 && data[i - 1] == b'\r' => (i - 1, i + 1),
        Some(i) => (i, i + 1),
    };
    while i > 0 && matches!(data[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    (&data[..i], &data[j..])
}

/// `certificates.ParseCSR`, up to the PEM framing.
fn parse_csr(request: &[u8]) -> Result<(), &'static str> {
    match pem_decode(request) {
        Some((block, _)) if block.kind == "CERTIFICATE REQUEST" => Ok(()),
        _ => Err("PEM block type must be CERTIFICATE REQUEST"),
    }
}

/// `validateCertificate`: empty, or only header-less CERTIFICATE blocks.
fn certificate_error(mut pem: &[u8]) -> Option<String> {
    if pem.is_empty() {
        return None;
    }
    let mut blocks = 0;
    while let Some((block, rest)) = pem_decode(pem) {
        if block.kind != "CERTIFICATE" {
            return Some(format!("only CERTIFICATE PEM blocks are allowed, found {:?}", block.kind));
        }
        if block.headers {
            return Some("no PEM block headers are permitted".into());
        }
        blocks += 1;
        pem = rest;
    }
    (blocks == 0).then(|| "must contain at least one CERTIFICATE PEM block".into())
}

fn usages(csr: &Value) -> Vec<&str> {
    csr.pointer("/spec/usages").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

fn conditions(csr: &Value) -> &[Value] {
    csr.pointer("/status/conditions").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn condition_type(c: &Value) -> &str {
    text(Some(c), "type").unwrap_or("")
}

fn certificate(csr: &Value) -> Vec<u8> {
    bytes_field(csr.get("status"), "certificate").unwrap_or_default()
}

/// What an update tolerates because the stored object already had it.
#[derive(Default)]
struct Tolerated {
    both_approved_and_denied: bool,
    legacy_signer: bool,
    duplicate_condition_types: bool,
    empty_condition_type: bool,
    arbitrary_certificate: bool,
    unknown_usages: bool,
    duplicate_usages: bool,
}

fn has_duplicates<'a>(items: impl Iterator<Item = &'a str>) -> bool {
    let mut seen = HashSet::new();
    items.into_iter().any(|i| !seen.insert(i))
}

fn tolerated(new: &Value, old: Option<&Value>) -> Tolerated {
    let Some(old) = old else { return Tolerated::default() };
    let types = || conditions(old).iter().map(condition_type);
    let old_certificate = certificate(old);
    Tolerated {
        both_approved_and_denied: types().any(|t| t == "Approved") && types().any(|t| t == "Denied"),
        legacy_signer: text(old.get("spec"), "signerName") == Some(LEGACY_SIGNER),
        duplicate_condition_types: has_duplicates(types()),
        empty_condition_type: types().any(str::is_empty),
        arbitrary_certificate: certificate(new) == old_certificate || certificate_error(&old_certificate).is_some(),
        unknown_usages: usages(old).iter().any(|u| !USAGES.contains(u)),
        duplicate_usages: has_duplicates(usages(old).into_iter()),
    }
}

pub fn csr(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let allow = tolerated(obj, old);
    let spec = obj.get("spec");
    let request = bytes_field(spec, "request");
    if let Err(e) = parse_csr(request.as_deref().unwrap_or_default()) {
        causes.push(invalid_shown("spec.request", gostr::bytes(request.as_deref()), e));
    }
    let list = usages(obj);
    if list.is_empty() {
        causes.push(Cause::required("spec.usages"));
    }
    if !allow.unknown_usages {
        let mut supported = USAGES;
        supported.sort_unstable();
        for (i, u) in list.iter().enumerate().filter(|(_, u)| !USAGES.contains(u)) {
            causes.push(Cause::not_supported(format!("spec.usages[{i}]"), &json!(u), &supported));
        }
    }
    if !allow.duplicate_usages {
        let mut seen = HashSet::new();
        for (i, u) in list.iter().enumerate().filter(|(_, u)| !seen.insert(**u)) {
            causes.push(Cause::duplicate(format!("spec.usages[{i}]"), &json!(u)));
        }
    }
    let signer = text(spec, "signerName").unwrap_or("");
    if !allow.legacy_signer && signer == LEGACY_SIGNER {
        causes.push(Cause::invalid(
            "spec.signerName",
            &json!(signer),
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        signer_name(signer, causes);
    }
    if let Some(seconds) = set(spec, "expirationSeconds").filter(|s| s.as_i64().is_some_and(|s| s < 600)) {
        causes.push(Cause::invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    condition_checks(obj, &allow, causes);
    let cert = certificate(obj);
    if !allow.arbitrary_certificate {
        if let Some(e) = certificate_error(&cert) {
            causes.push(Cause::invalid("status.certificate", &json!("<certificate data>"), e));
        }
    }
    if let Some(old) = old {
        for t in TRUE_ONLY {
            let count = |csr: &Value| conditions(csr).iter().filter(|c| condition_type(c) == t).count();
            if count(obj) < count(old) {
                causes.push(Cause::forbidden(
                    "status.conditions",
                    format!("updates may not remove a condition of type {t:?}"),
                ));
            }
        }
        let old_cert = certificate(old);
        if cert != old_cert && !old_cert.is_empty() {
            causes.push(Cause::forbidden("status.certificate", "updates may not modify existing certificate content"));
        }
    }
}

fn condition_checks(obj: &Value, allow: &Tolerated, causes: &mut Vec<Cause>) {
    let (mut approved, mut denied) = (false, false);
    let mut seen = HashSet::new();
    for (i, c) in conditions(obj).iter().enumerate() {
        let at = format!("status.conditions[{i}]");
        let t = condition_type(c);
        if !allow.empty_condition_type && t.is_empty() {
            causes.push(Cause::required(format!("{at}.type")));
        }
        let supported: &[&str] = if TRUE_ONLY.contains(&t) { &["True"] } else { &["False", "True", "Unknown"] };
        match text(Some(c), "status").unwrap_or("") {
            "" => causes.push(Cause::required(format!("{at}.status"))),
            s if !supported.contains(&s) => {
                causes.push(Cause::not_supported(format!("{at}.status"), &json!(s), supported))
            }
            _ => {}
        }
        if !allow.both_approved_and_denied {
            let clash = match t {
                "Approved" => {
                    approved = true;
                    denied
                }
                "Denied" => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if clash {
                causes.push(Cause::invalid(
                    format!("{at}.type"),
                    &json!(t),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !allow.duplicate_condition_types && !seen.insert(t) {
            causes.push(Cause::duplicate(format!("{at}.type"), &json!(t)));
        }
    }
}

/// `ValidateSignerName`: `<domain with a dot>/<path of subdomains>`.
fn signer_name(signer: &str, causes: &mut Vec<Cause>) {
    let at = "spec.signerName";
    if signer.is_empty() {
        causes.push(Cause::required(at));
        return;
    }
    let Some((domain, path)) = signer.split_once('/').filter(|(_, p)| !p.contains('/')) else {
        causes.push(Cause::invalid(
            at,
            &json!(signer),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return;
    };
    if domain.len() > 253 {
        causes.push(Cause::too_long(at, &json!(""), 253));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    // Upstream stops at the first bad label: the rest would repeat its errors.
    if let Some((label, errs)) = labels.iter().map(|l| (l, dns1123_label(l))).find(|(_, e)| !e.is_empty()) {
        for e in errs {
            causes.push(Cause::invalid(at, &json!(domain), format!("validating label {label:?}: {e}")));
        }
    }
    if labels.len() < 2 {
        causes.push(Cause::invalid(
            at,
            &json!(domain),
            "should be a domain with at least two segments separated by dots",
        ));
    }
    if let Some((label, errs)) = path.split('.').map(|l| (l, dns1123_subdomain(l))).find(|(_, e)| !e.is_empty()) {
        for e in errs {
            causes.push(Cause::invalid(at, &json!(path), format!("validating label {label:?}: {e}")));
        }
    }
    let max = 253 + (253 + 63 + 1) + 1;
    if signer.len() > max {
        causes.push(Cause::too_long(at, &json!(""), max));
    }
}

#[cfg(test)]
mod tests;
