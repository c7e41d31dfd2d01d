use std::path::Path;

use rustls::pki_types::CertificateDer;

use super::tokenfile::bearer_token;
use super::*;

const TOKENS: &str = "\
abc123,alice,1001,\"dev,ops\"
def456,bob,1002
ghi789,carol,1003,admins,ignored-column
";

fn tokens(text: &str) -> TokenFileAuthenticator {
    TokenFileAuthenticator::from_csv(Path::new("tokens.csv"), text).unwrap()
}

fn with_header(header: &str) -> AuthnRequest<'_> {
    AuthnRequest { authorization: Some(header), peer_certificates: &[], audiences: &[] }
}

fn user(name: &str, uid: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        uid: uid.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..UserInfo::default()
    }
}

/// A self-signed certificate (the TLS layer's verification is not this module's job).
fn cert_der(common_name: Option<&str>, organizations: &[&str]) -> CertificateDer<'static> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = common_name {
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    }
    // rcgen holds one O, which is enough here; several groups are covered by the PKI tests.
    if let Some(o) = organizations.first() {
        params.distinguished_name.push(rcgen::DnType::OrganizationName, *o);
    }
    params.self_signed(&key).unwrap().der().clone()
}

#[tokio::test]
async fn token_file_records_with_quoted_groups() {
    let auth = tokens(TOKENS);
    assert_eq!(auth.len(), 3);
    for (t, want) in [
        ("abc123", user("alice", "1001", &["dev", "ops"])),
        ("def456", user("bob", "1002", &[])),
        ("ghi789", user("carol", "1003", &["admins"])),
    ] {
        let header = format!("Bearer {t}");
        assert_eq!(auth.authenticate(&with_header(&header)).await.unwrap(), Some(want));
    }
}

