//! IPVS through `ipvsadm-restore` and `ipset restore`. Refuses to start where the
//! kernel has no IPVS.
//!
//! Not done yet (see docs/proxy.md): binding the virtual addresses to a dummy
//! `kube-ipvs0` interface and the iptables rules upstream pairs with the ipsets.

use async_trait::async_trait;

use super::{exec, RuleSink, SinkError};
use crate::model::{NodeContext, Options, ServicePortPlan};
use crate::render::ipvs;

#[derive(Debug)]
pub struct IpvsSink {
    tools: exec::Tools,
}

impl IpvsSink {
    /// Checks that the kernel has IPVS (`ipvsadm -Ln` answers).
    ///
    /// # Errors
    /// `NoIpvs` with ipvsadm's answer when it does not.
    pub async fn probe(tools: exec::Tools) -> Result<IpvsSink, SinkError> {
        match tools.run("ipvsadm", &["-Ln"], None).await {
            Ok(_) => Ok(IpvsSink { tools }),
            Err(SinkError::Failed { stderr, .. }) => Err(SinkError::NoIpvs(stderr.lines().next().unwrap_or("").into())),
            Err(e) => Err(SinkError::NoIpvs(e.to_string())),
        }
    }
}

#[async_trait]
impl RuleSink for IpvsSink {
    async fn apply(&mut self, plan: &[ServicePortPlan], node: &NodeContext, _: &Options) -> Result<(), SinkError> {
        let config = ipvs::render(plan, node);
        self.tools.run("ipset", &["restore", "-exist"], Some(&config.ipset)).await?;
        // ipvsadm has no atomic replace: clear, then restore in one call.
        self.tools.run("ipvsadm", &["-C"], None).await?;
        self.tools.run("ipvsadm-restore", &[], Some(&config.ipvsadm)).await.map(|_| ())
    }
}
