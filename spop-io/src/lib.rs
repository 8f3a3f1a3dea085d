//! SPOP over tokio: what every runtime, kit and test shares to move frames
//! over a byte stream, so that it is written once.
//!
//! ```text
//!   Addr ("127.0.0.1:12345", "localhost:12345", "unix@/run/agent.sock")
//!     └─ connect() ──> Stream (TCP with TCP_NODELAY, or Unix)
//!   any AsyncRead + AsyncWrite (a Stream, a TLS stream, an in-memory pipe)
//!     └─ split() ──> FrameReader (bytes for a state machine, or whole frames)
//!                    FrameWriter (frames queued, written whole)
//!     └─ EnginePeer ──> HAProxy's engine played one step at a time
//!                       (test kits, conformance cases, health checks, probes)
//! ```
//!
//! The protocol itself (handshakes, ids, deadlines) is `spop`'s sans-IO
//! state machines ([`spop::agent`], [`spop::engine`]): a runtime feeds
//! [`FrameReader::buffer_mut`] to them after [`FrameReader::fill`], and
//! writes what they transmit with [`FrameWriter::flush_until`]. Kits and
//! tests that play a peer by hand read whole frames with
//! [`FrameReader::next`].
//!
//! What this crate does not do: decide anything about the protocol, or own
//! timers beyond the bound the caller gives a write.

#![warn(missing_docs)]

mod addr;
mod peer;
mod reader;
mod threads;
mod writer;

pub use addr::{Addr, AddrError, Stream};
pub use peer::{EnginePeer, HandshakeFailed};
pub use reader::{FrameReader, ReadError};
pub use threads::RuntimeThreads;
pub use writer::FrameWriter;

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

/// Splits a byte stream into a frame reader (frames up to `max_frame_size`)
/// and a frame writer.
pub fn split<IO: AsyncRead + AsyncWrite>(
    io: IO,
    max_frame_size: u32,
) -> (FrameReader<ReadHalf<IO>>, FrameWriter<WriteHalf<IO>>) {
    let (rd, wr) = tokio::io::split(io);
    (FrameReader::new(rd, max_frame_size), FrameWriter::new(wr))
}
