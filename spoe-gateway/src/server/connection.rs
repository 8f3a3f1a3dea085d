//! One client connection from its accept: TLS when its `bind` line says
//! `ssl`, the session its requests share (with what the handshake
//! established), its place in the stop's registry, HTTP/2 or HTTP/1.1 (ALPN,
//! `proto h2`), and the service that hands each request to the proxy.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{Either, OptionFuture};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::exchange::{ClientIo, Exchange, Tracked};
use super::listen::{Accepted, Held};
use super::stream::ClientStream;
use super::tls::Peer;
use super::waits::ClientWaits;
use crate::access::Counted;
use crate::proxy::{self, Session};
use crate::tcp::inspect::ConnectionVerdict;

/// A connection set up (TLS, the PROXY header, `tcp-request connection` rules, its session),
/// ready for its requests: what its task keeps for its whole life.
struct Opened {
    started: tokio::time::Instant,
    held: Held,
    counted: Counted,
    service: ConnService,
    waits: ClientWaits,
    proto: Proto,
}

/// The protocol a connection's requests come in.
enum Proto {
    Http1(ClientIo),
    Http2(crate::stats::Wire<ClientStream>),
}

impl Gateway {
    /// Serves one accepted connection on the calling worker until it closes.
    ///
    /// This future is the connection's task, what an idle connection costs
    /// (issue 21): its setup is boxed and gone once done (its states would
    /// otherwise be the size of the task for the connection's whole life),
    /// and the HTTP/1 loop, whose wait for the next request is small, is
    /// the task's own rather than a second allocation.
    pub(super) fn serve_connection(
        self: Arc<Self>,
        accepted: Box<Accepted>,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        // Combinators rather than an `async` block: a block's future keeps
        // room for a value moved out of it (here what the setup returns) for
        // as long as it runs, and for what it captured (rust-lang/rust#62958).
        let opening = {
            let gw = self.clone();
            let stop = stop.clone();
            Box::pin(async move { gw.open_connection(accepted, &stop).await })
        };
        opening
            .then(move |opened| OptionFuture::from(opened.map(|o| self.serve_opened(o, stop))))
            .map(drop)
    }

    /// Serves the requests of a connection set up; what it holds until it
    /// ends (its places under `maxconn`, its counts, its entry in the
    /// stop's registry) is dropped after.
    fn serve_opened(
        self: Arc<Self>,
        opened: Opened,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let Opened {
            started,
            held,
            counted,
            service,
            waits,
            proto,
        } = opened;
        let live = self.register(
            started,
            service.exchange.clone(),
            Some(service.session.clone()),
        );
        let kept = (held, live, counted);
        let served = match proto {
            // Boxed: the task of an HTTP/1 connection keeps no room for HTTP/2's states.
            Proto::Http2(stream) => {
                Either::Left(Box::pin(self.serve_http2(stream, service, waits, stop)))
            }
            // The stop is the gateway's (`stopping`), which wakes an idle connection itself.
            Proto::Http1(io) => Either::Right(Self::serve_http1(io, service, waits)),
        };
        served.map(move |()| drop(kept))
    }

