//! ServiceAccount tokens, as upstream's bound service account tokens:
//! [`jwt`] signs and checks them (ES256), [`key`] keeps the signing key in the
//! data directory, [`token_request`] serves `serviceaccounts/token`,
//! [`authn`] authenticates requests bearing them, and [`admission`] gives pods
//! their ServiceAccount and the `kube-api-access-*` volume the kubelet fills.

pub mod admission;
pub mod authn;
pub mod jwt;
pub mod key;
pub mod token_request;

pub use authn::ServiceAccountAuthenticator;
pub use jwt::{SigningKey, ISSUER};
