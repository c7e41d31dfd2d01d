//! Pod egress masquerade, as flannel and k3s do it: traffic from this node's
//! pods keeps its pod source address while it stays inside the cluster's pod
//! range (so a pod on another node sees the client pod, not this node), and is
//! masqueraded to the node's address only when it leaves that range. The CNI
//! bridge's own `ipMasq` cannot do this (it exempts only this node's /24), so
//! the CNI config turns it off and the agent owns one nat chain instead.
//!
//! Service traffic is not special here: the proxy's DNAT happens in PREROUTING
//! / OUTPUT, so by POSTROUTING a packet to a Service already carries its pod
//! endpoint's address and stays unmasqueraded; what the proxy marked for
//! masquerade (hairpin, off-node) is masqueraded by its own KUBE-POSTROUTING.
//!
//! Pure core: [`rules`] (the chain as `iptables-restore` input). A [`NatTable`]
//! applies it: [`IptablesNat`] in the kernel, [`FakeNatTable`] in memory.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// The agent's chain in the nat table (`scripts/killall` removes `SKIFF-*`).
pub const CHAIN: &str = "SKIFF-POSTROUTING";

/// The rule in nat POSTROUTING that sends packets to [`CHAIN`].
pub const JUMP: [&str; 6] = ["-m", "comment", "--comment", "skiff pod egress masquerade", "-j", CHAIN];

/// How often the chain and its jump are checked and rewritten (someone may
/// have flushed them, e.g. a firewall reload).
const RECHECK: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum MasqError {
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Failed { program: String, stderr: String },
}

/// The chain for a node whose pods are `pod_cidr`, in a cluster whose pods are
/// `cluster_cidr`: flushed and refilled by one `iptables-restore --noflush`.
pub fn rules(pod_cidr: &str, cluster_cidr: &str) -> String {
    format!(
        "*nat\n\
         :{CHAIN} - [0:0]\n\
         -A {CHAIN} -s {pod_cidr} -d {cluster_cidr} -m comment --comment \"pod to pod keeps its source\" -j RETURN\n\
         -A {CHAIN} -s {pod_cidr} -d 224.0.0.0/4 -m comment --comment \"multicast\" -j RETURN\n\
         -A {CHAIN} -s {pod_cidr} ! -d {cluster_cidr} -m comment --comment \"leaving the cluster\" -j MASQUERADE --random-fully\n\
         COMMIT\n"
    )
}

/// The kernel's nat table, as far as the agent touches it.
#[async_trait]
pub trait NatTable: Send + Sync {
    /// Loads `iptables-restore --noflush` input.
    async fn restore(&self, input: &str) -> Result<(), MasqError>;
    /// Whether nat POSTROUTING has the [`JUMP`] rule.
    async fn has_jump(&self) -> Result<bool, MasqError>;
    /// Appends the [`JUMP`] rule to nat POSTROUTING.
    async fn add_jump(&self) -> Result<(), MasqError>;
}

/// Writes the chain and makes sure POSTROUTING jumps to it once.
pub async fn ensure(table: &dyn NatTable, pod_cidr: &str, cluster_cidr: &str) -> Result<(), MasqError> {
    table.restore(&rules(pod_cidr, cluster_cidr)).await?;
    if !table.has_jump().await? {
        table.add_jump().await?;
    }
    Ok(())
}

/// Keeps the chain in place until `shutdown`. The rules stay when the agent
/// stops: running pods keep their egress.
pub async fn run(table: &dyn NatTable, pod_cidr: String, cluster_cidr: String, shutdown: CancellationToken) {
    let mut said = false;
    loop {
        match ensure(table, &pod_cidr, &cluster_cidr).await {
            Ok(()) if !said => {
                eprintln!("skiff: agent: pods' traffic leaving {cluster_cidr} is masqueraded");
                said = true;
            }
            Ok(()) => {}
            Err(e) => eprintln!("skiff: agent: pod egress masquerade: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}

/// The kernel through `iptables` / `iptables-restore`.
pub struct IptablesNat;

impl IptablesNat {
    async fn iptables(program: &str, args: &[&str], stdin: Option<&str>) -> Result<bool, MasqError> {
        use tokio::io::AsyncWriteExt;
        let spawn = |source| MasqError::Spawn { program: program.into(), source };
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await.map_err(spawn)?;
        }
        let out = child.wait_with_output().await.map_err(spawn)?;
        match out.status.code() {
            Some(0) => Ok(true),
            // `iptables -C`: 1 is "no such rule".
            Some(1) if args.contains(&"-C") => Ok(false),
            _ => Err(MasqError::Failed {
                program: format!("{program} {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }),
        }
    }

    fn jump_args(op: &'static str) -> Vec<&'static str> {
        let mut args = vec!["-w", "-t", "nat", op, "POSTROUTING"];
        args.extend_from_slice(&JUMP);
        args
    }
}

#[async_trait]
impl NatTable for IptablesNat {
    async fn restore(&self, input: &str) -> Result<(), MasqError> {
        Self::iptables("iptables-restore", &["-w", "--noflush"], Some(input)).await.map(|_| ())
    }

    async fn has_jump(&self) -> Result<bool, MasqError> {
        Self::iptables("iptables", &Self::jump_args("-C"), None).await
    }

    async fn add_jump(&self) -> Result<(), MasqError> {
        Self::iptables("iptables", &Self::jump_args("-A"), None).await.map(|_| ())
    }
}

/// In memory: the last restore input and how many jumps POSTROUTING has.
#[derive(Default)]
pub struct FakeNatTable {
    pub state: Mutex<(Option<String>, usize)>,
}

#[async_trait]
impl NatTable for FakeNatTable {
    async fn restore(&self, input: &str) -> Result<(), MasqError> {
        self.state.lock().unwrap().0 = Some(input.to_string());
        Ok(())
    }

    async fn has_jump(&self) -> Result<bool, MasqError> {
        Ok(self.state.lock().unwrap().1 > 0)
    }

    async fn add_jump(&self) -> Result<(), MasqError> {
        self.state.lock().unwrap().1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_traffic_is_masqueraded_only_when_it_leaves_the_cluster_range() {
        let r = rules("10.42.1.0/24", "10.42.0.0/16");
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines[0], "*nat");
        assert_eq!(lines[1], ":SKIFF-POSTROUTING - [0:0]");
        assert!(lines[2].starts_with("-A SKIFF-POSTROUTING -s 10.42.1.0/24 -d 10.42.0.0/16 "));
        assert!(lines[2].ends_with("-j RETURN"));
        assert!(lines[3].contains("-d 224.0.0.0/4") && lines[3].ends_with("-j RETURN"));
        assert!(lines[4].starts_with("-A SKIFF-POSTROUTING -s 10.42.1.0/24 ! -d 10.42.0.0/16 "));
        assert!(lines[4].ends_with("-j MASQUERADE --random-fully"));
        assert_eq!(lines[5], "COMMIT");
        assert_eq!(lines.len(), 6);
    }

    #[tokio::test]
    async fn ensure_writes_the_chain_and_one_jump() {
        let table = FakeNatTable::default();
        ensure(&table, "10.42.1.0/24", "10.42.0.0/16").await.unwrap();
        ensure(&table, "10.42.1.0/24", "10.42.0.0/16").await.unwrap();
        let state = table.state.lock().unwrap();
        assert_eq!(state.0.as_deref(), Some(rules("10.42.1.0/24", "10.42.0.0/16").as_str()));
        assert_eq!(state.1, 1, "the jump is added once");
    }
}
