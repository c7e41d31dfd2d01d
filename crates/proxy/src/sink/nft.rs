//! nftables: table `ip skiff-proxy`, replaced whole in one `nft -f` transaction
//! at the first sync and after a failure; otherwise changed in place by one
//! transaction (`render::nft_partial`): only what changed, or, when the shell asks
//! for a full sync (its periodic resync), every chain and map refilled.

use async_trait::async_trait;

use super::{exec, RuleSink, SinkError};
use crate::model::{NodeContext, Options, ServicePortPlan};
use crate::render::nft;
use crate::render::nft_partial::{script, Written};

#[derive(Debug, Default)]
pub struct NftSink {
    pub tools: exec::Tools,
    /// The table as of the last successful apply; `None` when unknown.
    known: Option<Written>,
    /// The next apply rewrites every chain and map (keeping the affinity sets).
    rewrite_next: bool,
    /// Chains written by the last apply (for the benchmark and the logs).
    pub last_chains_changed: usize,
}

impl NftSink {
    pub fn new(tools: exec::Tools) -> NftSink {
        NftSink { tools, ..Default::default() }
    }
}

#[async_trait]
impl RuleSink for NftSink {
    async fn apply(&mut self, plan: &[ServicePortPlan], _: &NodeContext, options: &Options) -> Result<(), SinkError> {
        let full = nft::render(plan, options);
        // Taken: after a failure the next sync replaces the whole table.
        let sync = script(&full, self.known.take().as_ref(), std::mem::take(&mut self.rewrite_next));
        if !sync.script.is_empty() {
            self.tools.run("nft", &["-f", "-"], Some(&sync.script)).await?;
        }
        self.last_chains_changed = sync.chains_changed;
        self.known = Some(sync.written);
        Ok(())
    }

    fn request_full_sync(&mut self) {
        self.rewrite_next = true;
    }
}
