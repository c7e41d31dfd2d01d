//! The cache's change log: which pods were added to or removed from nodes
//! between two snapshots. PreFilter plugins whose state counts pods across the
//! whole cluster (PodTopologySpread, InterPodAffinity) use it to bring the state
//! of the previous pod of the same shape up to date instead of walking every
//! node again — replicas of one workload arrive one after another.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::pod_info::PodInfo;

/// Entries kept; older generations count as unknown.
const KEEP: usize = 1024;

static NEXT_LOG_ID: AtomicU64 = AtomicU64::new(1);

/// One change to the cluster as the cache saw it.
#[derive(Debug, Clone)]
pub enum Change {
    /// A pod now counts on its node (`node_name`).
    PodAdded(Arc<PodInfo>),
    /// A pod no longer counts on its node.
    PodRemoved(Arc<PodInfo>),
    /// Anything else (nodes, namespaces): states built before it are stale.
    Other,
}

#[derive(Debug)]
struct Entries {
    /// (generation, change), oldest first.
    log: VecDeque<(u64, Change)>,
    /// Generations up to this one were dropped.
    dropped_through: u64,
}

/// A bounded, shared log of changes numbered by generation.
#[derive(Debug, Clone)]
pub struct ChangeLog {
    /// Tells logs of different caches apart.
    pub id: u64,
    entries: Arc<Mutex<Entries>>,
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog {
            id: NEXT_LOG_ID.fetch_add(1, Ordering::Relaxed),
            entries: Arc::new(Mutex::new(Entries { log: VecDeque::new(), dropped_through: 0 })),
        }
    }
}

impl ChangeLog {
    /// Records `change` as generation `generation`.
    pub fn push(&self, generation: u64, change: Change) {
        let mut e = self.entries.lock().expect("change log lock");
        e.log.push_back((generation, change));
        while e.log.len() > KEEP {
            if let Some((g, _)) = e.log.pop_front() {
                e.dropped_through = g;
            }
        }
    }

    /// The pod changes after generation `from` up to and including `to`;
    /// `None` when something else changed or the log no longer reaches back.
    pub fn pod_changes(&self, from: u64, to: u64) -> Option<Vec<Change>> {
        let e = self.entries.lock().expect("change log lock");
        if from < e.dropped_through || from > to {
            return None;
        }
        let mut out = Vec::new();
        for (g, c) in e.log.iter().filter(|(g, _)| *g > from && *g <= to) {
            let _ = g;
            match c {
                Change::Other => return None,
                c => out.push(c.clone()),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn pod_changes_between_generations() {
        let log = ChangeLog::default();
        log.push(1, Change::PodAdded(pod("a").build()));
        log.push(2, Change::PodRemoved(pod("a").build()));
        log.push(3, Change::Other);
        log.push(4, Change::PodAdded(pod("b").build()));
        assert_eq!(log.pod_changes(0, 2).map(|c| c.len()), Some(2));
        assert_eq!(log.pod_changes(1, 2).map(|c| c.len()), Some(1));
        assert!(log.pod_changes(2, 4).is_none(), "a node changed in between");
        assert_eq!(log.pod_changes(3, 4).map(|c| c.len()), Some(1));
        assert_eq!(log.pod_changes(4, 4).map(|c| c.len()), Some(0));
        for g in 5..(5 + KEEP as u64) {
            log.push(g, Change::PodAdded(pod("x").build()));
        }
        assert!(log.pod_changes(3, 4 + KEEP as u64).is_none(), "dropped");
    }
}
