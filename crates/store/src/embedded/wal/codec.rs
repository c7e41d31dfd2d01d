//! The WAL's byte format. Pure encoding and decoding, no I/O.
//!
//! A segment file is a sequence of frames, one per write-and-fdatasync:
//!
//! ```text
//! frame   := magic "SKW1" | len u32 LE | crc32c(sequence u64 LE ‖ payload) u32 LE | payload
//! payload := revision*
//! revision:= revision i64 LE | count u32 LE | (key_len u32 LE | key | version_len u32 LE | version)*
//! ```
//!
//! `version` is [`Version::encode`]: a revision's rows exactly as the `revs` table
//! stores them, so replay writes them back without recomputing anything.
//!
//! One checksum per fdatasync'ed write is what makes a torn write recognisable: a
//! crash during the write can persist any subset of its pages, and whatever subset it
//! is, the frame fails its checksum. Every frame before it was synced before it was
//! written, so a damaged frame that is followed by a valid one is not a torn write
//! but damage to acknowledged data.
//!
//! The checksum covers the segment's sequence number because segment files are
//! recycled: a file reused as segment N still holds the frames it had as segment M
//! after N's last frame, and those must read as leftovers, not as data.

use super::crc32c::{crc32c, crc32c_extend};
use crate::embedded::layout::{RevisionWrites, Version};
use crate::types::Revision;

pub const MAGIC: [u8; 4] = *b"SKW1";
pub const FRAME_HEADER: usize = 12;

/// Appends one revision's rows to a payload.
pub fn encode_revision(out: &mut Vec<u8>, writes: &RevisionWrites) {
    out.extend_from_slice(&writes.revision.to_le_bytes());
    out.extend_from_slice(&(writes.writes.len() as u32).to_le_bytes());
    for (key, version) in &writes.writes {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        let encoded = version.encode();
        out.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        out.extend_from_slice(&encoded);
    }
}

/// Decodes a payload, or `None` if it is not a well-formed sequence of revisions.
pub fn decode_payload(mut bytes: &[u8]) -> Option<Vec<RevisionWrites>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    }
    fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?) as usize)
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let revision = i64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?);
        let count = take_u32(&mut bytes)?;
        let mut writes = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let key_len = take_u32(&mut bytes)?;
            let key = take(&mut bytes, key_len)?.to_vec();
            let version_len = take_u32(&mut bytes)?;
            let version = Version::decode(take(&mut bytes, version_len)?)?;
            writes.push((key, version));
        }
        out.push(RevisionWrites { revision, writes });
    }
    Some(out)
}

/// The checksum of a frame of segment `sequence`: CRC-32C of `sequence ‖ payload`.
fn checksum(sequence: u64, payload: &[u8]) -> u32 {
    crc32c_extend(crc32c(&sequence.to_le_bytes()), payload)
}

/// Wraps payloads, concatenated, into one frame of segment `sequence`.
pub fn encode_frame<'a>(sequence: u64, payloads: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&[0; 8]);
    for payload in payloads {
        frame.extend_from_slice(payload);
    }
    let len = (frame.len() - FRAME_HEADER) as u32;
    let crc = checksum(sequence, &frame[FRAME_HEADER..]);
    frame[4..8].copy_from_slice(&len.to_le_bytes());
    frame[8..12].copy_from_slice(&crc.to_le_bytes());
    frame
}

/// A frame whose checksum holds, with its decoded revisions.
#[derive(Debug, PartialEq)]
pub struct Frame {
    pub offset: u64,
    pub revisions: Vec<RevisionWrites>,
}

/// How a segment ends.
#[derive(Debug, PartialEq)]
pub enum Tail {
    /// Every byte belongs to a valid frame.
    Clean,
    /// The frames end at `offset`; what follows is a frame that was being written when
    /// the process stopped (never acknowledged), or leftovers of the file's previous
    /// use as another segment. Either way not data.
    Torn { offset: u64 },
    /// The frame at `offset` is damaged but is not a torn tail.
    Corrupt { offset: u64, reason: String },
}

#[derive(Debug, PartialEq)]
pub struct Scan {
    pub frames: Vec<Frame>,
    pub tail: Tail,
}

