use bytes::BytesMut;

use super::*;

fn client_frames(out: &mut Output) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::from(&std::mem::take(&mut out.client)[..]);
    let mut frames = Vec::new();
    while let Some(f) = ws::decode(&mut buf).unwrap() {
        assert!(f.fin);
        frames.push((f.opcode, f.payload));
    }
    assert!(buf.is_empty());
    frames
}

fn kubelet_frames(out: &mut Output) -> Vec<spdy::Frame> {
    let mut buf = BytesMut::from(&std::mem::take(&mut out.kubelet)[..]);
    let mut frames = Vec::new();
    while let Some(f) = spdy::decode(&mut buf).unwrap() {
        frames.push(f);
    }
    assert!(buf.is_empty());
    frames
}

/// (type, stream id) of each SYN_STREAM in `bytes`.
fn opened(bytes: &[u8]) -> Vec<(u16, u32)> {
    let mut at = 0;
    let mut all = Vec::new();
    while at < bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let kind = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]);
        let id = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        all.push((kind, id));
        at += 8 + len;
    }
    all
}

fn message(channel: u8, data: &[u8]) -> ws::Frame {
    ws::Frame { fin: true, opcode: OP_BINARY, payload: [&[channel], data].concat() }
}

const ALL: Streams = Streams { stdin: true, stdout: true, stderr: true, tty: false };

fn reply_all(t: &mut Translator, out: &mut Output, ids: &[u32]) {
    for &stream in ids {
        t.on_kubelet(spdy::Frame::SynReply { stream, fin: false }, out);
    }
}

#[test]
fn streams_open_error_first_and_a_tty_has_resize_not_stderr() {
    let (_, open) = Translator::new(ALL);
    assert_eq!(opened(&open), [(1, 1), (1, 3), (1, 5), (1, 7)]);
    let (t, open) = Translator::new(Streams { stdin: true, stdout: true, stderr: true, tty: true });
    assert_eq!(opened(&open), [(1, 1), (1, 3), (1, 5), (1, 7)]);
    assert_eq!(t.channels[usize::from(RESIZE)].id, Some(7));
    assert_eq!(t.channels[usize::from(STDERR)].id, None);
}

#[test]
fn stdin_waits_for_the_reply_then_close_becomes_fin() {
    let (mut t, _) = Translator::new(ALL);
    let mut out = Output::default();
    t.on_client(message(STDIN, b"line one\n"), &mut out);
    t.on_client(message(CLOSE, &[STDIN]), &mut out);
    assert!(out.kubelet.is_empty(), "nothing before the kubelet's reply");
    reply_all(&mut t, &mut out, &[1, 3, 5, 7]);
    assert_eq!(kubelet_frames(&mut out), [spdy::Frame::Data { stream: 3, fin: true, data: b"line one\n".to_vec() }]);
    t.on_client(message(STDIN, b"late"), &mut out);
    assert!(out.kubelet.is_empty(), "nothing after the half-close");
}

#[test]
fn fragmented_messages_keep_their_channel() {
    let (mut t, _) = Translator::new(Streams { stdin: true, stdout: true, stderr: false, tty: true });
    let mut out = Output::default();
    reply_all(&mut t, &mut out, &[1, 3, 5, 7]);
    t.on_client(ws::Frame { fin: false, opcode: OP_BINARY, payload: vec![RESIZE, b'{'] }, &mut out);
    t.on_client(ws::Frame { fin: true, opcode: OP_CONTINUATION, payload: b"\"Width\":80}".to_vec() }, &mut out);
    t.on_client(ws::Frame { fin: false, opcode: OP_BINARY, payload: vec![CLOSE] }, &mut out);
    t.on_client(ws::Frame { fin: true, opcode: OP_CONTINUATION, payload: vec![STDIN] }, &mut out);
    assert_eq!(
        kubelet_frames(&mut out),
        [
            spdy::Frame::Data { stream: 7, fin: false, data: b"{".to_vec() },
            spdy::Frame::Data { stream: 7, fin: false, data: b"\"Width\":80}".to_vec() },
            spdy::Frame::Data { stream: 3, fin: true, data: vec![] },
        ]
    );
}

