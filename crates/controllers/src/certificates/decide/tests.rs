use super::*;
use crate::certificates::authority::Authority;
use crate::certificates::testing::{ca, csr, dns, request, with_certificate, with_condition};
use rcgen::SanType;

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::hours(hours)
}

fn policy() -> Policy {
    Policy { duration: DEFAULT_DURATION, ca_not_after: at(24 * 3650) }
}

fn approved(c: CertificateSigningRequest) -> CertificateSigningRequest {
    with_condition(c, "Approved", at(0))
}

fn client_csr() -> CertificateSigningRequest {
    csr("jane", KUBE_APISERVER_CLIENT, &["client auth"], &request("jane", Some("dev"), vec![]))
}

fn node_csr(
    signer: &str,
    cn: &str,
    org: Option<&str>,
    sans: Vec<SanType>,
    usages: &[&str],
) -> CertificateSigningRequest {
    approved(csr("node", signer, usages, &request(cn, org, sans)))
}

#[test]
fn only_approved_undecided_unissued_requests_of_served_signers_are_signed() {
    let ignored = [
        ("pending", client_csr()),
        ("denied", with_condition(client_csr(), "Denied", at(0))),
        ("approved and denied", with_condition(approved(client_csr()), "Denied", at(0))),
        ("failed", with_condition(approved(client_csr()), "Failed", at(0))),
        ("issued", with_certificate(approved(client_csr()), "-----BEGIN CERTIFICATE-----\n")),
        ("another signer", approved(csr("x", "example.com/mine", &["client auth"], "junk"))),
        ("legacy-unknown", approved(csr("x", "kubernetes.io/legacy-unknown", &["client auth"], "junk"))),
    ];
    for (name, c) in ignored {
        assert_eq!(decide(&c, &policy(), at(1)), Ok(Decision::Ignore), "{name}");
    }
    let Ok(Decision::Sign { request, usages, validity }) = decide(&approved(client_csr()), &policy(), at(1)) else {
        panic!("an approved client CSR is signed")
    };
    assert_eq!((request.common_name.as_str(), usages.as_slice()), ("jane", &["client auth".to_string()][..]));
    assert_eq!(validity, Validity { not_before: at(1) - BACKDATE, not_after: at(1) + DEFAULT_DURATION - BACKDATE });
}

#[test]
fn a_condition_without_status_counts_as_true_like_upstream() {
    let mut c = approved(client_csr());
    c.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = String::new();
    assert!(matches!(decide(&c, &policy(), at(1)), Ok(Decision::Sign { .. })));
    let mut c = approved(client_csr());
    c.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
    assert_eq!(decide(&c, &policy(), at(1)), Ok(Decision::Ignore));
}

fn fails_with(c: CertificateSigningRequest) -> String {
    match decide(&c, &policy(), at(1)) {
        Ok(Decision::Fail(message)) => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Each case is signed (`None`) or fails with the message given.
fn check_cases<const N: usize>(cases: [(&str, CertificateSigningRequest, Option<&str>); N]) {
    for (name, c, want) in cases {
        match want {
            None => assert!(matches!(decide(&c, &policy(), at(1)), Ok(Decision::Sign { .. })), "{name}"),
            Some(message) => assert_eq!(fails_with(c), message, "{name}"),
        }
    }
}

#[test]
fn client_signer_allows_only_client_usages() {
    let pem = request("jane", Some("dev"), vec![]);
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["client auth"], None),
        (&["digital signature", "key encipherment", "client auth"], None),
        (&["client auth", "server auth"], Some("invalid usage for client certificate: server auth")),
        (&["digital signature"], Some("missing required usage for client certificate: client auth")),
        (&[], Some("missing required usage for client certificate: client auth")),
    ];
    for (usages, want) in cases {
        let c = approved(csr("jane", KUBE_APISERVER_CLIENT, usages, &pem));
        match want {
            None => assert!(matches!(decide(&c, &policy(), at(1)), Ok(Decision::Sign { .. })), "{usages:?}"),
            Some(message) => assert_eq!(fails_with(c), *message, "{usages:?}"),
        }
    }
}

