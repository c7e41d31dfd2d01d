//! Expectations (client-go's `UIDTrackingControllerExpectations`): after a
//! controller creates or deletes pods for an owner, it must not decide again
//! for that owner until its informer has seen those writes — else a second
//! sync, reading a store that does not show the new pods yet, creates them
//! again. Expectations that are never met (a write failed silently, an event
//! was lost) expire after five minutes so the controller cannot stall.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How long unmet expectations hold a controller back.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Expected {
    adds: i64,
    /// UIDs whose deletion the controller asked for and has not seen.
    deletes: HashSet<String>,
    set_at: Instant,
}

/// Expectations per owner key; cloneable handle.
#[derive(Clone, Default)]
pub struct Expectations {
    inner: Arc<Mutex<HashMap<String, Expected>>>,
}

impl Expectations {
    pub fn new() -> Expectations {
        Expectations::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Expected>> {
        self.inner.lock().expect("expectations lock")
    }

    /// Whether the controller may sync `key` now: nothing is expected, all of
    /// it has been seen, or it expired.
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.deletes.is_empty()) || e.set_at.elapsed() > EXPECTATIONS_TIMEOUT,
        }
    }

    /// Records that the controller is about to create `adds` objects and delete
    /// the objects with `deletes` UIDs for `key` (replacing older expectations).
    pub fn expect(&self, key: &str, adds: usize, deletes: impl IntoIterator<Item = String>) {
        self.lock().insert(
            key.to_string(),
            Expected { adds: adds as i64, deletes: deletes.into_iter().collect(), set_at: Instant::now() },
        );
    }

    /// An object created for `key` was seen (or its create failed, so it never
    /// will be).
    pub fn creation_observed(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.adds -= 1;
        }
    }

    /// The object with `uid` was seen deleted (or being deleted), or its
    /// delete failed.
    pub fn deletion_observed(&self, key: &str, uid: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.deletes.remove(uid);
        }
    }

    /// Forgets `key` (its owner is gone).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn syncs_wait_for_own_writes_or_the_timeout() {
        let e = Expectations::new();
        assert!(e.satisfied("ns/rs"));
        e.expect("ns/rs", 2, ["u1".to_string()]);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"), "the deletion is still outstanding");
        e.deletion_observed("ns/rs", "other");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "u1");
        assert!(e.satisfied("ns/rs"));

        e.expect("ns/rs", 1, []);
        tokio::time::advance(EXPECTATIONS_TIMEOUT + Duration::from_secs(1)).await;
        assert!(e.satisfied("ns/rs"), "unmet expectations expire");
        e.delete("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }
}
