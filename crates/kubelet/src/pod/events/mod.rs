//! Events the kubelet reports about a pod, in upstream's reasons and wording:
//! the lifecycle (`Pulled`, `Created`, `Started`, `Killing`), back-offs,
//! failed probes and failures (`Failed`, `FailedMount`, ...). `messages` holds
//! the wording, `correlate` the counting of repeats, `recorder` the writing.

mod correlate;
pub mod messages;
mod recorder;

pub use messages::{sandbox_failed, start_failed};
pub use recorder::{Recorder, Subject};
