//! A connection's writes, gathered into fewer system calls.
//!
//! An HTTP/2 connection carrying many watches gets one event for all of them at
//! nearly the same moment. hyper runs each stream as its own task, and each stream
//! that hands its frame to the connection wakes the connection task, which runs next
//! (tokio's LIFO slot), encrypts that one frame and writes it with its own `writev`:
//! a system call and a TLS record per watcher, half the server's CPU per delivery.
//!
//! [`Coalesce`] sits under TLS, on the socket. Writes go into a buffer; a flush first
//! yields once (to the back of the run queue, so the other woken streams hand their
//! frames over in the meantime) and then writes the buffer with one call. A lone
//! request-response pays one extra trip through the scheduler, microseconds.
//!
//! That alone is not enough for HTTP/2: h2 flushes its I/O after every DATA frame
//! larger than 256 bytes (a frame it writes from the caller's buffer instead of
//! copying), so a connection with 100 watch events to send flushed 100 times, each
//! a yield, a TLS record and a `writev`. On an HTTP/2 connection [`BatchFlushes`]
//! sits between h2 and TLS and turns those per-frame flushes into no-ops: the
//! frames of one pass of the connection task go to TLS together (records of up to
//! 16 KiB) and out in one vectored system call. The socket's [`Coalesce`] is then
//! switched to pass writes straight through: buffering the records again only
//! copied them.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Past this many buffered bytes a write goes out before more is taken: bounds the
/// memory per connection and keeps a big response streaming.
const MAX_BUFFERED: usize = 256 * 1024;

/// A socket whose writes are buffered until a flush (see the module docs).
pub struct Coalesce<T> {
    io: T,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    /// Whether the current flush has yielded once already.
    yielded: bool,
    /// Writes go straight to the socket (see [`Coalesce::set_passthrough`]).
    passthrough: bool,
}

impl<T> Coalesce<T> {
    pub fn new(io: T) -> Coalesce<T> {
        Coalesce { io, buf: Vec::new(), written: 0, yielded: false, passthrough: false }
    }

    /// Writes go straight to the socket. Under TLS over a [`BatchFlushes`] the
    /// records of a pass already arrive together, and TLS writes them with one
    /// vectored call: copying them into this buffer first was a tenth of a
    /// watch delivery (the copy, and page faults when the buffer grew).
    pub fn set_passthrough(&mut self, passthrough: bool) {
        self.passthrough = passthrough;
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        drain(&mut self.io, &mut self.buf, &mut self.written, cx)
    }
}