#[test]
fn kubelet_client_signer_wants_a_node_identity_and_no_names() {
    let ok_usages: &[&str] = &["digital signature", "key encipherment", "client auth"];
    let s = KUBE_APISERVER_CLIENT_KUBELET;
    let cases = [
        ("good", node_csr(s, "system:node:n1", Some("system:nodes"), vec![], ok_usages), None),
        (
            "no RSA",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![], &["digital signature", "client auth"]),
            None,
        ),
        (
            "wrong CN",
            node_csr(s, "jane", Some("system:nodes"), vec![], ok_usages),
            Some("subject common name does not begin with system:node:"),
        ),
        (
            "wrong O",
            node_csr(s, "system:node:n1", Some("dev"), vec![], ok_usages),
            Some("subject organization is not system:nodes"),
        ),
        (
            "no O",
            node_csr(s, "system:node:n1", None, vec![], ok_usages),
            Some("subject organization is not system:nodes"),
        ),
        (
            "DNS",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![dns("n1")], ok_usages),
            Some("DNS subjectAltNames are not allowed"),
        ),
        (
            "IP",
            node_csr(
                s,
                "system:node:n1",
                Some("system:nodes"),
                vec![SanType::IpAddress([10, 0, 0, 1].into())],
                ok_usages,
            ),
            Some("IP subjectAltNames are not allowed"),
        ),
        (
            "email",
            node_csr(
                s,
                "system:node:n1",
                Some("system:nodes"),
                vec![SanType::Rfc822Name("a@b".try_into().unwrap())],
                ok_usages,
            ),
            Some("Email subjectAltNames are not allowed"),
        ),
        (
            "URI",
            node_csr(
                s,
                "system:node:n1",
                Some("system:nodes"),
                vec![SanType::URI("spiffe://x".try_into().unwrap())],
                ok_usages,
            ),
            Some("URI subjectAltNames are not allowed"),
        ),
        (
            "client auth only",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![], &["client auth"]),
            Some("usages did not match [client auth digital signature key encipherment]"),
        ),
        (
            "server auth",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![], &["digital signature", "server auth"]),
            Some("usages did not match [client auth digital signature key encipherment]"),
        ),
    ];
    check_cases(cases);
}

#[test]
fn kubelet_serving_signer_wants_a_node_identity_and_dns_or_ip_names() {
    let ok_usages: &[&str] = &["digital signature", "key encipherment", "server auth"];
    let s = KUBELET_SERVING;
    let ip = || SanType::IpAddress([10, 0, 0, 1].into());
    let cases = [
        ("DNS", node_csr(s, "system:node:n1", Some("system:nodes"), vec![dns("n1")], ok_usages), None),
        (
            "IP, no RSA",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![ip()], &["digital signature", "server auth"]),
            None,
        ),
        (
            "no names",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![], ok_usages),
            Some("DNS or IP subjectAltName is required"),
        ),
        (
            "email too",
            node_csr(
                s,
                "system:node:n1",
                Some("system:nodes"),
                vec![ip(), SanType::Rfc822Name("a@b".try_into().unwrap())],
                ok_usages,
            ),
            Some("Email subjectAltNames are not allowed"),
        ),
        (
            "URI too",
            node_csr(
                s,
                "system:node:n1",
                Some("system:nodes"),
                vec![dns("n1"), SanType::URI("spiffe://x".try_into().unwrap())],
                ok_usages,
            ),
            Some("URI subjectAltNames are not allowed"),
        ),
        (
            "client auth",
            node_csr(s, "system:node:n1", Some("system:nodes"), vec![dns("n1")], &["digital signature", "client auth"]),
            Some("usages did not match [digital signature key encipherment server auth]"),
        ),
        // Upstream checks the usages before the common name.
        (
            "wrong CN and usages",
            node_csr(s, "jane", Some("system:nodes"), vec![dns("n1")], &["server auth"]),
            Some("usages did not match [digital signature key encipherment server auth]"),
        ),
        (
            "wrong CN",
            node_csr(s, "jane", Some("system:nodes"), vec![dns("n1")], ok_usages),
            Some("subject common name does not begin with system:node:"),
        ),
        (
            "wrong O",
            node_csr(s, "system:node:n1", Some("system:masters"), vec![dns("n1")], ok_usages),
            Some("subject organization is not system:nodes"),
        ),
    ];
    check_cases(cases);
}

#[test]
fn requests_that_do_not_parse_fail_instead_of_retrying() {
    let garbage = approved(csr("x", KUBE_APISERVER_CLIENT, &["client auth"], "hello"));
    assert_eq!(fails_with(garbage), "PEM block type must be CERTIFICATE REQUEST");
    let framed = "-----BEGIN CERTIFICATE REQUEST-----\nAAECAwQF\n-----END CERTIFICATE REQUEST-----\n";
    let message = fails_with(approved(csr("x", KUBE_APISERVER_CLIENT, &["client auth"], framed)));
    assert!(message.starts_with("unable to parse certificate request: "), "{message}");
}

#[test]
fn lifetime_is_the_requested_one_within_ten_minutes_and_the_maximum() {
    let max = Duration::hours(24);
    assert_eq!(lifetime(None, max), max);
    assert_eq!(lifetime(Some(3600), max), Duration::hours(1));
    assert_eq!(lifetime(Some(86400 * 2), max), max);
    assert_eq!(lifetime(Some(60), max), MIN_DURATION);
    assert_eq!(lifetime(Some(-5), max), MIN_DURATION);
}

