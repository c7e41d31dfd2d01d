//! The scheduling queue: which pending pod to try next.
//!
//! Three places, as upstream: **active** (ready now, highest priority first, then
//! the one waiting longest), **backoff** (failed recently; waits 1 s doubling to
//! 10 s per attempt) and **unschedulable** (nothing fit; waits for a cluster event
//! that could change that, or at most five minutes). Time is passed in, so the
//! queue is a pure data structure.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pod_info::PodInfo;

/// Queue timings (upstream's defaults via [`Default`]).
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a pod may sit in unschedulable before it is retried anyway.
    pub max_in_unschedulable: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: Duration::from_secs(300),
        }
    }
}

/// A pod in the queue with its attempt history.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub pod: Arc<PodInfo>,
    /// When the pod last entered the queue (orders equal priorities).
    pub timestamp: Instant,
    /// Scheduling attempts so far.
    pub attempts: u32,
    pub initial_attempt: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled.
    InFlight,
}

/// The backoff after `attempts` attempts: initial, doubling, capped.
fn backoff_duration(config: &QueueConfig, attempts: u32) -> Duration {
    let shift = attempts.saturating_sub(1).min(31);
    config.initial_backoff.saturating_mul(1 << shift).min(config.max_backoff)
}

fn expiry(config: &QueueConfig, info: &QueuedPod) -> Instant {
    info.timestamp + backoff_duration(config, info.attempts)
}

type ActiveKey = (Reverse<i32>, Instant, u64);
type BackoffKey = (Instant, u64);

#[derive(Debug)]
struct Entry {
    info: QueuedPod,
    place: Place,
    seq: u64,
    /// Set when the pod changed while in flight: retry it soon, not after an event.
    updated_in_flight: bool,
}

/// Where each queued pod is, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub in_flight: usize,
}

/// The scheduling queue. Pods are keyed by uid.
///
/// # Guarantees
/// - A pod is in exactly one place (or absent).
/// - [`SchedulingQueue::pop`] returns the active pod with the highest priority,
///   then the earliest timestamp, then the earliest arrival.
/// - A pod that failed while a move request happened during its attempt goes to
///   backoff rather than unschedulable, so the event that could help is not lost.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    config: QueueConfig,
    entries: HashMap<String, Entry>,
    active: BTreeSet<(ActiveKey, String)>,
    backoff: BTreeSet<(BackoffKey, String)>,
    /// Unschedulable pods by when they got there: flushing stale ones and moving
    /// them on cluster events must not scan every queued pod.
    unschedulable: BTreeSet<((Instant, u64), String)>,
    next_seq: u64,
    /// Incremented by every pop.
    cycle: u64,
    /// The cycle in which cluster events last moved pods.
    move_request_cycle: u64,
}

impl SchedulingQueue {
    pub fn new(config: QueueConfig) -> SchedulingQueue {
        SchedulingQueue { config, ..Default::default() }
    }

    fn backoff_expiry(&self, info: &QueuedPod) -> Instant {
        expiry(&self.config, info)
    }

    fn unlink(&mut self, uid: &str) {
        let Some(e) = self.entries.get(uid) else { return };
        match e.place {
            Place::Active => {
                self.active.remove(&((Reverse(e.info.pod.priority), e.info.timestamp, e.seq), uid.to_string()));
            }
            Place::Backoff => {
                let key = (self.backoff_expiry(&e.info), e.seq);
                self.backoff.remove(&(key, uid.to_string()));
            }
            Place::Unschedulable => {
                self.unschedulable.remove(&((e.info.timestamp, e.seq), uid.to_string()));
            }
            Place::InFlight => {}
        }
    }

    fn place(&mut self, uid: &str, place: Place) {
        self.unlink(uid);
        let Some(e) = self.entries.get_mut(uid) else { return };
        e.place = place;
        let (info, seq) = (e.info.clone(), e.seq);
        match place {
            Place::Active => {
                self.active.insert(((Reverse(info.pod.priority), info.timestamp, seq), uid.to_string()));
            }
            Place::Backoff => {
                let key = (self.backoff_expiry(&info), seq);
                self.backoff.insert((key, uid.to_string()));
            }
            Place::Unschedulable => {
                self.unschedulable.insert(((info.timestamp, seq), uid.to_string()));
            }
            Place::InFlight => {}
        }
    }

    /// Adds a new pending pod (or updates one already queued).
    pub fn add(&mut self, pod: Arc<PodInfo>, now: Instant) {
        if self.entries.contains_key(&pod.uid) {
            return self.update(pod, true, now);
        }
        let uid = pod.uid.clone();
        self.next_seq += 1;
        let info = QueuedPod { pod, timestamp: now, attempts: 0, initial_attempt: None };
        self.entries
            .insert(uid.clone(), Entry { info, place: Place::Active, seq: self.next_seq, updated_in_flight: false });
        self.place(&uid, Place::Active);
    }

