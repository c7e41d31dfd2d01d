//! SPDY tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+
//! port-forward): every binary message from the client carries bytes of its SPDY
//! connection, and the kubelet's SPDY bytes go back as binary messages. The
//! frame codec is the pure part; [`run`] only moves bytes.

use std::sync::Arc;

use base64::Engine;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The subprotocol kubectl offers for tunnelled port-forward.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finish())
}

const OP_CONTINUATION: u8 = 0;
const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const OP_CLOSE: u8 = 8;
const OP_PING: u8 = 9;

/// Largest frame accepted from a client; SPDY data frames are far smaller.
const MAX_FRAME: u64 = 16 << 20;

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("a WebSocket frame of {0} bytes is larger than allowed")]
    TooLarge(u64),
}

/// Takes one whole frame off the front of `buf` (unmasked), or `None` when
/// more bytes are needed.
///
/// # Errors
/// A frame larger than [`MAX_FRAME`].
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
    if buf.len() < 2 {
        return Ok(None);
    }
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
    Ok(Some(Frame { opcode, payload }))
}

/// One final, unmasked frame (servers do not mask).
pub fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
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
    out.extend_from_slice(payload);
    out
}

/// Moves bytes between the WebSocket client and the kubelet's SPDY connection
/// until either side ends.
pub async fn run<C, K>(client: C, kubelet: K)
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    K: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client_rd, client_wr) = tokio::io::split(client);
    let (mut kubelet_rd, mut kubelet_wr) = tokio::io::split(kubelet);
    let client_wr = Arc::new(tokio::sync::Mutex::new(client_wr));

    let writer = client_wr.clone();
    let upstream = async move {
        let mut buf = BytesMut::with_capacity(16 << 10);
        loop {
            loop {
                let frame = match decode(&mut buf) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => {
                        let _ = kubelet_wr.shutdown().await;
                        return;
                    }
                };
                match frame.opcode {
                    OP_BINARY | OP_TEXT | OP_CONTINUATION => {
                        // Both ends are TLS streams, which hold bytes until flushed.
                        let sent =
                            kubelet_wr.write_all(&frame.payload).await.is_ok() && kubelet_wr.flush().await.is_ok();
                        if !sent {
                            return;
                        }
                    }
                    OP_PING => {
                        let mut w = writer.lock().await;
                        let _ = w.write_all(&encode(0xA, &frame.payload)).await;
                        let _ = w.flush().await;
                    }
                    OP_CLOSE => {
                        let mut w = writer.lock().await;
                        let _ = w.write_all(&encode(OP_CLOSE, &frame.payload)).await;
                        let _ = w.flush().await;
                        let _ = kubelet_wr.shutdown().await;
                        return;
                    }
                    _ => {}
                }
            }
            match client_rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = kubelet_wr.shutdown().await;
                    return;
                }
                Ok(_) => {}
            }
        }
    };
    let downstream = async move {
        let mut chunk = vec![0u8; 32 << 10];
        loop {
            match kubelet_rd.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    let mut w = client_wr.lock().await;
                    let _ = w.write_all(&encode(OP_CLOSE, &1000u16.to_be_bytes())).await;
                    let _ = w.shutdown().await;
                    return;
                }
                Ok(n) => {
                    let mut w = client_wr.lock().await;
                    if w.write_all(&encode(OP_BINARY, &chunk[..n])).await.is_err() || w.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // Whichever side ends first ends the tunnel.
    tokio::select! {
        _ = upstream => {},
        _ = downstream => {},
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
        buf.extend_from_slice(&[0x89, 0x00]);
        assert_eq!(decode(&mut buf), Ok(Some(Frame { opcode: OP_BINARY, payload: payload.to_vec() })));
        assert_eq!(decode(&mut buf), Ok(Some(Frame { opcode: OP_PING, payload: vec![] })));
        assert!(buf.is_empty());
    }

    #[test]
    fn encoded_lengths_round_trip() {
        for n in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; n];
            let mut buf = BytesMut::from(&encode(OP_BINARY, &payload)[..]);
            assert_eq!(decode(&mut buf).unwrap().unwrap().payload.len(), n);
        }
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut buf = BytesMut::from(&[0x82u8, 127, 0, 0, 0, 0, 0x10, 0, 0, 0][..]);
        assert_eq!(decode(&mut buf), Err(Error::TooLarge(0x1000_0000)));
    }
}
