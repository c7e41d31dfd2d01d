use base64::engine::general_purpose::STANDARD;

use super::*;

const CSR_PEM: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHJMHICAQAwEDEOMAwGA1UEAwwFYWxpY2UwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAASUADSyYfVsIsk9r6ZptNvZc/fPC0xZnDXSP40Zy/nIcHu9Kc/0Hv81nN9D
GOHryov5yA56+LEjTXSL+mEjVbZ9oAAwCgYIKoZIzj0EAwIDRwAwRAIgRvr69fQC
egfN/JeICwJfJLfRcI8LCJVxI0wSAc3cCCkCIBGMf2XprYH/hzeMQh1xg3U9gLAv
RV6ONEAl7NYnCBZA
-----END CERTIFICATE REQUEST-----
";

const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBbzCCARWgAwIBAgIUdGBNA0IMSuK2sTp6rfYLaMZR1vIwCgYIKoZIzj0EAwIw
DTELMAkGA1UEAwwCY2EwHhcNMjYxMTI5MDAwMjI3WhcNMjYxMTMwMDAwMjI3WjAN
MQswCQYDVQQDDAJjYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJQANLJh9Wwi
yT2vpmm029lz988LTFmcNdI/jRnL+chwe70pz/Qe/zWc30MY4evKi/nIDnr4sSNN
dIv6YSNVtn2jUzBRMB0GA1UdDgQWBBSgzXTsAigSWdW2hNa6/4fj0/p7nTAfBgNV
HSMEGDAWgBSgzXTsAigSWdW2hNa6/4fj0/p7nTAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0gAMEUCIFoZdHJjdxVp3tyEojH6kF+ErnfnZy8bffSNuLTWfz7R
AiEA3GnDLRnzBxcTFa871iES8nvBDxwEO4l3Juyi0uleI+M=
-----END CERTIFICATE-----
";

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

