//! A client socket hyper serves while the gateway keeps a handle on it: when
//! hyper gives up on a request head (`timeout http-request`), the gateway
//! still has the socket to send the 408 page on. It also counts the bytes
//! read, to tell a request begun from an idle kept-alive connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::access::ConnCounts;

/// The socket as hyper sees it: reads and writes go through the shared
/// [`TcpStream`]. Shutting down is left to the owner of the other handle,
/// once hyper is done.
#[derive(Debug)]
pub(crate) struct SharedStream {
    pub(crate) sock: Arc<TcpStream>,
    pub(crate) conns: Arc<ConnCounts>,
}

impl AsyncRead for SharedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.sock.poll_read_ready(cx))?;
            // `try_read` clears the readiness it consumed when it would block.
            match self.sock.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    self.conns.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.sock.poll_write_ready(cx))?;
            match self.sock.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.sock.poll_write_ready(cx))?;
            match self.sock.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The owner shuts the socket down once hyper is done with it.
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn bytes_go_both_ways_are_counted_and_the_other_handle_stays_usable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let server = Arc::new(server);
        let conns = Arc::new(ConnCounts::default());
        let mut shared = SharedStream {
            sock: server.clone(),
            conns: conns.clone(),
        };
        client.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        shared.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        assert_eq!(conns.bytes_in.load(Ordering::Relaxed), 4);
        shared.write_all(b"pong").await.unwrap();
        shared.shutdown().await.unwrap();
        drop(shared);
        // The socket is still open: the other handle writes and closes it.
        let mut server = Arc::try_unwrap(server).unwrap();
        server.write_all(b"!").await.unwrap();
        server.shutdown().await.unwrap();
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"pong!");
    }
}
