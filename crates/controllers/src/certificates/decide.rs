//! What the CSR signer and the CSR cleaner decide, as pure functions of a
//! CertificateSigningRequest and the time (upstream's `signer.handle`,
//! `ValidateKubeletServingCSR`/`ValidateKubeletClientCSR`,
//! `PermissiveSigningPolicy` and `cleaner.go`).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};

use super::authority::Validity;
use super::request::{self, CertRequest};

/// Client certificates for the API server: any subject.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// Kubelets' client certificates: `system:node:<name>` in `system:nodes`.
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Kubelets' serving certificates.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
/// The signers this controller serves (upstream's built-in ones; a v1 client cannot
/// ask for `kubernetes.io/legacy-unknown`, so that one is not served).
pub const SIGNERS: [&str; 3] = [KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING];

/// Upstream's `--cluster-signing-duration` default: 8760h.
pub const DEFAULT_DURATION: Duration = Duration::hours(8760);
/// Issued certificates start this long before now, for clocks that lag.
pub const BACKDATE: Duration = Duration::minutes(5);
/// Lifetimes below this are short: their end is not moved back by [`BACKDATE`].
pub const SHORT: Duration = Duration::hours(8);
/// The shortest lifetime `spec.expirationSeconds` gets (twice the backdate).
pub const MIN_DURATION: Duration = Duration::minutes(10);

/// The reason of the Failed condition the signer adds.
pub const FAILED_REASON: &str = "SignerValidationFailure";

/// What the signer does with one CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not for this signer now: not approved, denied, failed, already issued, or
    /// another signer's.
    Ignore,
    /// Never signable: add a `Failed` condition (reason [`FAILED_REASON`]) with this message.
    Fail(String),
    /// Issue a certificate.
    Sign { request: Box<CertRequest>, usages: Vec<String>, validity: Validity },
}

/// Why nothing can be signed right now (retried: a new CA may be configured).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the signer has expired: NotAfter={0}")]
    SignerExpired(DateTime<Utc>),
    #[error("refusing to sign a certificate that expired in the past: NotAfter={0}")]
    ExpiredInThePast(DateTime<Utc>),
}

/// The signer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The longest lifetime of an issued certificate (`--cluster-signing-duration`).
    pub duration: Duration,
    /// When the signing CA expires.
    pub ca_not_after: DateTime<Utc>,
}

/// Whether `csr` has a condition of type `kind` that is `True` (or has no status,
/// as upstream's `HasTrueCondition` counts it).
pub fn has_condition(csr: &CertificateSigningRequest, kind: &str) -> bool {
    conditions(csr).iter().any(|c| c.type_ == kind && (c.status.is_empty() || c.status == "True"))
}

fn conditions(csr: &CertificateSigningRequest) -> &[CertificateSigningRequestCondition] {
    csr.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default()
}

/// Whether a certificate was issued.
pub fn is_issued(csr: &CertificateSigningRequest) -> bool {
    csr.status.as_ref().and_then(|s| s.certificate.as_ref()).is_some_and(|c| !c.0.is_empty())
}

/// What the signer does with `csr` at `now`.
///
/// # Errors
/// [`PolicyError`] when the CA has expired.
pub fn decide(csr: &CertificateSigningRequest, policy: &Policy, now: DateTime<Utc>) -> Result<Decision, PolicyError> {
    let approved = has_condition(csr, "Approved") && !has_condition(csr, "Denied");
    if is_issued(csr) || !approved || has_condition(csr, "Failed") || !SIGNERS.contains(&csr.spec.signer_name.as_str())
    {
        return Ok(Decision::Ignore);
    }
    let request = match request::parse(&csr.spec.request.0) {
        Ok(request) => request,
        Err(e) => return Ok(Decision::Fail(e.to_string())),
    };
    let usages = csr.spec.usages.clone().unwrap_or_default();
    if let Err(message) = validate(&csr.spec.signer_name, &request, &usages) {
        return Ok(Decision::Fail(message));
    }
    let lifetime = lifetime(csr.spec.expiration_seconds, policy.duration);
    let validity = validity(now, lifetime, policy.ca_not_after)?;
    Ok(Decision::Sign { request: Box::new(request), usages, validity })
}

/// Whether `request` with `usages` is something `signer` issues; upstream's messages.
pub fn validate(signer: &str, request: &CertRequest, usages: &[String]) -> Result<(), String> {
    match signer {
        KUBE_APISERVER_CLIENT => validate_client_usages(usages),
        KUBE_APISERVER_CLIENT_KUBELET => validate_kubelet_client(request, usages),
        KUBELET_SERVING => validate_kubelet_serving(request, usages),
        other => Err(format!("unrecognized signerName: {other:?}")),
    }
}

