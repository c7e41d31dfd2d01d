//! placeholder

pub mod pki;