fn valid() -> Value {
    json!({"metadata": {"name": "alice"}, "spec": {"request": b64(CSR_PEM), "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["digital signature", "client auth"], "expirationSeconds": 86400, "username": "admin"}})
}

fn with_spec(patch: Value) -> Value {
    crate::validation::testing::with_spec(valid(), patch)
}

fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut causes = Vec::new();
    csr(obj, old, &mut causes);
    causes.iter().map(Cause::summary).collect()
}

#[test]
fn pem_is_framed_as_go_reads_it() {
    let (block, rest) = pem_decode(CSR_PEM.as_bytes()).unwrap();
    assert_eq!((block.kind.as_str(), block.headers, rest), ("CERTIFICATE REQUEST", false, &b""[..]));
    let preamble = format!("junk\r\n{CERT_PEM}{CERT_PEM}trailer");
    let (block, rest) = pem_decode(preamble.as_bytes()).unwrap();
    assert_eq!(block.kind, "CERTIFICATE");
    assert!(rest.starts_with(b"-----BEGIN CERTIFICATE-----"));
    let with_headers = "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END X-----\n";
    assert!(pem_decode(with_headers.as_bytes()).unwrap().0.headers);
    for bad in
        ["", "-----BEGIN X-----\nAAAA\n-----END Y-----\n", "-----BEGIN X-----\n!!\n-----END X-----\n", "-----BEGIN X\n"]
    {
        assert!(pem_decode(bad.as_bytes()).is_none(), "{bad:?}");
    }
    assert_eq!(certificate_error(format!("{CERT_PEM}{CERT_PEM}").as_bytes()), None);
    assert_eq!(certificate_error(b"x").as_deref(), Some("must contain at least one CERTIFICATE PEM block"));
    assert_eq!(
        certificate_error(CSR_PEM.as_bytes()).as_deref(),
        Some(r#"only CERTIFICATE PEM blocks are allowed, found "CERTIFICATE REQUEST""#)
    );
}

#[test]
fn valid_requests_pass() {
    assert_eq!(check(&valid(), None), Vec::<String>::new());
    let mut approved = valid();
    approved["status"] = json!({"conditions": [{"type": "Approved", "status": "True", "reason": "AutoApproved"}],
        "certificate": b64(CERT_PEM)});
    assert_eq!(check(&approved, Some(&valid())), Vec::<String>::new());
}

#[test]
fn each_invalid_request_gives_upstream_causes() {
    let enum_list = r#""any", "cert sign", "client auth", "code signing", "content commitment", "crl sign", "data encipherment", "decipher only", "digital signature", "email protection", "encipher only", "ipsec end system", "ipsec tunnel", "ipsec user", "key agreement", "key encipherment", "microsoft sgc", "netscape sgc", "ocsp signing", "s/mime", "server auth", "signing", "timestamping""#;
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            json!({"request": null, "usages": null, "signerName": null}),
            vec![
                "spec.request: Invalid value: []byte(nil): PEM block type must be CERTIFICATE REQUEST".into(),
                "spec.usages: Required value".into(),
                "spec.signerName: Required value".into(),
            ],
        ),
        (
            json!({"request": b64("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")}),
            vec![format!(
                "spec.request: Invalid value: {}: PEM block type must be CERTIFICATE REQUEST",
                gostr::bytes(Some(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"))
            )],
        ),
        (
            json!({"usages": ["client auth", "flying", "client auth"], "expirationSeconds": 599}),
            vec![
                format!(r#"spec.usages[1]: Unsupported value: "flying": supported values: {enum_list}"#),
                r#"spec.usages[2]: Duplicate value: "client auth""#.into(),
                "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)".into(),
            ],
        ),
        (
            json!({"signerName": "kubernetes.io/legacy-unknown"}),
            vec![r#"spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via this API version"#.into()],
        ),
        (
            json!({"signerName": "example.com"}),
            vec![r#"spec.signerName: Invalid value: "example.com": must be a fully qualified domain and path of the form 'example.com/signer-name'"#.into()],
        ),
        (
            json!({"signerName": "Example_/a.B"}),
            vec![
                r#"spec.signerName: Invalid value: "Example_": validating label "Example_": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#.into(),
                r#"spec.signerName: Invalid value: "Example_": should be a domain with at least two segments separated by dots"#.into(),
                r#"spec.signerName: Invalid value: "a.B": validating label "B": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#.into(),
            ],
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(check(&with_spec(patch.clone()), None), want, "{patch}");
    }
}

#[test]
fn conditions_and_certificates_follow_upstream_rules() {
    let mut obj = valid();
    obj["status"] = json!({"conditions": [
        {"type": "Approved", "status": "False"}, {"type": "Denied", "status": "True"},
        {"type": "", "status": ""}, {"type": "Custom", "status": "Maybe"}, {"type": "Custom", "status": "True"}],
        "certificate": b64(CSR_PEM)});
    assert_eq!(
        check(&obj, Some(&valid())),
        [
            r#"status.conditions[0].status: Unsupported value: "False": supported values: "True""#,
            r#"status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive"#,
            "status.conditions[2].type: Required value",
            "status.conditions[2].status: Required value",
            r#"status.conditions[3].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown""#,
            r#"status.conditions[4].type: Duplicate value: "Custom""#,
            r#"status.certificate: Invalid value: "<certificate data>": only CERTIFICATE PEM blocks are allowed, found "CERTIFICATE REQUEST""#,
        ]
    );
    // The same problems, already stored, are tolerated (except the certificate's, which did not change).
    assert_eq!(
        check(&obj, Some(&obj)),
        [
            r#"status.conditions[0].status: Unsupported value: "False": supported values: "True""#,
            "status.conditions[2].status: Required value",
            r#"status.conditions[3].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown""#,
        ]
    );
}

#[test]
fn updates_keep_decisions_and_issued_certificates() {
    let mut issued = valid();
    issued["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}, {"type": "Failed", "status": "True"}],
        "certificate": b64(CERT_PEM)});
    let mut changed = valid();
    changed["status"] = json!({"certificate": b64(&format!("{CERT_PEM}{CERT_PEM}"))});
    assert_eq!(
        check(&changed, Some(&issued)),
        [
            r#"status.conditions: Forbidden: updates may not remove a condition of type "Approved""#,
            r#"status.conditions: Forbidden: updates may not remove a condition of type "Failed""#,
            "status.certificate: Forbidden: updates may not modify existing certificate content",
        ]
    );
    let mut legacy = with_spec(json!({"signerName": "kubernetes.io/legacy-unknown", "usages": ["weird", "weird"]}));
    assert_eq!(check(&legacy, Some(&legacy.clone())), Vec::<String>::new());
    legacy["spec"]["expirationSeconds"] = json!(1);
    assert_eq!(check(&legacy, Some(&legacy.clone())).len(), 1);
}
