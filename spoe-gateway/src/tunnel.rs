//! The tunnel after a `101 Switching Protocols` (WebSocket, or any `Upgrade`): HAProxy 2.6
//! stops parsing HTTP on both sides and moves bytes both ways (`H1S_F_WANT_TUN` in
//! `src/mux_h1.c`). Here the request path hands the server's upgraded connection to the
//! client connection's task ([`Tunnel`]), which runs [`Tunnel::run`] once hyper has written
//! the 101.
//!
//! The request's access line is written when the tunnel ends, as HAProxy writes it: its
//! timers and byte count cover the tunnel; a tunnel cut with its server's sessions
//! (`on-marked-down shutdown-sessions`) ends `D-`.
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
use tokio_util::sync::CancellationToken;

use crate::access::Access;
use crate::generation::ServerRt;

/// The buffer of each direction (HAProxy's `tune.bufsize`).
pub(crate) const BUF: usize = 16384;

/// A tunnel the request path agreed to: the server's side, and how long it may stay idle.
#[derive(Debug)]
pub(crate) struct Tunnel {
    /// The server's connection, once hyper's client hands it over.
    pub(crate) server: hyper::upgrade::OnUpgrade,
    /// Closes the tunnel after this long without a byte either way (`None`: never).
    pub(crate) idle: Option<Duration>,
    /// Closes it with its server's sessions (`on-marked-down shutdown-sessions`...).
    pub(crate) cut: Option<CancellationToken>,
    /// The request's access line, written when the tunnel closes (HAProxy's `%Tt` and `%B`
    /// cover the tunnel).
    pub(crate) line: Option<Line>,
}

impl Tunnel {
    /// The tunnel for a backend's timeouts and the frontend's `timeout client`.
    pub(crate) fn new(
        server: hyper::upgrade::OnUpgrade,
        tunnel: Option<Duration>,
        client: Option<Duration>,
        server_timeout: Option<Duration>,
        cut: Option<CancellationToken>,
    ) -> Self {
        Self {
            server,
            idle: idle_bound(tunnel, client, server_timeout),
            cut,
            line: None,
        }
    }

    /// Moves bytes between `client` (after `client_unread`, what the client sent past its
    /// request) and the server until either side closes, an error, the idle bound or the
    /// server's sessions are cut. Returns the bytes moved (client to server, server to
    /// client).
    pub(crate) async fn run<C>(self, mut client: C, client_unread: Bytes) -> io::Result<(u64, u64)>
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        let Self {
            server,
            idle,
            cut,
            mut line,
        } = self;
        let moved = [AtomicU64::new(0), AtomicU64::new(0)];
        let ended = tokio::select! {
            r = pump(server, idle, &mut client, client_unread, &moved) => r,
            () = crate::cut::cancelled(cut.as_ref()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the server's sessions were cut",
            )),
        };
        let [up, down] = moved.map(AtomicU64::into_inner);
        if let Some(line) = line.as_mut() {
            line.down = down;
            if cut.is_some_and(|c| c.is_cancelled()) {
                line.termination = Some(crate::cut::termination(&line.server, false));
            }
        }
        ended.map(|()| (up, down))
    }
}

/// The bytes of a tunnel, counted into `moved` (client to server, server to client) as
/// they pass.
async fn pump<C>(
    server: hyper::upgrade::OnUpgrade,
    idle: Option<Duration>,
    client: &mut C,
    client_unread: Bytes,
    moved: &[AtomicU64; 2],
) -> io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut server = TokioIo::new(server.await.map_err(io::Error::other)?);
    if !client_unread.is_empty() {
        server.write_all(&client_unread).await?;
        moved[0].fetch_add(client_unread.len() as u64, Ordering::Relaxed);
    }
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut client = Watched {
        io: client,
        start,
        last: last.clone(),
        read: &moved[0],
    };
    let mut server = Watched {
        io: &mut server,
        start,
        last: last.clone(),
        read: &moved[1],
    };
    let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUF, BUF);
    let Some(idle) = idle else {
        return copy.await.map(drop);
    };
    tokio::pin!(copy);
    let mut deadline = start + idle;
    loop {
        tokio::select! {
            r = &mut copy => return r.map(drop),
            () = tokio::time::sleep_until(deadline) => {
                let until = start + Duration::from_nanos(last.load(Ordering::Relaxed)) + idle;
                if until <= Instant::now() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle"));
                }
                deadline = until;
            }
        }
    }
}

/// The access line of the request that opened a tunnel, written when the tunnel ends (or
/// never runs); the tunnel counts as a session of its server meanwhile (`%sc`, the
/// "sessions active" of a state change).
#[derive(Debug)]
pub(crate) struct Line {
    /// Boxed: every connection's session keeps room for a tunnel (`proxy::Session`), and an
    /// access line's facts inline would make each idle connection 0.7 KiB larger (the line
    /// comes boxed from the response, `access::Logged`).
    access: Option<Box<Access>>,
    server: Arc<ServerRt>,
    /// Bytes the server sent through the tunnel.
    down: u64,
    /// The termination state, when the tunnel did not just close.
    termination: Option<&'static str>,
}

impl Line {
    /// The line of `access`, whose request went to `server`.
    pub(crate) fn new(access: Box<Access>, server: Arc<ServerRt>) -> Self {
        server.active.fetch_add(1, Ordering::Relaxed);
        Self {
            access: Some(access),
            server,
            down: 0,
            termination: None,
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.server.active.fetch_sub(1, Ordering::Relaxed);
        if let Some(mut access) = self.access.take() {
            if let Some(t) = self.termination {
                access.termination = t;
            }
            access.counters.bytes_out(access.head_bytes + self.down);
            (*access).write(self.down);
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
    /// The bytes read from this end.
    read: &'a AtomicU64,
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
        let n = buf.filled().len() - before;
        if n > 0 {
            self.read.fetch_add(n as u64, Ordering::Relaxed);
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
