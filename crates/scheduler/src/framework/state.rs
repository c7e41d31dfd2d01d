//! `CycleState`: what PreFilter/PreScore prepare for the later extension points of
//! the same scheduling cycle, keyed by plugin name.

use std::any::Any;

/// Data a plugin stores in the cycle state. Cloneable so preemption can try
/// "what if" on a copy.
pub trait StateData: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Per-cycle plugin data. A short list searched linearly: a handful of
/// plugins store something, and filters read it once per node, where hashing
/// the key would cost more than comparing a few pointers.
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Snapshot indices (sorted) outside of which no node passes the filters, when
    /// a PreFilter can tell (upstream's `PreFilterResult`); `None` means any node.
    candidates: Option<Vec<usize>>,
    /// Filters whose PreFilter found nothing for them to check for this pod
    /// (upstream's `Skip` status), by plugin name.
    skipped: Vec<&'static str>,
    /// Bit `i` clear: the profile's filter `i` is skipped ([`Profile`] sets it
    /// from `skipped` once per cycle, so filtering a node tests a bit).
    ///
    /// [`Profile`]: super::Profile
    active_filters: u64,
}

impl Default for CycleState {
    fn default() -> Self {
        CycleState { data: Vec::new(), candidates: None, skipped: Vec::new(), active_filters: u64::MAX }
    }
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self.data.iter().map(|(k, v)| (*k, (**v).clone_box())).collect(),
            candidates: self.candidates.clone(),
            skipped: self.skipped.clone(),
            active_filters: self.active_filters,
        }
    }
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.data.iter().map(|(k, _)| k)).finish()
    }
}

/// Keys are plugin-name constants: compare the pointer first, then the text.
fn same(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

impl CycleState {
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn write<T: StateData>(&mut self, key: &'static str, value: T) {
        match self.data.iter_mut().find(|(k, _)| same(k, key)) {
            Some(slot) => slot.1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    /// Narrows the nodes worth filtering to `nodes` (sorted snapshot indices).
    ///
    /// # Guarantees the caller gives
    /// Every node left out would be rejected by the filters. Only a speed-up:
    /// when nothing fits, every node is filtered again to explain why.
    pub fn restrict_candidates(&mut self, nodes: Vec<usize>) {
        self.candidates = Some(match self.candidates.take() {
            None => nodes,
            Some(old) => old.into_iter().filter(|i| nodes.binary_search(i).is_ok()).collect(),
        });
    }

    /// The nodes worth filtering, if a PreFilter narrowed them.
    pub fn candidates(&self) -> Option<&[usize]> {
        self.candidates.as_deref()
    }

    /// Marks `plugin`'s Filter as having nothing to check for this pod: it is
    /// not called. Only for a filter that would let every node through.
    pub fn skip_filter(&mut self, plugin: &'static str) {
        if !self.skipped.iter().any(|k| same(k, plugin)) {
            self.skipped.push(plugin);
        }
    }

    /// Whether `plugin`'s Filter was marked as having nothing to check.
    pub fn filter_skipped(&self, plugin: &'static str) -> bool {
        self.skipped.iter().any(|k| same(k, plugin))
    }

    /// Every filter runs again (a what-if added a pod the skips did not foresee).
    pub fn run_every_filter(&mut self) {
        self.skipped.clear();
        self.active_filters = u64::MAX;
    }

    pub(super) fn set_active_filters(&mut self, mask: u64) {
        self.active_filters = mask;
    }

    #[cfg(test)]
    pub(super) fn filter_active(&self, index: usize) -> bool {
        index >= 64 || self.active_filters & (1 << index) != 0
    }

    /// Bit `i` set: the profile's `i`-th filter runs this cycle (filters past the
    /// 64th always run).
    pub(super) fn active_filters(&self) -> u64 {
        self.active_filters
    }

    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.data.iter().find(|(k, _)| same(k, key)).and_then(|(_, v)| (**v).as_any().downcast_ref())
    }

    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data.iter_mut().find(|(k, _)| same(k, key)).and_then(|(_, v)| (**v).as_any_mut().downcast_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_are_independent() {
        let mut s = CycleState::new();
        s.write("a", vec![1]);
        let mut c = s.clone();
        c.read_mut::<Vec<i32>>("a").unwrap().push(2);
        assert_eq!(s.read::<Vec<i32>>("a"), Some(&vec![1]));
        assert_eq!(c.read::<Vec<i32>>("a"), Some(&vec![1, 2]));
        assert!(s.read::<String>("a").is_none());
    }

    #[test]
    fn skips_are_kept_by_clones_until_every_filter_runs_again() {
        let mut s = CycleState::new();
        assert!(!s.filter_skipped("a"));
        s.skip_filter("a");
        s.skip_filter("a");
        assert!(s.filter_skipped("a") && !s.filter_skipped("b"));
        s.set_active_filters(!0b10);
        let mut c = s.clone();
        assert!(c.filter_skipped("a") && !c.filter_active(1) && c.filter_active(0) && c.filter_active(64));
        c.run_every_filter();
        assert!(!c.filter_skipped("a") && c.filter_active(1));
        assert!(s.filter_skipped("a"));
    }

    #[test]
    fn candidates_intersect() {
        let mut s = CycleState::new();
        assert_eq!(s.candidates(), None);
        s.restrict_candidates(vec![1, 3, 5, 7]);
        s.restrict_candidates(vec![0, 3, 7, 9]);
        assert_eq!(s.candidates(), Some(&[3, 7][..]));
    }
}
