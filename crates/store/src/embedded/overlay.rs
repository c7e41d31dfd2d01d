//! Reading the visible groups that are not yet in the data file, and merging them
//! over what a redb snapshot holds. Pure: no I/O.
//!
//! A read at revision `at` takes, for each key, the newest change at or below `at`
//! among the unflushed groups, and otherwise the newest version at or below
//! `min(at, flushed)` in the data file.

use std::collections::btree_map::{self, BTreeMap};
use std::collections::VecDeque;
use std::iter::Peekable;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::state::Committed;
use crate::types::*;

/// For each key in `req`'s range changed in `recent` at or below `at`: its state at
/// `at` (`None`: deleted).
pub fn newest_in_range(
    recent: &VecDeque<Arc<Committed>>,
    req: &RangeRequest,
    at: Revision,
) -> BTreeMap<Vec<u8>, Option<KeyValue>> {
    let end = req.end_key();
    let contains = |key: &[u8]| key >= req.start.as_slice() && end.as_ref().is_none_or(|end| key < end.as_slice());
    let mut out = BTreeMap::new();
    for group in recent {
        for event in &group.events {
            if event.revision() > at {
                return out;
            }
            if contains(&event.kv.key) {
                let state = (event.kind == EventKind::Put).then(|| event.kv.clone());
                out.insert(event.kv.key.clone(), state);
            }
        }
    }
    out
}

/// The events in `recent` with revisions in `(after, upto]` on keys with `prefix`.
pub fn events_between(recent: &VecDeque<Arc<Committed>>, prefix: &[u8], after: Revision, upto: Revision) -> Vec<Event> {
    recent
        .iter()
        .filter(|g| g.revision > after)
        .flat_map(|g| &g.events)
        .filter(|e| e.revision() > after && e.revision() <= upto && e.kv.key.starts_with(prefix))
        .cloned()
        .collect()
}

/// A key of the data file, with its state at the read revision.
pub enum Stored {
    Live(KeyValue),
    /// The key has versions, but none live at the read revision.
    Absent(Vec<u8>),
}

impl Stored {
    fn key(&self) -> &[u8] {
        match self {
            Stored::Live(kv) => &kv.key,
            Stored::Absent(key) => key,
        }
    }
}

/// Builds a range response from the data file's keys, in order, with the overlay's
/// changes taking precedence.
pub struct RangeBuilder {
    overlay: Peekable<btree_map::IntoIter<Vec<u8>, Option<KeyValue>>>,
    limit: usize,
    out: Vec<KeyValue>,
    more: bool,
}

impl RangeBuilder {
    /// `limit`: at most this many keys (`usize::MAX`: all).
    pub fn new(overlay: BTreeMap<Vec<u8>, Option<KeyValue>>, limit: usize) -> Self {
        RangeBuilder { overlay: overlay.into_iter().peekable(), limit, out: Vec::new(), more: false }
    }

    /// Adds the next key of the data file (keys arrive in order) with its state there.
    /// `Break` once the limit is reached and it is known whether more remain.
    pub fn push(&mut self, stored: Stored) -> ControlFlow<()> {
        while let Some((_, state)) = self.overlay.next_if(|(k, _)| k.as_slice() < stored.key()) {
            self.emit(state)?;
        }
        let state = match self.overlay.next_if(|(k, _)| k.as_slice() == stored.key()) {
            Some((_, state)) => state,
            None => match stored {
                Stored::Live(kv) => Some(kv),
                Stored::Absent(_) => None,
            },
        };
        self.emit(state)
    }

    /// The keys and whether more remain, after the data file's keys are exhausted.
    pub fn finish(mut self) -> (Vec<KeyValue>, bool) {
        if !self.more {
            while let Some((_, state)) = self.overlay.next() {
                if self.emit(state).is_break() {
                    break;
                }
            }
        }
        (self.out, self.more)
    }

