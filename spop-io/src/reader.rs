//! Reading frames from any `AsyncRead`.

use std::io;

use bytes::BytesMut;
use spop::{DecodeError, Frame, FrameDecoder};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes asked of the socket at a time when the buffer is full.
const READ_AHEAD: usize = 4096;

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading failed.
    #[error(transparent)]
    Io(io::Error),
    /// The bytes are not a valid frame; `status()` is the DISCONNECT code.
    #[error(transparent)]
    Decode(DecodeError),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// The bytes of the unfinished frame.
        buffered: usize,
    },
}

/// Reads a byte stream into a buffer, and frames out of it.
///
/// Partial input stays in the buffer across calls, so every method is
/// cancel-safe: a `select!` may drop a read halfway and call again. The
/// buffer holds at most one frame beyond what the caller took, because the
/// decoder checks each length prefix against max-frame-size before
/// reserving room for it.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl<R> FrameReader<R> {
    /// A reader of frames up to `max_frame_size` bytes (length prefix
    /// excluded).
    pub fn new(io: R, max_frame_size: u32) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_AHEAD),
            decoder: FrameDecoder::new(max_frame_size),
        }
    }

    /// The bytes read and not taken yet, for a state machine to take frames
    /// from ([`spop::agent::AgentConnection::handle_input`],
    /// [`spop::engine::EngineConnection::handle_input`]).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes read and not taken yet.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Changes the largest frame [`FrameReader::next`] takes (after a
    /// handshake).
    pub fn set_max_frame_size(&mut self, max: u32) {
        self.decoder.set_max_frame_size(max);
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// A frame already buffered, without reading.
    pub fn buffered(&mut self) -> Result<Option<Frame>, DecodeError> {
        self.decoder.decode(&mut self.buf)
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads once into the buffer: the number of bytes read, 0 at the end
    /// of the stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(READ_AHEAD);
        }
        self.io.read_buf(&mut self.buf).await
    }

    /// The next whole frame; `Ok(None)` when the stream ends between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some(frame) = self.buffered().map_err(ReadError::Decode)? {
                return Ok(Some(frame));
            }
            if self.fill().await.map_err(ReadError::Io)? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated {
                        buffered: self.buf.len(),
                    })
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use spop::{Message, Status};
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn notify(sid: u64) -> BytesMut {
        let mut b = BytesMut::new();
        Frame::notify(sid, 1, vec![Message::new("m").arg("v", 1i64)]).encode(&mut b);
        b
    }

    #[tokio::test]
    async fn frames_come_whole_whatever_the_writes_and_cancellations() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx, 16380);
        let mut both = notify(1);
        both.extend_from_slice(&notify(2));
        let (a, b) = both.split_at(7);
        tx.write_all(a).await.unwrap();
        // Cancelled halfway: the bytes read so far stay.
        assert!(
            tokio::time::timeout(Duration::from_millis(10), r.next())
                .await
                .is_err()
        );
        tx.write_all(b).await.unwrap();
        assert_eq!(r.next().await.unwrap().unwrap().header.stream_id, 1);
        assert_eq!(r.buffered().unwrap().unwrap().header.stream_id, 2);
        drop(tx);
        assert!(r.next().await.unwrap().is_none(), "a clean end");
    }

    #[tokio::test]
    async fn an_end_inside_a_frame_and_a_bad_length_are_errors() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx, 16380);
        tx.write_all(&notify(1)[..5]).await.unwrap();
        drop(tx);
        let e = r.next().await.unwrap_err();
        assert!(matches!(e, ReadError::Truncated { buffered: 5 }), "{e}");

        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx, 256);
        tx.write_all(&[0, 0, 1, 1]).await.unwrap();
        match r.next().await {
            Err(ReadError::Decode(e)) => assert_eq!(e.status(), Status::FRAME_TOO_BIG),
            other => panic!("{other:?}"),
        }
        assert!(
            r.buffer_mut().capacity() <= READ_AHEAD,
            "nothing reserved for it"
        );
    }
}
