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
}

impl<T> Coalesce<T> {
    pub fn new(io: T) -> Coalesce<T> {
        Coalesce { io, buf: Vec::new(), written: 0, yielded: false }
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Writes out everything buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        if self.buf.capacity() > MAX_BUFFERED {
            // A burst grew it; do not keep that much per idle connection.
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
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
        if self.buf.len() >= MAX_BUFFERED {
            ready!(self.poll_drain(cx))?;
        }
        let mut n = 0;
        for b in bufs {
            self.buf.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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
}
