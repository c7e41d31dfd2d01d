//! The node IPAM controller's memory, as a pure state machine: which /24 each
//! Node holds (from the watch), which ones this controller has written but not
//! yet seen come back, and which Nodes wait for one. Assigning is a decision in
//! memory (the first version listed every Node for every Node it served, which
//! made 1,000 registrations cost a million Node reads).
//!
//! Correctness under stale events: a watch event (or a relist served from the
//! watch cache) may show a Node as it was *before* our own write landed. A
//! CIDR we wrote stays ours — reserved, never given to anyone else, and the
//! Node not served again — until the watch shows that Node with a podCIDR (or
//! the Node is gone). The API server also refuses to change a podCIDR once set
//! (as upstream), so even a wrong decision here cannot move a node's range.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;

use super::ClusterCidr;

impl ClusterCidr {
    fn network(&self) -> u32 {
        u32::from(self.base) & u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0)
    }

    /// How many /24s the range holds.
    pub fn slots(&self) -> u32 {
        1u32 << (24 - self.prefix)
    }

    /// The `i`th /24 of the range, as `a.b.c.0/24`.
    pub fn slot_cidr(&self, i: u32) -> String {
        format!("{}/24", Ipv4Addr::from(self.network() + (i << 8)))
    }

    /// Which /24 of the range `cidr` is (None: not one of ours, so it cannot collide).
    pub fn slot_of(&self, cidr: &str) -> Option<u32> {
        let ip: Ipv4Addr = cidr.strip_suffix("/24")?.parse().ok()?;
        let offset = u32::from(ip).checked_sub(self.network())?;
        (offset & 0xff == 0 && offset >> 8 < self.slots()).then_some(offset >> 8)
    }
}

/// See the module comment. Fed by [`super::run`].
#[derive(Debug)]
pub struct Assignments {
    range: ClusterCidr,
    /// Node → podCIDR, as the watch last showed it.
    observed: HashMap<String, String>,
    /// Node → podCIDR this controller wrote (or is writing) that the watch has
    /// not shown yet. Survives relists: a list may predate the write.
    ours: HashMap<String, String>,
    /// Slot → how many of `observed` and `ours` hold it.
    taken: BTreeMap<u32, usize>,
    /// Nodes seen without a podCIDR, waiting for one.
    pending: BTreeSet<String>,
    /// Nodes whose write of `ours` had an unknown outcome: written again.
    retry: BTreeSet<String>,
    /// Names seen since the current (re-)list began; None once it is complete.
    listing: Option<HashSet<String>>,
}

impl Assignments {
    pub fn new(range: ClusterCidr) -> Assignments {
        Assignments {
            range,
            observed: HashMap::new(),
            ours: HashMap::new(),
            taken: BTreeMap::new(),
            pending: BTreeSet::new(),
            retry: BTreeSet::new(),
            listing: Some(HashSet::new()),
        }
    }

    fn take(&mut self, cidr: &str) {
        if let Some(slot) = self.range.slot_of(cidr) {
            *self.taken.entry(slot).or_default() += 1;
        }
    }

    fn release(&mut self, cidr: &str) {
        if let Some(slot) = self.range.slot_of(cidr) {
            if let Some(n) = self.taken.get_mut(&slot) {
                *n -= 1;
                if *n == 0 {
                    self.taken.remove(&slot);
                }
            }
        }
    }

    /// A (re-)list begins: what the watch showed is forgotten and its Nodes
    /// follow; our unconfirmed writes are kept.
    pub fn relist(&mut self) {
        for cidr in std::mem::take(&mut self.observed).into_values() {
            self.release(&cidr);
        }
        self.pending.clear();
        self.listing = Some(HashSet::new());
    }

    /// The list is complete: assignments may start. A node we wrote to that the
    /// list does not have was deleted while the watch was down.
    pub fn listed(&mut self) {
        let Some(listed) = self.listing.take() else { return };
        let gone: Vec<String> = self.ours.keys().filter(|n| !listed.contains(*n)).cloned().collect();
        for name in gone {
            self.deleted(&name);
        }
    }

