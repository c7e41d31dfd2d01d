//! iptables: the whole KUBE-* set in one `iptables-restore --noflush` (one COMMIT
//! per table, each atomic), then the jumps from the built-in chains ensured.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{exec, RuleSink, SinkError};
use crate::model::{NodeContext, Options, ServicePortPlan};
use crate::render::iptables::{self, JUMPS};

/// How often the jumps from the built-in chains are re-checked (another program
/// flushing them would otherwise go unnoticed).
const JUMP_CHECK: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct IptablesSink {
    /// Our chains in the kernel, per table, as of the last successful apply; `None`
    /// when unknown (start, or after a failure): read them with iptables-save.
    known: Option<(BTreeSet<String>, BTreeSet<String>)>,
    jumps_checked: Option<Instant>,
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

    async fn current(&mut self) -> Result<(BTreeSet<String>, BTreeSet<String>), SinkError> {
        if let Some(k) = self.known.take() {
            return Ok(k);
        }
        let nat = self.tools.run("iptables-save", &["-t", "nat"], None).await?;
        let filter = self.tools.run("iptables-save", &["-t", "filter"], None).await?;
        Ok((saved_chains(&nat), saved_chains(&filter)))
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
        let (old_nat, old_filter) = self.current().await?;
        let new_nat: BTreeSet<String> = rules.nat_chains.iter().cloned().collect();
        let new_filter: BTreeSet<String> = rules.filter_chains.iter().cloned().collect();
        let stale_nat = old_nat.difference(&new_nat).cloned().collect();
        let stale_filter = old_filter.difference(&new_filter).cloned().collect();
        let text = rules.restore_text(&stale_nat, &stale_filter);
        self.tools.run("iptables-restore", &["-w", "--noflush"], Some(&text)).await?;
        self.known = Some((new_nat, new_filter));
        if let Err(e) = self.ensure_jumps().await {
            self.known = None;
            return Err(e);
        }
        Ok(())
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
