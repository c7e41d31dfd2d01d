//! Opening after a stop or a crash: the data file is at its last flush (redb keeps
//! only durable commits); the WAL holds every acknowledged revision after it. Replay
//! writes those to the data file in one durable commit; then the old segments are
//! no longer needed (they become spares for reuse).
//!
//! # Guarantees
//! - Every acknowledged write is back: its frame was fdatasync'ed before it was
//!   acknowledged, and every frame is replayed.
//! - A frame torn by the crash (failing its checksum with nothing valid after it) was
//!   never acknowledged and is dropped, as are a recycled file's leftovers.
//! - Anything else that does not add up — a damaged frame followed by valid data, a
//!   gap in the revisions the data file lacks, a WAL that starts after the data
//!   file's revision + 1 — is [`Error::Corrupt`] naming the file: the store never
//!   starts with acknowledged data silently missing.

use std::path::{Path, PathBuf};

use redb::{Database, Durability};

use super::flusher::write_revisions;
use super::layout::{self, RevisionWrites, META};
use super::read::engine;
use super::read_meta;
use super::wal::codec::{scan, Scan, Tail};
use super::wal::list_segments;
use crate::error::{Error, Result};
use crate::types::Revision;

/// The outcome of recovery.
#[derive(Debug)]
pub struct Recovered {
    /// The store revision: the data file now holds everything acknowledged.
    pub revision: Revision,
    pub compacted: Revision,
    /// The sequence number for the next WAL segment.
    pub next_sequence: u64,
    /// How many revisions were replayed from the WAL.
    pub replayed: usize,
    /// The old segment files, all replayed: reusable as spares.
    pub leftovers: Vec<PathBuf>,
}

/// Replays the WAL in `wal_dir` onto `db` and removes the replayed segments.
///
/// # Errors
/// [`Error::Corrupt`] as described in the module docs; [`Error::Backend`] for I/O.
pub fn recover(db: &Database, wal_dir: &Path) -> Result<Recovered> {
    let io = |what: &str, path: &Path, e: std::io::Error| Error::backend_from(format!("{what} {}", path.display()), e);
    std::fs::create_dir_all(wal_dir).map_err(|e| io("cannot create the WAL directory", wal_dir, e))?;
    let meta = read_meta(&db.begin_read().map_err(engine)?)?;
    let segments = list_segments(wal_dir).map_err(|e| io("cannot list the WAL directory", wal_dir, e))?;
    let mut scanned = Vec::with_capacity(segments.len());
    for (sequence, path) in &segments {
        let bytes = std::fs::read(path).map_err(|e| io("cannot read WAL segment", path, e))?;
        scanned.push((path.clone(), scan(&bytes, *sequence)));
    }
    let replay = plan(meta.revision, scanned)
        .map_err(|(path, reason)| Error::Corrupt { path: path.display().to_string(), reason })?;

    let revision = replay.last().map_or(meta.revision, |r| r.revision);
    if !replay.is_empty() || meta.format != layout::FORMAT_VERSION {
        let mut wtx = db.begin_write().map_err(engine)?;
        wtx.set_durability(Durability::Immediate);
        write_revisions(&wtx, &replay, revision)?;
        wtx.open_table(META).map_err(engine)?.insert(layout::META_FORMAT, layout::FORMAT_VERSION).map_err(engine)?;
        wtx.commit().map_err(engine)?;
    }
    // Everything is in the data file now: the old segments hold only flushed
    // revisions, which a later recovery skips.
    Ok(Recovered {
        revision,
        compacted: meta.compacted,
        next_sequence: segments.last().map_or(1, |(sequence, _)| sequence + 1),
        replayed: replay.len(),
        leftovers: segments.into_iter().map(|(_, path)| path).collect(),
    })
}

