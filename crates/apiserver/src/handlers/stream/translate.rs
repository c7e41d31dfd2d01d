//! The pure core of the `v5.channel.k8s.io` ⇄ SPDY translation (upstream's
//! StreamTranslator): WebSocket frames from the client and SPDY frames from the
//! kubelet go in, bytes for either side come out. No I/O; [`super::v5`] moves
//! the bytes.
//!
//! Channels (the first byte of each binary message) map to SPDY streams this
//! side opens with a `streamtype` header: stdin 0, stdout 1, stderr 2, error 3,
//! resize 4. v5 adds channel 255, CLOSE: `[255, n]` half-closes channel `n`,
//! which for stdin becomes a FIN on the SPDY stdin stream (so `cat` sees EOF).
//! The kubelet's error-stream bytes (a v4 `Status`, empty on success) become
//! one message on channel 3 when its streams are done, then a normal close.

use super::spdy;
use super::ws::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

const NAMES: [&str; 5] = ["stdin", "stdout", "stderr", "error", "resize"];

/// What upstream writes on the error channel when the kubelet reported nothing.
const SUCCESS: &str = r#"{"metadata":{},"status":"Success"}"#;

/// Which streams the exec or attach has, as the kubelet will expect them
/// (with a TTY there is no stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Bytes to send to either side.
#[derive(Debug, Default)]
pub struct Output {
    pub client: Vec<u8>,
    pub kubelet: Vec<u8>,
}

#[derive(Debug, Default, Clone)]
struct Channel {
    /// The SPDY stream id, when this channel has a stream.
    id: Option<u32>,
    /// The kubelet answered the SYN_STREAM; before that its spdystream drops data.
    replied: bool,
    /// Client bytes held until the reply.
    pending: Vec<u8>,
    /// The client half-closed it (sent once replied).
    close_wanted: bool,
    fin_sent: bool,
    /// The kubelet half-closed (or reset) it.
    remote_done: bool,
}

pub struct Translator {
    channels: [Channel; 5],
    opener: spdy::Opener,
    /// The kubelet's error-stream bytes so far.
    status: Vec<u8>,
    /// The channel of a client message still arriving in continuation frames.
    message: Option<u8>,
    /// A CLOSE message's bytes until its last frame.
    close_message: Vec<u8>,
    done: bool,
}

fn json_status_failure(message: &str) -> Vec<u8> {
    serde_json::json!({
        "metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500,
    })
    .to_string()
    .into_bytes()
}

impl Translator {
    /// A translator and the SYN_STREAMs that open the kubelet's streams (error
    /// first, as client-go's SPDY executor does).
    pub fn new(streams: Streams) -> (Translator, Vec<u8>) {
        let mut t = Translator {
            channels: Default::default(),
            opener: spdy::Opener::default(),
            status: Vec::new(),
            message: None,
            close_message: Vec::new(),
            done: false,
        };
        let wanted = [
            (ERROR, true),
            (STDIN, streams.stdin),
            (STDOUT, streams.stdout),
            (STDERR, streams.stderr && !streams.tty),
            (RESIZE, streams.tty),
        ];
        let mut out = Vec::new();
        let mut id = 1;
        for (channel, _) in wanted.iter().filter(|(_, on)| *on) {
            t.channels[usize::from(*channel)].id = Some(id);
            t.opener.syn_stream(&mut out, id, &[("streamtype", NAMES[usize::from(*channel)])]);
            id += 2;
        }
        (t, out)
    }

    /// Whether the exchange is over: nothing more is read from either side.
    pub fn done(&self) -> bool {
        self.done
    }

    fn channel_of(&self, stream: u32) -> Option<usize> {
        self.channels.iter().position(|c| c.id == Some(stream))
    }