    /// Sets up an accepted connection; `None` when it ended during the
    /// setup (refused, a failed handshake, a `mode tcp` stream that ended).
    async fn open_connection(
        self: &Arc<Self>,
        accepted: Box<Accepted>,
        stop: &CancellationToken,
    ) -> Option<Opened> {
        let started = tokio::time::Instant::now();
        let Accepted {
            sock,
            mut client,
            local,
            held,
        } = unboxed(accepted);
        let mut sock = match tokio::net::TcpStream::from_std(sock) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, %client, "cannot register the connection");
                return None;
            }
        };
        let accepted = std::time::SystemTime::now();
        let generation = self.current();
        let frontend_rt = generation.frontend_for(local);
        let mut facts = spoe_http::ConnectionFacts::tcp(client, local);
        if let Some(f) = frontend_rt {
            facts = facts.with_frontend(f.name.clone());
        }
        let frontend = frontend_rt.map(|f| &f.model);
        let timeouts = frontend.map(|f| f.timeouts).unwrap_or_default();
        let waits = ClientWaits::of(timeouts, started);
        let bind = frontend.and_then(|f| f.bind_conf(local));
        let h2_forced = bind.is_some_and(|b| b.h2);
        // Quick ACKs are off on such a listener: a request with a body turns them back on.
        let smart_accept = frontend.is_some_and(|f| f.smart_accept(local));
        let tls_conf = bind.and_then(|b| b.tls.clone());
        // `tcp-request connection` rules, on the connection's own addresses.
        let verdict = frontend.map_or(
            ConnectionVerdict::Accept {
                expect_proxy: false,
            },
            |f| crate::tcp::inspect::connection_rules(&f.tcp_rules, &f.acls, &facts),
        );
        let accept_proxy = bind.is_some_and(|b| b.accept_proxy)
            || verdict == (ConnectionVerdict::Accept { expect_proxy: true });
        let dont_log_null = frontend.is_some_and(|f| f.log_options.dont_log_null);
        // What a failed handshake's line says: the frontend, the listener's
        // number, where the frontend logs (HAProxy logs it there).
        let peer = (tls_conf.is_some() || accept_proxy).then(|| {
            let frontend_name = frontend.map_or("-", |f| f.name.as_str()).to_owned();
            let listener = frontend.map_or(0, |f| {
                f.binds
                    .iter()
                    .position(|b| {
                        *b == local || (b.port() == local.port() && b.ip().is_unspecified())
                    })
                    .map_or(0, |i| i + 1)
            });
            let log = frontend_rt.map(|f| f.log.clone()).filter(|l| !l.is_off());
            (frontend_name, listener, log)
        });
        // The frontend's statistics (a listener left from an earlier
        // generation serves nobody's: counted apart, and nowhere shown).
        let stats = frontend_rt.map(|f| f.counters.clone()).unwrap_or_default();
        // A `mode tcp` frontend's connection keeps its generation until it ends.
        let tcp_generation = frontend
            .is_some_and(|f| f.mode == crate::model::Mode::Tcp)
            .then(|| generation.clone());
        // Rejected by a `tcp-request connection` rule: closed at once, without a log line,
        // counted in the frontend's connections and its `dcon` (HAProxy's
        // `tcp_exec_l4_rules()`), not as a session.
        if verdict == ConnectionVerdict::Reject {
            stats.cum_conn.inc();
            stats.conn_rate.add();
            stats.denied_conn.inc();
            return None;
        }
        drop(generation);
        // `accept-proxy` or `expect-proxy layer4`: the header's addresses replace the connection's (the frontend stays
        // the one of the address it was accepted on: `local`).
        if accept_proxy && let Some((frontend_name, listener, log)) = &peer {
            let header_peer = Peer {
                client,
                accepted,
                frontend: frontend_name,
                listener: *listener,
                log: log.clone(),
            };
            // Boxed, as the TLS handshake below: the task of every connection would
            // otherwise keep room for the header's read (its timer among it) all its life.
            let header = Box::pin(async {
                let read =
                    self.proxy_header(&mut sock, waits.handshake(), &header_peer, dont_log_null);
                tokio::select! {
                    r = read => r,
                    () = stop.cancelled() => None,
                }
            })
            .await;
            let Some(announced) = header else {
                // A connection of the frontend, never a session (HAProxy's embryonic one).
                stats.cum_conn.inc();
                stats.conn_rate.add();
                return None;
            };
            facts.proxy = Some(Arc::new(spoe_http::ReceivedProxy {
                client: facts.client,
                local: facts.local,
                authority: announced.authority,
                unique_id: announced.unique_id,
            }));
            if let Some(src) = announced.src {
                client = src;
                facts.client = Some(src);
            }
            if let Some(dst) = announced.dst {
                facts.local = Some(dst);
            }
        }
        let counted = Counted::new(stats.clone());
        // Counted where `maxconn` counts it (`%ac`, `%fc`), until the connection ends.
        let levels = &held.slots().0;
        let conns = levels.frontend.conn_counts(&levels.process, &self.killing);
        let (stream, tls) = match tls_conf.zip(peer) {
            None => (ClientStream::Plain(sock), None),
            Some((tls, (frontend_name, listener, log))) => {
                let peer = Peer {
                    client,
                    accepted,
                    frontend: &frontend_name,
                    listener,
                    log,
                };
                // Boxed, as HTTP/2 below: the task of every connection, clear
                // text or not, would otherwise keep room for the handshake's
                // states while it waits for its next request.
                let done = Box::pin(async {
                    let handshake = self.tls_handshake(sock, &tls, waits.handshake(), &peer);
                    tokio::select! {
                        r = handshake => r,
                        () = stop.cancelled() => None,
                    }
                })
                .await;
                let (stream, facts) = done?;
                (ClientStream::Tls(Box::new(stream)), Some(Arc::new(facts)))
            }
        };
        let h2 = h2_forced
            || tls
                .as_ref()
                .is_some_and(|t| t.alpn.as_deref() == Some(b"h2".as_slice()));
        if let Some(t) = tls {
            facts = facts.with_tls(t);
        }
        let stream = match tcp_generation {
            Some(generation) => {
                let conns = conns.clone();
                // Boxed: an HTTP connection's task keeps no room for a tcp stream's states.
                let tcp = self.serve_tcp(
                    generation,
                    stream,
                    (local, &facts),
                    conns,
                    (started, accepted),
                );
                match Box::pin(tcp).await {
                    // Its backend is in `mode http`: the connection is HTTP from now on.
                    Some(stream) => stream,
                    None => return None,
                }
            }
            None => stream,
        };
        let session = Arc::new(Session {
            conn: facts,
            session_event_done: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            conns,
            stats: stats.clone(),
            // Until the first bytes come: a connection that sends nothing is
            // logged from its accept.
            first_bytes: Mutex::new(Some((started, accepted))),
            body: crate::body::Progress::new(),
            tunnel: Mutex::new(None),
            last_server: crate::persist::LastServer::default(),
            idle: futures_util::task::AtomicWaker::new(),
        });
        let exchange = Exchange::new(session.body.clone());
        let service = ConnService {
            gw: self.clone(),
            session,
            exchange: exchange.clone(),
        };
        let proto = if h2 {
            Proto::Http2(crate::stats::Wire::client(stream, stats))
        } else {
            Proto::Http1(ClientIo::new(stream, exchange, stats).rearming_quickack(smart_accept))
        };
        Some(Opened {
            started,
            held,
            counted,
            service,
            waits,
            proto,
        })
    }
}

