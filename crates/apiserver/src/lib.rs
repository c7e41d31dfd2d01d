//! placeholder

pub mod authn;
pub mod kubeconfig;
pub mod pki;
pub mod tls;
