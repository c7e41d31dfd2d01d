//! Exit codes, so scripts and systemd can tell failures apart. Documented in
//! docs/cli.md.

use std::process::ExitCode;

/// Generic failure.
pub const FAILURE: u8 = 1;
/// The data store is corrupt or unreadable; skiff refuses to start over it.
pub const DATA_CORRUPT: u8 = 3;
/// The data store (embedded file or etcd) cannot be reached or opened.
pub const DATA_UNAVAILABLE: u8 = 4;

/// Prints the error chain and returns the exit code that matches its cause.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("skiff: error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    let code = match error.downcast_ref::<skiff_store::Error>() {
        Some(skiff_store::Error::Corrupt { .. }) => DATA_CORRUPT,
        Some(skiff_store::Error::Backend { .. } | skiff_store::Error::Closed) => DATA_UNAVAILABLE,
        _ => FAILURE,
    };
    ExitCode::from(code)
}
