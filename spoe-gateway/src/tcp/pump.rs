//! The bytes of a `mode tcp` connection, both ways, with HAProxy 2.6's timeouts and
//! half-close (`process_stream()` in `src/stream.c`, `sc_conn_shutw()` in `src/stconn.c`).
//!
//! - Each side (client, server) has one inactivity bound, renewed by a read from it or a
//!   write to it (HAProxy renews a side's read timeout on its write activity unless `option
//!   independent-streams`): `timeout client` and `timeout server`, both replaced by `timeout
//!   tunnel` when the backend sets it. A side idle that long ends the connection: `cD` or `sD`.
//! - A side that sends its FIN has it forwarded to the other (a shutdown of the write side);
//!   bytes go on flowing the other way. Once the gateway has shut its write side towards the
//!   client, the client side's bound becomes `timeout client-fin` (when set); towards the
//!   server, `timeout server-fin`.
//! - The connection ends when both directions are shut (`--`), a side fails (`CD`, `SD`), or
//!   the gateway cuts it (`KD`).
//!
//! Bounds: one buffer of [`BUF`] bytes per direction; a direction reads only once its buffer
//! was written out, so a slow reader slows its writer and nothing grows.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::model::Timeouts;
use crate::tunnel::BUF;

/// How a connection's data phase ended (HAProxy's termination state, data phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Both sides closed: `--`.
    Closed,
    /// The client failed (reset, broken pipe): `CD`.
    ClientAbort,
    /// The server failed: `SD`.
    ServerAbort,
    /// The client side stayed idle past its bound: `cD`.
    ClientTimeout,
    /// The server side stayed idle past its bound: `sD`.
    ServerTimeout,
    /// The gateway closed it by force (a stop's bound ran out): `KD`.
    Killed,
}

impl Ended {
    /// The two letters of `%ts`.
    pub(crate) fn termination(self) -> &'static str {
        match self {
            Self::Closed => "--",
            Self::ClientAbort => "CD",
            Self::ServerAbort => "SD",
            Self::ClientTimeout => "cD",
            Self::ServerTimeout => "sD",
            Self::Killed => "KD",
        }
    }
}

/// Bytes moved each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    /// From the client to the server.
    pub(crate) to_server: u64,
    /// From the server to the client (`%B`).
    pub(crate) to_client: u64,
}

/// The inactivity bounds of a connection's two sides, from its frontend's and backend's
/// timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    client: Option<Duration>,
    server: Option<Duration>,
    client_fin: Option<Duration>,
    server_fin: Option<Duration>,
}

impl Bounds {
    /// `timeout client` (frontend), `timeout server` (backend), or `timeout tunnel` (backend)
    /// for both; `client-fin` (frontend) and `server-fin` (backend) once half-closed.
    pub(crate) fn of(frontend: &Timeouts, backend: &Timeouts) -> Self {
        Self {
            client: backend.tunnel.or(frontend.client),
            server: backend.tunnel.or(backend.server),
            client_fin: frontend.client_fin,
            server_fin: backend.server_fin,
        }
    }
}

/// What one direction did in one poll.
#[derive(Debug, Default, Clone, Copy)]
struct Activity {
    read: u64,
    wrote: bool,
    shut: bool,
}

/// One direction's failure: reading its source, or writing its sink.
enum Fault {
    Read,
    Write,
}

/// One direction: its buffer and whether its source ended and its sink was shut.
struct Half {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Written but not flushed (a TLS layer holds bytes until flushed).
    dirty: bool,
    eof: bool,
    shut: bool,
}

impl Half {
    fn new() -> Self {
        Self {
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            dirty: false,
            eof: false,
            shut: false,
        }
    }

