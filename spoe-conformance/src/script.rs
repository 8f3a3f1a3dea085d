//! The case builder: the sequence most cases play (connect, hello, send,
//! expect), written once. A case says what differs:
//!
//! ```text
//! script(s).hello().raw(bytes, "a zero length").then_alive().expect_refusal(Status::INVALID_FRAME)
//! script(s).hello().notify(1, 1, messages).expect_ack()
//! script(s).offer(kv, 1024).expect_answer()
//! ```

use bytes::BytesMut;
use spop::{Body, Frame, HaproxyHello, Kv, Message, Status};

use crate::case::{CaseFuture, Verdict};
use crate::cases::{hello, judge_refusal, then_alive, with_violations};
use crate::peer::{Peer, PeerError};
use crate::settings::Settings;

enum Hello {
    /// Nothing: what is sent comes before any HELLO.
    None,
    /// A handshake through HAProxy's state machine, offering this HELLO made
    /// of these keys (the answer is judged against its max-frame-size).
    Handshake(HaproxyHello, Vec<Kv>),
    /// A HELLO of these keys, sent as it is: the agent must refuse it.
    Raw(Vec<Kv>),
}

enum Send {
    /// Bytes as they are, in one write.
    Raw(BytesMut, &'static str),
    /// Bytes the agent may refuse to read to the end (a failed write is its
    /// refusal).
    RawMayFail(BytesMut, &'static str),
    /// A NOTIFY with these ids, whose ACK is awaited.
    Notify(u64, u64, Vec<Message>),
}

/// What a case plays on one fresh connection. See the module documentation.
pub(crate) struct Script<'s> {
    s: &'s Settings,
    hello: Hello,
    sends: Vec<Send>,
    alive: bool,
}

/// A fresh connection to the agent under test, nothing sent yet.
pub(crate) fn script(s: &Settings) -> Script<'_> {
    Script {
        s,
        hello: Hello::None,
        sends: Vec::new(),
        alive: false,
    }
}

impl<'s> Script<'s> {
    /// The selected HAProxy's handshake.
    pub(crate) fn hello(self) -> Self {
        let h = hello(self.s.haproxy);
        self.hello_with(h)
    }

    /// A handshake offering `h`.
    pub(crate) fn hello_with(mut self, h: HaproxyHello) -> Self {
        let kv = h.to_kv();
        self.hello = Hello::Handshake(h, kv);
        self
    }

    /// A HELLO of exactly `kv`, the answer judged as from HAProxy offering
    /// `max_frame_size` (and, when `kv` reads as a HELLO, what it offers).
    pub(crate) fn offer(mut self, kv: Vec<Kv>, max_frame_size: u32) -> Self {
        let h = HaproxyHello {
            max_frame_size,
            ..HaproxyHello::from_kv(&kv).unwrap_or_else(|_| hello(self.s.haproxy))
        };
        self.hello = Hello::Handshake(h, kv);
        self
    }

    /// A HELLO of exactly `kv`, which the agent must refuse.
    pub(crate) fn bad_hello(mut self, kv: Vec<Kv>) -> Self {
        self.hello = Hello::Raw(kv);
        self
    }

    /// Then bytes as they are, in one write.
    pub(crate) fn raw(mut self, bytes: BytesMut, what: &'static str) -> Self {
        self.sends.push(Send::Raw(bytes, what));
        self
    }

    /// Then bytes the agent may stop reading halfway (a failed write is
    /// its refusal, judged by the expectation).
    pub(crate) fn raw_may_fail(mut self, bytes: BytesMut, what: &'static str) -> Self {
        self.sends.push(Send::RawMayFail(bytes, what));
        self
    }

    /// Then a NOTIFY with these ids.
    pub(crate) fn notify(mut self, stream_id: u64, frame_id: u64, messages: Vec<Message>) -> Self {
        self.sends.push(Send::Notify(stream_id, frame_id, messages));
        self
    }

    /// Whatever the verdict, a new connection must then be served (a
    /// refusal is not a crash).
    pub(crate) fn then_alive(mut self) -> Self {
        self.alive = true;
        self
    }

    /// Connects and plays the hello and the sends.
    async fn play(self) -> Result<(Peer, Option<String>, Vec<(u64, u64)>), PeerError> {
        let mut peer = Peer::connect(&self.s.target).await?;
        let mut answered = None;
        match self.hello {
            Hello::None => {}
            Hello::Handshake(h, kv) => {
                let a = peer.handshake_kv(&h, kv).await?;
                answered = Some(summary(&a));
            }
            Hello::Raw(kv) => {
                peer.send(&Frame::haproxy_hello_kv(kv), "HAPROXY-HELLO")
                    .await?;
            }
        }
        let mut notified = Vec::new();
        for send in self.sends {
            match send {
                Send::Raw(bytes, what) => peer.send_raw(&bytes, what).await?,
                Send::RawMayFail(bytes, what) => {
                    let _ = peer.send_raw(&bytes, what).await;
                }
                Send::Notify(sid, fid, messages) => {
                    peer.queue_notify(sid, fid, &messages)?;
                    peer.flush("NOTIFY").await?;
                    notified.push((sid, fid));
                }
            }
        }
        Ok((peer, answered, notified))
    }

    /// The agent answers the HELLO with an AGENT-HELLO HAProxy accepts.
    pub(crate) fn expect_answer(self) -> CaseFuture<'s> {
        Box::pin(async move {
            let (peer, answered, _) = match self.play().await {
                Ok(played) => played,
                Err(PeerError::Unexpected { got, .. }) => return Ok(Verdict::fail(got)),
                Err(e) => return Err(e),
            };
            let seen = answered.unwrap_or_default();
            Ok(with_violations(&peer, Verdict::pass(seen)))
        })
    }

    /// The agent answers the last NOTIFY with its ACK.
    pub(crate) fn expect_ack(self) -> CaseFuture<'s> {
        Box::pin(async move {
            let (s, alive) = (self.s, self.alive);
            let (mut peer, _, notified) = self.play().await?;
            let Some(&(stream_id, frame_id)) = notified.last() else {
                return Ok(Verdict::fail("no NOTIFY was sent"));
            };
            let ack = peer.frame("an ACK").await?;
            crate::peer::check_ack(&ack, stream_id, frame_id)?;
            let n = match &ack.body {
                Body::Ack(a) => a.len(),
                _ => 0,
            };
            let v = with_violations(
                &peer,
                Verdict::pass(format!(
                    "ACK stream-id {stream_id} frame-id {frame_id} with {n} action(s)"
                )),
            );
            Ok(if alive { then_alive(s, v).await } else { v })
        })
    }

    /// The agent refuses what was sent as HAProxy does: AGENT-DISCONNECT
    /// `expected`, then a close (see [`judge_refusal`]).
    pub(crate) fn expect_refusal(self, expected: Status) -> CaseFuture<'s> {
        Box::pin(async move {
            let (s, alive) = (self.s, self.alive);
            let (mut peer, _, _) = self.play().await?;
            let v = judge_refusal(&mut peer, s, expected).await;
            Ok(if alive { then_alive(s, v).await } else { v })
        })
    }
}

/// An AGENT-HELLO in a few words.
pub(crate) fn summary(a: &spop::AgentHello) -> String {
    format!(
        "AGENT-HELLO version {}, max-frame-size {}, capabilities {:?}",
        a.version,
        a.max_frame_size,
        a.capabilities.to_string()
    )
}
