//! The sockets against a real loopback client and a fake upstream on loopback.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::*;
use crate::testing::{fake_upstream, query, UPSTREAM_ANSWER};
use crate::upstream::Resolvers;

fn a_records(m: &hickory_proto::op::Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

async fn server(upstream: Vec<SocketAddr>) -> (SocketAddr, Arc<State>, CancellationToken) {
    let state = State::new(Zone::new("cluster.local"));
    state.update(|idx| {
        idx.apply_service(
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"]}
            }))
            .unwrap(),
        )
    });
    let mut resolvers = Resolvers::new(upstream);
    resolvers.timeout = Duration::from_millis(300);
    let s = DnsServer::bind("127.0.0.1:0".parse().unwrap(), state.clone(), Arc::new(resolvers)).await.unwrap();
    let addr = s.local_addr();
    let stop = CancellationToken::new();
    tokio::spawn(s.run(stop.clone()));
    (addr, state, stop)
}

#[tokio::test]
async fn answers_over_udp_and_tcp_once_synced() {
    let (addr, state, stop) = server(vec![]).await;
    let name = "web.default.svc.cluster.local.";
    let m = query(addr, name, RecordType::A, Transport::Udp).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "not synced yet");
    state.set_ready();
    for transport in [Transport::Udp, Transport::Tcp] {
        let m = query(addr, name, RecordType::A, transport).await.unwrap();
        assert_eq!(a_records(&m), ["10.43.0.20"], "{transport:?}");
        let m = query(addr, "nope.default.svc.cluster.local.", RecordType::A, transport).await.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }
    stop.cancel();
}

#[tokio::test]
async fn other_names_are_forwarded_to_the_upstream_over_the_same_transport() {
    let (up, up_stop) = fake_upstream().await;
    let (addr, state, stop) = server(vec![up]).await;
    state.set_ready();
    for transport in [Transport::Udp, Transport::Tcp] {
        let m = query(addr, "example.org.", RecordType::A, transport).await.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_records(&m), [IpAddr::from(UPSTREAM_ANSWER).to_string()], "{transport:?}");
    }
    // Unknown addresses fall through to the upstream too.
    let m = query(addr, "1.2.0.192.in-addr.arpa.", RecordType::PTR, Transport::Udp).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    up_stop.cancel();
    stop.cancel();
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_server_failure() {
    // A port nothing listens on: the upstream never answers.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (addr, state, stop) = server(vec![dead.local_addr().unwrap()]).await;
    state.set_ready();
    let m = query(addr, "example.org.", RecordType::A, Transport::Udp).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = query(addr, "web.default.svc.cluster.local.", RecordType::A, Transport::Tcp).await.unwrap();
    assert_eq!(a_records(&m), ["10.43.0.20"], "local answers do not wait for the upstream");
    stop.cancel();
}