#[test]
fn output_then_the_status_then_a_normal_close() {
    let (mut t, _) = Translator::new(ALL);
    let mut out = Output::default();
    reply_all(&mut t, &mut out, &[1, 3, 5, 7]);
    t.on_kubelet(spdy::Frame::Data { stream: 5, fin: false, data: b"out\n".to_vec() }, &mut out);
    t.on_kubelet(spdy::Frame::Data { stream: 7, fin: true, data: b"err\n".to_vec() }, &mut out);
    let status = br#"{"status":"Failure","reason":"NonZeroExitCode"}"#;
    t.on_kubelet(spdy::Frame::Data { stream: 1, fin: false, data: status.to_vec() }, &mut out);
    t.on_kubelet(spdy::Frame::Data { stream: 1, fin: true, data: vec![] }, &mut out);
    assert!(!t.done(), "stdout is still open");
    t.on_kubelet(spdy::Frame::Data { stream: 5, fin: true, data: vec![] }, &mut out);
    assert!(t.done());
    assert_eq!(
        client_frames(&mut out),
        [
            (OP_BINARY, b"\x01out\n".to_vec()),
            (OP_BINARY, b"\x02err\n".to_vec()),
            (OP_BINARY, [&[ERROR][..], status].concat()),
            (OP_CLOSE, vec![0x03, 0xe8]),
        ]
    );
    assert_eq!(kubelet_frames(&mut out), [spdy::Frame::GoAway]);
}

#[test]
fn no_status_is_success_and_a_reset_ends_a_stream() {
    let (mut t, _) = Translator::new(Streams { stdin: false, stdout: true, stderr: false, tty: false });
    let mut out = Output::default();
    t.on_kubelet(spdy::Frame::SynReply { stream: 1, fin: false }, &mut out);
    t.on_kubelet(spdy::Frame::RstStream { stream: 3, status: 5 }, &mut out);
    t.on_kubelet(spdy::Frame::Data { stream: 1, fin: true, data: vec![] }, &mut out);
    assert!(t.done());
    let frames = client_frames(&mut out);
    assert_eq!(frames[0], (OP_BINARY, [&[ERROR][..], SUCCESS.as_bytes()].concat()));
}

#[test]
fn pings_are_answered_on_both_sides() {
    let (mut t, _) = Translator::new(ALL);
    let mut out = Output::default();
    t.on_client(ws::Frame { fin: true, opcode: OP_PING, payload: b"hb".to_vec() }, &mut out);
    assert_eq!(client_frames(&mut out), [(OP_PONG, b"hb".to_vec())]);
    t.on_kubelet(spdy::Frame::Ping { id: 2 }, &mut out);
    t.on_kubelet(spdy::Frame::Ping { id: 3 }, &mut out);
    assert_eq!(kubelet_frames(&mut out), [spdy::Frame::Ping { id: 2 }], "an odd id would be an answer to this side");
}

#[test]
fn a_kubelet_gone_early_is_an_internal_error_and_a_client_gone_lets_the_kubelet_go() {
    let (mut t, _) = Translator::new(ALL);
    let mut out = Output::default();
    t.kubelet_ended(&mut out);
    let frames = client_frames(&mut out);
    let status: serde_json::Value = serde_json::from_slice(&frames[0].1[1..]).unwrap();
    assert_eq!((status["status"].as_str(), status["code"].as_i64()), (Some("Failure"), Some(500)));
    assert_eq!(frames[1].0, OP_CLOSE);
    assert_eq!(kubelet_frames(&mut out), [spdy::Frame::GoAway]);

    let (mut t, _) = Translator::new(ALL);
    t.on_client(ws::Frame { fin: true, opcode: OP_CLOSE, payload: vec![0x03, 0xe8] }, &mut out);
    assert!(t.done());
    assert_eq!(client_frames(&mut out), [(OP_CLOSE, vec![0x03, 0xe8])]);
    assert_eq!(kubelet_frames(&mut out), [spdy::Frame::GoAway]);
    t.on_client(message(STDIN, b"ignored"), &mut out);
    assert!(out.kubelet.is_empty());
}
