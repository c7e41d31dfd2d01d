//! The write-ahead log: the embedded store's durability. A write is acknowledged once
//! its frame is written and fdatasync'ed here; the data file catches up later, in
//! large commits (see `flusher`), and the segments it has caught up with are deleted.
//!
//! Segments are files `wal/<sequence, 16 digits>.wal`, appended to by one thread and
//! replaced by the next segment once they pass a size. Once the data file has a
//! segment's revisions it is recycled as a later segment (up to [`SPARE_SEGMENTS`]
//! kept) or deleted, so the directory holds the revisions the data file does not
//! have yet plus about two segments' worth of files.

pub mod codec;
mod crc32c;
mod segment;

pub use segment::{list_segments, SegmentPool, WalWriter};

/// How many flushed segments are kept for reuse. One is enough because a rotation
/// that uses it up asks for a flush, which frees the segment just closed.
pub const SPARE_SEGMENTS: usize = 1;

/// The directory inside the data directory that holds the WAL segments.
pub const WAL_DIR: &str = "wal";
