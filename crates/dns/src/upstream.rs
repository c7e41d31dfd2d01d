//! Forwarding: names outside the cluster go to the node's resolvers
//! (`/etc/resolv.conf`), the request relayed byte for byte and the first
//! answer relayed back, like CoreDNS's `forward . /etc/resolv.conf`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::message::Transport;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream resolver is configured")]
    NoResolvers,
    #[error("upstream {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("upstream {0} did not answer in time")]
    Timeout(SocketAddr),
}

/// Where requests for other names go.
///
/// # Contract
/// `exchange` returns the raw reply to `request` (same id), or an error when
/// no resolver answered; it never returns a reply to another request.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    async fn exchange(&self, request: &[u8], transport: Transport) -> Result<Vec<u8>, UpstreamError>;
}

/// The resolvers of a `resolv.conf`, tried in order.
#[derive(Debug, Clone)]
pub struct Resolvers {
    pub servers: Vec<SocketAddr>,
    /// Per resolver and attempt.
    pub timeout: Duration,
}

impl Resolvers {
    pub fn new(servers: Vec<SocketAddr>) -> Resolvers {
        Resolvers { servers, timeout: Duration::from_secs(2) }
    }

    /// The `nameserver` lines of `/etc/resolv.conf`, leaving out `exclude`
    /// (our own address: forwarding to ourselves would loop).
    pub fn from_resolv_conf(text: &str, exclude: &[SocketAddr]) -> Resolvers {
        let servers = parse_resolv_conf(text)
            .into_iter()
            .map(|ip| SocketAddr::new(ip, 53))
            .filter(|s| {
                !exclude.iter().any(|e| e == s || (e.ip().is_unspecified() && e.port() == 53 && s.ip().is_loopback()))
            })
            .collect();
        Resolvers::new(servers)
    }

    async fn udp(&self, server: SocketAddr, request: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        let io = |source| UpstreamError::Io { server, source };
        let bind: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(bind).await.map_err(io)?;
        socket.connect(server).await.map_err(io)?;
        socket.send(request).await.map_err(io)?;
        let mut buf = vec![0u8; 65535];
        let wait = async {
            loop {
                let n = socket.recv(&mut buf).await?;
                // A stray datagram with another id is not our answer.
                if n >= 2 && buf[..2] == request[..2] {
                    return Ok::<_, std::io::Error>(n);
                }
            }
        };
        let n =
            tokio::time::timeout(self.timeout, wait).await.map_err(|_| UpstreamError::Timeout(server))?.map_err(io)?;
        buf.truncate(n);
        Ok(buf)
    }

    async fn tcp(&self, server: SocketAddr, request: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        let io = |source| UpstreamError::Io { server, source };
        let exchange = async {
            let mut stream = TcpStream::connect(server).await?;
            let mut framed = Vec::with_capacity(request.len() + 2);
            framed.extend_from_slice(&(request.len() as u16).to_be_bytes());
            framed.extend_from_slice(request);
            stream.write_all(&framed).await?;
            let len = stream.read_u16().await? as usize;
            let mut buf = vec![0u8; len];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| UpstreamError::Timeout(server))?.map_err(io)
    }
}

#[async_trait]
impl Upstream for Resolvers {
    async fn exchange(&self, request: &[u8], transport: Transport) -> Result<Vec<u8>, UpstreamError> {
        if request.len() < 2 {
            return Err(UpstreamError::NoResolvers);
        }
        let mut last = UpstreamError::NoResolvers;
        for server in &self.servers {
            let result = match transport {
                Transport::Udp => self.udp(*server, request).await,
                Transport::Tcp => self.tcp(*server, request).await,
            };
            match result {
                Ok(reply) => return Ok(reply),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// The addresses on `nameserver` lines (comments and other options ignored).
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next()?.trim();
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then(|| words.next()?.split('%').next()?.parse().ok())?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_in_order_without_ourselves() {
        let text = "# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver fe80::1%eth0 # link-local\n\
                    nameserver bogus\noptions edns0 trust-ad\n; nameserver 9.9.9.9\nnameserver 10.0.0.2\n";
        assert_eq!(
            parse_resolv_conf(text),
            ["127.0.0.53".parse::<IpAddr>().unwrap(), "fe80::1".parse().unwrap(), "10.0.0.2".parse().unwrap()]
        );
        let r = Resolvers::from_resolv_conf(text, &["10.0.0.2:53".parse().unwrap()]);
        assert_eq!(r.servers.len(), 2);
        // Listening on every address on port 53 makes a loopback resolver us.
        let r = Resolvers::from_resolv_conf(text, &["0.0.0.0:53".parse().unwrap()]);
        assert_eq!(r.servers, ["[fe80::1]:53".parse().unwrap(), "10.0.0.2:53".parse().unwrap()]);
    }
}