enum Bad {
    /// The header, length or checksum does not hold: damaged or torn.
    Damaged(&'static str),
    /// The checksum holds but the payload is not ours: never a torn write.
    Undecodable,
}

/// The frame starting at `offset`: its revisions and where the next frame starts.
fn frame_at(bytes: &[u8], offset: usize, sequence: u64) -> Result<(Vec<RevisionWrites>, usize), Bad> {
    let header = bytes.get(offset..offset + FRAME_HEADER).ok_or(Bad::Damaged("short frame header"))?;
    if header[0..4] != MAGIC {
        return Err(Bad::Damaged("bad frame magic"));
    }
    let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    let start = offset + FRAME_HEADER;
    let payload = bytes.get(start..start + len).ok_or(Bad::Damaged("frame extends past the end of the file"))?;
    if checksum(sequence, payload) != crc {
        return Err(Bad::Damaged("frame checksum mismatch"));
    }
    let revisions = decode_payload(payload).ok_or(Bad::Undecodable)?;
    Ok((revisions, start + len))
}

/// Reads the frames of segment `sequence`, and classifies how they end.
pub fn scan(bytes: &[u8], sequence: u64) -> Scan {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match frame_at(bytes, offset, sequence) {
            Ok((revisions, next)) => {
                frames.push(Frame { offset: offset as u64, revisions });
                offset = next;
            }
            Err(Bad::Undecodable) => {
                let reason = "a frame with a valid checksum does not decode".to_string();
                return Scan { frames, tail: Tail::Corrupt { offset: offset as u64, reason } };
            }
            Err(Bad::Damaged(why)) => {
                let last_good = frames.iter().flat_map(|f| &f.revisions).map(|r| r.revision).max();
                let tail = match valid_frame_after(bytes, offset, sequence, last_good) {
                    Some(at) => Tail::Corrupt {
                        offset: offset as u64,
                        reason: format!("{why}, but a valid frame follows at offset {at}"),
                    },
                    None => Tail::Torn { offset: offset as u64 },
                };
                return Scan { frames, tail };
            }
        }
    }
    Scan { frames, tail: Tail::Clean }
}