fn validate_client_usages(usages: &[String]) -> Result<(), String> {
    let mut client_auth = false;
    for usage in usages {
        match usage.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => client_auth = true,
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    match client_auth {
        true => Ok(()),
        false => Err("missing required usage for client certificate: client auth".into()),
    }
}

const NODE_PREFIX: &str = "system:node:";
const NODES_GROUP: &str = "system:nodes";

/// `usages` equals `{digital signature, key encipherment, extra}` or
/// `{digital signature, extra}`; else upstream's message naming the first set.
fn node_usages(usages: &[String], extra: &str) -> Result<(), String> {
    let have: BTreeSet<&str> = usages.iter().map(String::as_str).collect();
    let with_rsa: BTreeSet<&str> = ["digital signature", "key encipherment", extra].into();
    let without_rsa: BTreeSet<&str> = ["digital signature", extra].into();
    if have == with_rsa || have == without_rsa {
        return Ok(());
    }
    Err(format!("usages did not match [{}]", with_rsa.into_iter().collect::<Vec<_>>().join(" ")))
}

fn validate_kubelet_client(request: &CertRequest, usages: &[String]) -> Result<(), String> {
    if request.organizations != [NODES_GROUP] {
        return Err("subject organization is not system:nodes".into());
    }
    if !request.dns_names.is_empty() {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if !request.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !request.ips.is_empty() {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if !request.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !request.common_name.starts_with(NODE_PREFIX) {
        return Err("subject common name does not begin with system:node:".into());
    }
    node_usages(usages, "client auth")
}

fn validate_kubelet_serving(request: &CertRequest, usages: &[String]) -> Result<(), String> {
    if request.organizations != [NODES_GROUP] {
        return Err("subject organization is not system:nodes".into());
    }
    if request.dns_names.is_empty() && request.ips.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if !request.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !request.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    node_usages(usages, "server auth")?;
    if !request.common_name.starts_with(NODE_PREFIX) {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}

/// How long the certificate lives: `spec.expirationSeconds` within
/// [[`MIN_DURATION`], `max`], or `max` without it.
pub fn lifetime(expiration_seconds: Option<i32>, max: Duration) -> Duration {
    let Some(seconds) = expiration_seconds else { return max };
    let requested = Duration::seconds(seconds.into());
    if requested > max {
        max
    } else if requested < MIN_DURATION {
        MIN_DURATION
    } else {
        requested
    }
}

/// Upstream's `PermissiveSigningPolicy`: from `now - BACKDATE`, for `lifetime`
/// (ending `BACKDATE` early unless the lifetime is short), never past the CA's
/// expiry. Whole seconds, as certificates hold them.
///
/// # Errors
/// [`PolicyError`] when the CA has expired.
pub fn validity(now: DateTime<Utc>, lifetime: Duration, ca_not_after: DateTime<Utc>) -> Result<Validity, PolicyError> {
    let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let not_before = now - BACKDATE;
    let end = if lifetime < SHORT { lifetime } else { lifetime - BACKDATE };
    // A lifetime beyond the calendar is the CA's.
    let mut not_after = now.checked_add_signed(end).unwrap_or(ca_not_after);
    if not_after >= ca_not_after {
        not_after = ca_not_after;
    }
    if not_before >= ca_not_after {
        return Err(PolicyError::SignerExpired(ca_not_after));
    }
    if now >= ca_not_after {
        return Err(PolicyError::ExpiredInThePast(ca_not_after));
    }
    Ok(Validity { not_before, not_after })
}

/// The condition the signer adds to a CSR it cannot sign.
pub fn failed_condition(message: &str, now: DateTime<Utc>) -> CertificateSigningRequestCondition {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    CertificateSigningRequestCondition {
        type_: "Failed".into(),
        status: "True".into(),
        reason: Some(FAILED_REASON.into()),
        message: Some(message.into()),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// How long decided CSRs are kept (upstream's cleaner: approved, denied and failed
/// alike).
pub const DECIDED_EXPIRATION: Duration = Duration::hours(1);
/// How long undecided (and approved but never issued) CSRs are kept.
pub const PENDING_EXPIRATION: Duration = Duration::hours(24);

/// What the cleaner does with one CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Delete it; why, for the log.
    Delete(&'static str),
    /// Keep it; look again at this time, if some rule may apply then.
    Keep(Option<DateTime<Utc>>),
}

/// Upstream's cleaner rules: a CSR goes when
/// - it was approved and issued more than an hour ago (the Approved condition's
///   `lastUpdateTime`), or denied, or failed, more than an hour ago;
/// - it has no conditions and was created more than 24 hours ago;
/// - it was approved more than 24 hours ago and never issued;
/// - its certificate has expired.
pub fn cleanup(csr: &CertificateSigningRequest, now: DateTime<Utc>) -> Cleanup {
    let issued = is_issued(csr);
    let mut deadlines: Vec<(DateTime<Utc>, &'static str)> = Vec::new();
    for c in conditions(csr) {
        let Some(updated) = c.last_update_time.as_ref().map(|t| t.0) else { continue };
        match c.type_.as_str() {
            "Approved" if issued => deadlines.push((updated + DECIDED_EXPIRATION, "approved and issued over 1h ago")),
            "Approved" => deadlines.push((updated + PENDING_EXPIRATION, "approved over 24h ago but never issued")),
            "Denied" => deadlines.push((updated + DECIDED_EXPIRATION, "denied over 1h ago")),
            "Failed" => deadlines.push((updated + DECIDED_EXPIRATION, "failed over 1h ago")),
            _ => {}
        }
    }
    if conditions(csr).is_empty() {
        if let Some(created) = &csr.metadata.creation_timestamp {
            deadlines.push((created.0 + PENDING_EXPIRATION, "pending for over 24h"));
        }
    }
    let approved = conditions(csr).iter().any(|c| c.type_ == "Approved");
    if approved && issued {
        if let Some(expiry) = certificate_not_after(csr) {
            deadlines.push((expiry, "its certificate expired"));
        }
    }
    if let Some((_, why)) = deadlines.iter().find(|(at, _)| now > *at) {
        return Cleanup::Delete(why);
    }
    Cleanup::Keep(deadlines.into_iter().map(|(at, _)| at).min())
}

/// The `notAfter` of the first certificate in `status.certificate` (none if it
/// does not parse, as upstream).
fn certificate_not_after(csr: &CertificateSigningRequest) -> Option<DateTime<Utc>> {
    use x509_parser::pem::Pem;
    let pem = csr.status.as_ref()?.certificate.as_ref()?;
    let block = Pem::iter_from_buffer(&pem.0).next()?.ok()?;
    let cert = block.parse_x509().ok()?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
}

#[cfg(test)]
mod tests;
