//! Automatic compaction: a policy (pure) and a task that applies it to any `Store`.
//! Without compaction the history grows forever; with it, the embedded file stays
//! bounded under a steady update load and etcd stays within its quota.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::types::Revision;

/// How much history to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactionPolicy {
    /// Keep the last N revisions.
    Revisions(i64),
    /// Keep the revisions written during the last period (like kube-apiserver's
    /// 5-minute compaction interval).
    Age(Duration),
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy::Age(Duration::from_secs(300))
    }
}

/// Decides compaction targets from observed `(time, revision)` samples. No I/O.
#[derive(Debug)]
pub struct CompactionPlanner {
    policy: CompactionPolicy,
    samples: VecDeque<(Instant, Revision)>,
    compacted: Revision,
}

impl CompactionPlanner {
    pub fn new(policy: CompactionPolicy, compacted: Revision) -> Self {
        CompactionPlanner { policy, samples: VecDeque::new(), compacted }
    }

    /// Records that the store was at `current` at `now`, and returns the revision to
    /// compact to, if compaction should advance.
    pub fn observe(&mut self, now: Instant, current: Revision) -> Option<Revision> {
        let target = match self.policy {
            CompactionPolicy::Revisions(keep) => current - keep.max(1) + 1,
            CompactionPolicy::Age(age) => {
                self.samples.push_back((now, current));
                let cutoff = now.checked_sub(age)?;
                // The newest revision observed at or before the cutoff is older than
                // `age`; everything before it may go.
                let mut target = None;
                while let Some(&(at, rev)) = self.samples.front() {
                    if at > cutoff {
                        break;
                    }
                    target = Some(rev);
                    self.samples.pop_front();
                }
                if let Some(rev) = target {
                    // Keep the sample as the floor for the next round.
                    self.samples.push_front((cutoff, rev));
                }
                target?
            }
        };
        (target > self.compacted).then(|| {
            self.compacted = target;
            target
        })
    }
}

/// Runs a [`CompactionPolicy`] against a store every `interval`.
pub struct Compactor {
    store: Arc<dyn Store>,
    policy: CompactionPolicy,
    interval: Duration,
}

impl Compactor {
    pub fn new(store: Arc<dyn Store>, policy: CompactionPolicy, interval: Duration) -> Self {
        Compactor { store, policy, interval }
    }

    /// Compacts on every tick until `shutdown`. Failures are logged and retried on
    /// the next tick: a missed compaction only delays reclaiming space.
    pub async fn run(self, shutdown: CancellationToken) {
        let compacted = self.store.compacted_revision().await.unwrap_or(0);
        let mut planner = CompactionPlanner::new(self.policy, compacted);
        let mut ticker = tokio::time::interval(self.interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let current = match self.store.current_revision().await {
                Ok(rev) => rev,
                Err(e) => {
                    tracing::warn!(error = %e, "compactor: cannot read the current revision");
                    continue;
                }
            };
            if let Some(target) = planner.observe(Instant::now(), current) {
                match self.store.compact(target).await {
                    Ok(()) => tracing::debug!(revision = target, "compacted"),
                    Err(e) => tracing::warn!(error = %e, revision = target, "compaction failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_policy_keeps_the_last_n() {
        let mut p = CompactionPlanner::new(CompactionPolicy::Revisions(100), 0);
        let now = Instant::now();
        assert_eq!(p.observe(now, 50), None);
        assert_eq!(p.observe(now, 150), Some(51));
        assert_eq!(p.observe(now, 150), None);
        assert_eq!(p.observe(now, 151), Some(52));
    }

    #[test]
    fn age_policy_compacts_to_the_revision_seen_one_period_ago() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut p = CompactionPlanner::new(CompactionPolicy::Age(5 * minute), 0);
        assert_eq!(p.observe(start, 10), None);
        assert_eq!(p.observe(start + 2 * minute, 20), None);
        assert_eq!(p.observe(start + 5 * minute, 30), Some(10));
        assert_eq!(p.observe(start + 6 * minute, 40), None);
        assert_eq!(p.observe(start + 7 * minute, 50), Some(20));
        // Nothing written: the target does not move backwards or repeat.
        assert_eq!(p.observe(start + 20 * minute, 50), Some(50));
        assert_eq!(p.observe(start + 30 * minute, 50), None);
    }
}
