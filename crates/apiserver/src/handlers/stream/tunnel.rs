//! SPDY tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+
//! port-forward): every binary message from the client carries bytes of its SPDY
//! connection, and the kubelet's SPDY bytes go back as binary messages. The
//! frame codec ([`super::ws`]) is the pure part; [`run`] only moves bytes.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ws::{decode, encode, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};

/// The subprotocol kubectl offers for tunnelled port-forward.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

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
                        let _ = w.write_all(&encode(OP_PONG, &frame.payload)).await;
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
