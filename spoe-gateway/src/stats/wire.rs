//! Bytes on the wire, counted where HAProxy counts them: a client
//! connection's into its frontend's `bin` (received) and `bout` (sent), a
//! server connection's into the server's and its backend's `bin` (sent to
//! the server: the request) and `bout` (received: the response).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::counters::Counters;

/// Which end of the gateway a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A client's connection to a frontend.
    Client,
    /// The gateway's connection to a server; the first counters are the
    /// server's, which count it open until it is dropped.
    Server,
}

/// A stream whose bytes are counted.
#[derive(Debug)]
pub(crate) struct Wire<S> {
    stream: S,
    side: Side,
    counters: [Option<Arc<Counters>>; 2],
}

impl<S> Wire<S> {
    /// A client's connection to the frontend counted by `frontend`.
    pub(crate) fn client(stream: S, frontend: Arc<Counters>) -> Self {
        Self {
            stream,
            side: Side::Client,
            counters: [Some(frontend), None],
        }
    }

    /// A connection to `server` of `backend`: counted open until dropped.
    pub(crate) fn server(stream: S, server: Arc<Counters>, backend: Arc<Counters>) -> Self {
        server.conns_open.inc();
        Self {
            stream,
            side: Side::Server,
            counters: [Some(server), Some(backend)],
        }
    }

    /// The stream.
    pub(crate) fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, to change.
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    fn count(&self, n: usize, received: bool) {
        let inbound = received == (self.side == Side::Client);
        for c in self.counters.iter().flatten() {
            if inbound {
                c.bytes_in.add(n as u64);
            } else {
                c.bytes_out.add(n as u64);
            }
        }
    }
}

impl<S> Drop for Wire<S> {
    fn drop(&mut self) {
        if self.side == Side::Server
            && let Some(server) = &self.counters[0]
        {
            server.conns_open.dec();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if r.is_ready() {
            self.count(buf.filled().len().saturating_sub(before), true);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.count(n, false);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.count(n, false);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn each_side_counts_its_direction() {
        let (a, mut b) = tokio::io::duplex(64);
        let fe = Arc::new(Counters::default());
        let mut client = Wire::client(a, fe.clone());
        client.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        b.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 18];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!((fe.bytes_in.get(), fe.bytes_out.get()), (18, 17));

        let (a, mut b) = tokio::io::duplex(64);
        let (srv, be) = (Arc::new(Counters::default()), Arc::new(Counters::default()));
        let mut server = Wire::server(a, srv.clone(), be.clone());
        assert_eq!(srv.conns_open.cur(), 1);
        server.write_all(b"GET /").await.unwrap();
        b.write_all(b"HTTP").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        for c in [&srv, &be] {
            assert_eq!((c.bytes_in.get(), c.bytes_out.get()), (5, 4));
        }
        drop(server);
        assert_eq!(srv.conns_open.cur(), 0);
    }
}
