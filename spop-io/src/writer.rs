//! Writing frames to any `AsyncWrite`.

use std::io;

use bytes::BytesMut;
use spop::Frame;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Queues frames and writes them together, whole.
///
/// A write is not cancel-safe and must not be a `select!` branch: a frame
/// is either written whole or the connection is given up (an error, or the
/// bound of [`FrameWriter::flush_until`]), never left half-written on a
/// connection that goes on.
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    buf: BytesMut,
}

impl<W> FrameWriter<W> {
    /// A writer with nothing queued.
    pub fn new(io: W) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// What is queued, for a state machine to transmit into
    /// ([`spop::agent::AgentConnection::poll_transmit`],
    /// [`spop::engine::EngineConnection::poll_transmit`]).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Queues a frame as it is (no max-frame-size check: kits send
    /// oversized frames on purpose; runtimes encode through their state
    /// machine).
    pub fn queue(&mut self, frame: &Frame) {
        frame.encode(&mut self.buf);
    }

    /// Queues bytes as they are.
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes everything queued, in one write when the stream takes it.
    /// The queue is empty afterwards, written or not.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.io.write_all(&self.buf).await;
        self.buf.clear();
        r
    }

    /// [`FrameWriter::flush`], given up at `deadline` with
    /// [`io::ErrorKind::TimedOut`] (the peer is not reading).
    pub async fn flush_until(&mut self, deadline: Instant) -> io::Result<()> {
        let r = tokio::time::timeout_at(deadline, self.flush())
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer is not reading",
                ))
            });
        self.buf.clear();
        r
    }

    /// Queues `frame` and writes the queue.
    pub async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.queue(frame);
        self.flush().await
    }

    /// Closes the writing side (the peer reads the end of the stream).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use spop::{Disconnect, Status};
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn queued_frames_leave_together() {
        let (tx, mut rx) = tokio::io::duplex(1024);
        let mut w = FrameWriter::new(tx);
        let d = Frame::agent_disconnect(&Disconnect::new(Status::NORMAL));
        w.queue(&d);
        w.queue(&d);
        w.flush().await.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        rx.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 2 * d.encoded_len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_is_given_up_at_the_deadline() {
        let (tx, _rx) = tokio::io::duplex(16);
        let mut w = FrameWriter::new(tx);
        w.queue_raw(&[0u8; 64]);
        let e = w
            .flush_until(Instant::now() + Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(w.buffer_mut().is_empty());
    }
}
