//! HTTP/1.1 with the keep-alive hand-back: each request is served by its
//! own hyper connection, and between requests the connection holds only its
//! socket (see [`Exchange`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::ConnService;
use super::exchange::{ClientIo, Phase};
use super::waits::ClientWaits;
use super::{Gateway, Input, REQUEST_HEAD_LIMIT};

impl Gateway {
    /// Serves HTTP/1.1 requests on `io` until the connection closes,
    /// holding only the socket between requests.
    pub(super) async fn serve_http1(
        self: &Arc<Self>,
        mut io: ClientIo,
        service: ConnService,
        waits: ClientWaits,
        stop: CancellationToken,
    ) {
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
            if io.unread.is_empty() {
                let until = if first {
                    waits.first_head
                } else {
                    Instant::now() + waits.keep_alive()
                };
                let readable = if buffered {
                    Ok(Ok(()))
                } else {
                    tokio::select! {
                        r = tokio::time::timeout_at(until, io.sock.inner().get_ref().tcp().readable()) => r,
                        () = stop.cancelled() => return,
                    }
                };
                match readable {
                    Ok(Ok(())) => {
                        service.exchange.head_started();
                        // The request's `%tr` and the start of its `%TR`.
                        *service
                            .session
                            .first_bytes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((Instant::now(), std::time::SystemTime::now()));
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(client = %service.session.client(), error = %e, "client connection failed before its request");
                        return;
                    }
                    Err(_) if first => {
                        // HAProxy answers a connection that sent nothing with its 408 too.
                        let sent = send_request_timeout(io.sock.into_inner(), waits.client()).await;
                        self.log_bad_request(
                            &service.session,
                            Input::Nothing,
                            Some(408),
                            "cR",
                            sent,
                        );
                        return;
                    }
                    // An idle keep-alive connection closes without a word, as in HAProxy.
                    Err(_) => return,
                }
            }
            let head_timeout = if first {
                waits.first_head.saturating_duration_since(Instant::now())
            } else {
                waits.head()
            };
            let opening = std::mem::replace(&mut first, false);
            // Boxed, so that the task of an idle connection keeps no room
            // for hyper's connection and the futures that drive it.
            let served = Box::pin(self.serve_requests(
                io,
                service.clone(),
                waits.client(),
                head_timeout,
                &stop,
                opening,
            ))
            .await;
            match served {
                Some(back) => io = back,
                None => return,
            }
        }
    }

    /// Serves requests on `io` with one hyper connection until it has
    /// answered and waits for the next request; then hands the socket back
    /// (`None`: the connection is closed, or must be). `opening`: the
    /// connection's first request, whose absence HAProxy logs.
    async fn serve_requests(
        &self,
        io: ClientIo,
        service: ConnService,
        client_timeout: Option<Duration>,
        head_timeout: Duration,
        stop: &CancellationToken,
        opening: bool,
    ) -> Option<ClientIo> {
        let exchange = service.exchange.clone();
        let session = service.session.clone();
        let client = session.client();
        exchange.reset();
        let mut conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(head_timeout)
            // HAProxy's tune.bufsize: a request head that does not fit is refused.
            .max_buf_size(REQUEST_HEAD_LIMIT)
            .keep_alive(true)
            .serve_connection(io, service);
        // Once the response is out and hyper waits for the next request,
        // it is asked to stop, and the socket comes back for the next
        // request (see `Exchange`).
        let mut handing_back = false;
        let mut stopping = false;
        let done = loop {
            let event = tokio::select! {
                r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break r,
                () = exchange.idle(), if !handing_back => &mut handing_back,
                // Finish the request in progress, then close.
                () = stop.cancelled(), if !stopping => &mut stopping,
                // The stop's bound ran out: close at once. A request in
                // progress logs itself as cut (`K`); a head not complete yet
                // is logged here.
                () = self.killed.cancelled() => {
                    if exchange.phase() == Phase::Head {
                        self.log_refused(&session, None, "KR", 0);
                    }
                    return None;
                }
            };
            *event = true;
            std::pin::Pin::new(&mut conn).graceful_shutdown();
        };
        if let Err(e) = done {
            let mut sock = conn.into_parts().io.sock.into_inner();
            if e.is_parse_too_large() {
                // hyper answered the head itself: log it as HAProxy logs <BADREQ>.
                let _ = sock.shutdown().await;
                self.log_refused(&session, Some(431), "PR", 0);
            } else if e.is_parse() {
                let _ = sock.shutdown().await;
                self.log_refused(&session, Some(400), "PR", 0);
            } else if e.is_timeout() {
                // `timeout http-request`: this hyper connection started with
                // the request's first bytes, so a head had begun: HAProxy's
                // 408 page.
                let sent = send_request_timeout(sock, client_timeout).await;
                self.log_refused(&session, Some(408), "cR", sent);
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
            let mut unread = io.unread.to_vec();
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
        io.unread = if parts.read_buf.is_empty() {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(&parts.read_buf)
        };
        Some(io)
    }
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