    /// Replaces a queued pod's object. An unschedulable pod whose spec or
    /// metadata changed (`changed`) is worth another try: it moves to backoff, or
    /// to active if its backoff is over. Status-only updates (the scheduler's own
    /// condition writes among them) just refresh the object, as upstream.
    pub fn update(&mut self, pod: Arc<PodInfo>, changed: bool, now: Instant) {
        let uid = pod.uid.clone();
        let Some(place) = self.entries.get(&uid).map(|e| e.place) else { return self.add(pod, now) };
        self.unlink(&uid);
        let e = self.entries.get_mut(&uid).expect("present");
        e.info.pod = pod;
        let next = match place {
            Place::InFlight => {
                e.updated_in_flight |= changed;
                Place::InFlight
            }
            Place::Unschedulable if changed => {
                if expiry(&self.config, &e.info) > now {
                    Place::Backoff
                } else {
                    Place::Active
                }
            }
            other => other,
        };
        self.place(&uid, next);
    }

    /// Removes a pod (deleted, or bound by someone else).
    pub fn delete(&mut self, uid: &str) {
        self.unlink(uid);
        self.entries.remove(uid);
    }

    /// Moves pods whose backoff is over to active, and pods unschedulable for too
    /// long back into play.
    pub fn flush(&mut self, now: Instant) {
        while let Some(((expiry, _), uid)) = self.backoff.first().cloned() {
            if expiry > now {
                break;
            }
            self.place(&uid, Place::Active);
        }
        while let Some(first) = self.unschedulable.first().cloned() {
            if first.0 .0 + self.config.max_in_unschedulable > now {
                break;
            }
            // `place` (through `unlink`) takes the pod out of the set.
            self.unschedulable.remove(&first);
            self.requeue_ready_or_backoff(&first.1, now);
        }
    }

    fn requeue_ready_or_backoff(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get(uid) else { return };
        let place = if self.backoff_expiry(&e.info) > now { Place::Backoff } else { Place::Active };
        self.place(uid, place);
    }

    /// Takes the next pod to schedule (after [`SchedulingQueue::flush`]), marking it
    /// in flight. Returns it with the scheduling cycle number of this attempt.
    pub fn pop(&mut self, now: Instant) -> Option<(QueuedPod, u64)> {
        self.flush(now);
        let (_, uid) = self.active.pop_first()?;
        self.cycle += 1;
        let e = self.entries.get_mut(&uid).expect("active pods have entries");
        e.place = Place::InFlight;
        e.updated_in_flight = false;
        e.info.attempts += 1;
        e.info.initial_attempt.get_or_insert(now);
        Some((e.info.clone(), self.cycle))
    }

