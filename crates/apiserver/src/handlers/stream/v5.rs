//! `v5.channel.k8s.io` exec and attach, translated to SPDY towards the kubelet
//! (upstream's StreamTranslator, 1.30+): the runtime's streaming server speaks
//! SPDY and WebSocket v4 only, and v4 cannot half-close stdin. The pure
//! translation is [`super::translate`]; this file is the handshake headers and
//! the byte pump.

use bytes::BytesMut;
use http::{header, HeaderMap, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::translate::{Output, Translator};
use super::{spdy, ws};

/// The subprotocol translated here.
pub const PROTOCOL: &str = "v5.channel.k8s.io";

/// The SPDY protocol spoken to the kubelet.
pub const KUBELET_PROTOCOL: &str = "v4.channel.k8s.io";

/// Stop reading a side while this much is waiting to be written to the other.
const HIGH_WATER: usize = 256 << 10;

/// The headers of the handshake towards the kubelet (SPDY, as client-go's
/// SPDY executor sends them).
pub fn kubelet_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CONNECTION, HeaderValue::from_static("Upgrade")),
        (header::UPGRADE, HeaderValue::from_static("SPDY/3.1")),
        (header::HeaderName::from_static("x-stream-protocol-version"), HeaderValue::from_static(KUBELET_PROTOCOL)),
    ]
}

/// The 101's headers for the client.
///
/// # Errors
/// A `Sec-WebSocket-Key` that cannot make a header value.
pub fn client_headers(request: &HeaderMap, answer: &mut HeaderMap) -> Result<(), http::header::InvalidHeaderValue> {
    let key = request.get(header::SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()).unwrap_or("");
    answer.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    answer.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    answer.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    answer.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&ws::accept_key(key))?);
    Ok(())
}

/// Pumps bytes between the client and the kubelet through `t` until it is
/// done and what it produced is written. One task, both directions: a side is
/// read only while the other side's backlog is small, and writes and reads
/// interleave, so neither side's backpressure can wedge the other.
pub async fn run<C, K>(client: C, kubelet: K, mut t: Translator, opening: Vec<u8>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    K: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut kubelet_rd, mut kubelet_wr) = tokio::io::split(kubelet);
    let mut from_client = BytesMut::with_capacity(32 << 10);
    let mut from_kubelet = BytesMut::with_capacity(32 << 10);
    let mut out = Output { client: Vec::new(), kubelet: opening };
    // Bytes written but not yet flushed (both ends are TLS, which holds them).
    let (mut client_dirty, mut kubelet_dirty) = (false, false);
    let (mut client_up, mut kubelet_up) = (true, true);
    loop {
        let reading = !t.done();
        tokio::select! {
            r = client_rd.read_buf(&mut from_client), if reading && client_up && out.kubelet.len() < HIGH_WATER => {
                if matches!(r, Ok(0) | Err(_)) {
                    client_up = false;
                    t.client_ended(&mut out);
                }
                loop {
                    match ws::decode(&mut from_client) {
                        Ok(Some(frame)) => t.on_client(frame, &mut out),
                        Ok(None) => break,
                        Err(_) => { t.client_ended(&mut out); break; }
                    }
                }
            }
            r = kubelet_rd.read_buf(&mut from_kubelet), if reading && kubelet_up && out.client.len() < HIGH_WATER => {
                if matches!(r, Ok(0) | Err(_)) {
                    kubelet_up = false;
                }
                loop {
                    match spdy::decode(&mut from_kubelet) {
                        Ok(Some(frame)) => t.on_kubelet(frame, &mut out),
                        Ok(None) => break,
                        Err(_) => { kubelet_up = false; break; }
                    }
                }
                if !kubelet_up {
                    t.kubelet_ended(&mut out);
                }
            }
            r = write_or_flush(&mut client_wr, &out.client), if client_up && (client_dirty || !out.client.is_empty()) => {
                match r {
                    Ok(0) if out.client.is_empty() => client_dirty = false,
                    Ok(n) if n > 0 => { out.client.drain(..n); client_dirty = true; }
                    _ => { client_up = false; t.client_ended(&mut out); }
                }
            }
            r = write_or_flush(&mut kubelet_wr, &out.kubelet), if kubelet_up && (kubelet_dirty || !out.kubelet.is_empty()) => {
                match r {
                    Ok(0) if out.kubelet.is_empty() => kubelet_dirty = false,
                    Ok(n) if n > 0 => { out.kubelet.drain(..n); kubelet_dirty = true; }
                    _ => { kubelet_up = false; t.kubelet_ended(&mut out); }
                }
            }
            else => break,
        }
        if !client_up {
            out.client.clear();
            client_dirty = false;
        }
        if !kubelet_up {
            out.kubelet.clear();
            kubelet_dirty = false;
        }
        let flushed = out.client.is_empty() && out.kubelet.is_empty() && !client_dirty && !kubelet_dirty;
        if t.done() && flushed {
            break;
        }
    }
    let _ = client_wr.shutdown().await;
    let _ = kubelet_wr.shutdown().await;
}

