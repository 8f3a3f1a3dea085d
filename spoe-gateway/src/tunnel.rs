//! The tunnel after a `101 Switching Protocols` (WebSocket, or any `Upgrade`): HAProxy 2.6
//! stops parsing HTTP on both sides and moves bytes both ways (`H1S_F_WANT_TUN` in
//! `src/mux_h1.c`). Here the request path hands the server's upgraded connection to the
//! client connection's task ([`Tunnel`]), which runs [`Tunnel::run`] once hyper has written
//! the 101.
//!
//! Bounds: one buffer of [`BUF`] bytes per direction, and an idle bound: `timeout tunnel`
//! when the backend sets it, else the shorter of `timeout client` and `timeout server`
//! (HAProxy's: the tunnel closes when it stays inactive in both directions that long).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::time::Instant;

/// The buffer of each direction (HAProxy's `tune.bufsize`).
pub(crate) const BUF: usize = 16384;

/// A tunnel the request path agreed to: the server's side, and how long it may stay idle.
#[derive(Debug)]
pub(crate) struct Tunnel {
    /// The server's connection, once hyper's client hands it over.
    pub(crate) server: hyper::upgrade::OnUpgrade,
    /// Closes the tunnel after this long without a byte either way (`None`: never).
    pub(crate) idle: Option<Duration>,
}

impl Tunnel {
    /// The tunnel for a backend's timeouts and the frontend's `timeout client`.
    pub(crate) fn new(
        server: hyper::upgrade::OnUpgrade,
        tunnel: Option<Duration>,
        client: Option<Duration>,
        server_timeout: Option<Duration>,
    ) -> Self {
        Self {
            server,
            idle: idle_bound(tunnel, client, server_timeout),
        }
    }

    /// Moves bytes between `client` (after `client_unread`, what the client sent past its
    /// request) and the server until either side closes, an error, or the idle bound.
    /// Returns the bytes moved (client to server, server to client).
    pub(crate) async fn run<C>(self, mut client: C, client_unread: Bytes) -> io::Result<(u64, u64)>
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        let mut server = TokioIo::new(self.server.await.map_err(io::Error::other)?);
        if !client_unread.is_empty() {
            server.write_all(&client_unread).await?;
        }
        let start = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let mut client = Watched {
            io: &mut client,
            start,
            last: last.clone(),
        };
        let mut server = Watched {
            io: &mut server,
            start,
            last: last.clone(),
        };
        let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUF, BUF);
        let Some(idle) = self.idle else {
            return copy.await;
        };
        tokio::pin!(copy);
        let mut deadline = start + idle;
        loop {
            tokio::select! {
                r = &mut copy => return r,
                () = tokio::time::sleep_until(deadline) => {
                    let moved = start + Duration::from_nanos(last.load(Ordering::Relaxed)) + idle;
                    if moved <= Instant::now() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle"));
                    }
                    deadline = moved;
                }
            }
        }
    }
}

/// `timeout tunnel`, else the shorter of `timeout client` and `timeout server`.
fn idle_bound(
    tunnel: Option<Duration>,
    client: Option<Duration>,
    server: Option<Duration>,
) -> Option<Duration> {
    tunnel.or(match (client, server) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, s) => c.or(s),
    })
}

/// An end of the tunnel that records when it last moved bytes.
struct Watched<'a, T> {
    io: &'a mut T,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Watched<'_, T> {
    fn moved(&self) {
        let at = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.fetch_max(at, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut *self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::idle_bound;

    #[test]
    fn the_idle_bound_is_timeout_tunnel_else_the_shorter_side() {
        let s = Duration::from_secs;
        let idle = idle_bound;
        assert_eq!(idle(Some(s(60)), Some(s(5)), Some(s(10))), Some(s(60)));
        assert_eq!(idle(None, Some(s(5)), Some(s(10))), Some(s(5)));
        assert_eq!(idle(None, None, Some(s(10))), Some(s(10)));
        assert_eq!(idle(None, None, None), None);
    }
}