#[test]
fn validity_is_backdated_and_never_outlives_the_ca() {
    let ca = at(24 * 365 * 5);
    // Long-lived: both ends move back five minutes.
    let v = validity(at(0), Duration::hours(8), ca).unwrap();
    assert_eq!((v.not_before, v.not_after), (at(0) - BACKDATE, at(8) - BACKDATE));
    // Short-lived: the end is not moved.
    let v = validity(at(0), Duration::hours(1), ca).unwrap();
    assert_eq!((v.not_before, v.not_after), (at(0) - BACKDATE, at(1)));
    // Capped at the CA's expiry.
    let v = validity(at(0), Duration::hours(8760), at(100)).unwrap();
    assert_eq!(v.not_after, at(100));
    // Absurdly long: the CA's life, no overflow.
    assert_eq!(validity(at(0), Duration::MAX, ca).unwrap().not_after, ca);
    // Whole seconds.
    let v = validity(at(0) + Duration::milliseconds(1500), Duration::hours(1), ca).unwrap();
    assert_eq!(v.not_before.timestamp_subsec_nanos(), 0);
    assert_eq!(v.not_before, at(0) + Duration::seconds(1) - BACKDATE);
    // An expired CA signs nothing.
    assert_eq!(validity(at(10), Duration::hours(1), at(9)), Err(PolicyError::SignerExpired(at(9))));
    let just = at(0) + Duration::minutes(2);
    assert_eq!(validity(just, Duration::hours(1), at(0)), Err(PolicyError::ExpiredInThePast(at(0))));
}

#[test]
fn expiration_seconds_and_the_ca_bound_what_decide_signs() {
    let mut c = approved(client_csr());
    c.spec.expiration_seconds = Some(3600);
    let Ok(Decision::Sign { validity, .. }) = decide(&c, &policy(), at(1)) else { panic!() };
    assert_eq!(validity.not_after, at(2));
    let short_ca = Policy { duration: DEFAULT_DURATION, ca_not_after: at(3) };
    let Ok(Decision::Sign { validity, .. }) = decide(&approved(client_csr()), &short_ca, at(1)) else { panic!() };
    assert_eq!(validity.not_after, at(3));
    assert!(decide(&approved(client_csr()), &short_ca, at(4)).is_err());
}

#[test]
fn the_failed_condition_is_upstreams() {
    let c = failed_condition("subject organization is not system:nodes", at(0));
    assert_eq!((c.type_.as_str(), c.status.as_str(), c.reason.as_deref()), ("Failed", "True", Some(FAILED_REASON)));
    assert_eq!(c.message.as_deref(), Some("subject organization is not system:nodes"));
}

#[test]
fn decided_requests_go_after_an_hour_pending_ones_after_a_day() {
    let mut pending = client_csr();
    pending.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(0)));
    let issued = with_certificate(approved(client_csr()), "not a certificate");
    let cases = [
        ("pending, young", pending.clone(), at(23), Cleanup::Keep(Some(at(24)))),
        ("pending, old", pending.clone(), at(25), Cleanup::Delete("pending for over 24h")),
        ("approved, issued, young", issued.clone(), at(0) + Duration::minutes(59), Cleanup::Keep(Some(at(1)))),
        ("approved, issued, old", issued.clone(), at(2), Cleanup::Delete("approved and issued over 1h ago")),
        ("approved, never issued", approved(client_csr()), at(2), Cleanup::Keep(Some(at(24)))),
        (
            "approved, never issued, old",
            approved(client_csr()),
            at(25),
            Cleanup::Delete("approved over 24h ago but never issued"),
        ),
        ("denied, old", with_condition(client_csr(), "Denied", at(0)), at(2), Cleanup::Delete("denied over 1h ago")),
        (
            "failed, old",
            with_condition(approved(client_csr()), "Failed", at(0)),
            at(2),
            Cleanup::Delete("failed over 1h ago"),
        ),
        ("exactly at the deadline", with_condition(client_csr(), "Denied", at(0)), at(1), Cleanup::Keep(Some(at(1)))),
    ];
    for (name, c, now, want) in cases {
        assert_eq!(cleanup(&c, now), want, "{name}");
    }
    assert_eq!(cleanup(&client_csr(), at(100)), Cleanup::Keep(None), "no timestamps: nothing to go by");
}

#[test]
fn issued_requests_go_when_their_certificate_expires() {
    // A real certificate that expires at hour 2, approved (and issued) at 1:30.
    let (cert, key) = ca();
    let authority = Authority::from_pem(&cert, &key).unwrap();
    let req = crate::certificates::request::parse(request("jane", None, vec![]).as_bytes()).unwrap();
    let pem =
        authority.sign(&req, &["client auth".to_string()], &Validity { not_before: at(0), not_after: at(2) }).unwrap();
    let c = with_certificate(with_condition(client_csr(), "Approved", at(1) + Duration::minutes(30)), &pem);
    assert_eq!(cleanup(&c, at(2) - Duration::minutes(1)), Cleanup::Keep(Some(at(2))));
    assert_eq!(cleanup(&c, at(2) + Duration::seconds(1)), Cleanup::Delete("its certificate expired"));
}
