//! The write-ahead log: the embedded store's durability. A write is acknowledged once
//! its frame is written and fdatasync'ed here; the data file catches up later, in
//! large commits (see `flusher`), and the segments it has caught up with are deleted.
//!
//! Segments are files `wal/<sequence, 16 digits>.wal`, appended to by one thread and
//! replaced by the next segment once they pass a size, so the directory holds only
//! the revisions the data file does not have yet, plus at most a segment or so.

pub mod codec;
mod crc32c;
mod segment;

pub use segment::{list_segments, sync_dir, WalWriter};

/// The directory inside the data directory that holds the WAL segments.
pub const WAL_DIR: &str = "wal";
