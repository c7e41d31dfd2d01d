//! A token bucket (pure): upstream client-go's default rate limiter for a
//! kubelet's API client (`--kube-api-qps` 50, `--kube-api-burst` 100).

use std::time::{Duration, Instant};

/// Requests per second with bursts up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub qps: f64,
    pub burst: u32,
}

impl Limits {
    /// Upstream kubelet's defaults.
    pub const KUBELET: Limits = Limits { qps: 50.0, burst: 100 };
}

/// Tokens fill at `qps` up to `burst`; each request takes one, waiting for it
/// if none is left. A wait is a reservation (as `rate.Limiter.Wait`): the
/// token is taken at once and later callers queue behind it.
#[derive(Debug)]
pub struct TokenBucket {
    limits: Limits,
    /// May go negative: tokens reserved by callers still waiting.
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(limits: Limits, now: Instant) -> TokenBucket {
        TokenBucket { limits, tokens: limits.burst as f64, at: now }
    }

    /// Takes a token at `now`; returns how long the caller must wait before
    /// sending (zero when one was there).
    pub fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = self.at.max(now);
        self.tokens = (self.tokens + elapsed * self.limits.qps).min(self.limits.burst as f64);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 || self.limits.qps <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.limits.qps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_requests_are_spaced_by_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Limits { qps: 10.0, burst: 3 }, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        // Reservations queue: 0.1 s, then 0.2 s.
        assert_eq!(b.take(t0), Duration::from_millis(100));
        assert_eq!(b.take(t0), Duration::from_millis(200));
        // Half a second later the two reserved tokens are paid back and three
        // more have accrued (capped at the burst of 3).
        let later = t0 + Duration::from_millis(500);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::ZERO);
        assert!(b.take(later) > Duration::ZERO);
    }

    #[test]
    fn an_idle_bucket_refills_only_to_its_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Limits { qps: 50.0, burst: 2 }, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::from_millis(20));
    }
}