/// Writes some of `buf`, or flushes when it is empty (one branch per writer,
/// so the select borrows each writer once; both are cancel-safe).
async fn write_or_flush<W: AsyncWrite + Unpin>(w: &mut W, buf: &[u8]) -> std::io::Result<usize> {
    if buf.is_empty() {
        w.flush().await.map(|()| 0)
    } else {
        w.write(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::stream::translate::{Streams, ERROR, STDIN, STDOUT};

    fn masked(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x82, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    }

    /// The whole pump over in-memory pipes: a fake kubelet (SPDY) echoes stdin
    /// to stdout until stdin's FIN, then reports success.
    #[tokio::test]
    async fn stdin_to_eof_through_the_pump() {
        let (client, mut client_far) = tokio::io::duplex(1 << 16);
        let (kubelet, mut kubelet_far) = tokio::io::duplex(1 << 16);
        let (t, opening) = Translator::new(Streams { stdin: true, stdout: true, stderr: false, tty: false });
        let pump = tokio::spawn(run(client, kubelet, t, opening));

        let fake_kubelet = tokio::spawn(async move {
            let mut buf = BytesMut::new();
            let mut replies = Vec::new();
            for id in [1u32, 3, 5] {
                replies.extend_from_slice(&[0x80, 0x03, 0x00, 0x02, 0, 0, 0, 4]);
                replies.extend_from_slice(&id.to_be_bytes());
            }
            kubelet_far.write_all(&replies).await.unwrap();
            let mut echoed = Vec::new();
            loop {
                match spdy::decode(&mut buf).unwrap() {
                    Some(spdy::Frame::Data { stream: 3, fin, data }) => {
                        spdy::data(&mut echoed, 5, &data, false);
                        if fin {
                            spdy::data(&mut echoed, 5, &[], true);
                            spdy::data(&mut echoed, 1, &[], true);
                            kubelet_far.write_all(&echoed).await.unwrap();
                            return;
                        }
                    }
                    Some(_) => {}
                    None => assert_ne!(kubelet_far.read_buf(&mut buf).await.unwrap(), 0),
                }
            }
        });

        client_far.write_all(&masked(&[STDIN, b'h', b'i'])).await.unwrap();
        client_far.write_all(&masked(&[255, STDIN])).await.unwrap();
        let mut got = Vec::new();
        client_far.read_to_end(&mut got).await.unwrap();
        fake_kubelet.await.unwrap();
        pump.await.unwrap();
        let mut buf = BytesMut::from(&got[..]);
        let mut frames = Vec::new();
        while let Some(f) = ws::decode(&mut buf).unwrap() {
            frames.push(f.payload);
        }
        assert_eq!(frames[0], [STDOUT, b'h', b'i']);
        assert_eq!(frames[1][0], ERROR);
        assert_eq!(frames[2], 1000u16.to_be_bytes(), "a normal close");
    }
}