/// The offset of a valid frame after a damaged one at `damaged`, if any. Only frames
/// that carry revisions newer than the segment's last good one count: a value stored
/// in the store could itself contain frame-shaped bytes, and those appear inside the
/// torn frame with the revisions of the past.
fn valid_frame_after(bytes: &[u8], damaged: usize, sequence: u64, last_good: Option<Revision>) -> Option<usize> {
    (damaged + 1..bytes.len().saturating_sub(FRAME_HEADER - 1)).find(|&at| {
        bytes[at..].starts_with(&MAGIC)
            && matches!(frame_at(bytes, at, sequence), Ok((revisions, _))
                if revisions.first().is_some_and(|r| last_good.is_none_or(|g| r.revision > g)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, create: Revision, version: i64) -> (Vec<u8>, Version) {
        (key.into(), Version { tombstone: false, create_revision: create, version, value: value.into() })
    }

    fn tombstone(key: &str) -> (Vec<u8>, Version) {
        (key.into(), Version { tombstone: true, create_revision: 0, version: 0, value: Vec::new() })
    }

    fn frame_of(revisions: &[RevisionWrites]) -> Vec<u8> {
        let mut payload = Vec::new();
        for r in revisions {
            encode_revision(&mut payload, r);
        }
        encode_frame(SEQ, [payload.as_slice()])
    }

    const SEQ: u64 = 7;

    fn scan(bytes: &[u8]) -> Scan {
        super::scan(bytes, SEQ)
    }

    fn rev(revision: Revision) -> RevisionWrites {
        RevisionWrites { revision, writes: vec![put(&format!("/k/{revision}"), "v", revision, 1)] }
    }

    #[test]
    fn payload_round_trips() {
        let revisions = vec![
            RevisionWrites { revision: 7, writes: vec![put("/a", "1", 3, 2), tombstone("/b")] },
            RevisionWrites { revision: 8, writes: vec![put("", "", 8, 1)] },
        ];
        let mut payload = Vec::new();
        for r in &revisions {
            encode_revision(&mut payload, r);
        }
        assert_eq!(decode_payload(&payload), Some(revisions));
        assert_eq!(decode_payload(&payload[..payload.len() - 1]), None);
        assert_eq!(decode_payload(&[]), Some(Vec::new()));
    }

    #[test]
    fn clean_segment_scans_every_frame() {
        let mut bytes = frame_of(&[rev(1), rev(2)]);
        let second = bytes.len() as u64;
        bytes.extend(frame_of(&[rev(3)]));
        let scan = scan(&bytes);
        assert_eq!(scan.tail, Tail::Clean);
        assert_eq!(scan.frames.iter().map(|f| f.offset).collect::<Vec<_>>(), vec![0, second]);
        assert_eq!(scan.frames[1].revisions, vec![rev(3)]);
    }

    #[test]
    fn every_truncation_of_the_last_frame_is_a_torn_tail() {
        let mut bytes = frame_of(&[rev(1)]);
        let good = bytes.len();
        bytes.extend(frame_of(&[rev(2), rev(3)]));
        for cut in good + 1..bytes.len() {
            let scan = scan(&bytes[..cut]);
            assert_eq!(scan.tail, Tail::Torn { offset: good as u64 }, "cut at {cut}");
            assert_eq!(scan.frames.len(), 1);
        }
    }

    #[test]
    fn a_torn_frame_with_zeroed_pages_is_a_torn_tail() {
        let mut bytes = frame_of(&[rev(1)]);
        let good = bytes.len();
        bytes.extend(frame_of(&[rev(2)]));
        for b in &mut bytes[good..good + 8] {
            *b = 0;
        }
        assert_eq!(scan(&bytes).tail, Tail::Torn { offset: good as u64 });
    }

    #[test]
    fn damage_followed_by_a_valid_frame_is_corruption() {
        let mut bytes = frame_of(&[rev(1)]);
        let second = bytes.len();
        bytes.extend(frame_of(&[rev(2)]));
        bytes.extend(frame_of(&[rev(3)]));
        // A flipped payload byte (the length still points at the next frame).
        let mut flipped = bytes.clone();
        flipped[second + FRAME_HEADER + 3] ^= 0x40;
        assert!(matches!(scan(&flipped).tail, Tail::Corrupt { offset, .. } if offset == second as u64));
        // A damaged length: found by searching for the next frame.
        let mut bad_len = bytes.clone();
        bad_len[second + 4] ^= 0x01;
        assert!(matches!(scan(&bad_len).tail, Tail::Corrupt { offset, .. } if offset == second as u64));
    }

    #[test]
    fn a_stored_value_that_looks_like_an_old_frame_is_not_valid_data() {
        // A torn frame whose value holds an encoded frame of a past revision.
        let mut bytes = frame_of(&[rev(5)]);
        let good = bytes.len();
        let inner = frame_of(&[rev(4)]);
        let value = Version { tombstone: false, create_revision: 6, version: 1, value: inner };
        let hostile = RevisionWrites { revision: 6, writes: vec![(b"/x".to_vec(), value)] };
        let torn = frame_of(&[hostile]);
        bytes.extend(&torn[..torn.len() - 1]);
        assert_eq!(scan(&bytes).tail, Tail::Torn { offset: good as u64 });
    }

    #[test]
    fn frames_left_from_a_recycled_file_are_not_data() {
        // The file held segment 3 (revisions 1..=4); reused as segment 7, it got two
        // frames that are shorter than what was there.
        let mut old = Vec::new();
        for r in 1..=4 {
            let mut payload = Vec::new();
            encode_revision(&mut payload, &rev(r));
            old.extend(encode_frame(3, [payload.as_slice()]));
        }
        let mut new = frame_of(&[rev(10)]);
        new.extend(frame_of(&[rev(11)]));
        let end = new.len();
        let mut bytes = old.clone();
        bytes[..end].copy_from_slice(&new);
        let scanned = scan(&bytes);
        assert_eq!(scanned.frames.len(), 2);
        assert_eq!(scanned.tail, Tail::Torn { offset: end as u64 });
        // As segment 3, the old frames are valid.
        assert_eq!(super::scan(&old, 3).frames.len(), 4);
    }

    #[test]
    fn checksummed_garbage_is_corruption() {
        let bytes = encode_frame(SEQ, [b"not a payload".as_slice()]);
        assert!(matches!(scan(&bytes).tail, Tail::Corrupt { offset: 0, .. }));
    }
}
