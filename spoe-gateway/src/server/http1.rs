//! HTTP/1.1 with the keep-alive hand-back: a hyper connection serves a
//! client's requests while they keep coming, and once the client has been idle
//! for [`KEPT_WARM`] the socket is taken back from hyper, which holds a read and
//! a write buffer (8 KiB each) for as long as its connection object lives:
//! between requests further apart than that the connection holds only its
//! socket (see [`Exchange`](super::exchange::Exchange)).
//!
//! Why not a new hyper connection per request (as until issue 21): each cost
//! about 10 allocations (hyper's connection, its buffers, its header map grown
//! one header at a time, a boxed timer for its head timeout) and its setup, on
//! every request of a busy keep-alive connection. Why hyper and not a loop of
//! our own over `httparse`: hyper's connection kept warm costs nothing per
//! request but its parse, and it does chunked bodies, `100-continue`,
//! upgrades, pipelining and draining as the tests pin them.
//!
//! The client's waits are this loop's own, one timer per hyper connection
//! moved forward per request: the head's (`timeout http-request`, from the
//! head's first bytes, or from the accept for the first request) and the next
//! request's (`timeout http-keep-alive`, from the end of the response), as
//! HAProxy's. hyper's own head timeout would run from the end of the previous
//! response and allocate a timer per request.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use hyper::server::conn::http1;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use super::connection::ConnService;
use super::exchange::{ClientIo, Phase};
use super::waits::ClientWaits;
use super::{Gateway, Input};
use crate::head_room;

/// How long an idle keep-alive connection keeps its hyper connection after a
/// response, for the next request to reuse it. A client that sends its
/// requests further apart than this pays for a new hyper connection (a few
/// microseconds), which its rate makes negligible; one that pauses longer
/// holds no HTTP state (at most this long after its last response).
const KEPT_WARM: Duration = Duration::from_millis(100);

/// What the loop waits for from the client besides hyper's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing of the client's: a request is being served, or hyper is ending.
    Nothing,
    /// The rest of a head, until the timer (`timeout http-request`).
    Head,
    /// The next request: the timer ends [`KEPT_WARM`] (the socket is handed
    /// back) or the keep-alive wait, whichever comes first.
    Next {
        /// When the keep-alive wait ends.
        until: Instant,
    },
}

/// Why the loop woke.
enum Woke {
    Done(hyper::Result<()>),
    Killed,
    Stop,
    Timer,
}

