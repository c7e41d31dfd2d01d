//! Repeats of one event are counted on the event already written instead of
//! writing another, as upstream's event correlator does. An event is the same
//! when it is about the same object (and container) with the same type,
//! reason and message. The newest [`CAPACITY`] events are remembered, as
//! upstream's cache keeps 4,096.

use std::collections::{HashMap, VecDeque};

pub const CAPACITY: usize = 4096;

/// What makes two events the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub namespace: String,
    pub uid: String,
    pub field_path: String,
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// What to write for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A new event (count 1).
    Create,
    /// The event `name` seen before: its count is now `count`.
    Count { name: String, count: i32 },
}

#[derive(Debug, Default)]
pub struct Correlator {
    seen: HashMap<Key, (String, i32)>,
    /// Keys, oldest first, for eviction.
    order: VecDeque<Key>,
}

impl Correlator {
    pub fn next(&mut self, key: &Key) -> Write {
        match self.seen.get_mut(key) {
            Some((name, count)) => {
                *count += 1;
                Write::Count { name: name.clone(), count: *count }
            }
            None => Write::Create,
        }
    }

    /// Remembers the name the server gave a created event.
    pub fn created(&mut self, key: Key, name: String) {
        if self.seen.insert(key.clone(), (name, 1)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    /// Forgets an event the server no longer has (it expired): the next
    /// repeat creates it again.
    pub fn forget(&mut self, key: &Key) {
        if self.seen.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(message: &str) -> Key {
        Key {
            namespace: "default".into(),
            uid: "u".into(),
            field_path: "spec.containers{main}".into(),
            warning: true,
            reason: "BackOff".into(),
            message: message.into(),
        }
    }

    #[test]
    fn repeats_count_on_the_first_event() {
        let mut c = Correlator::default();
        assert_eq!(c.next(&key("a")), Write::Create);
        c.created(key("a"), "p.1".into());
        assert_eq!(c.next(&key("a")), Write::Count { name: "p.1".into(), count: 2 });
        assert_eq!(c.next(&key("a")), Write::Count { name: "p.1".into(), count: 3 });
        assert_eq!(c.next(&key("b")), Write::Create, "another message is another event");
        c.forget(&key("a"));
        assert_eq!(c.next(&key("a")), Write::Create, "an expired event is written again");
    }

    #[test]
    fn the_oldest_are_forgotten_beyond_capacity() {
        let mut c = Correlator::default();
        for i in 0..=CAPACITY {
            c.created(key(&i.to_string()), format!("p.{i}"));
        }
        assert_eq!(c.next(&key("0")), Write::Create);
        assert_eq!(c.next(&key(&CAPACITY.to_string())), Write::Count { name: format!("p.{CAPACITY}"), count: 2 });
        assert_eq!(c.seen.len(), CAPACITY);
    }
}
