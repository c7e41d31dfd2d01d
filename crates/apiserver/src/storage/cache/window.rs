//! How much history a watch cache keeps (pure). A fixed count was too small for
//! bursts: 30,000 hollow pods bound at once make ~100,000 pod events in a few
//! minutes, and a watcher that fell behind (cut off by the fan-out buffer, or
//! reconnecting) resumed from a revision already dropped, got 410 and relisted
//! all 30,000 pods. Like upstream's watch cache (`eventFreshDuration`, 75 s, and
//! its capacity bounds) the window keeps every event younger than [`FRESH`],
//! never fewer than [`MIN_EVENTS`] and never more than [`MAX_EVENTS`].

use std::time::Duration;

/// Events always kept (the previous fixed size).
pub const MIN_EVENTS: usize = 10_000;
/// The most events kept, however fresh (upstream's upper bound, 100 × 1024).
pub const MAX_EVENTS: usize = 100 * 1024;
/// Events younger than this are kept (up to [`MAX_EVENTS`]).
pub const FRESH: Duration = Duration::from_secs(75);

/// Whether the oldest of `len` kept events, `oldest_age` old, goes when one
/// more arrives.
pub fn evict_oldest(len: usize, oldest_age: Duration) -> bool {
    len >= MAX_EVENTS || (len >= MIN_EVENTS && oldest_age >= FRESH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_minimum_however_old() {
        assert!(!evict_oldest(MIN_EVENTS - 1, Duration::from_secs(3600)));
        assert!(evict_oldest(MIN_EVENTS, Duration::from_secs(3600)));
    }

    #[test]
    fn keeps_fresh_events_beyond_the_minimum_up_to_the_maximum() {
        assert!(!evict_oldest(MIN_EVENTS, Duration::from_secs(10)));
        assert!(!evict_oldest(MAX_EVENTS - 1, FRESH - Duration::from_millis(1)));
        assert!(evict_oldest(MIN_EVENTS + 1, FRESH));
        assert!(evict_oldest(MAX_EVENTS, Duration::ZERO));
    }
}