#[test]
fn token_file_line_with_too_few_columns_names_its_line() {
    let err = TokenFileAuthenticator::from_csv(Path::new("/etc/t.csv"), "a,b,c\n\nonly,two\n").unwrap_err();
    assert!(matches!(err, TokenFileError::Parse { line: 3, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "token file /etc/t.csv line 3: must have at least 3 columns (token, user name, user uid), found 2"
    );
}

#[test]
fn token_file_quote_error_names_its_line() {
    let err = TokenFileAuthenticator::from_csv(Path::new("t.csv"), "a,b,c\nx,y\"z,1\n").unwrap_err();
    assert_eq!(err.to_string(), "token file t.csv line 2: bare \" in non-quoted field");
}

#[tokio::test]
async fn token_file_skips_empty_tokens_and_keeps_the_last_duplicate() {
    let auth = tokens(",nobody,0\ntok,first,1\ntok,second,2\n");
    assert_eq!(auth.len(), 1);
    assert_eq!(auth.authenticate(&with_header("Bearer tok")).await.unwrap(), Some(user("second", "2", &[])));
}

#[tokio::test]
async fn token_file_drops_empty_group_names() {
    let auth = tokens("t1,u,1,\"\"\nt2,u,2,\"a,,b\"\n");
    assert_eq!(auth.authenticate(&with_header("Bearer t1")).await.unwrap().unwrap().groups, Vec::<String>::new());
    assert_eq!(auth.authenticate(&with_header("Bearer t2")).await.unwrap().unwrap().groups, ["a", "b"]);
}

#[test]
fn missing_token_file_is_an_io_error_naming_it() {
    let err = TokenFileAuthenticator::from_file(Path::new("/nonexistent/tokens.csv")).unwrap_err();
    assert!(matches!(err, TokenFileError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/tokens.csv"), "{err}");
}

#[test]
fn token_file_reads_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.csv");
    std::fs::write(&path, TOKENS).unwrap();
    assert_eq!(TokenFileAuthenticator::from_file(&path).unwrap().len(), 3);
}

#[test]
fn bearer_scheme_is_case_insensitive_and_parsed_like_upstream() {
    for header in ["Bearer tok", "bearer tok", "BEARER tok", "  Bearer tok  ", "Bearer tok trailing"] {
        assert_eq!(bearer_token(header), Some("tok"), "{header:?}");
    }
    for header in ["", "Bearer", "Bearer ", "Bearer  tok", "Basic dXNlcjpwYXNz", "Bearertok"] {
        assert_eq!(bearer_token(header), None, "{header:?}");
    }
}

#[tokio::test]
async fn unknown_bearer_token_is_unauthorized_and_other_schemes_are_not_ours() {
    let auth = tokens(TOKENS);
    assert!(matches!(auth.authenticate(&with_header("Bearer nope")).await, Err(ApiError::Unauthorized(_))));
    assert_eq!(auth.authenticate(&with_header("Basic dXNlcjpwYXNz")).await.unwrap(), None);
    assert_eq!(auth.authenticate(&AuthnRequest::default()).await.unwrap(), None);
}

#[tokio::test]
async fn x509_user_is_common_name_and_groups_are_organizations() {
    let cert = cert_der(Some("jane"), &["devs"]);
    let certs = [cert];
    let request = AuthnRequest { authorization: None, peer_certificates: &certs, audiences: &[] };
    assert_eq!(X509Authenticator::new().authenticate(&request).await.unwrap(), Some(user("jane", "", &["devs"])));
}

#[tokio::test]
async fn x509_without_certificate_or_common_name_has_nothing_to_say() {
    assert_eq!(X509Authenticator::new().authenticate(&AuthnRequest::default()).await.unwrap(), None);
    let certs = [cert_der(None, &["devs"])];
    let request = AuthnRequest { authorization: None, peer_certificates: &certs, audiences: &[] };
    assert_eq!(X509Authenticator::new().authenticate(&request).await.unwrap(), None);
}

#[tokio::test]
async fn x509_unreadable_certificate_is_unauthorized() {
    let certs = [CertificateDer::from(vec![0x30, 0x03, 0x01, 0x02])];
    let request = AuthnRequest { authorization: None, peer_certificates: &certs, audiences: &[] };
    assert!(matches!(X509Authenticator::new().authenticate(&request).await, Err(ApiError::Unauthorized(_))));
}

/// An authenticator that answers the same thing every time.
struct Fixed(Result<Option<UserInfo>, ApiError>);

#[async_trait::async_trait]
impl Authenticator for Fixed {
    async fn authenticate(&self, _: &AuthnRequest<'_>) -> Result<Option<UserInfo>, ApiError> {
        self.0.clone()
    }
}

fn union(answers: Vec<Result<Option<UserInfo>, ApiError>>) -> UnionAuthenticator {
    UnionAuthenticator::new(answers.into_iter().map(|a| Box::new(Fixed(a)) as Box<dyn Authenticator>).collect())
}

#[tokio::test]
async fn union_adds_system_authenticated_once() {
    let found = union(vec![Ok(Some(user("u", "", &["g"])))]).authenticate(&AuthnRequest::default()).await.unwrap();
    assert_eq!(found.unwrap().groups, ["g", SYSTEM_AUTHENTICATED]);
    let already = union(vec![Ok(Some(user("u", "", &[SYSTEM_AUTHENTICATED, "g"])))]);
    assert_eq!(
        already.authenticate(&AuthnRequest::default()).await.unwrap().unwrap().groups,
        [SYSTEM_AUTHENTICATED, "g"]
    );
    let unauthenticated = union(vec![Ok(Some(UserInfo::anonymous()))]);
    assert_eq!(
        unauthenticated.authenticate(&AuthnRequest::default()).await.unwrap().unwrap().groups,
        [SYSTEM_UNAUTHENTICATED]
    );
}

#[tokio::test]
async fn union_first_user_wins_and_errors_do_not_stop_later_authenticators() {
    let auth = union(vec![
        Ok(None),
        Err(ApiError::Unauthorized("invalid bearer token".into())),
        Ok(Some(user("second", "", &[]))),
        Ok(Some(user("third", "", &[]))),
    ]);
    assert_eq!(auth.authenticate(&AuthnRequest::default()).await.unwrap().unwrap().name, "second");
}

#[tokio::test]
async fn union_without_user_is_anonymous_or_unauthorized() {
    assert_eq!(union(vec![Ok(None), Ok(None)]).authenticate(&AuthnRequest::default()).await.unwrap(), None);
    assert_eq!(union(vec![]).authenticate(&AuthnRequest::default()).await.unwrap(), None);
    let failed = union(vec![Ok(None), Err(ApiError::Unauthorized("invalid bearer token".into()))]);
    assert_eq!(failed.authenticate(&AuthnRequest::default()).await, Err(ApiError::Unauthorized("Unauthorized".into())));
}

#[tokio::test]
async fn union_of_real_authenticators_accepts_a_certificate_despite_a_bad_token() {
    let certs = [cert_der(Some("jane"), &["devs"])];
    let request = AuthnRequest { authorization: Some("Bearer wrong"), peer_certificates: &certs, audiences: &[] };
    let auth = UnionAuthenticator::new(vec![Box::new(tokens(TOKENS)), Box::new(X509Authenticator::new())]);
    assert_eq!(auth.authenticate(&request).await.unwrap(), Some(user("jane", "", &["devs", SYSTEM_AUTHENTICATED])));
}
