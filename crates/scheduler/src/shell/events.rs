//! Events off the hot path, as client-go's event broadcaster records them:
//! queued without waiting (dropped when the queue is full) and written at most
//! at the scheduler's client rate (upstream's default `clientConnection` is 50
//! requests/s with a burst of 100), so a burst of bindings never pays for an
//! Event write per pod while it is scheduling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::ApiActions;
use crate::pod_info::PodInfo;

/// Events waiting to be written; more are dropped (as client-go's broadcaster
/// drops them), so events never hold up bindings.
pub const EVENT_QUEUE: usize = 1000;
/// Events written at once.
const EVENT_WRITERS: usize = 8;
/// Event writes per second and burst: kube-scheduler's default client rate limit
/// (`clientConnection.qps` 50, `burst` 100), which its event client obeys too.
const EVENT_QPS: f64 = 50.0;
const EVENT_BURST: f64 = 100.0;

/// An event to post about a pod.
pub struct EventRecord {
    pub pod: Arc<PodInfo>,
    pub kind: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
    pub component: String,
}

/// Queues an event without waiting; drops it when the queue is full.
pub fn record(events: &mpsc::Sender<EventRecord>, event: EventRecord) {
    if events.try_send(event).is_err() {
        tracing::debug!("event queue full; dropping an event");
    }
}

/// A token bucket: `burst` writes at once, then `rate` per second.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket { rate, burst, tokens: burst, at: now }
    }

    /// Takes a token: `None` when one was there, else how long until one is.
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }
}

/// Writes queued events, a few at a time and within the rate limit, until the
/// queue closes.
pub async fn write_events(actions: ApiActions, mut rx: mpsc::Receiver<EventRecord>) {
    let mut inflight = JoinSet::new();
    let mut bucket = TokenBucket::new(EVENT_QPS, EVENT_BURST, Instant::now());
    while let Some(e) = rx.recv().await {
        while let Some(wait) = bucket.take(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        while inflight.len() >= EVENT_WRITERS {
            inflight.join_next().await;
        }
        let actions = actions.clone();
        inflight.spawn(async move {
            actions.event(&e.pod, e.kind, e.reason, e.action, &e.message, &e.component).await;
        });
    }
    while inflight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(50.0, 100.0, t0);
        for _ in 0..100 {
            assert_eq!(b.take(t0), None);
        }
        let wait = b.take(t0).expect("the burst is spent");
        assert!(wait > Duration::from_millis(15) && wait <= Duration::from_millis(20), "{wait:?}");
        // 21 ms later one token (1/50 s) has come back, and only one.
        let t1 = t0 + Duration::from_millis(21);
        assert_eq!(b.take(t1), None);
        assert!(b.take(t1).is_some());
        // A long pause refills up to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..100 {
            assert_eq!(b.take(t2), None);
        }
        assert!(b.take(t2).is_some());
    }
}
