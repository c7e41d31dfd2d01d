//! Test helpers, also used by the whole-system tests and the benchmark: a
//! fake upstream resolver on loopback and a small DNS client.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::message::Transport;

/// What the fake upstream answers for every A question.
pub const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

/// A resolver on 127.0.0.1 (UDP and TCP, one port) that answers every A
/// question with [`UPSTREAM_ANSWER`] and anything else with NODATA. It stops
/// when the returned token is cancelled (or dropped with the runtime).
pub async fn fake_upstream() -> (SocketAddr, CancellationToken) {
    let (udp, tcp) =
        crate::server::bind_udp_and_tcp((Ipv4Addr::LOCALHOST, 0).into()).await.expect("bind the fake upstream");
    let addr = udp.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                r = udp.recv_from(&mut buf) => if let Ok((n, peer)) = r {
                    if let Some(reply) = fake_answer(&buf[..n]) { let _ = udp.send_to(&reply, peer).await; }
                },
                r = tcp.accept() => if let Ok((mut s, _)) = r {
                    tokio::spawn(async move {
                        while let Ok(len) = s.read_u16().await {
                            let mut req = vec![0u8; len as usize];
                            if s.read_exact(&mut req).await.is_err() { return }
                            let Some(reply) = fake_answer(&req) else { return };
                            let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                            out.extend(reply);
                            if s.write_all(&out).await.is_err() { return }
                        }
                    });
                },
            }
        }
    });
    (addr, stop)
}

fn fake_answer(request: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(request).ok()?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    for q in &req.queries {
        resp.add_query(q.clone());
        if q.query_type() == RecordType::A {
            resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(UPSTREAM_ANSWER))));
        }
    }
    resp.to_vec().ok()
}

/// Asks `server` one question over `transport`; none on timeout (2 s).
pub async fn query(server: SocketAddr, name: &str, qtype: RecordType, transport: Transport) -> Option<Message> {
    let mut m = Message::query();
    m.metadata.id = rand_id();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).ok()?, qtype));
    let request = m.to_vec().ok()?;
    let reply = tokio::time::timeout(Duration::from_secs(2), exchange(server, &request, transport)).await.ok()??;
    let reply = Message::from_vec(&reply).ok()?;
    (reply.metadata.id == m.metadata.id).then_some(reply)
}

async fn exchange(server: SocketAddr, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
    match transport {
        Transport::Udp => {
            let s = UdpSocket::bind("127.0.0.1:0").await.ok()?;
            s.connect(server).await.ok()?;
            s.send(request).await.ok()?;
            let mut buf = vec![0u8; 65535];
            let n = s.recv(&mut buf).await.ok()?;
            buf.truncate(n);
            Some(buf)
        }
        Transport::Tcp => {
            let mut s = TcpStream::connect(server).await.ok()?;
            let mut out = (request.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(request);
            s.write_all(&out).await.ok()?;
            let len = s.read_u16().await.ok()?;
            let mut buf = vec![0u8; len as usize];
            s.read_exact(&mut buf).await.ok()?;
            Some(buf)
        }
    }
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
