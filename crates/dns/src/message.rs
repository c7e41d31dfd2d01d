//! Wire format: a request's bytes → the reply's bytes, or "forward it". Pure;
//! the sockets are in `server.rs`.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::DNSClass;

use crate::answer::{resolve, Outcome, Zone};
use crate::index::Index;

/// How the request came, which bounds the reply's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Send(Vec<u8>),
    /// Not in the cluster's zone: relay the request to the upstream resolvers.
    Forward,
    /// Not even a DNS header: nothing to answer.
    Drop,
}

/// The largest UDP reply we send to a client that asks for more (RFC 9715's
/// safe EDNS size).
const MAX_UDP: usize = 1232;
const PLAIN_UDP: usize = 512;

/// Answers one request. `ready` is false until the index has seen a complete
/// list of every kind; until then in-zone questions get SERVFAIL (a client
/// retries) rather than a wrong NXDOMAIN.
pub fn handle(index: &Index, zone: &Zone, ready: bool, request: &[u8], transport: Transport) -> Reply {
    let req = match Message::from_vec(request) {
        Ok(m) => m,
        Err(_) => return format_error(request),
    };
    if req.metadata.message_type != MessageType::Query {
        return Reply::Drop;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.iter().cloned());
    if let Some(edns) = &req.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(MAX_UDP as u16);
        // Only version 0 exists; anything else is BADVERS (RFC 6891), which
        // needs the extended rcode and is rare enough to answer as FORMERR.
        if edns.version() != 0 {
            resp.metadata.response_code = ResponseCode::FormErr;
            return encode(resp, transport, PLAIN_UDP);
        }
        resp.set_edns(ours);
    }
    if req.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return encode(resp, transport, PLAIN_UDP);
    }
    let [query] = req.queries.as_slice() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return encode(resp, transport, PLAIN_UDP);
    };
    if query.query_class() != DNSClass::IN {
        // Not ours (CH/HS); the node's resolver may know.
        return Reply::Forward;
    }
    match resolve(index, zone, query.name(), query.query_type()) {
        Outcome::Forward => Reply::Forward,
        Outcome::Answer(_) if !ready => {
            resp.metadata.response_code = ResponseCode::ServFail;
            encode(resp, transport, PLAIN_UDP)
        }
        Outcome::Answer(a) => {
            resp.metadata.authoritative = true;
            resp.metadata.response_code = a.rcode;
            resp.insert_answers(a.answers);
            resp.insert_authorities(a.authorities);
            resp.insert_additionals(a.additionals);
            let limit = req.edns.as_ref().map_or(PLAIN_UDP, |e| (e.max_payload() as usize).clamp(PLAIN_UDP, MAX_UDP));
            encode(resp, transport, limit)
        }
    }
}

/// A reply that only says SERVFAIL (the upstreams did not answer).
pub fn server_failure(request: &[u8]) -> Reply {
    rcode_only(request, ResponseCode::ServFail)
}

fn format_error(request: &[u8]) -> Reply {
    rcode_only(request, ResponseCode::FormErr)
}

fn rcode_only(request: &[u8], rcode: ResponseCode) -> Reply {
    if request.len() < 12 {
        return Reply::Drop;
    }
    let id = u16::from_be_bytes([request[0], request[1]]);
    let mut resp = Message::response(id, OpCode::Query);
    resp.metadata.response_code = rcode;
    resp.metadata.recursion_desired = request[2] & 0x01 != 0;
    resp.metadata.recursion_available = true;
    if let Ok(req) = Message::from_vec(request) {
        resp.add_queries(req.queries);
    }
    encode(resp, Transport::Tcp, 0)
}