impl Gateway {
    /// Serves HTTP/1.1 requests on `io` until the connection closes,
    /// holding only the socket between requests. The gateway is the
    /// service's (one `Arc` less in every idle connection's task), and so is
    /// the stop it watches (`stopping`).
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn's future keeps its arguments twice (rust-lang/rust#62958)"
    )]
    pub(super) fn serve_http1(
        mut io: ClientIo,
        service: ConnService,
        waits: ClientWaits,
    ) -> impl Future<Output = ()> + Send + 'static {
        // An `async` block rather than an `async fn`: an `async fn`'s future
        // keeps its arguments twice (as arguments and as the body's
        // bindings, rust-lang/rust#62958), and this future is part of every
        // idle connection's task.
        async move {
            let mut first = true;
            loop {
                // Until the client sends something the connection holds no HTTP
                // state: hyper allocates its read buffer when it starts reading,
                // and an idle client would keep it (8 KiB of the ~13 each idle
                // connection cost; HAProxy's cost ~1). The first head's timeout
                // is the same as hyper's: it runs from the accept.
                // A request sent with the TLS handshake's last flight is already
                // decrypted: the socket will not say so.
                let buffered = first && io.sock.inner_mut().get_mut().has_buffered();
                if io.unread.is_none() {
                    // The keep-alive wait began when the socket was handed back,
                    // `KEPT_WARM` ago.
                    let until = if first {
                        waits.first_head
                    } else {
                        Instant::now() + waits.keep_alive().saturating_sub(KEPT_WARM)
                    };
                    let idle = if buffered {
                        Idle::Readable(Ok(()))
                    } else {
                        wait_idle(io.sock.inner().get_ref().tcp(), until, &service).await
                    };
                    match idle {
                        Idle::Readable(Ok(())) => {
                            service.exchange.head_started();
                            service.session.first_bytes();
                        }
                        Idle::Readable(Err(e)) => {
                            tracing::debug!(client = %service.session.client(), error = %e, "client connection failed before its request");
                            return;
                        }
                        Idle::Stop => return,
                        Idle::Timeout if first => {
                            // HAProxy answers a connection that sent nothing with its 408 too.
                            // Boxed: the task of every idle connection would keep room for it.
                            let sent = Box::pin(send_request_timeout(
                                io.sock.into_inner(),
                                waits.client(),
                            ))
                            .await;
                            service.gw.log_bad_request(
                                &service.session,
                                Input::Nothing,
                                Some(408),
                                "cR",
                                sent,
                            );
                            return;
                        }
                        // An idle keep-alive connection closes without a word, as in HAProxy.
                        Idle::Timeout => return,
                    }
                }
                let opening = std::mem::replace(&mut first, false);
                // Boxed, so that the task of an idle connection keeps no room
                // for hyper's connection and the futures that drive it.
                let served = Box::pin(service.gw.serve_requests(
                    io,
                    service.clone(),
                    waits,
                    opening,
                ))
                .await;
                match served {
                    Some(back) => io = back,
                    None => return,
                }
            }
        }
    }

    /// Serves requests on `io` with one hyper connection until the client
    /// has been idle for [`KEPT_WARM`]; then hands the socket back (`None`:
    /// the connection is closed, or must be). `opening`: the connection's first request, whose absence HAProxy
    /// logs and whose head's wait runs from the accept.
    async fn serve_requests(
        &self,
        io: ClientIo,
        service: ConnService,
        waits: ClientWaits,
        opening: bool,
    ) -> Option<ClientIo> {
        let stop = &self.stopping;
        let exchange = service.exchange.clone();
        let session = service.session.clone();
        let client = session.client();
        exchange.reset();
        let (read_limit, max_headers) = {
            let generation = self.current();
            let global = &generation.config.global;
            (head_room::read_limit(global.bufsize), global.max_headers)
        };
        let mut builder = http1::Builder::new();
        builder
            // The head's wait is this loop's (`Wait::Head`).
            .header_read_timeout(None)
            // HAProxy's tune.bufsize: a request head that does not fit is refused (with a
            // 400 by `proxy::check_request` up to this bound, with hyper's 431 beyond).
            .max_buf_size(read_limit)
            .keep_alive(true)
            // HAProxy adds no `date` to a response: the server's, or none.
            .auto_date_header(false);
        // `tune.http.maxhdr`: more header lines get hyper's 431.
        if let Some(n) = head_room::read_headers(max_headers) {
            builder.max_headers(n);
        }
        let mut conn = builder.serve_connection(io, service);
        let mut wait = Wait::Nothing;
        let mut timer = pin!(tokio::time::sleep_until(waits.first_head));
        let mut stopped = pin!(stop.cancelled());
        let mut killed = pin!(self.killed.cancelled());
        // The tokens' futures are polled once, which registers this task
        // with them; after that their flags say whether they woke it.
        let mut registered = false;
        // Set once the client has been idle for `KEPT_WARM`: hyper is asked
        // to stop and the socket comes back with the keep-alive wait's end.
        let mut handing_back = false;
        let mut stopping = false;
        let done = loop {
            let woke = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = conn.poll_without_shutdown(cx) {
                    return Poll::Ready(Woke::Done(r));
                }
                if !registered {
                    registered = true;
                    // The stop's bound ran out: close at once.
                    if killed.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Woke::Killed);
                    }
                    if stopped.as_mut().poll(cx).is_ready() && !stopping {
                        return Poll::Ready(Woke::Stop);
                    }
                } else if self.killed.is_cancelled() {
                    return Poll::Ready(Woke::Killed);
                } else if !stopping && stop.is_cancelled() {
                    return Poll::Ready(Woke::Stop);
                }
                if handing_back || stopping {
                    // hyper ends: nothing more to time.
                    return Poll::Pending;
                }
                // What the client is waited for now; the timer is set when that changes.
                if exchange.is_idle() {
                    if !matches!(wait, Wait::Next { .. }) {
                        let now = spoe::clock::now();
                        let until = now + waits.keep_alive();
                        timer.as_mut().reset((now + KEPT_WARM).min(until));
                        wait = Wait::Next { until };
                    }
                } else if exchange.phase() == Phase::Head {
                    if wait != Wait::Head {
                        let deadline = if opening && !exchange.served_any() {
                            waits.first_head
                        } else {
                            session.first_bytes() + waits.head()
                        };
                        timer.as_mut().reset(deadline);
                        wait = Wait::Head;
                    }
                } else {
                    wait = Wait::Nothing;
                }
                if wait != Wait::Nothing && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woke::Timer);
                }
                Poll::Pending
            })
            .await;
            match woke {
                Woke::Done(r) => break r,
                // A request in progress logs itself as cut (`K`); a head not
                // complete yet is logged here.
                Woke::Killed => {
                    if exchange.phase() == Phase::Head {
                        self.log_refused(&session, None, "KR", 0);
                    }
                    return None;
                }
                // Finish the request in progress, then close.
                Woke::Stop => stopping = true,
                Woke::Timer => match wait {
                    Wait::Nothing => continue,
                    Wait::Head => {
                        // `timeout http-request`: a head had begun, HAProxy's 408 page.
                        let sock = conn.into_parts().io.sock.into_inner();
                        let sent = send_request_timeout(sock, waits.client()).await;
                        self.log_refused(&session, Some(408), "cR", sent);
                        return None;
                    }
                    // The keep-alive wait ran out before `KEPT_WARM`: an idle
                    // connection closes without a word, as in HAProxy.
                    Wait::Next { until } if until <= Instant::now() => return None,
                    Wait::Next { .. } => handing_back = true,
                },
            }
            std::pin::Pin::new(&mut conn).graceful_shutdown();
        };
        if let Err(e) = done {
            let mut sock = conn.into_parts().io.sock.into_inner();
            if exchange.dropped() {
                // `silent-drop`: lingering off, the close resets the connection.
                let linger = rustix::net::sockopt::set_socket_linger(
                    sock.get_ref().tcp(),
                    Some(Duration::ZERO),
                );
                if let Err(e) = linger {
                    tracing::debug!(%client, error = %e, "silent-drop: cannot turn lingering off");
                }
            } else if e.is_parse_too_large() {
                // hyper answered the head itself: log it as HAProxy logs <BADREQ>.
                let _ = sock.shutdown().await;
                self.log_refused(&session, Some(431), "PR", 0);
            } else if e.is_parse() {
                let _ = sock.shutdown().await;
                self.log_refused(&session, Some(400), "PR", 0);
            } else if e.is_incomplete_message() && exchange.phase() == Phase::Head {
                // The client closed in the middle of a head: HAProxy's 400 <BADREQ>, `CR`,
                // nothing sent.
                self.log_refused(&session, Some(400), "CR", 0);
            } else {
                tracing::debug!(%client, error = %e, "client connection ended with an error");
            }
            return None;
        }
        if opening && !stopping && !exchange.served_any() {
            // A connection closed before its first byte: HAProxy logs a 400 <BADREQ>, `CR`,
            // unless `option dontlognull`.
            self.log_bad_request(&session, Input::Nothing, Some(400), "CR", 0);
            return None;
        }
        let parts = conn.into_parts();
        let mut io = parts.io;
        let tunnel = session
            .tunnel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(tunnel) = tunnel {
            // hyper wrote the 101: what the client sent past its request goes first.
            let mut unread = io.unread.map_or_else(Vec::new, |u| u.to_vec());
            unread.extend_from_slice(&parts.read_buf);
            // A soft stop lets tunnels run (as HAProxy's, until `hard-stop-after`).
            tokio::select! {
                moved = tunnel.run(io.sock.into_inner(), Bytes::from(unread)) => {
                    tracing::debug!(%client, ?moved, "tunnel closed");
                }
                () = self.killed.cancelled() => {}
            }
            return None;
        }
        // The next request may start from a message boundary only when
        // this one's body was read to its end.
        let again = handing_back && !stopping && exchange.reusable() && session.body_complete();
        if !again {
            let _ = io.sock.inner_mut().shutdown().await;
            return None;
        }
        // hyper's read buffer comes back as `Bytes` even when empty:
        // keeping it would keep hyper's 8 KiB allocation. Bytes read past
        // the request (pipelined) are copied, and are few.
        io.unread =
            (!parts.read_buf.is_empty()).then(|| Box::new(Bytes::copy_from_slice(&parts.read_buf)));
        Some(io)
    }
}

