//! A minimal Kubernetes API client for the benchmark: HTTP/2 over TLS with the admin
//! client certificate, as kubectl and client-go talk to the server. Kept thin on
//! purpose, so the figures measure the server and not a client library.
//!
//! It speaks HTTP/2 through the `h2` crate directly rather than through hyper's
//! client: hyper hands each request body to a task of its own, which sent the body's
//! DATA frame in a second write after the HEADERS frame (two system calls and two TLS
//! records per create, on the cores the server uses). Here both frames are queued
//! before the connection writes, so a create is one write.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use http::{header, Method, Request, Response, StatusCode};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Connects to one API server; every [`Conn`] is a new TCP + TLS + HTTP/2 connection.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    tls: TlsConnector,
}

impl Client {
    /// A client presenting the admin certificate the server wrote to `<data_dir>/tls/`.
    pub fn admin(data_dir: &Path, addr: SocketAddr) -> anyhow::Result<Client> {
        let read = |name: &str| {
            let path = data_dir.join("tls").join(name);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let (ca, cert, key) = (read("ca.crt")?, read("admin.crt")?, read("admin.key")?);
        let mut config = skiff_apiserver::tls::client_config(&ca, Some((&cert, &key)))?;
        // HTTP/2 only: the benchmark counts on multiplexing many streams per connection.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Client { addr, tls: TlsConnector::from(Arc::new(config)) })
    }

    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await.with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let tls = self.tls.connect(ServerName::IpAddress(self.addr.ip().into()), tcp).await.context("TLS handshake")?;
        let (send, conn) = h2::client::Builder::new()
            // Larger windows than the 64 KiB default, so that big list responses are
            // not throttled by flow control on loopback (client-go raises them too).
            .initial_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake::<_, Bytes>(tls)
            .await
            .context("HTTP/2 handshake")?;
        let max_streams = Arc::new(AtomicUsize::new(0));
        let seen = max_streams.clone();
        tokio::spawn(async move {
            // Ends when every SendRequest is dropped or the server goes away. Only the
            // connection knows the server's settings, so it reports them as it goes.
            tokio::pin!(conn);
            let _ = std::future::poll_fn(|cx| {
                let polled = conn.as_mut().poll(cx);
                seen.store(conn.max_concurrent_send_streams(), Ordering::Relaxed);
                polled
            })
            .await;
        });
        Ok(Conn { send, max_streams, authority: Arc::from(format!("https://{}", self.addr)) })
    }

    /// `n` connections, opened concurrently.
    pub async fn connect_many(&self, n: usize) -> anyhow::Result<Vec<Conn>> {
        futures::future::try_join_all((0..n).map(|_| self.connect())).await
    }
}

/// One HTTP/2 connection; cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct Conn {
    send: h2::client::SendRequest<Bytes>,
    max_streams: Arc<AtomicUsize>,
    /// `https://host:port`, the start of every request's URI.
    authority: Arc<str>,
}

impl Conn {
    /// Sends a request and returns once the response headers arrived; the body
    /// streams (for watches).
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<Response<Body>> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.authority))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(())?;
        std::future::poll_fn(|cx| self.send.poll_ready(cx)).await.context("connection closed")?;
        let (answer, mut stream) = self.send.send_request(req, body.is_none())?;
        if let Some(body) = body {
            // Queued with the HEADERS frame: the connection writes both at once.
            stream.send_data(body, true)?;
        }
        Ok(answer.await?.map(|recv| Body { recv }))
    }

    /// Sends a request and reads the whole response body.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?;
        Ok((status, body))
    }

    /// Like [`Conn::call`], but anything but `want` is an error that shows the body.
    pub async fn expect(
        &mut self,
        want: StatusCode,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Bytes> {
        let (status, bytes) = self.call(method.clone(), path, body).await?;
        anyhow::ensure!(status == want, "{method} {path}: {status}: {}", String::from_utf8_lossy(&bytes));
        Ok(bytes)
    }

    /// The most concurrent streams the server allows on this connection (its
    /// SETTINGS_MAX_CONCURRENT_STREAMS, known once a request has completed).
    pub fn max_streams(&self) -> usize {
        self.max_streams.load(Ordering::Relaxed)
    }
}

/// A response body, read frame by frame; what is read is handed back to the
/// connection's flow-control window at once.
pub struct Body {
    recv: h2::RecvStream,
}

impl Body {
    /// The next DATA frame's bytes, `None` at the end of the stream.
    pub async fn data(&mut self) -> Option<anyhow::Result<Bytes>> {
        let data = match self.recv.data().await? {
            Ok(data) => data,
            Err(e) => return Some(Err(e.into())),
        };
        let _ = self.recv.flow_control().release_capacity(data.len());
        Some(Ok(data))
    }

    /// The whole body (a body of one frame is not copied).
    pub async fn collect(mut self) -> anyhow::Result<Bytes> {
        let Some(first) = self.data().await.transpose()? else { return Ok(Bytes::new()) };
        let mut all: Option<BytesMut> = None;
        while let Some(more) = self.data().await.transpose()? {
            all.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&more);
        }
        Ok(all.map_or(first, BytesMut::freeze))
    }
}

/// Request bodies of ConfigMaps whose `data` holds a payload of a fixed size; the
/// payload is built once so that clients spend their time waiting on the server.
pub struct ConfigMapBody {
    payload: String,
}

impl ConfigMapBody {
    pub fn new(payload_bytes: usize) -> Self {
        ConfigMapBody { payload: "x".repeat(payload_bytes) }
    }

    pub fn body(&self, name: &str) -> Bytes {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{"app":"skiff-bench"}}}},"data":{{"payload":"{}"}}}}"#,
            self.payload
        );
        Bytes::from(body)
    }
}