/// Encodes; over UDP a reply larger than `limit` is cut to its header and
/// question with TC set, so the client retries over TCP.
fn encode(resp: Message, transport: Transport, limit: usize) -> Reply {
    let Ok(bytes) = resp.to_vec() else { return Reply::Drop };
    if transport == Transport::Udp && bytes.len() > limit {
        return resp.truncate().to_vec().map(Reply::Send).unwrap_or(Reply::Drop);
    }
    Reply::Send(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    fn index_with(service_count: usize) -> Index {
        let mut idx = Index::new();
        let mut endpoints = Vec::new();
        for i in 0..service_count {
            endpoints.push(serde_json::json!({"addresses": [format!("10.42.{}.{}", i / 250, i % 250 + 1)]}));
        }
        idx.apply_service(
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "big", "namespace": "default"}, "spec": {"clusterIP": "None"}
            }))
            .unwrap(),
        );
        idx.apply_slice(
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "big-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "big"}},
                "addressType": "IPv4", "endpoints": endpoints
            }))
            .unwrap(),
        );
        idx
    }

    fn sent(r: Reply) -> Message {
        match r {
            Reply::Send(b) => Message::from_vec(&b).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn in_zone_answers_are_authoritative_and_keep_the_id() {
        let idx = index_with(2);
        let zone = Zone::new("cluster.local");
        let m =
            sent(handle(&idx, &zone, true, &query("big.default.svc.cluster.local.", RecordType::A), Transport::Udp));
        assert_eq!(m.metadata.id, 4242);
        assert!(m.metadata.authoritative && m.metadata.recursion_desired && m.metadata.recursion_available);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.queries.len(), 1);
    }

    #[test]
    fn large_udp_answers_are_truncated_but_not_over_tcp() {
        let idx = index_with(100);
        let zone = Zone::new("cluster.local");
        let q = query("big.default.svc.cluster.local.", RecordType::A);
        let udp = sent(handle(&idx, &zone, true, &q, Transport::Udp));
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());
        let tcp = sent(handle(&idx, &zone, true, &q, Transport::Tcp));
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), 100);
    }

    #[test]
    fn edns_raises_the_udp_limit() {
        let idx = index_with(60);
        let zone = Zone::new("cluster.local");
        let mut m = Message::from_vec(&query("big.default.svc.cluster.local.", RecordType::A)).unwrap();
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        m.set_edns(edns);
        let r = sent(handle(&idx, &zone, true, &m.to_vec().unwrap(), Transport::Udp));
        assert!(!r.metadata.truncation);
        assert_eq!(r.answers.len(), 60);
        assert_eq!(r.edns.as_ref().unwrap().max_payload(), MAX_UDP as u16);
    }

    #[test]
    fn bad_requests_get_format_errors_or_nothing() {
        let idx = Index::new();
        let zone = Zone::new("cluster.local");
        assert_eq!(handle(&idx, &zone, true, &[1, 2, 3], Transport::Udp), Reply::Drop);
        let mut garbage = query("web.default.svc.cluster.local.", RecordType::A);
        garbage.truncate(20);
        let m = sent(handle(&idx, &zone, true, &garbage, Transport::Udp));
        assert_eq!((m.metadata.id, m.metadata.response_code), (4242, ResponseCode::FormErr));
        let mut two = Message::from_vec(&query("a.cluster.local.", RecordType::A)).unwrap();
        two.add_query(Query::query(Name::from_ascii("b.cluster.local.").unwrap(), RecordType::A));
        let m = sent(handle(&idx, &zone, true, &two.to_vec().unwrap(), Transport::Udp));
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn before_the_first_sync_in_zone_questions_fail_and_others_forward() {
        let idx = Index::new();
        let zone = Zone::new("cluster.local");
        let m =
            sent(handle(&idx, &zone, false, &query("web.default.svc.cluster.local.", RecordType::A), Transport::Udp));
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(handle(&idx, &zone, false, &query("example.org.", RecordType::A), Transport::Udp), Reply::Forward);
        let m = sent(server_failure(&query("example.org.", RecordType::A)));
        assert_eq!((m.metadata.id, m.metadata.response_code), (4242, ResponseCode::ServFail));
    }
}