/// Decides what to replay onto a data file at revision `flushed`, from the scanned
/// segments in order. Pure. `Err((segment, reason))` when the WAL is corrupt.
///
/// Only the revisions the data file lacks must be complete: a damaged frame whose
/// revisions are all flushed loses nothing (and a recycled file's leftovers look like
/// one). Where a segment's frames end early, the next revision found shows whether
/// anything needed was lost.
fn plan(flushed: Revision, segments: Vec<(PathBuf, Scan)>) -> Result<Vec<RevisionWrites>, (PathBuf, String)> {
    let mut replay: Vec<RevisionWrites> = Vec::new();
    for (path, scanned) in segments {
        for frame in scanned.frames {
            for revision in frame.revisions {
                if revision.revision <= flushed {
                    continue;
                }
                let expected = replay.last().map_or(flushed, |r| r.revision) + 1;
                if revision.revision != expected {
                    let at = frame.offset;
                    let reason = if replay.is_empty() {
                        format!(
                            "the WAL continues at revision {} (frame at offset {at}) but the data file ends at \
                             revision {flushed}: revisions are missing",
                            revision.revision
                        )
                    } else {
                        format!(
                            "revision {} follows revision {} (frame at offset {at}): revisions are missing",
                            revision.revision,
                            expected - 1
                        )
                    };
                    return Err((path, reason));
                }
                replay.push(revision);
            }
        }
        if let Tail::Corrupt { offset, reason } = scanned.tail {
            return Err((path, format!("{reason} (frame at offset {offset})")));
        }
    }
    Ok(replay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::layout::Version;
    use crate::embedded::wal::codec::Frame;

    fn frame(offset: u64, revisions: std::ops::RangeInclusive<Revision>) -> Frame {
        let revisions = revisions
            .map(|revision| RevisionWrites { revision, writes: vec![(b"/k".to_vec(), Version::tombstone())] })
            .collect();
        Frame { offset, revisions }
    }

    fn segment(name: &str, frames: Vec<Frame>, tail: Tail) -> (PathBuf, Scan) {
        (PathBuf::from(name), Scan { frames, tail })
    }

    fn replayed(plan: &[RevisionWrites]) -> Vec<Revision> {
        plan.iter().map(|r| r.revision).collect()
    }

    #[test]
    fn replays_only_what_the_data_file_lacks() {
        let segments = vec![
            segment("1", vec![frame(0, 1..=3), frame(50, 4..=5)], Tail::Clean),
            segment("2", vec![frame(0, 6..=7)], Tail::Torn { offset: 40 }),
        ];
        assert_eq!(replayed(&plan(4, segments).unwrap()), vec![5, 6, 7]);
    }

    #[test]
    fn nothing_to_replay_when_all_is_flushed() {
        let segments = vec![segment("1", vec![frame(0, 1..=3)], Tail::Clean), segment("2", vec![], Tail::Clean)];
        assert!(plan(9, segments).unwrap().is_empty());
        assert!(plan(0, vec![]).unwrap().is_empty());
    }

    #[test]
    fn a_gap_is_corruption() {
        let segments =
            vec![segment("1", vec![frame(0, 1..=3)], Tail::Clean), segment("2", vec![frame(0, 5..=6)], Tail::Clean)];
        let (path, reason) = plan(0, segments).unwrap_err();
        assert_eq!(path, PathBuf::from("2"));
        assert!(reason.contains("revision 5 follows revision 3"), "{reason}");
    }

    #[test]
    fn a_wal_starting_after_the_data_file_is_corruption() {
        let (_, reason) = plan(3, vec![segment("1", vec![frame(0, 5..=6)], Tail::Clean)]).unwrap_err();
        assert!(reason.contains("continues at revision 5"), "{reason}");
        assert_eq!(replayed(&plan(4, vec![segment("1", vec![frame(0, 5..=6)], Tail::Clean)]).unwrap()), vec![5, 6]);
    }

    #[test]
    fn frames_ending_early_lose_nothing_unless_a_needed_revision_is_missing() {
        // Segment 1's frames end early (torn or leftovers) but segment 2 continues.
        let fine = vec![
            segment("1", vec![frame(0, 1..=3)], Tail::Torn { offset: 30 }),
            segment("2", vec![frame(0, 4..=5)], Tail::Torn { offset: 60 }),
        ];
        assert_eq!(replayed(&plan(2, fine).unwrap()), vec![3, 4, 5]);
        // Lost frames of flushed revisions are harmless.
        let flushed_gap =
            vec![segment("1", vec![frame(0, 1..=2)], Tail::Clean), segment("2", vec![frame(0, 6..=7)], Tail::Clean)];
        assert_eq!(replayed(&plan(5, flushed_gap).unwrap()), vec![6, 7]);
    }

    #[test]
    fn a_corrupt_tail_anywhere_is_corruption() {
        let corrupt = vec![
            segment("1", vec![frame(0, 1..=1)], Tail::Corrupt { offset: 30, reason: "bad".into() }),
            segment("2", vec![], Tail::Clean),
        ];
        assert_eq!(plan(0, corrupt).unwrap_err().0, PathBuf::from("1"));
    }
}
