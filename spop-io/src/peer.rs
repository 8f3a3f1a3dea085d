//! The engine's end of one connection, played one step at a time: what test
//! kits, the conformance cases, health checks and probes share. The protocol
//! is [`EngineConnection`]'s; this moves its bytes and owns its timer.

use std::io;

use spop::engine::{EngineConfig, EngineConnection, EngineEnd, EngineEvent, NotifyError};
use spop::{AgentHello, Frame, FrameType, Kv, Message};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::time::Instant;

use crate::reader::{FrameReader, ReadError};
use crate::writer::FrameWriter;

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeFailed {
    /// Writing the HELLO failed.
    #[error("writing HAPROXY-HELLO: {0}")]
    Io(io::Error),
    /// The connection ended instead (the agent's refusal, an answer HAProxy
    /// refuses, the hello timeout, the socket's end).
    #[error("the handshake ended: {0:?}")]
    Ended(EngineEnd),
}

/// The engine's end of one connection over any byte stream.
///
/// Until [`EnginePeer::start`], it is raw: bytes and frames go out as they
/// are and frames come back with [`EnginePeer::recv_frame`] (to send what
/// HAProxy never does, such as a NOTIFY before any HELLO). From then on,
/// what the agent sends goes to the [`EngineConnection`], and comes back as
/// its events ([`EnginePeer::next_event`]).
#[derive(Debug)]
pub struct EnginePeer<IO> {
    reader: FrameReader<ReadHalf<IO>>,
    writer: FrameWriter<WriteHalf<IO>>,
    conn: Option<EngineConnection<()>>,
}

impl<IO: AsyncRead + AsyncWrite> EnginePeer<IO> {
    /// A peer on `io`, nothing sent yet. Raw frames are read up to 1 MiB, so
    /// that what an agent sends beyond the protocol's limits can be seen.
    pub fn new(io: IO) -> Self {
        let (rd, wr) = tokio::io::split(io);
        let (reader, writer) = (FrameReader::new(rd, 1 << 20), FrameWriter::new(wr));
        Self {
            reader,
            writer,
            conn: None,
        }
    }

    /// Starts the handshake: the HAPROXY-HELLO of `config` is sent with the
    /// next write ([`EnginePeer::flush`], or any wait for an event).
    pub fn start(&mut self, config: EngineConfig) {
        self.conn = Some(EngineConnection::new(config, Instant::now().into_std()));
    }

    /// [`EnginePeer::start`] with a HELLO made of `kv` exactly.
    pub fn start_with_kv(&mut self, config: EngineConfig, kv: Vec<Kv>) {
        self.conn = Some(EngineConnection::with_hello_kv(
            config,
            kv,
            Instant::now().into_std(),
        ));
    }

    /// The state machine, once started.
    pub fn connection(&self) -> Option<&EngineConnection<()>> {
        self.conn.as_ref()
    }

    /// The state machine, once started, for calls that only queue
    /// ([`EngineConnection::send_notify_with_ids`], `drain`, `disconnect`).
    pub fn connection_mut(&mut self) -> Option<&mut EngineConnection<()>> {
        self.conn.as_mut()
    }

