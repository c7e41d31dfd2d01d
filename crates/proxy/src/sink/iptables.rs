//! iptables: the KUBE-* set in one `iptables-restore --noflush` (one COMMIT per
//! table, each atomic), then the jumps from the built-in chains ensured. Syncs
//! are partial (only chains whose rules changed are written, see
//! `render::iptables_partial`) except the first, the one after a failure, and
//! those the shell asks to be full (its periodic resync).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{exec, RuleSink, SinkError};
use crate::model::{NodeContext, Options, ServicePortPlan};
use crate::render::iptables::{self, JUMPS};
use crate::render::iptables_partial::{restore, Written};

/// How often the jumps from the built-in chains are re-checked (another program
/// flushing them would otherwise go unnoticed).
const JUMP_CHECK: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct IptablesSink {
    /// Our chains in the kernel and their contents as of the last successful
    /// apply; `None` when unknown (start, or after a failure): then the names are
    /// read with iptables-save and everything is rewritten.
    known: Option<Written>,
    /// The next apply rewrites every chain.
    full_next: bool,
    jumps_checked: Option<Instant>,
    /// Chains written by the last apply (for the benchmark and the logs).
    pub last_chains_changed: usize,
    pub tools: exec::Tools,
}

/// The KUBE-* chains an `iptables-save` output declares.
pub fn saved_chains(save: &str) -> BTreeSet<String> {
    save.lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.starts_with("KUBE-"))
        .map(String::from)
        .collect()
}

impl IptablesSink {
    pub fn new(tools: exec::Tools) -> IptablesSink {
        IptablesSink { tools, ..Default::default() }
    }

    /// What the kernel holds, and whether the next restore must be full.
    async fn current(&mut self) -> Result<(Written, bool), SinkError> {
        if let Some(k) = self.known.take() {
            return Ok((k, std::mem::take(&mut self.full_next)));
        }
        let nat = self.tools.run("iptables-save", &["-t", "nat"], None).await?;
        let filter = self.tools.run("iptables-save", &["-t", "filter"], None).await?;
        Ok((Written::names_only(saved_chains(&filter), saved_chains(&nat)), true))
    }

    async fn ensure_jumps(&mut self) -> Result<(), SinkError> {
        if self.jumps_checked.is_some_and(|t| t.elapsed() < JUMP_CHECK) {
            return Ok(());
        }
        for (table, chain, rule) in JUMPS {
            let mut check = vec!["-w", "-t", table, "-C", chain];
            check.extend_from_slice(rule);
            if self.tools.run("iptables", &check, None).await.is_err() {
                let mut insert = vec!["-w", "-t", table, "-I", chain, "1"];
                insert.extend_from_slice(rule);
                self.tools.run("iptables", &insert, None).await?;
            }
        }
        self.jumps_checked = Some(Instant::now());
        Ok(())
    }
}

#[async_trait]
impl RuleSink for IptablesSink {
    async fn apply(&mut self, plan: &[ServicePortPlan], _: &NodeContext, options: &Options) -> Result<(), SinkError> {
        let rules = iptables::render(plan, options);
        let (previous, full) = self.current().await?;
        let r = restore(&rules, &previous, full);
        if !r.text.is_empty() {
            self.tools.run("iptables-restore", &["-w", "--noflush"], Some(&r.text)).await?;
        }
        self.last_chains_changed = r.chains_changed;
        self.known = Some(r.written);
        if let Err(e) = self.ensure_jumps().await {
            self.known = None;
            return Err(e);
        }
        Ok(())
    }

    fn request_full_sync(&mut self) {
        self.full_next = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_chains_are_ours_only() {
        let save = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-ABC - [0:0]\n:DOCKER - [0:0]\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n";
        assert_eq!(saved_chains(save).into_iter().collect::<Vec<_>>(), ["KUBE-SEP-ABC", "KUBE-SERVICES"]);
    }
}