    /// A Node as the watch shows it.
    pub fn seen(&mut self, name: &str, cidr: Option<&str>) {
        if let Some(listing) = &mut self.listing {
            listing.insert(name.to_string());
        }
        match cidr {
            Some(c) => {
                if let Some(mine) = self.ours.remove(name) {
                    self.release(&mine);
                }
                if self.observed.get(name).map(String::as_str) != Some(c) {
                    if let Some(old) = self.observed.insert(name.to_string(), c.to_string()) {
                        self.release(&old);
                    }
                    self.take(c);
                }
                self.pending.remove(name);
                self.retry.remove(name);
            }
            // An event older than our write: the Node is served already.
            None if self.ours.contains_key(name) => {}
            None => {
                if let Some(old) = self.observed.remove(name) {
                    self.release(&old);
                }
                self.pending.insert(name.to_string());
            }
        }
    }

    pub fn deleted(&mut self, name: &str) {
        if let Some(c) = self.observed.remove(name) {
            self.release(&c);
        }
        if let Some(c) = self.ours.remove(name) {
            self.release(&c);
        }
        self.pending.remove(name);
        self.retry.remove(name);
    }

    /// The next write to make: a Node and the podCIDR to give it, reserved at
    /// once. None until the list is complete, when nobody waits, or when the
    /// range is full (the Node then waits for a CIDR to be freed).
    pub fn next_write(&mut self) -> Option<(String, String)> {
        if self.listing.is_some() {
            return None;
        }
        if let Some(name) = self.retry.pop_first() {
            if let Some(c) = self.ours.get(&name) {
                return Some((name, c.clone()));
            }
        }
        let name = self.pending.first()?.clone();
        let slot = self.first_free()?;
        let cidr = self.range.slot_cidr(slot);
        self.pending.remove(&name);
        self.ours.insert(name.clone(), cidr.clone());
        self.take(&cidr);
        Some((name, cidr))
    }

    /// The lowest slot nobody holds: the first gap in `taken`.
    fn first_free(&self) -> Option<u32> {
        let mut want = 0u32;
        for &slot in self.taken.keys() {
            if slot != want {
                break;
            }
            want += 1;
        }
        (want < self.range.slots()).then_some(want)
    }

    /// Whether a Node waits for a CIDR the range does not have.
    pub fn exhausted(&self) -> bool {
        self.listing.is_none() && !self.pending.is_empty() && self.first_free().is_none()
    }

    /// The write of `name`'s CIDR was refused (the Node is gone, or has a
    /// podCIDR already): the CIDR is free again; the watch tells the rest.
    pub fn rejected(&mut self, name: &str) {
        if let Some(c) = self.ours.remove(name) {
            self.release(&c);
        }
    }

