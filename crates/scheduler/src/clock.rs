//! The clock, injected so tests control time.

use std::time::Instant;

/// A monotonic clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// Tokio's clock: real time, or paused/advanced time under
/// `#[tokio::test(start_paused = true)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}
