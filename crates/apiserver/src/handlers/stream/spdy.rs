//! SPDY/3.1 framing as a client speaks it to the kubelet's streaming server
//! (moby/spdystream behind the runtime's `/exec` and `/attach`). Pure: frames
//! to bytes and bytes to frames.
//!
//! Header blocks are zlib streams with SPDY's preset dictionary, one stream per
//! direction for the whole connection. This side only ever sends a handful of
//! short `streamtype` headers, so it writes them as zlib *stored* blocks, each
//! followed by an empty stored block (the sync flush a zlib writer ends a block
//! with): valid zlib that any inflater, with or without the dictionary, reads.
//! The headers the kubelet sends back (its SYN_REPLYs) carry nothing this side
//! needs, so they are skipped unread and no inflater is needed at all.

use bytes::BytesMut;

const VERSION: u16 = 3;
const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const FLAG_FIN: u8 = 0x01;

/// Largest data frame this side writes (SPDY allows 2^24 - 1 bytes).
pub const MAX_DATA: usize = 32 << 10;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// The peer accepted a stream this side opened (`fin`: and will send nothing on it).
    SynReply {
        stream: u32,
        fin: bool,
    },
    /// HEADERS after the reply; `fin` half-closes the peer's side.
    Headers {
        stream: u32,
        fin: bool,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway,
    /// SETTINGS, WINDOW_UPDATE, a SYN_STREAM the peer should not send: nothing to do.
    Ignored,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("a SPDY control frame of version {0}, not 3")]
    Version(u16),
    #[error("a SPDY {0} frame too short for its fields")]
    Short(&'static str),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Takes one whole frame off the front of `buf`, or `None` when more bytes
/// are needed.
///
/// # Errors
/// A control frame of another SPDY version, or one too short for its fields.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = (be32(&buf[4..8]) & 0x00ff_ffff) as usize;
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let head = buf.split_to(8);
    let body = buf.split_to(len);
    let flags = head[4];
    let fin = flags & FLAG_FIN != 0;
    if head[0] & 0x80 == 0 {
        let stream = be32(&head[..4]) & 0x7fff_ffff;
        return Ok(Some(Frame::Data { stream, fin, data: body.to_vec() }));
    }
    let version = u16::from_be_bytes([head[0], head[1]]) & 0x7fff;
    if version != VERSION {
        return Err(Error::Version(version));
    }
    let stream_id = |what| if body.len() >= 4 { Ok(be32(&body) & 0x7fff_ffff) } else { Err(Error::Short(what)) };
    let frame = match u16::from_be_bytes([head[2], head[3]]) {
        TYPE_SYN_REPLY => Frame::SynReply { stream: stream_id("SYN_REPLY")?, fin },
        TYPE_HEADERS => Frame::Headers { stream: stream_id("HEADERS")?, fin },
        TYPE_RST_STREAM if body.len() >= 8 => {
            Frame::RstStream { stream: stream_id("RST_STREAM")?, status: be32(&body[4..]) }
        }
        TYPE_RST_STREAM => return Err(Error::Short("RST_STREAM")),
        TYPE_PING if body.len() >= 4 => Frame::Ping { id: be32(&body) },
        TYPE_PING => return Err(Error::Short("PING")),
        TYPE_GOAWAY => Frame::GoAway,
        _ => Frame::Ignored,
    };
    Ok(Some(frame))
}

fn control(out: &mut Vec<u8>, kind: u16, flags: u8, body: &[&[u8]]) {
    let len = body.iter().map(|b| b.len()).sum::<usize>() as u32;
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | (len & 0x00ff_ffff)).to_be_bytes());
    for b in body {
        out.extend_from_slice(b);
    }
}