/// Writes out everything buffered in `buf` past `written`.
fn drain<T: AsyncWrite + Unpin>(
    io: &mut T,
    buf: &mut Vec<u8>,
    written: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while *written < buf.len() {
        let n = ready!(Pin::new(&mut *io).poll_write(cx, &buf[*written..]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *written += n;
    }
    buf.clear();
    *written = 0;
    if buf.capacity() > MAX_BUFFERED {
        // A burst grew it; do not keep that much per idle connection.
        *buf = Vec::new();
    }
    Poll::Ready(Ok(()))
}

/// Appends the slices to `buf`; the byte count written.
fn append(buf: &mut Vec<u8>, bufs: &[io::IoSlice<'_>]) -> usize {
    let mut n = 0;
    for b in bufs {
        buf.extend_from_slice(b);
        n += b.len();
    }
    n
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.passthrough {
            ready!(self.poll_drain(cx))?;
            return Pin::new(&mut self.io).poll_write(cx, data);
        }
        if self.buf.len() >= MAX_BUFFERED {
            ready!(self.poll_drain(cx))?;
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.passthrough {
            ready!(self.poll_drain(cx))?;
            return Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        }
        if self.buf.len() >= MAX_BUFFERED {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(append(&mut self.buf, bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        !self.passthrough || self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.passthrough {
            ready!(self.poll_drain(cx))?;
            return Pin::new(&mut self.io).poll_flush(cx);
        }
        if self.written < self.buf.len() && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(self.poll_drain(cx))?;
        self.yielded = false;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The plaintext side of an HTTP/2 connection: h2's per-frame flushes become no-ops
/// and one real flush ends each pass (see the module docs).
///
/// Which flush is which: within a pass h2 writes a frame, then flushes to make room
/// for the next (a write since the last flush); a pass ends with a flush of an
/// empty frame buffer (no write since the last flush). The first kind only marks
/// the task to be polled again, so the bytes can never be left behind even if no
/// second kind followed; the second yields once, like [`Coalesce`], and then hands
/// everything to the layer below and flushes it.
///
/// Only for HTTP/2: an HTTP/1 connection upgraded to a raw stream (exec,
/// port-forward) writes and flushes from other tasks, which would not come back to
/// flush what the first kind left.
pub struct BatchFlushes<T> {
    io: T,
    buf: Vec<u8>,
    written: usize,
    /// A write came after the last flush.
    wrote: bool,
    /// Whether the current end-of-pass flush has yielded once already.
    yielded: bool,
}

impl<T> BatchFlushes<T> {
    pub fn new(io: T) -> BatchFlushes<T> {
        BatchFlushes { io, buf: Vec::new(), written: 0, wrote: false, yielded: false }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for BatchFlushes<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for BatchFlushes<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(data)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() >= MAX_BUFFERED {
            ready!(drain(&mut this.io, &mut this.buf, &mut this.written, cx))?;
        }
        this.wrote = true;
        Poll::Ready(Ok(append(&mut this.buf, bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.written < this.buf.len() {
            if std::mem::take(&mut this.wrote) {
                // Room for the next frame: nothing to do but make sure the task
                // comes back here.
                cx.waker().wake_by_ref();
                return Poll::Ready(Ok(()));
            }
            if !this.yielded {
                this.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            ready!(drain(&mut this.io, &mut this.buf, &mut this.written, cx))?;
        }
        this.wrote = false;
        this.yielded = false;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(drain(&mut this.io, &mut this.buf, &mut this.written, cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_reach_the_peer_only_when_flushed_and_in_order() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = Coalesce::new(a);
        a.write_all(b"hello ").await.unwrap();
        a.write_all(b"world").await.unwrap();
        let mut probe = [0u8; 1];
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), b.read(&mut probe)).await;
        assert!(early.is_err(), "nothing may reach the peer before a flush");
        a.flush().await.unwrap();
        let mut got = vec![0u8; 11];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
    }

    #[tokio::test]
    async fn a_passthrough_socket_writes_at_once() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = Coalesce::new(a);
        a.write_all(b"buffered ").await.unwrap();
        a.set_passthrough(true);
        a.write_all(b"direct").await.unwrap();
        // What was buffered before goes first; nothing waits for a flush.
        let mut got = vec![0u8; 15];
        tokio::time::timeout(std::time::Duration::from_secs(5), b.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(&got, b"buffered direct");
    }

    #[tokio::test]
    async fn a_large_write_streams_through_a_small_pipe() {
        // The peer's pipe holds 4 KiB: buffered bytes past the bound must drain as
        // the peer reads, not deadlock.
        let (a, mut b) = tokio::io::duplex(4096);
        let data: Vec<u8> = (0..3 * MAX_BUFFERED).map(|i| i as u8).collect();
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            let mut a = Coalesce::new(a);
            a.write_all(&data).await.unwrap();
            a.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_flush_right_after_a_write_is_deferred_to_the_next_flush() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = BatchFlushes::new(a);
        a.write_all(b"frame 1, ").await.unwrap();
        a.flush().await.unwrap();
        a.write_all(b"frame 2").await.unwrap();
        a.flush().await.unwrap();
        let mut probe = [0u8; 1];
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), b.read(&mut probe)).await;
        assert!(early.is_err(), "flushes right after writes only make room");
        a.flush().await.unwrap();
        let mut got = vec![0u8; 16];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"frame 1, frame 2");
    }

    #[tokio::test]
    async fn h2_over_batched_flushes_delivers_every_frame() {
        // A real h2 connection whose server streams many small DATA frames on many
        // streams at once: all arrive, in order per stream.
        let (client_io, server_io) = tokio::io::duplex(64 << 10);
        let server = tokio::spawn(async move {
            let mut conn = h2::server::handshake(BatchFlushes::new(server_io)).await.unwrap();
            while let Some(request) = conn.accept().await {
                let (_, mut respond) = request.unwrap();
                tokio::spawn(async move {
                    let mut send = respond.send_response(http::Response::new(()), false).unwrap();
                    for i in 0..50u32 {
                        let chunk = format!("{i:04}{}", "x".repeat(600));
                        send.send_data(bytes::Bytes::from(chunk), false).unwrap();
                        tokio::task::yield_now().await;
                    }
                    send.send_data(bytes::Bytes::new(), true).unwrap();
                });
            }
        });
        let (client, conn) = h2::client::handshake(client_io).await.unwrap();
        tokio::spawn(conn);
        let mut streams = Vec::new();
        for _ in 0..20 {
            let mut client = client.clone().ready().await.unwrap();
            let (response, _) = client.send_request(http::Request::new(()), true).unwrap();
            streams.push(tokio::spawn(async move {
                let mut body = response.await.unwrap().into_body();
                let mut got = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.unwrap();
                    let _ = body.flow_control().release_capacity(chunk.len());
                    got.extend_from_slice(&chunk);
                }
                got
            }));
        }
        for stream in streams {
            let got = stream.await.unwrap();
            assert_eq!(got.len(), 50 * 604);
            for (i, frame) in got.chunks(604).enumerate() {
                assert_eq!(&frame[..4], format!("{i:04}").as_bytes());
            }
        }
        server.abort();
    }
}
