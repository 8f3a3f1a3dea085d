//! Why an agent cannot be used: one handshake attempt whose failure names the
//! real cause (the OS error, a peer speaking another protocol, a refusal),
//! for commands that only know "the connection failed".

use std::io;
use std::time::Duration;

use spop::engine::Haproxy;
use spop::{AgentHello, Body, Disconnect, Frame};
use spop_io::{Addr, FrameWriter};
use tokio::io::AsyncWrite;

use crate::cases;

/// Why a handshake with an agent failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The connection could not be opened.
    // The OS error is said in the message and is not the error's `source`:
    // a chain printer (anyhow's `{:#}`) would say it twice.
    #[error("connecting to {target}: {error}")]
    Connect {
        /// The agent.
        target: String,
        /// The OS error (connection refused, no such file...).
        error: io::Error,
    },
    /// The peer answered with bytes that are no SPOP frame.
    #[error(
        "{target}: the peer does not speak SPOP (its first bytes look like {looks_like}: {first:?})"
    )]
    NotSpop {
        /// The agent.
        target: String,
        /// What the bytes look like: `HTTP`, `TLS`, `text`, `binary`.
        looks_like: &'static str,
        /// The first bytes, lossily as text.
        first: String,
    },
    /// The peer closed or reset the connection without an answer.
    #[error("{target} closed the connection without answering the HAPROXY-HELLO{detail}")]
    Closed {
        /// The agent.
        target: String,
        /// `: <OS error>` for a reset, else empty.
        detail: String,
    },
    /// The peer accepted the connection and sent nothing.
    #[error(
        "{target} accepted the connection but sent nothing within {ms} ms of the HAPROXY-HELLO"
    )]
    Silent {
        /// The agent.
        target: String,
        /// The wait.
        ms: u128,
    },
    /// The agent refused the handshake.
    #[error("{target} refused the handshake: AGENT-DISCONNECT status {status} ({message:?})")]
    Refused {
        /// The agent.
        target: String,
        /// The status code.
        status: u32,
        /// Its message.
        message: String,
    },
    /// The agent answered something HAProxy does not accept.
    #[error("{target} answered the HAPROXY-HELLO with {what}")]
    BadAnswer {
        /// The agent.
        target: String,
        /// What came and why it is refused.
        what: String,
    },
}

pub use spop::sniff;

/// Connects, sends HAProxy 2.6's HELLO and reads the answer, within `wait`.
/// Closes with HAPROXY-DISCONNECT after a successful handshake.
pub async fn probe(target: &Addr, wait: Duration) -> Result<AgentHello, ProbeError> {
    let name = target.to_string();
    let io = match tokio::time::timeout(wait, target.connect()).await {
        Ok(Ok(io)) => io,
        Ok(Err(error)) => {
            return Err(ProbeError::Connect {
                target: name,
                error,
            });
        }
        Err(_) => {
            return Err(ProbeError::Connect {
                target: name,
                error: io::Error::new(io::ErrorKind::TimedOut, "connection timed out"),
            });
        }
    };
    let hello = cases::hello(Haproxy::V2_6);
    let (mut rd, mut wr) = spop_io::split(io, hello.max_frame_size);
    if let Err(e) = wr.send(&Frame::haproxy_hello(&hello)).await {
        return Err(ProbeError::Closed {
            target: name,
            detail: format!(": {e}"),
        });
    }
    let deadline = tokio::time::Instant::now() + wait;
    // A line-based server (HTTP, SMTP...) waits for an end of line that a
    // HELLO may not contain: after half the wait in silence, send one, so
    // that it answers and can be recognised. An SPOP agent silent that long
    // is failing anyway.
    let mut nudge = Some(tokio::time::Instant::now() + wait / 2);
    loop {
        let buf = rd.buffer_mut();
        if let Some(kind) = sniff(buf) {
            return Err(ProbeError::NotSpop {
                target: name,
                looks_like: kind,
                first: String::from_utf8_lossy(buf.get(..buf.len().min(32)).unwrap_or_default())
                    .into_owned(),
            });
        }
        match rd.buffered() {
            Ok(Some(frame)) => return answer(name, frame, hello.max_frame_size, &mut wr).await,
            Ok(None) => {}
            Err(e) => {
                return Err(ProbeError::BadAnswer {
                    target: name,
                    what: format!("bytes that are not a frame: {e}"),
                });
            }
        }
        let until = nudge.unwrap_or(deadline);
        let read = match tokio::time::timeout_at(until, rd.fill()).await {
            Ok(r) => Ok(r),
            Err(_) if nudge.take().is_some() => {
                wr.queue_raw(b"\r\n\r\n");
                let _ = wr.flush().await;
                continue;
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(Ok(0)) => {
                return Err(ProbeError::Closed {
                    target: name,
                    detail: String::new(),
                });
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(ProbeError::Closed {
                    target: name,
                    detail: format!(": {e}"),
                });
            }
            Err(_) => {
                return Err(ProbeError::Silent {
                    target: name,
                    ms: wait.as_millis(),
                });
            }
        }
    }
}

async fn answer<W: AsyncWrite + Unpin>(
    target: String,
    frame: Frame,
    offered: u32,
    wr: &mut FrameWriter<W>,
) -> Result<AgentHello, ProbeError> {
    match &frame.body {
        Body::AgentHello(kv) => match AgentHello::from_kv(kv, offered) {
            Ok(a) => {
                let _ = wr
                    .send(&Frame::haproxy_disconnect(&Disconnect::new(
                        spop::Status::NORMAL,
                    )))
                    .await;
                Ok(a)
            }
            Err(e) => Err(ProbeError::BadAnswer {
                target,
                what: format!("an AGENT-HELLO HAProxy refuses: {e}"),
            }),
        },
        Body::AgentDisconnect(kv) => {
            let d = Disconnect::from_kv(kv).unwrap_or(Disconnect::new(spop::Status::UNKNOWN));
            Err(ProbeError::Refused {
                target,
                status: d.status.0,
                message: d.message,
            })
        }
        _ => Err(ProbeError::BadAnswer {
            target,
            what: crate::peer::describe(&frame),
        }),
    }
}