/// Appends DATA frames carrying `data` on `stream` (`fin` on the last one
/// half-closes this side; empty `data` with `fin` is a bare half-close).
pub fn data(out: &mut Vec<u8>, stream: u32, data: &[u8], fin: bool) {
    let mut chunks = data.chunks(MAX_DATA).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(&(u32::from(if fin { FLAG_FIN } else { 0 }) << 24).to_be_bytes());
        return;
    }
    while let Some(chunk) = chunks.next() {
        let flags = if fin && chunks.peek().is_none() { FLAG_FIN } else { 0 };
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(&((u32::from(flags) << 24) | chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
    }
}

/// The answer to the peer's PING (same id).
pub fn ping(out: &mut Vec<u8>, id: u32) {
    control(out, TYPE_PING, 0, &[&id.to_be_bytes()]);
}

/// GOAWAY with status OK: this side is done with the connection.
pub fn goaway(out: &mut Vec<u8>) {
    control(out, TYPE_GOAWAY, 0, &[&0u32.to_be_bytes(), &0u32.to_be_bytes()]);
}

/// Writes SYN_STREAMs; owns this side's header-block zlib stream, whose
/// two-byte zlib header comes once, before the first block.
#[derive(Default)]
pub struct Opener {
    zlib_started: bool,
}

impl Opener {
    /// Appends a SYN_STREAM opening `stream` with `headers` (names lower-case,
    /// as SPDY requires).
    pub fn syn_stream(&mut self, out: &mut Vec<u8>, stream: u32, headers: &[(&str, &str)]) {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            for s in [name, value] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let block = self.stored(&raw);
        let ids = [(stream & 0x7fff_ffff).to_be_bytes(), 0u32.to_be_bytes()].concat();
        // Priority 0 (the top three bits) and slot 0.
        control(out, TYPE_SYN_STREAM, 0, &[&ids, &[0, 0], &block]);
    }

    /// `raw` as the next piece of the zlib stream: stored blocks, then the
    /// empty stored block that makes an inflater hand the bytes out.
    fn stored(&mut self, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len() + 12);
        if !self.zlib_started {
            // CM 8 (deflate), 32 KiB window, no preset dictionary used: 0x78 0x01.
            out.extend_from_slice(&[0x78, 0x01]);
            self.zlib_started = true;
        }
        for chunk in raw.chunks(0xffff) {
            let n = chunk.len() as u16;
            out.push(0x00); // BFINAL 0, BTYPE 00 (stored), padded to the byte.
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_stream_carries_stored_zlib_headers() {
        let mut opener = Opener::default();
        let mut out = Vec::new();
        opener.syn_stream(&mut out, 1, &[("streamtype", "error")]);
        let raw =
            [&1u32.to_be_bytes()[..], &10u32.to_be_bytes(), b"streamtype", &5u32.to_be_bytes(), b"error"].concat();
        let mut want = vec![0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, (10 + 2 + 5 + raw.len() + 5) as u8];
        want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[0x78, 0x01, 0x00, raw.len() as u8, 0x00, !(raw.len() as u8), 0xff]);
        want.extend_from_slice(&raw);
        want.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        assert_eq!(out, want);
        // The zlib header is written once per connection.
        let mut second = Vec::new();
        opener.syn_stream(&mut second, 3, &[("streamtype", "error")]);
        assert_eq!(second.len(), out.len() - 2);
        assert_eq!(&second[8..12], &[0, 0, 0, 3]);
        assert_eq!(second[12 + 6], 0x00, "a stored block, no zlib header");
    }

    #[test]
    fn data_frames_split_and_half_close() {
        let mut out = Vec::new();
        data(&mut out, 3, &[], true);
        assert_eq!(out, [0, 0, 0, 3, 0x01, 0, 0, 0]);
        let mut out = Vec::new();
        data(&mut out, 5, &vec![9u8; MAX_DATA + 1], true);
        let mut buf = BytesMut::from(&out[..]);
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::Data { stream: 5, fin: false, data: vec![9; MAX_DATA] }));
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::Data { stream: 5, fin: true, data: vec![9] }));
        assert!(buf.is_empty());
    }

    #[test]
    fn control_frames_decode_once_complete() {
        let mut bytes = Vec::new();
        ping(&mut bytes, 2);
        // A SYN_REPLY with FIN and some (compressed, skipped) header bytes.
        bytes.extend_from_slice(&[0x80, 0x03, 0x00, 0x02, 0x01, 0, 0, 7, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc]);
        bytes.extend_from_slice(&[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5]);
        goaway(&mut bytes);
        bytes.extend_from_slice(&[0x80, 0x03, 0x00, 0x09, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 1, 0]);
        let mut buf = BytesMut::from(&bytes[..14]);
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::Ping { id: 2 }));
        assert_eq!(decode(&mut buf).unwrap(), None, "half a SYN_REPLY");
        buf.extend_from_slice(&bytes[14..]);
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::SynReply { stream: 3, fin: true }));
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::RstStream { stream: 5, status: 5 }));
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::GoAway));
        assert_eq!(decode(&mut buf).unwrap(), Some(Frame::Ignored), "WINDOW_UPDATE");
        assert!(buf.is_empty());
    }

    #[test]
    fn other_versions_and_short_frames_are_errors() {
        let mut buf = BytesMut::from(&[0x80u8, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(decode(&mut buf), Err(Error::Version(2)));
        let mut buf = BytesMut::from(&[0x80u8, 0x03, 0x00, 0x06, 0, 0, 0, 2, 0, 1][..]);
        assert_eq!(decode(&mut buf), Err(Error::Short("PING")));
    }
}
