//! The sockets: UDP and TCP on one address, answering from the shared index
//! and relaying other names to the upstream resolvers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::answer::Zone;
use crate::index::Index;
use crate::message::{handle, server_failure, Reply, Transport};
use crate::upstream::Upstream;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}/{proto}: {source}")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The index and whether it is complete yet, shared by the watchers (writers)
/// and the sockets (readers). The lock is never held across an await.
pub struct State {
    index: RwLock<Index>,
    ready: AtomicBool,
    pub zone: Zone,
}

impl State {
    pub fn new(zone: Zone) -> Arc<State> {
        Arc::new(State { index: RwLock::new(Index::new()), ready: AtomicBool::new(false), zone })
    }

    /// Changes the index.
    pub fn update<R>(&self, f: impl FnOnce(&mut Index) -> R) -> R {
        f(&mut self.index.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// Marks the index complete: every kind was listed once.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Answers one request (the pure core under the read lock).
    pub fn answer(&self, request: &[u8], transport: Transport) -> Reply {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        handle(&index, &self.zone, self.is_ready(), request, transport)
    }
}

/// At most this many forwarded requests wait for an upstream at once; more
/// are dropped (the client retries), so a dead upstream cannot pile up tasks.
const MAX_FORWARDS: usize = 1024;
const MAX_TCP_CONNECTIONS: usize = 256;
/// A TCP client idle this long is disconnected (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);

pub struct DnsServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    state: Arc<State>,
    upstream: Arc<dyn Upstream>,
}

/// A UDP socket and a TCP listener on `addr`. With port 0 both take the port UDP
/// got; another process may hold that port for TCP, so then another is tried.
///
/// # Errors
/// When either socket cannot be bound.
pub async fn bind_udp_and_tcp(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), ServerError> {
    let mut attempts = if addr.port() == 0 { 50 } else { 1 };
    loop {
        let udp = UdpSocket::bind(addr).await.map_err(|source| ServerError::Bind { addr, proto: "udp", source })?;
        let bound = udp.local_addr().map_err(|source| ServerError::Bind { addr, proto: "udp", source })?;
        attempts -= 1;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts > 0 => continue,
            Err(source) => return Err(ServerError::Bind { addr: bound, proto: "tcp", source }),
        }
    }
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` (see [`bind_udp_and_tcp`]).
    ///
    /// # Errors
    /// When either socket cannot be bound (port 53 needs root or
    /// `CAP_NET_BIND_SERVICE`; another DNS server may hold it).
    pub async fn bind(
        addr: SocketAddr,
        state: Arc<State>,
        upstream: Arc<dyn Upstream>,
    ) -> Result<DnsServer, ServerError> {
        let (udp, tcp) = bind_udp_and_tcp(addr).await?;
        Ok(DnsServer { udp: Arc::new(udp), tcp, state, upstream })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let forwards = Arc::new(Semaphore::new(MAX_FORWARDS));
        let mut tasks = JoinSet::new();
        // One receive loop per core: local answers are computed in the loop.
        let loops = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
        for _ in 0..loops {
            let (udp, state, upstream, forwards) =
                (self.udp.clone(), self.state.clone(), self.upstream.clone(), forwards.clone());
            tasks.spawn(udp_loop(udp, state, upstream, forwards));
        }
        tasks.spawn(tcp_loop(self.tcp, self.state, self.upstream, shutdown.clone()));
        shutdown.cancelled().await;
        tasks.shutdown().await;
    }
}

async fn udp_loop(udp: Arc<UdpSocket>, state: Arc<State>, upstream: Arc<dyn Upstream>, forwards: Arc<Semaphore>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match udp.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors from earlier sends surface here on Linux; keep going.
            Err(_) => continue,
        };
        let request = &buf[..n];
        match state.answer(request, Transport::Udp) {
            Reply::Send(reply) => {
                let _ = udp.send_to(&reply, peer).await;
            }
            Reply::Drop => {}
            Reply::Forward => {
                let Ok(permit) = forwards.clone().try_acquire_owned() else { continue };
                let (udp, upstream, request) = (udp.clone(), upstream.clone(), request.to_vec());
                tokio::spawn(async move {
                    let reply = forward(&*upstream, &request, Transport::Udp).await;
                    if let Some(reply) = reply {
                        let _ = udp.send_to(&reply, peer).await;
                    }
                    drop(permit);
                });
            }
        }
    }
}

async fn forward(upstream: &dyn Upstream, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
    match upstream.exchange(request, transport).await {
        Ok(reply) => Some(reply),
        Err(e) => {
            tracing::debug!("dns: forwarding failed: {e}");
            match server_failure(request) {
                Reply::Send(b) => Some(b),
                _ => None,
            }
        }
    }
}

async fn tcp_loop(tcp: TcpListener, state: Arc<State>, upstream: Arc<dyn Upstream>, shutdown: CancellationToken) {
    let connections = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut tasks = JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = tcp.accept() => match r {
                Ok(x) => x,
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else { continue };
        let (state, upstream) = (state.clone(), upstream.clone());
        tasks.spawn(async move {
            let _ = serve_tcp(stream, &state, &*upstream).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    tasks.shutdown().await;
}

/// One TCP connection: length-prefixed messages, answered in order, until the
/// client closes or stays idle.
async fn serve_tcp(mut stream: TcpStream, state: &State, upstream: &dyn Upstream) -> std::io::Result<()> {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => len as usize,
            _ => return Ok(()),
        };
        let mut request = vec![0u8; len];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut request))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        let reply = match state.answer(&request, Transport::Tcp) {
            Reply::Send(b) => Some(b),
            Reply::Drop => None,
            Reply::Forward => forward(upstream, &request, Transport::Tcp).await,
        };
        let Some(reply) = reply else { return Ok(()) };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}

#[cfg(test)]
mod tests;
