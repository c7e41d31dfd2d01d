//! Where the rules go. One trait, one implementation per kernel interface, and a
//! recording fake for tests.
//!
//! # Contract
//! `apply` replaces every rule the sink owns with the rules for `plan`, atomically
//! from the packets' point of view (a packet sees the old set or the new one), and
//! returns only when they are in place. A sink may write only what changed since
//! its last successful `apply`; `request_full_sync` makes the next one complete.
//! After an error the sink's next `apply` starts
//! from what the kernel actually has, so a failed sync is repaired by the next one.

mod exec;
mod iptables;
mod ipvs;
mod nft;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

pub use exec::Tools;
pub use iptables::IptablesSink;
pub use ipvs::IpvsSink;
pub use nft::NftSink;

use crate::model::{NodeContext, Options, ServicePortPlan};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot run {program} (is it installed?): {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed { program: String, status: String, stderr: String },
    #[error(
        "--proxy-mode=ipvs needs IPVS in the kernel, and this kernel has none (`ipvsadm -Ln`: {0}); \
         use --proxy-mode=iptables or nftables, or load the ip_vs modules"
    )]
    NoIpvs(String),
}

/// A rule sink.
#[async_trait]
pub trait RuleSink: Send {
    /// Replaces the rules with those for `plan`.
    ///
    /// # Errors
    /// When the tool cannot run or rejects the rules; the old rules stay in place.
    async fn apply(&mut self, plan: &[ServicePortPlan], node: &NodeContext, options: &Options)
        -> Result<(), SinkError>;

    /// Makes the next `apply` rewrite everything the sink owns, not only what
    /// changed since the last one (the periodic resync, which repairs rules that
    /// something else changed). Sinks that always rewrite everything ignore it.
    fn request_full_sync(&mut self) {}
}

/// Records every plan it is given, and whether a full sync was requested for
/// it; can be told to fail.
#[derive(Debug, Default, Clone)]
pub struct RecordingSink {
    pub applied: Arc<Mutex<Vec<Vec<ServicePortPlan>>>>,
    /// Per applied plan: whether `request_full_sync` came before it.
    pub full: Arc<Mutex<Vec<bool>>>,
    pub fail_next: Arc<Mutex<bool>>,
    full_requested: bool,
}

#[async_trait]
impl RuleSink for RecordingSink {
    async fn apply(&mut self, plan: &[ServicePortPlan], _: &NodeContext, _: &Options) -> Result<(), SinkError> {
        if std::mem::take(&mut *self.fail_next.lock().unwrap()) {
            return Err(SinkError::Failed {
                program: "fake".into(),
                status: "1".into(),
                stderr: "told to fail".into(),
            });
        }
        self.applied.lock().unwrap().push(plan.to_vec());
        self.full.lock().unwrap().push(std::mem::take(&mut self.full_requested));
        Ok(())
    }

    fn request_full_sync(&mut self) {
        self.full_requested = true;
    }
}