    /// Puts back a pod that fit nowhere in attempt `cycle`: to unschedulable, or to
    /// backoff when a cluster event or an update came in during the attempt.
    pub fn requeue_unschedulable(&mut self, uid: &str, cycle: u64, now: Instant) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        if e.place != Place::InFlight {
            return;
        }
        e.info.timestamp = now;
        let retry_soon = e.updated_in_flight || self.move_request_cycle >= cycle;
        self.place(uid, if retry_soon { Place::Backoff } else { Place::Unschedulable });
    }

    /// Puts back a pod whose attempt failed for a reason other than fit (a binding
    /// error): it retries after its backoff.
    pub fn requeue_backoff(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        e.info.timestamp = now;
        self.place(uid, Place::Backoff);
    }

    /// The pod was bound: it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        self.delete(uid);
    }

    /// A cluster event (node added or changed, pod deleted) may let unschedulable
    /// pods fit: they move to backoff, or active if their backoff is over.
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant) {
        let waiting: Vec<String> = self.unschedulable.iter().map(|(_, uid)| uid.clone()).collect();
        for uid in waiting {
            self.requeue_ready_or_backoff(&uid, now);
        }
        self.move_request_cycle = self.cycle;
    }

    /// When the queue next needs a [`SchedulingQueue::flush`] to make progress.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let backoff = self.backoff.first().map(|((t, _), _)| *t);
        let stale = self.unschedulable.first().map(|((since, _), _)| *since + self.config.max_in_unschedulable);
        backoff.into_iter().chain(stale).min()
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    /// The queued pod with this uid, wherever it is.
    pub fn get(&self, uid: &str) -> Option<&QueuedPod> {
        self.entries.get(uid).map(|e| &e.info)
    }

    /// Every queued pod (any place): the nominator looks through these.
    pub fn pods(&self) -> impl Iterator<Item = &Arc<PodInfo>> {
        self.entries.values().map(|e| &e.info.pod)
    }

    pub fn counts(&self) -> QueueCounts {
        let mut c = QueueCounts::default();
        for e in self.entries.values() {
            match e.place {
                Place::Active => c.active += 1,
                Place::Backoff => c.backoff += 1,
                Place::Unschedulable => c.unschedulable += 1,
                Place::InFlight => c.in_flight += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    fn pop_name(q: &mut SchedulingQueue, now: Instant) -> Option<String> {
        q.pop(now).map(|(p, _)| p.pod.name.clone())
    }

    #[test]
    fn active_orders_by_priority_then_age() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("low-old").priority(1).build(), t0);
        q.add(pod("high").priority(10).build(), secs(t0, 2));
        q.add(pod("low-new").priority(1).build(), secs(t0, 1));
        q.add(pod("tie-a").priority(5).build(), secs(t0, 3));
        q.add(pod("tie-b").priority(5).build(), secs(t0, 3));
        let order: Vec<_> = std::iter::from_fn(|| pop_name(&mut q, secs(t0, 4))).collect();
        assert_eq!(order, ["high", "tie-a", "tie-b", "low-old", "low-new"]);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let got: Vec<u64> = (1..=6).map(|a| backoff_duration(&QueueConfig::default(), a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn failed_binding_waits_out_its_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        q.pop(t0).unwrap();
        q.requeue_backoff("uid-a", t0);
        assert_eq!(q.next_wakeup(), Some(secs(t0, 1)));
        assert!(q.pop(t0 + Duration::from_millis(999)).is_none());
        let (p, _) = q.pop(secs(t0, 1)).unwrap();
        assert_eq!(p.attempts, 2);
        q.requeue_backoff("uid-a", secs(t0, 1));
        assert!(q.pop(secs(t0, 2)).is_none(), "second attempt backs off 2 s");
        assert!(q.pop(secs(t0, 3)).is_some());
    }

    #[test]
    fn unschedulable_pods_wait_for_an_event() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        let (_, cycle) = q.pop(t0).unwrap();
        q.requeue_unschedulable("uid-a", cycle, t0);
        assert_eq!(q.counts().unschedulable, 1);
        assert!(q.pop(secs(t0, 60)).is_none(), "no event, no retry");
        q.move_all_to_active_or_backoff(secs(t0, 60));
        assert_eq!(pop_name(&mut q, secs(t0, 60)).as_deref(), Some("a"));
    }

    #[test]
    fn moved_pod_still_backing_off_goes_to_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        let (_, cycle) = q.pop(t0).unwrap();
        q.requeue_unschedulable("uid-a", cycle, t0);
        q.move_all_to_active_or_backoff(t0 + Duration::from_millis(100));
        assert_eq!(q.counts().backoff, 1);
        assert!(q.pop(t0 + Duration::from_millis(500)).is_none());
        assert!(q.pop(secs(t0, 1)).is_some());
    }

    #[test]
    fn event_during_attempt_sends_failed_pod_to_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        let (_, cycle) = q.pop(t0).unwrap();
        q.move_all_to_active_or_backoff(t0); // a node was added while we tried
        q.requeue_unschedulable("uid-a", cycle, t0);
        assert_eq!(q.counts(), QueueCounts { backoff: 1, ..Default::default() });
    }

    #[test]
    fn update_of_unschedulable_pod_retries_it() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        let (_, cycle) = q.pop(t0).unwrap();
        q.requeue_unschedulable("uid-a", cycle, t0);
        q.update(pod("a").build(), false, secs(t0, 5));
        assert_eq!(q.counts().unschedulable, 1, "a status-only update does not retry");
        q.update(pod("a").labels(&[("x", "y")]).build(), true, secs(t0, 5));
        assert_eq!(q.counts().active, 1);
        let (p, _) = q.pop(secs(t0, 5)).unwrap();
        assert_eq!(p.pod.labels.get("x").map(String::as_str), Some("y"));
    }

    #[test]
    fn unschedulable_pods_retry_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        let (_, cycle) = q.pop(t0).unwrap();
        q.requeue_unschedulable("uid-a", cycle, t0);
        assert_eq!(q.next_wakeup(), Some(secs(t0, 300)));
        assert!(q.pop(secs(t0, 299)).is_none());
        assert!(q.pop(secs(t0, 300)).is_some());
    }

    #[test]
    fn deleted_pods_leave_every_place() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(QueueConfig::default());
        q.add(pod("a").build(), t0);
        q.add(pod("b").build(), t0);
        let (_, cycle) = q.pop(t0).unwrap();
        q.delete("uid-a");
        q.requeue_unschedulable("uid-a", cycle, t0); // the attempt of a deleted pod ends: nothing to requeue
        q.delete("uid-b");
        assert_eq!(q.counts(), QueueCounts::default());
        assert!(q.pop(t0).is_none());
    }
}
