//! The work queue (client-go's rate-limited delaying queue):
//! - **de-duplicating**: a key added many times before a worker takes it is
//!   processed once;
//! - **exclusive**: a key is never handed to two workers at once; adding it
//!   while it is being processed queues it again for after [`WorkQueue::done`];
//! - **rate limited**: [`WorkQueue::add_rate_limited`] re-adds a failed key after
//!   an exponential per-key backoff (5 ms doubling up to 1000 s) that
//!   [`WorkQueue::forget`] resets;
//! - **delaying**: [`WorkQueue::add_after`] adds a key later.
//!
//! Time is tokio's, so tests pause and advance it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1000);

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    failures: HashMap<T, u32>,
    /// Keys to add later, earliest first (the sequence number keeps the heap
    /// from comparing keys).
    delayed: BinaryHeap<Reverse<(Instant, u64, T)>>,
    seq: u64,
    shut_down: bool,
}

/// A cloneable handle to one queue.
pub struct WorkQueue<T> {
    state: Arc<Mutex<State<T>>>,
    notify: Arc<Notify>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue { state: self.state.clone(), notify: self.notify.clone() }
    }
}

impl<T: Hash + Eq + Clone + Ord + Send + 'static> Default for WorkQueue<T> {
    fn default() -> Self {
        WorkQueue::new()
    }
}

impl<T: Hash + Eq + Clone + Ord + Send + 'static> WorkQueue<T> {
    pub fn new() -> WorkQueue<T> {
        WorkQueue {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
                delayed: BinaryHeap::new(),
                seq: 0,
                shut_down: false,
            })),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().expect("work queue lock")
    }

    /// Adds `key` unless it is already waiting.
    pub fn add(&self, key: T) {
        let mut s = self.lock();
        if Self::add_locked(&mut s, key) {
            drop(s);
            self.notify.notify_one();
        }
    }

    fn add_locked(s: &mut State<T>, key: T) -> bool {
        if s.shut_down || s.dirty.contains(&key) {
            return false;
        }
        s.dirty.insert(key.clone());
        if s.processing.contains(&key) {
            // Queued again by `done`.
            return false;
        }
        s.queue.push_back(key);
        true
    }

    /// Adds `key` after `delay`.
    pub fn add_after(&self, key: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut s = self.lock();
        if s.shut_down {
            return;
        }
        s.seq += 1;
        let seq = s.seq;
        s.delayed.push(Reverse((Instant::now() + delay, seq, key)));
        drop(s);
        // A waiting worker recomputes when to wake.
        self.notify.notify_one();
    }

    /// Adds `key` after its backoff, which doubles with every call until
    /// [`WorkQueue::forget`].
    pub fn add_rate_limited(&self, key: T) {
        let failures = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(failures));
    }

    /// Resets `key`'s backoff (it was processed successfully).
    pub fn forget(&self, key: &T) {
        self.lock().failures.remove(key);
    }

    /// How many times `key` failed since the last [`WorkQueue::forget`].
    pub fn failures(&self, key: &T) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to process; `None` once the queue is shut down. The caller
    /// owns the key until it calls [`WorkQueue::done`].
    pub async fn get(&self) -> Option<T> {
        loop {
            let wake = {
                let mut s = self.lock();
                if s.shut_down {
                    return None;
                }
                let now = Instant::now();
                while s.delayed.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
                    let Reverse((_, _, key)) = s.delayed.pop().expect("peeked");
                    Self::add_locked(&mut s, key);
                }
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    let more = !s.queue.is_empty();
                    drop(s);
                    if more {
                        // Pass the wake-up on to another worker.
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
                s.delayed.peek().map(|Reverse((at, _, _))| *at)
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => self.notify.notified().await,
            }
        }
    }

    /// Marks `key` processed; if it was added meanwhile it is queued again.
    pub fn done(&self, key: &T) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) && !s.shut_down {
            s.queue.push_back(key.clone());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Keys waiting now (not delayed, not being processed).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every worker with `None`; later adds are ignored.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

/// Per-key exponential backoff: 5 ms × 2^(failures-1), at most 1000 s.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    BASE_DELAY.saturating_mul(1u32 << exp).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn duplicate_adds_are_processed_once() {
        let q = WorkQueue::new();
        q.add("a".to_string());
        q.add("a".to_string());
        q.add("b".to_string());
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert_eq!(q.get().await.as_deref(), Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_being_processed_is_not_handed_out_again_until_done() {
        let q = WorkQueue::new();
        q.add("a".to_string());
        let key = q.get().await.unwrap();
        q.add("a".to_string());
        assert!(q.is_empty(), "a is being processed; the second add waits for done");
        q.done(&key);
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.as_deref(), Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_and_forget_resets() {
        let q = WorkQueue::new();
        for n in 1..=3 {
            q.add_rate_limited("a".to_string());
            assert_eq!(q.failures(&"a".to_string()), n);
        }
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(3), Duration::from_millis(20));
        assert_eq!(backoff(40), MAX_DELAY);
        let start = Instant::now();
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert!(Instant::now() - start >= Duration::from_millis(5));
        q.forget(&"a".to_string());
        assert_eq!(q.failures(&"a".to_string()), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_keys_arrive_after_their_delay() {
        let q = WorkQueue::new();
        q.add_after("late".to_string(), Duration::from_secs(10));
        q.add_after("early".to_string(), Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(q.get().await.as_deref(), Some("early"));
        assert!(Instant::now() - start >= Duration::from_secs(1));
        assert_eq!(q.get().await.as_deref(), Some("late"));
        assert!(Instant::now() - start >= Duration::from_secs(10));
    }

    #[tokio::test]
    async fn shut_down_wakes_workers() {
        let q: WorkQueue<String> = WorkQueue::new();
        let worker = tokio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(worker.await.unwrap(), None);
    }
}