    /// Writes what the state machine queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if let Some(conn) = &mut self.conn {
            conn.poll_transmit(self.writer.buffer_mut());
        }
        self.writer.flush().await
    }

    /// Writes bytes as they are, after what the state machine queued.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(conn) = &mut self.conn {
            conn.poll_transmit(self.writer.buffer_mut());
        }
        self.writer.queue_raw(bytes);
        self.writer.flush().await
    }

    /// Writes a frame as it is (no size check). Once the handshake is done,
    /// the ACK of a NOTIFY sent this way (whole, or the first of its
    /// fragments) is waited for as the state machine's own, until `deadline`.
    pub async fn send_frame(&mut self, frame: &Frame, deadline: Instant) -> io::Result<()> {
        let h = frame.header;
        if let Some(conn) = &mut self.conn
            && conn.is_ready()
            && h.frame_type == FrameType::NOTIFY
            && !h.flags.abort()
        {
            let now = Instant::now().into_std();
            let _ = conn.expect_ack(h.stream_id, h.frame_id, deadline.into_std(), (), now);
        }
        let mut b = bytes::BytesMut::new();
        frame.encode(&mut b);
        self.send_raw(&b).await
    }

    /// Sends one NOTIFY of `messages` on the next stream-id (frame-id 1),
    /// waited for until `deadline`. Returns its ids.
    pub async fn notify(
        &mut self,
        messages: &[Message],
        deadline: Instant,
    ) -> io::Result<(u64, u64)> {
        let mut payload = bytes::BytesMut::new();
        messages.iter().for_each(|m| m.encode(&mut payload));
        let conn = self.conn.as_mut().ok_or_else(not_started)?;
        let now = Instant::now().into_std();
        let ids = conn
            .send_notify(&payload, deadline.into_std(), (), now)
            .map_err(refused)?;
        self.flush().await?;
        Ok(ids)
    }

    /// Sends one NOTIFY with the ids HAProxy 2.x uses (the stream's, and a
    /// frame-id per event), waited for until `deadline`.
    pub async fn notify_with_ids(
        &mut self,
        stream_id: u64,
        frame_id: u64,
        messages: &[Message],
        deadline: Instant,
    ) -> io::Result<()> {
        let mut payload = bytes::BytesMut::new();
        messages.iter().for_each(|m| m.encode(&mut payload));
        let conn = self.conn.as_mut().ok_or_else(not_started)?;
        let now = Instant::now().into_std();
        conn.send_notify_with_ids(stream_id, frame_id, &payload, deadline.into_std(), (), now)
            .map_err(refused)?;
        self.flush().await
    }

    /// The next frame, as it is, before [`EnginePeer::start`] or after the
    /// state machine's end ([`EngineEvent::Closed`]: what the agent sends
    /// after that); `Ok(None)` when the stream ends between frames.
    pub async fn recv_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        if self.conn.as_ref().is_some_and(|c| !c.is_closed()) {
            return Err(ReadError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "after the handshake began, frames go to the engine's state machine: wait for its events",
            )));
        }
        self.reader.next().await
    }

    /// The state machine's next event, reading and writing as needed and
    /// waking it at its deadlines. `Ok(None)` once it is over and nothing is
    /// left. Cancel-safe.
    pub async fn next_event(&mut self) -> io::Result<Option<EngineEvent<()>>> {
        loop {
            let conn = self.conn.as_mut().ok_or_else(not_started)?;
            if let Some(event) = conn.poll_event() {
                return Ok(Some(event));
            }
            if conn.poll_transmit(self.writer.buffer_mut())
                && let Err(e) = self.writer.flush().await
            {
                conn.handle_write_error(&e, Instant::now().into_std());
                continue;
            }
            if conn.is_closed() {
                return Ok(None);
            }
            let wake = conn.poll_timeout().map(Instant::from_std);
            tokio::select! {
                read = self.reader.fill() => {
                    let now = Instant::now().into_std();
                    match read {
                        Ok(0) => conn.handle_eof(now),
                        Ok(_) => conn.handle_input(self.reader.buffer_mut(), now),
                        Err(e) => conn.handle_read_error(&e, now),
                    }
                }
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    conn.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }

    /// Starts the handshake with `config` and waits for the agent's answer.
    pub async fn handshake(&mut self, config: EngineConfig) -> Result<AgentHello, HandshakeFailed> {
        self.start(config);
        self.finish_handshake().await
    }

    /// [`EnginePeer::handshake`] with a HELLO made of `kv` exactly.
    pub async fn handshake_kv(
        &mut self,
        config: EngineConfig,
        kv: Vec<Kv>,
    ) -> Result<AgentHello, HandshakeFailed> {
        self.start_with_kv(config, kv);
        self.finish_handshake().await
    }

    async fn finish_handshake(&mut self) -> Result<AgentHello, HandshakeFailed> {
        loop {
            match self.next_event().await.map_err(HandshakeFailed::Io)? {
                Some(EngineEvent::Ready(hello)) => return Ok(hello),
                Some(EngineEvent::Closing { end, .. }) => return Err(HandshakeFailed::Ended(end)),
                Some(_) => {}
                None => {
                    return Err(HandshakeFailed::Ended(EngineEnd::Broken(
                        "the connection ended".into(),
                    )));
                }
            }
        }
    }

    /// Reads until the end of the stream, ignoring what comes: true when it
    /// ended cleanly (not with an error such as a reset).
    pub async fn until_end(&mut self) -> bool {
        loop {
            match self.reader.fill().await {
                Ok(0) => return true,
                Ok(_) => self.reader.buffer_mut().clear(),
                Err(_) => return false,
            }
        }
    }

    /// Closes the writing side (the agent reads the end of the stream).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.writer.shutdown().await
    }

    /// Bytes read and not taken (an unfinished frame, when the stream ended).
    pub fn buffered(&self) -> usize {
        self.reader.buffered_len()
    }

    /// The stream's reading half, for what only a stream can tell (a
    /// socket's options).
    pub fn reader_mut(&mut self) -> &mut ReadHalf<IO> {
        self.reader.get_mut()
    }
}

fn not_started() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the engine's handshake has not started",
    )
}

fn refused(e: NotifyError<()>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}