    /// Moves what it can from `from` to `to` without waiting.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut from: Pin<&mut R>,
        mut to: Pin<&mut W>,
    ) -> Result<Activity, Fault>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        let mut act = Activity::default();
        // A few rounds at most: a busy direction leaves room to the other and to timers.
        for _ in 0..4 {
            if self.start == self.end && !self.eof {
                let mut rb = ReadBuf::new(&mut self.buf);
                match from.as_mut().poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.eof = true;
                        } else {
                            self.start = 0;
                            self.end = n;
                            act.read += n as u64;
                        }
                    }
                    Poll::Ready(Err(_)) => return Err(Fault::Read),
                    Poll::Pending => {}
                }
            }
            if self.start < self.end {
                match to.as_mut().poll_write(cx, &self.buf[self.start..self.end]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Err(Fault::Write),
                    Poll::Ready(Ok(n)) => {
                        self.start += n;
                        self.dirty = true;
                        act.wrote = true;
                        continue;
                    }
                    Poll::Pending => return Ok(act),
                }
            }
            if self.dirty {
                match to.as_mut().poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.dirty = false,
                    Poll::Ready(Err(_)) => return Err(Fault::Write),
                    Poll::Pending => return Ok(act),
                }
            }
            if self.eof && !self.shut {
                match to.as_mut().poll_shutdown(cx) {
                    // A sink already gone cannot be told more: it is shut either way.
                    Poll::Ready(_) => {
                        self.shut = true;
                        act.shut = true;
                    }
                    Poll::Pending => return Ok(act),
                }
            }
            if act.read == 0 || self.eof {
                break;
            }
        }
        Ok(act)
    }
}

/// One side's inactivity bound.
struct Side {
    bound: Option<Duration>,
    last: Instant,
}

impl Side {
    fn deadline(&self) -> Option<Instant> {
        self.bound.map(|b| self.last + b)
    }
}

