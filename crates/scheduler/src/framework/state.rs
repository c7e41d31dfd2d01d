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
#[derive(Default)]
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Snapshot indices (sorted) outside of which no node passes the filters, when
    /// a PreFilter can tell (upstream's `PreFilterResult`); `None` means any node.
    candidates: Option<Vec<usize>>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self.data.iter().map(|(k, v)| (*k, (**v).clone_box())).collect(),
            candidates: self.candidates.clone(),
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
    fn candidates_intersect() {
        let mut s = CycleState::new();
        assert_eq!(s.candidates(), None);
        s.restrict_candidates(vec![1, 3, 5, 7]);
        s.restrict_candidates(vec![0, 3, 7, 9]);
        assert_eq!(s.candidates(), Some(&[3, 7][..]));
    }
}
