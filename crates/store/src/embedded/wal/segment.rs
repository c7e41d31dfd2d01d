//! WAL segment files: appending frames durably, moving on to the next segment, and
//! recycling the segments the data file has caught up with.
//!
//! Why recycle: appending to a file changes its size, so each fdatasync also commits
//! the file system's journal — which on ext4 first writes out other files' pending
//! data, here the flusher's redb pages. Overwriting blocks a file already has is a
//! pure data write. So a flushed segment is renamed to become a later one instead of
//! being deleted; its old frames stay behind the new ones and read as leftovers
//! (their checksums name the old sequence number).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::codec::encode_frame;
use crate::types::Revision;

const EXTENSION: &str = "wal";

pub fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:016}.{EXTENSION}"))
}

/// The segments in `dir`, by sequence number. Other files are ignored.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let sequence = path
            .extension()
            .filter(|ext| *ext == EXTENSION)
            .and_then(|_| path.file_stem()?.to_str()?.parse::<u64>().ok());
        if let Some(sequence) = sequence {
            segments.push((sequence, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Makes file creations, renames and deletions in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A segment that is no longer written to.
struct Closed {
    path: PathBuf,
    /// The newest revision it holds (0 if none).
    last_revision: Revision,
}

/// The segments no longer written to: closed ones the data file may still need, and
/// spares (flushed, kept for reuse). Shared by the syncer, which closes segments and
/// takes spares, and the flusher, which releases what it has flushed.
pub struct SegmentPool {
    dir: PathBuf,
    max_spares: usize,
    inner: Mutex<PoolInner>,
}

struct PoolInner {
    closed: VecDeque<Closed>,
    spares: Vec<PathBuf>,
}

impl SegmentPool {
    /// `leftovers`: segment files whose revisions are all in the data file (they are
    /// kept as spares, or deleted beyond `max_spares`).
    pub fn new(dir: &Path, max_spares: usize, leftovers: Vec<PathBuf>) -> SegmentPool {
        let pool = SegmentPool {
            dir: dir.to_path_buf(),
            max_spares,
            inner: Mutex::new(PoolInner { closed: VecDeque::new(), spares: Vec::new() }),
        };
        for path in leftovers {
            pool.retire(path);
        }
        pool
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Recycles or deletes the closed segments whose revisions are all in the data
    /// file. A deletion lost in a crash is harmless: recovery skips flushed revisions.
    pub fn release_flushed(&self, flushed: Revision) {
        loop {
            let closed = {
                let mut inner = self.lock();
                match inner.closed.front() {
                    Some(c) if c.last_revision <= flushed => inner.closed.pop_front().expect("checked"),
                    _ => return,
                }
            };
            self.retire(closed.path);
        }
    }

    /// Keeps a flushed segment as a spare, or deletes it if there are enough.
    fn retire(&self, path: PathBuf) {
        let mut inner = self.lock();
        if inner.spares.len() < self.max_spares {
            inner.spares.push(path);
            return;
        }
        drop(inner);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a flushed WAL segment");
        }
    }

    /// Opens segment `sequence`: a renamed spare if there is one, else a new file.
    /// Durable, the directory entry included. Opened with `O_DSYNC`: each write
    /// returns once its data (and the file size, for an append) is on stable storage,
    /// exactly what `fdatasync` after it would give, in one system call instead of two.
    fn open_segment(&self, sequence: u64) -> io::Result<File> {
        let path = segment_path(&self.dir, sequence);
        let spare = self.lock().spares.pop();
        let options = || {
            let mut options = OpenOptions::new();
            options.read(true).write(true).custom_flags(libc::O_DSYNC);
            options
        };
        let file = match spare.map(|spare| std::fs::rename(&spare, &path).map(|()| spare)) {
            Some(Ok(_)) => options().open(&path)?,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot reuse a WAL segment; creating a new one");
                options().create_new(true).open(&path)?
            }
            None => options().create_new(true).open(&path)?,
        };
        sync_dir(&self.dir)?;
        Ok(file)
    }
}

/// Appends frames to the current segment, one synchronous (`O_DSYNC`) write per frame.
pub struct WalWriter {
    pool: Arc<SegmentPool>,
    sequence: u64,
    file: File,
    len: u64,
    last_revision: Revision,
    segment_bytes: u64,
}

impl WalWriter {
    /// Starts segment `sequence`.
    pub fn create(pool: Arc<SegmentPool>, sequence: u64, segment_bytes: u64) -> io::Result<WalWriter> {
        let file = pool.open_segment(sequence)?;
        Ok(WalWriter { pool, sequence, file, len: 0, last_revision: 0, segment_bytes })
    }

    /// Appends the payloads, concatenated, as one frame, and waits until it is on
    /// disk. `last_revision`: the newest revision in them.
    ///
    /// # Errors
    /// The I/O error. The segment is then cut back to where the frame started
    /// (best effort), so a frame whose write was not confirmed is not replayed later.
    pub fn append<'a>(
        &mut self,
        payloads: impl IntoIterator<Item = &'a [u8]>,
        last_revision: Revision,
    ) -> io::Result<()> {
        let frame = encode_frame(self.sequence, payloads);
        // The file is O_DSYNC: the write returns once the frame is on disk.
        let result = self.file.write_all_at(&frame, self.len);
        match result {
            Ok(()) => {
                self.len += frame.len() as u64;
                self.last_revision = last_revision;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len).and_then(|()| self.file.sync_data());
                Err(e)
            }
        }
    }

    /// Moves on to the next segment if the current one has reached its size.
    /// Returns whether it did and no spare is left for the next rotation: then the
    /// data file should catch up soon, so closed segments can be recycled.
    ///
    /// # Errors
    /// The I/O error; the current segment stays in use.
    pub fn rotate_if_full(&mut self) -> io::Result<bool> {
        if self.len < self.segment_bytes {
            return Ok(false);
        }
        let file = self.pool.open_segment(self.sequence + 1)?;
        let closed = Closed { path: segment_path(&self.pool.dir, self.sequence), last_revision: self.last_revision };
        self.pool.lock().closed.push_back(closed);
        self.sequence += 1;
        self.file = file;
        self.len = 0;
        Ok(self.pool.lock().spares.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::layout::{RevisionWrites, Version};
    use crate::embedded::wal::codec::{encode_revision, scan, Tail};

    fn payload(revision: Revision) -> Vec<u8> {
        let writes = RevisionWrites { revision, writes: vec![(b"/k".to_vec(), Version::tombstone())] };
        let mut out = Vec::new();
        encode_revision(&mut out, &writes);
        out
    }

    fn sequences(dir: &Path) -> Vec<u64> {
        list_segments(dir).unwrap().into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn segments_rotate_and_flushed_ones_are_recycled() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(SegmentPool::new(dir.path(), 1, Vec::new()));
        let mut wal = WalWriter::create(pool.clone(), 1, 10).unwrap();
        for revision in 1..=3 {
            wal.append([payload(revision).as_slice()], revision).unwrap();
            wal.rotate_if_full().unwrap();
        }
        assert_eq!(sequences(dir.path()), vec![1, 2, 3, 4]);
        let second = std::fs::read(segment_path(dir.path(), 2)).unwrap();
        let scanned = scan(&second, 2);
        assert_eq!(scanned.tail, Tail::Clean);
        assert_eq!(scanned.frames[0].revisions[0].revision, 2);

        // Segments 1 and 2 are flushed: one becomes a spare, the other is deleted.
        pool.release_flushed(2);
        assert_eq!(sequences(dir.path()), vec![1, 3, 4]);
        // The spare becomes segment 5; its old frame reads as leftovers there.
        wal.append([payload(4).as_slice()], 4).unwrap();
        wal.rotate_if_full().unwrap();
        assert_eq!(sequences(dir.path()), vec![3, 4, 5]);
        let reused = scan(&std::fs::read(segment_path(dir.path(), 5)).unwrap(), 5);
        assert!(reused.frames.is_empty());
        assert_eq!(reused.tail, Tail::Torn { offset: 0 });
    }
}