    fn emit(&mut self, state: Option<KeyValue>) -> ControlFlow<()> {
        let Some(kv) = state else { return ControlFlow::Continue(()) };
        if self.out.len() == self.limit {
            self.more = true;
            return ControlFlow::Break(());
        }
        self.out.push(kv);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: format!("{key}@{rev}").into(),
            create_revision: 1,
            mod_revision: rev,
            version: 1,
        }
    }

    fn put(key: &str, rev: Revision) -> Event {
        Event { kind: EventKind::Put, kv: kv(key, rev), prev: None }
    }

    fn delete(key: &str, rev: Revision) -> Event {
        Event { kind: EventKind::Delete, kv: KeyValue { value: Vec::new(), ..kv(key, rev) }, prev: None }
    }

    fn recent(groups: Vec<Vec<Event>>) -> VecDeque<Arc<Committed>> {
        groups
            .into_iter()
            .map(|events| {
                let revision = events.last().unwrap().revision();
                Arc::new(Committed { events, revision })
            })
            .collect()
    }

    fn keys(kvs: &[KeyValue]) -> Vec<String> {
        kvs.iter().map(|kv| format!("{}@{}", String::from_utf8_lossy(&kv.key), kv.mod_revision)).collect()
    }

    #[test]
    fn newest_change_at_or_below_the_read_revision_wins() {
        let r = recent(vec![vec![put("/a", 5), put("/b", 5)], vec![delete("/a", 6)], vec![put("/a", 7), put("/z", 7)]]);
        let req = RangeRequest::prefix("/");
        let at6 = newest_in_range(&r, &req, 6);
        assert_eq!(at6.get(b"/a".as_slice()), Some(&None));
        assert_eq!(at6.get(b"/b".as_slice()).cloned().flatten().map(|kv| kv.mod_revision), Some(5));
        assert!(!at6.contains_key(b"/z".as_slice()));
        let at7 = newest_in_range(&r, &RangeRequest::between("/a", "/c"), 7);
        assert_eq!(at7.keys().cloned().collect::<Vec<_>>(), vec![b"/a".to_vec(), b"/b".to_vec()]);
    }

    #[test]
    fn events_between_filters_revisions_and_prefix() {
        let r = recent(vec![vec![put("/a", 5), put("/b/x", 5)], vec![put("/b/y", 6)], vec![put("/b/z", 7)]]);
        let events = events_between(&r, b"/b/", 5, 6);
        assert_eq!(events.iter().map(|e| e.revision()).collect::<Vec<_>>(), vec![6]);
        assert_eq!(events_between(&r, b"/", 4, 7).len(), 4);
    }

    fn build(
        stored: &[(&str, Option<Revision>)],
        overlay: &[(&str, Option<Revision>)],
        limit: usize,
    ) -> (Vec<String>, bool) {
        let overlay = overlay.iter().map(|(k, r)| (k.as_bytes().to_vec(), r.map(|r| kv(k, r)))).collect();
        let mut builder = RangeBuilder::new(overlay, limit);
        for (k, r) in stored {
            let stored = match r {
                Some(r) => Stored::Live(kv(k, *r)),
                None => Stored::Absent(k.as_bytes().to_vec()),
            };
            if builder.push(stored).is_break() {
                break;
            }
        }
        let (kvs, more) = builder.finish();
        (keys(&kvs), more)
    }

    #[test]
    fn overlay_adds_replaces_and_deletes_stored_keys() {
        let stored = [("/a", Some(1)), ("/b", Some(2)), ("/c", None), ("/d", Some(3))];
        let overlay = [("/0", Some(9)), ("/b", None), ("/c", Some(8)), ("/d", Some(10)), ("/e", Some(11))];
        assert_eq!(
            build(&stored, &overlay, usize::MAX),
            (vec!["/0@9", "/a@1", "/c@8", "/d@10", "/e@11"].into_iter().map(String::from).collect(), false)
        );
    }

    #[test]
    fn limit_reports_more_only_when_a_live_key_remains() {
        let stored = [("/a", Some(1)), ("/b", Some(2))];
        assert_eq!(build(&stored, &[("/b", None)], 1), (vec!["/a@1".to_string()], false));
        assert_eq!(build(&stored, &[("/c", Some(3))], 2), (vec!["/a@1".to_string(), "/b@2".to_string()], true));
        assert!(!build(&stored, &[], 2).1);
        assert_eq!(build(&[], &[("/x", Some(1)), ("/y", Some(2))], 1), (vec!["/x@1".to_string()], true));
    }
}