/// `*b`, the box freed as this returns: moved out of in place, a box is freed only when its
/// binding goes out of scope, and `accepted`'s is this connection's whole future (112 bytes
/// kept by every connection for its life).
#[expect(
    clippy::boxed_local,
    reason = "taking the box is the point: it is freed when this returns"
)]
fn unboxed<T>(b: Box<T>) -> T {
    *b
}

/// The request was answered by closing the connection (a Lua `txn:done()` without reply).
#[derive(Debug)]
pub(super) struct ClosedWithoutAnswer;

impl std::fmt::Display for ClosedWithoutAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request was answered by closing the connection")
    }
}

impl std::error::Error for ClosedWithoutAnswer {}

/// One client connection's service: each request goes to [`proxy::handle`]
/// on the current generation; the connection's [`Exchange`] learns what
/// decides whether the connection is handed back between requests.
#[derive(Clone)]
pub(super) struct ConnService {
    pub(super) gw: Arc<Gateway>,
    pub(super) session: Arc<Session>,
    pub(super) exchange: Arc<Exchange>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for ConnService {
    type Response = hyper::Response<Tracked<crate::access::Logged<proxy::Body>>>;
    /// A response that must not be sent ([`proxy::CloseSilently`]): hyper closes the
    /// connection without answering.
    type Error = ClosedWithoutAnswer;
    // Boxed: hyper hands the connection back between requests only when the
    // service's future is Unpin.
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, ClosedWithoutAnswer>> + Send>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let ex = self.exchange.clone();
        ex.request(&req);
        let gw = &self.gw;
        // The request's whole future, built in its one box (no copy of it, no box per level):
        // what follows the request is a closure on its output, not a future awaiting it.
        proxy::boxed_in_place(|| {
            proxy::handle(req, self.session.clone(), gw.current(), gw.metrics.clone()).map(
                move |resp| {
                    if let Some(close) = resp.extensions().get::<proxy::CloseSilently>() {
                        if close.reset {
                            ex.silent_drop();
                        }
                        return Err(ClosedWithoutAnswer);
                    }
                    ex.response(&resp);
                    Ok(resp.map(|b| Tracked::new(b, ex)))
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;

    /// The size of what `f` returns, without calling it.
    fn returned3<A, B, C, R>(_: impl FnOnce(A, B, C) -> R) -> usize {
        size_of::<R>()
    }
    fn returned5<A, B, C, D, E, R>(_: impl FnOnce(A, B, C, D, E) -> R) -> usize {
        size_of::<R>()
    }

    /// What an idle keep-alive connection holds (issue 21: at most 2 KiB, bench/README.md
    /// "Session 8: idle keep-alive memory"): its task (the `serve_connection` future, the
    /// HTTP/1 loop within it waiting for the next request) and its [`Session`], among a few
    /// smaller pieces. Each grew unseen once: the task kept room for the PROXY header's read
    /// (1184 bytes in a debug build, 728 with it boxed), the session for a tunnel's whole
    /// access line (1 KiB then, 312 bytes with it boxed), the HTTP/1 loop (a box of its own
    /// until session 8) its arguments twice, its wait for the next request the stop's
    /// `cancelled()` future (72 bytes, until session 9). The sizes are printed (`cargo test
    /// -p spoe-gateway --lib an_idle_connection -- --nocapture`); the bounds are a debug
    /// build's, where futures are largest. A task is its future and about 112 bytes of
    /// tokio's, in 128-byte steps: a future of at most 384 bytes makes a 512-byte task
    /// (640 until session 9). A `Session` of at most 240 bytes takes, with its `Arc`'s
    /// counts, jemalloc's 256-byte class.
    #[test]
    fn an_idle_connection_keeps_its_futures_small() {
        let task = returned3(Gateway::serve_connection);
        let http1 = returned3(Gateway::serve_http1);
        let http2 = returned5(Gateway::serve_http2);
        let session = size_of::<Session>();
        let tunnel = size_of::<crate::tunnel::Tunnel>();
        let sizes = format!(
            "serve_connection {task}, serve_http1 {http1}, serve_http2 {http2}, Session \
             {session}, Tunnel {tunnel} bytes"
        );
        println!("{sizes}");
        assert!(session <= 240, "{sizes}");
        assert!(tunnel <= 96, "{sizes}");
        if cfg!(debug_assertions) {
            assert!(task <= 384, "{sizes}");
            assert!(http1 <= 320, "{sizes}");
        }
    }
}
