//! The WebSocket frame codec (RFC 6455) both WebSocket streams here use: the
//! port-forward tunnel ([`super::tunnel`]) and the `v5.channel.k8s.io`
//! translation ([`super::v5`]). Pure: bytes in, frames out.

use base64::Engine;
use bytes::{Buf, BytesMut};

pub const OP_CONTINUATION: u8 = 0;
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

/// Largest frame accepted from a client; kubectl's frames are a few KiB.
const MAX_FRAME: u64 = 16 << 20;

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finish())
}

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// The last frame of its message (a client may split a message into a
    /// first frame and continuations; gorilla does past 4 KiB).
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("a WebSocket frame of {0} bytes is larger than allowed")]
    TooLarge(u64),
}

/// Takes one whole frame off the front of `buf` (unmasking it), or `None`
/// when more bytes are needed.
///
/// # Errors
/// A frame larger than [`MAX_FRAME`].
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(Error::TooLarge(len));
    }
    let mask_len = if masked { 4 } else { 0 };
    if (buf.len() as u64) < at as u64 + mask_len + len {
        return Ok(None);
    }
    let mut mask = [0u8; 4];
    if masked {
        mask.copy_from_slice(&buf[at..at + 4]);
        at += 4;
    }
    buf.advance(at);
    let mut payload = buf.split_to(len as usize).to_vec();
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(Some(Frame { fin, opcode, payload }))
}

/// One final, unmasked frame (servers do not mask).
pub fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode_into(&mut out, opcode, &[payload]);
    out
}

/// Appends one final, unmasked frame whose payload is `parts` joined, so a
/// channel byte and its data need no copy into one buffer first.
pub fn encode_into(out: &mut Vec<u8>, opcode: u8, parts: &[&[u8]]) {
    out.push(0x80 | opcode);
    match parts.iter().map(|p| p.len()).sum::<usize>() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    for p in parts {
        out.extend_from_slice(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc6455_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn masked_client_frames_decode_once_complete() {
        let payload = b"SPDY bytes";
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x82, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let mut buf = BytesMut::from(&frame[..5]);
        assert_eq!(decode(&mut buf), Ok(None), "incomplete");
        buf.extend_from_slice(&frame[5..]);
        buf.extend_from_slice(&[0x89, 0x00, 0x00, 0x01, b'x']);
        assert_eq!(decode(&mut buf), Ok(Some(Frame { fin: true, opcode: OP_BINARY, payload: payload.to_vec() })));
        assert_eq!(decode(&mut buf), Ok(Some(Frame { fin: true, opcode: OP_PING, payload: vec![] })));
        assert_eq!(decode(&mut buf), Ok(Some(Frame { fin: false, opcode: OP_CONTINUATION, payload: b"x".to_vec() })));
        assert!(buf.is_empty());
    }

    #[test]
    fn encoded_lengths_round_trip() {
        for n in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; n];
            let mut buf = BytesMut::from(&encode(OP_BINARY, &payload)[..]);
            assert_eq!(decode(&mut buf).unwrap().unwrap().payload.len(), n);
        }
        let mut out = Vec::new();
        encode_into(&mut out, OP_BINARY, &[&[1], b"abc"]);
        assert_eq!(out, [0x82, 4, 1, b'a', b'b', b'c']);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut buf = BytesMut::from(&[0x82u8, 127, 0, 0, 0, 0, 0x10, 0, 0, 0][..]);
        assert_eq!(decode(&mut buf), Err(Error::TooLarge(0x1000_0000)));
    }
}
