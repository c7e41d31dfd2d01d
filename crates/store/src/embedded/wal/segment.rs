//! WAL segment files: appending frames durably, starting the next segment, and
//! deleting the segments the data file has caught up with.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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

/// Makes file creations and deletions in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A segment that is no longer written to.
struct Closed {
    path: PathBuf,
    /// The newest revision it holds (0 if none).
    last_revision: Revision,
}

/// Appends frames to the current segment, one write and one fdatasync per frame.
pub struct WalWriter {
    dir: PathBuf,
    sequence: u64,
    file: File,
    len: u64,
    last_revision: Revision,
    segment_bytes: u64,
    closed: VecDeque<Closed>,
}

impl WalWriter {
    /// Starts segment `sequence` in `dir`, durably (the directory entry included).
    pub fn create(dir: &Path, sequence: u64, segment_bytes: u64) -> io::Result<WalWriter> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(segment_path(dir, sequence))?;
        sync_dir(dir)?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            sequence,
            file,
            len: 0,
            last_revision: 0,
            segment_bytes,
            closed: VecDeque::new(),
        })
    }

    /// Appends a frame (see [`super::codec::encode_frame`]) and waits until it is on disk.
    ///
    /// # Errors
    /// The I/O error. The segment is then cut back to where the frame started
    /// (best effort), so a frame whose write was not confirmed is not replayed later.
    pub fn append(&mut self, frame: &[u8], last_revision: Revision) -> io::Result<()> {
        let result = self.file.write_all_at(frame, self.len).and_then(|()| self.file.sync_data());
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

    /// Starts the next segment if the current one has reached its size.
    ///
    /// # Errors
    /// The I/O error; the current segment stays in use.
    pub fn rotate_if_full(&mut self) -> io::Result<()> {
        if self.len < self.segment_bytes {
            return Ok(());
        }
        let next = WalWriter::create(&self.dir, self.sequence + 1, self.segment_bytes)?;
        let old = std::mem::replace(self, next);
        self.closed = old.closed;
        self.closed.push_back(Closed { path: segment_path(&old.dir, old.sequence), last_revision: old.last_revision });
        Ok(())
    }

    /// Deletes the closed segments whose revisions are all in the data file. A
    /// deletion lost in a crash is harmless: recovery skips revisions already flushed.
    pub fn remove_flushed(&mut self, flushed: Revision) {
        while self.closed.front().is_some_and(|c| c.last_revision <= flushed) {
            let closed = self.closed.pop_front().expect("checked");
            if let Err(e) = std::fs::remove_file(&closed.path) {
                tracing::warn!(path = %closed.path.display(), error = %e, "cannot delete a flushed WAL segment");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::layout::{RevisionWrites, Version};
    use crate::embedded::wal::codec::{encode_frame, encode_revision, scan, Tail};

    fn payload(revision: Revision) -> Vec<u8> {
        let writes = RevisionWrites { revision, writes: vec![(b"/k".to_vec(), Version::tombstone())] };
        let mut out = Vec::new();
        encode_revision(&mut out, &writes);
        out
    }

    #[test]
    fn segments_rotate_and_flushed_ones_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::create(dir.path(), 1, 10).unwrap();
        for revision in 1..=3 {
            wal.append(&encode_frame([payload(revision).as_slice()]), revision).unwrap();
            wal.rotate_if_full().unwrap();
        }
        let names: Vec<u64> = list_segments(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, vec![1, 2, 3, 4]);
        let second = std::fs::read(segment_path(dir.path(), 2)).unwrap();
        let scanned = scan(&second);
        assert_eq!(scanned.tail, Tail::Clean);
        assert_eq!(scanned.frames[0].revisions[0].revision, 2);
        wal.remove_flushed(2);
        let names: Vec<u64> = list_segments(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, vec![3, 4]);
    }
}