/// Copies both ways between `client` and `server` until the connection ends (see the module's
/// documentation), starting with `first` (at most [`BUF`] bytes the client sent already) to
/// the server; `killed` cuts it.
pub(crate) async fn pump<C, S>(
    client: &mut C,
    server: &mut S,
    first: &[u8],
    bounds: Bounds,
    killed: &CancellationToken,
) -> (Ended, Moved)
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Half::new();
    let n = first.len().min(BUF);
    up.buf[..n].copy_from_slice(&first[..n]);
    up.end = n;
    let mut down = Half::new();
    let mut moved = Moved::default();
    let now = Instant::now();
    let mut cside = Side {
        bound: bounds.client,
        last: now,
    };
    let mut sside = Side {
        bound: bounds.server,
        last: now,
    };
    let far = now + Duration::from_secs(86400 * 365);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    let mut armed = None;
    loop {
        let deadline = match (cside.deadline(), sside.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if deadline != armed {
            sleep.as_mut().reset(deadline.unwrap_or(far));
            armed = deadline;
        }
        let step = std::future::poll_fn(|cx| {
            let a = up.poll(cx, Pin::new(&mut *client), Pin::new(&mut *server));
            let b = down.poll(cx, Pin::new(&mut *server), Pin::new(&mut *client));
            match (a, b) {
                (Err(Fault::Read), _) | (_, Err(Fault::Write)) => {
                    Poll::Ready(Err(Ended::ClientAbort))
                }
                (Err(Fault::Write), _) | (_, Err(Fault::Read)) => {
                    Poll::Ready(Err(Ended::ServerAbort))
                }
                (Ok(a), Ok(b)) => {
                    if a.read > 0 || a.wrote || a.shut || b.read > 0 || b.wrote || b.shut {
                        Poll::Ready(Ok((a, b)))
                    } else {
                        Poll::Pending
                    }
                }
            }
        });
        let (a, b) = tokio::select! {
            biased;
            () = killed.cancelled() => return (Ended::Killed, moved),
            r = step => match r {
                Ok(ab) => ab,
                Err(ended) => return (ended, moved),
            },
            () = &mut sleep => {
                let now = Instant::now();
                if cside.deadline().is_some_and(|d| d <= now) {
                    return (Ended::ClientTimeout, moved);
                }
                if sside.deadline().is_some_and(|d| d <= now) {
                    return (Ended::ServerTimeout, moved);
                }
                continue;
            }
        };
        moved.to_server += a.read;
        moved.to_client += b.read;
        let now = Instant::now();
        if a.read > 0 || b.wrote {
            cside.last = now;
        }
        if b.read > 0 || a.wrote {
            sside.last = now;
        }
        if a.shut {
            // The gateway shut its write side towards the server.
            sside.bound = bounds.server_fin.or(sside.bound);
            sside.last = now;
        }
        if b.shut {
            cside.bound = bounds.client_fin.or(cside.bound);
            cside.last = now;
        }
        if up.shut && down.shut {
            return (Ended::Closed, moved);
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "each spawned pump's JoinHandle is awaited by its test"
)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::sync::CancellationToken;

    use super::{Bounds, Ended, pump};
    use crate::model::Timeouts;

    fn bounds(client: u64, server: u64, tunnel: Option<u64>, client_fin: Option<u64>) -> Bounds {
        let s = Duration::from_secs;
        let fe = Timeouts {
            client: Some(s(client)),
            client_fin: client_fin.map(s),
            ..Timeouts::default()
        };
        let be = Timeouts {
            server: Some(s(server)),
            tunnel: tunnel.map(s),
            ..Timeouts::default()
        };
        Bounds::of(&fe, &be)
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_go_both_ways_and_a_fin_is_forwarded() {
        let (mut client, mut gw_client) = tokio::io::duplex(64);
        let (mut gw_server, mut server) = tokio::io::duplex(64);
        let killed = CancellationToken::new();
        let run = tokio::spawn(async move {
            pump(
                &mut gw_client,
                &mut gw_server,
                &[],
                bounds(10, 10, None, None),
                &killed,
            )
            .await
        });
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        // The client's FIN reaches the server; the server still answers.
        client.shutdown().await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        server.write_all(b"pong!").await.unwrap();
        server.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"pong!");
        let (ended, moved) = run.await.unwrap();
        assert_eq!(ended, Ended::Closed);
        assert_eq!((moved.to_server, moved.to_client), (4, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_client_side_ends_with_cd_and_the_tunnel_timeout_replaces_both() {
        let (_client, mut gw_client) = tokio::io::duplex(64);
        let (mut gw_server, _server) = tokio::io::duplex(64);
        let killed = CancellationToken::new();
        let start = tokio::time::Instant::now();
        let (ended, _) = pump(
            &mut gw_client,
            &mut gw_server,
            &[],
            bounds(3, 5, None, None),
            &killed,
        )
        .await;
        assert_eq!(ended, Ended::ClientTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let start = tokio::time::Instant::now();
        let (ended, _) = pump(
            &mut gw_client,
            &mut gw_server,
            &[],
            bounds(3, 5, Some(60), None),
            &killed,
        )
        .await;
        assert_eq!(ended, Ended::ClientTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_one_way_flow_keeps_both_sides_alive_and_client_fin_bounds_a_half_closed_client() {
        let (mut client, mut gw_client) = tokio::io::duplex(64);
        let (mut gw_server, mut server) = tokio::io::duplex(64);
        let killed = CancellationToken::new();
        let run = tokio::spawn(async move {
            pump(
                &mut gw_client,
                &mut gw_server,
                &[],
                bounds(3, 3, None, Some(1)),
                &killed,
            )
            .await
        });
        // The server streams for longer than `timeout client`: writing to the client renews
        // the client side.
        let mut buf = [0u8; 1];
        for _ in 0..10 {
            server.write_all(b"x").await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // The server closes; the client does not: after `client-fin`, cD.
        server.shutdown().await.unwrap();
        let at = tokio::time::Instant::now();
        let (ended, moved) = run.await.unwrap();
        assert_eq!(ended, Ended::ClientTimeout);
        assert_eq!(moved.to_client, 10);
        assert_eq!(at.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_kill_cuts_at_once() {
        let (_client, mut gw_client) = tokio::io::duplex(64);
        let (mut gw_server, _server) = tokio::io::duplex(64);
        let killed = CancellationToken::new();
        killed.cancel();
        let (ended, _) = pump(
            &mut gw_client,
            &mut gw_server,
            &[],
            bounds(3, 3, None, None),
            &killed,
        )
        .await;
        assert_eq!(ended.termination(), "KD");
    }
}
