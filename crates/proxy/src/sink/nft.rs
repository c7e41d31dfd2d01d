//! nftables: the whole table `ip skiff-proxy` replaced in one `nft -f` transaction.

use async_trait::async_trait;

use super::{exec, RuleSink, SinkError};
use crate::model::{NodeContext, Options, ServicePortPlan};
use crate::render::nft;

#[derive(Debug, Default)]
pub struct NftSink {
    pub tools: exec::Tools,
}

#[async_trait]
impl RuleSink for NftSink {
    async fn apply(&mut self, plan: &[ServicePortPlan], _: &NodeContext, options: &Options) -> Result<(), SinkError> {
        let script = nft::render(plan, options);
        self.tools.run("nft", &["-f", "-"], Some(&script)).await.map(|_| ())
    }
}