    /// The write's outcome is unknown (a timeout, a 5xx): the CIDR stays
    /// reserved for `name` and is written again.
    pub fn retry(&mut self, name: &str) {
        if self.ours.contains_key(name) {
            self.retry.insert(name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(range: &str, nodes: &[(&str, Option<&str>)]) -> Assignments {
        let mut a = Assignments::new(range.parse().unwrap());
        a.relist();
        for (n, c) in nodes {
            a.seen(n, *c);
        }
        a.listed();
        a
    }

    #[test]
    fn slots_of_the_range() {
        let r: ClusterCidr = "10.42.0.0/16".parse().unwrap();
        assert_eq!(r.slots(), 256);
        assert_eq!(r.slot_cidr(3), "10.42.3.0/24");
        assert_eq!(r.slot_of("10.42.3.0/24"), Some(3));
        assert_eq!(r.slot_of("10.43.0.0/24"), None);
        assert_eq!(r.slot_of("10.42.3.128/25"), None);
        let big: ClusterCidr = "10.0.0.0/8".parse().unwrap();
        assert_eq!(big.slots(), 65536);
        assert_eq!(big.slot_cidr(65535), "10.255.255.0/24");
    }

    #[test]
    fn waits_for_the_list_then_gives_the_first_gap() {
        let mut a = Assignments::new(ClusterCidr::default());
        a.relist();
        a.seen("new", None);
        assert_eq!(a.next_write(), None, "not before the list is complete");
        a.seen("old", Some("10.42.0.0/24"));
        a.seen("older", Some("10.42.2.0/24"));
        a.listed();
        assert_eq!(a.next_write(), Some(("new".into(), "10.42.1.0/24".into())));
        assert_eq!(a.next_write(), None);
        a.seen("third", None);
        assert_eq!(a.next_write(), Some(("third".into(), "10.42.3.0/24".into())));
    }

    /// The bug of ea607ed: a status update written just before our podCIDR
    /// arrives after it, showing the Node without one. It must not be served
    /// twice, and its CIDR must not go to anyone else.
    #[test]
    fn a_stale_event_neither_reassigns_nor_frees() {
        let mut a = listed("10.42.0.0/16", &[]);
        a.seen("n1", None);
        assert_eq!(a.next_write(), Some(("n1".into(), "10.42.0.0/24".into())));
        a.seen("n1", None); // the stale event
        assert_eq!(a.next_write(), None, "n1 is served already");
        a.seen("n2", None);
        assert_eq!(a.next_write(), Some(("n2".into(), "10.42.1.0/24".into())), "n1's CIDR is not reused");
        a.seen("n1", Some("10.42.0.0/24")); // our write comes back
        a.seen("n1", None); // and then without one: someone cleared it, so it is free
        assert_eq!(a.next_write(), Some(("n1".into(), "10.42.0.0/24".into())));
    }

    /// A relist served from a cache that predates our write shows the Node
    /// without a podCIDR and does not show the CIDR as used.
    #[test]
    fn a_stale_relist_keeps_our_writes() {
        let mut a = listed("10.42.0.0/16", &[("n1", None)]);
        assert_eq!(a.next_write(), Some(("n1".into(), "10.42.0.0/24".into())));
        a.relist();
        a.seen("n1", None);
        a.seen("n2", None);
        a.listed();
        assert_eq!(a.next_write(), Some(("n2".into(), "10.42.1.0/24".into())));
        assert_eq!(a.next_write(), None);
    }

    #[test]
    fn deleted_nodes_free_their_cidr_even_while_the_watch_was_down() {
        let mut a = listed("10.42.0.0/16", &[("n1", None), ("n2", Some("10.42.1.0/24"))]);
        assert_eq!(a.next_write(), Some(("n1".into(), "10.42.0.0/24".into())));
        a.deleted("n2");
        a.relist(); // n1 was deleted while the watch was down: the list lacks it
        a.listed();
        a.seen("n3", None);
        assert_eq!(a.next_write(), Some(("n3".into(), "10.42.0.0/24".into())));
        a.seen("n4", None);
        assert_eq!(a.next_write(), Some(("n4".into(), "10.42.1.0/24".into())));
    }

    #[test]
    fn failed_writes_retry_the_same_cidr_or_give_it_back() {
        let mut a = listed("10.42.0.0/16", &[("n1", None), ("n2", None)]);
        assert_eq!(a.next_write(), Some(("n1".into(), "10.42.0.0/24".into())));
        a.retry("n1");
        assert_eq!(a.next_write(), Some(("n1".into(), "10.42.0.0/24".into())), "the same CIDR again");
        assert_eq!(a.next_write(), Some(("n2".into(), "10.42.1.0/24".into())));
        a.rejected("n1");
        a.seen("n3", None);
        assert_eq!(a.next_write(), Some(("n3".into(), "10.42.0.0/24".into())), "a refused CIDR is free");
    }

    #[test]
    fn a_full_range_leaves_nodes_waiting() {
        let mut a = listed("10.9.0.0/23", &[("a", Some("10.9.0.0/24")), ("b", None), ("c", None)]);
        assert_eq!(a.next_write(), Some(("b".into(), "10.9.1.0/24".into())));
        assert_eq!(a.next_write(), None);
        assert!(a.exhausted());
        a.deleted("a");
        assert_eq!(a.next_write(), Some(("c".into(), "10.9.0.0/24".into())));
        assert!(!a.exhausted());
    }

    #[test]
    fn thousands_of_nodes_get_distinct_cidrs() {
        let mut a = listed("10.0.0.0/8", &[]);
        let mut seen = HashSet::new();
        for i in 0..5000 {
            a.seen(&format!("n{i}"), None);
            let (_, c) = a.next_write().unwrap();
            assert!(seen.insert(c));
        }
    }
}