    /// One frame from the WebSocket client.
    pub fn on_client(&mut self, frame: ws::Frame, out: &mut Output) {
        if self.done {
            return;
        }
        let (channel, data) = match frame.opcode {
            OP_BINARY | OP_TEXT => match frame.payload.split_first() {
                Some((&channel, data)) => (channel, data),
                None => return,
            },
            OP_CONTINUATION => match self.message {
                Some(channel) => (channel, &frame.payload[..]),
                None => return,
            },
            OP_PING => {
                ws::encode_into(&mut out.client, OP_PONG, &[&frame.payload]);
                return;
            }
            OP_CLOSE => {
                // The client is leaving: answer its close and let the kubelet go.
                ws::encode_into(&mut out.client, OP_CLOSE, &[&frame.payload]);
                self.abandon(out);
                return;
            }
            _ => return,
        };
        self.message = (!frame.fin).then_some(channel);
        match channel {
            STDIN | RESIZE => self.send(usize::from(channel), data, out),
            CLOSE => {
                self.close_message.extend_from_slice(data);
                if frame.fin {
                    for c in std::mem::take(&mut self.close_message) {
                        if usize::from(c) < self.channels.len() {
                            self.channels[usize::from(c)].close_wanted = true;
                            self.flush(usize::from(c), out);
                        }
                    }
                }
            }
            // Output channels carry nothing from a client; upstream drops them too.
            _ => {}
        }
    }

    /// Client bytes for a channel's stream, now or once the kubelet replied.
    fn send(&mut self, ch: usize, data: &[u8], out: &mut Output) {
        let c = &mut self.channels[ch];
        if c.id.is_none() || c.fin_sent || c.close_wanted {
            return;
        }
        c.pending.extend_from_slice(data);
        self.flush(ch, out);
    }

    fn flush(&mut self, ch: usize, out: &mut Output) {
        let c = &mut self.channels[ch];
        let Some(id) = c.id else { return };
        if !c.replied || c.fin_sent {
            return;
        }
        let fin = c.close_wanted;
        if !c.pending.is_empty() || fin {
            spdy::data(&mut out.kubelet, id, &std::mem::take(&mut c.pending), fin);
            c.fin_sent = fin;
        }
    }

    /// One frame from the kubelet.
    pub fn on_kubelet(&mut self, frame: spdy::Frame, out: &mut Output) {
        if self.done {
            return;
        }
        match frame {
            spdy::Frame::SynReply { stream, fin } => {
                if let Some(ch) = self.channel_of(stream) {
                    self.channels[ch].replied = true;
                    self.channels[ch].remote_done |= fin;
                    self.flush(ch, out);
                }
            }
            spdy::Frame::Data { stream, fin, data } => {
                let Some(ch) = self.channel_of(stream) else { return };
                match ch as u8 {
                    STDOUT | STDERR if !data.is_empty() => {
                        ws::encode_into(&mut out.client, OP_BINARY, &[&[ch as u8], &data]);
                    }
                    ERROR => self.status.extend_from_slice(&data),
                    _ => {}
                }
                self.channels[ch].remote_done |= fin;
            }
            spdy::Frame::Headers { stream, fin: true } | spdy::Frame::RstStream { stream, .. } => {
                if let Some(ch) = self.channel_of(stream) {
                    self.channels[ch].remote_done = true;
                }
            }
            // Pings the kubelet starts have even ids; this side starts none.
            spdy::Frame::Ping { id } if id % 2 == 0 => spdy::ping(&mut out.kubelet, id),
            _ => {}
        }
        let finished = [STDOUT, STDERR, ERROR].iter().all(|&ch| {
            let c = &self.channels[usize::from(ch)];
            c.id.is_none() || c.remote_done
        });
        if finished {
            let status =
                if self.status.is_empty() { SUCCESS.as_bytes().to_vec() } else { std::mem::take(&mut self.status) };
            self.finish(&status, out);
        }
    }

    /// The kubelet's connection ended (or broke) before its streams were done.
    pub fn kubelet_ended(&mut self, out: &mut Output) {
        if self.done {
            return;
        }
        let status = if self.channels[usize::from(ERROR)].remote_done && !self.status.is_empty() {
            std::mem::take(&mut self.status)
        } else {
            json_status_failure("the kubelet's stream ended before the command's status")
        };
        self.finish(&status, out);
    }

    /// The client's connection ended or broke: the kubelet is told to go away.
    pub fn client_ended(&mut self, out: &mut Output) {
        self.abandon(out);
    }

    fn abandon(&mut self, out: &mut Output) {
        if !self.done {
            spdy::goaway(&mut out.kubelet);
            self.done = true;
        }
    }

    /// The status on the error channel, a normal close to the client, and
    /// GOAWAY to the kubelet.
    fn finish(&mut self, status: &[u8], out: &mut Output) {
        ws::encode_into(&mut out.client, OP_BINARY, &[&[ERROR], status]);
        ws::encode_into(&mut out.client, OP_CLOSE, &[&1000u16.to_be_bytes()]);
        spdy::goaway(&mut out.kubelet);
        self.done = true;
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