/// How a wait for a client's next bytes ended.
enum Idle {
    /// The socket is readable (or failed).
    Readable(std::io::Result<()>),
    /// The deadline passed first.
    Timeout,
    /// The gateway is stopping.
    Stop,
}

/// Waits until the client's socket is readable, `until` passes or the
/// gateway stops: what an idle connection's task holds while it waits, so
/// kept small (issue 21). Nothing but the timer has a future of its own: the
/// socket's readiness is polled in place (`readable()`'s future holds a
/// waiter node), and the stop wakes the task through its session
/// (`Session::idle`, woken by `Gateway::stop` after it cancels `stopping`;
/// `cancelled()`'s future is 72 bytes). The stop is looked at first, then
/// the socket, then the timer (`timeout_at` polls its future first).
fn wait_idle<'a>(
    tcp: &'a tokio::net::TcpStream,
    until: Instant,
    service: &'a ConnService,
) -> impl Future<Output = Idle> + Send + 'a {
    let woke = std::future::poll_fn(move |cx| {
        // Registered before the look at the token: a stop that cancels it after the look
        // wakes this waker.
        service.session.idle.register(cx.waker());
        if service.gw.stopping.is_cancelled() {
            return Poll::Ready(Idle::Stop);
        }
        tcp.poll_read_ready(cx).map(Idle::Readable)
    });
    tokio::time::timeout_at(until, woke).map(|r| r.unwrap_or(Idle::Timeout))
}

/// The 408 page, sent when `timeout http-request` expires before a whole
/// request head arrived (HAProxy sends its own; hyper would only close).
const REQUEST_TIMEOUT_PAGE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-length: 92\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n\
<html><body><h1>408 Request Timeout</h1>\nThe request did not arrive in time.\n</body></html>\n";

/// Sends the 408 page and closes; returns the bytes the client was sent
/// (bounded by `timeout client`, 5 s without it: a client that does not
/// read gets no more of the gateway's time).
async fn send_request_timeout(
    mut sock: impl tokio::io::AsyncWrite + Unpin,
    limit: Option<Duration>,
) -> u64 {
    let write = async {
        sock.write_all(REQUEST_TIMEOUT_PAGE).await?;
        sock.shutdown().await
    };
    match tokio::time::timeout(limit.unwrap_or(Duration::from_secs(5)), write).await {
        Ok(Ok(())) => REQUEST_TIMEOUT_PAGE.len() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::REQUEST_TIMEOUT_PAGE;

    #[test]
    fn the_408_page_says_its_length() {
        let text = std::str::from_utf8(REQUEST_TIMEOUT_PAGE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head} / {} bytes",
            body.len()
        );
    }
}
