//! Waiting for the next message by polling briefly before sleeping.
//!
//! Why: with one writer waiting for each acknowledgement, every write crosses three
//! threads, and waking a thread that went to sleep costs tens of microseconds on a
//! virtual machine — as much as a third of an fdatasync. The next message usually
//! comes within a couple of hundred microseconds, so the writer and the syncer poll
//! that long (yielding the CPU to anything runnable) before they sleep. Under load
//! they always find work at once and never poll.

use std::time::{Duration, Instant};

/// How long a thread polls for its next message before it sleeps.
pub const SPIN: Duration = Duration::from_micros(250);

/// Polls `try_next` until it yields a message or `SPIN` passes. `Err(())` when the
/// channel is closed; `Ok(None)` when nothing came in time.
pub fn poll<T, E>(mut try_next: impl FnMut() -> Result<T, E>, is_closed: impl Fn(&E) -> bool) -> Result<Option<T>, ()> {
    let start = Instant::now();
    loop {
        match try_next() {
            Ok(message) => return Ok(Some(message)),
            Err(e) if is_closed(&e) => return Err(()),
            Err(_) if start.elapsed() >= SPIN => return Ok(None),
            Err(_) => std::thread::yield_now(),
        }
    }
}
