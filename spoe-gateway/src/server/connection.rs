//! One client connection from its accept: the session its requests share,
//! its place in the stop's registry, and the service that hands each request
//! to the proxy.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::exchange::{ClientIo, Exchange, Tracked};
use super::listen::Accepted;
use super::waits::ClientWaits;
use crate::access::Counted;
use crate::proxy::{self, Session};

impl Gateway {
    /// Serves one accepted connection on the calling worker until it closes.
    pub(super) async fn serve_connection(
        self: Arc<Self>,
        accepted: Box<Accepted>,
        stop: CancellationToken,
    ) {
        let started = tokio::time::Instant::now();
        let Accepted {
            sock,
            client,
            local,
            held,
        } = *accepted;
        let sock = match tokio::net::TcpStream::from_std(sock) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, %client, "cannot register the connection");
                return;
            }
        };
        let generation = self.current();
        let frontend_rt = generation.frontend_for(local);
        let mut facts = spoe_http::ConnectionFacts::tcp(client, local);
        if let Some(f) = frontend_rt {
            facts = facts.with_frontend(f.name.clone());
        }
        let frontend = frontend_rt.map(|f| &f.model);
        let waits = ClientWaits::of(frontend.map(|f| f.timeouts).unwrap_or_default(), started);
        // The frontend's statistics (a listener left from an earlier
        // generation serves nobody's: counted apart, and nowhere shown).
        let stats = frontend_rt.map(|f| f.counters.clone()).unwrap_or_default();
        drop(generation);
        let counted = Counted::new(stats.clone());
        // Counted where `maxconn` counts it (`%ac`, `%fc`), until the connection ends.
        let levels = &held.slots().0;
        let conns = levels.frontend.conn_counts(&levels.process, &self.killing);
        let session = Arc::new(Session {
            conn: facts,
            session_event_done: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            conns,
            stats: stats.clone(),
            // Until the first bytes come: a connection that sends nothing is
            // logged from its accept.
            first_bytes: Mutex::new(Some((started, std::time::SystemTime::now()))),
            body: crate::body::Progress::new(),
        });
        let exchange = Exchange::new();
        let live = self.register(started, exchange.clone());
        let io = ClientIo::new(sock, exchange.clone(), stats);
        let service = ConnService {
            gw: self.clone(),
            session,
            exchange,
        };
        self.serve_http1(io, service, waits, stop).await;
        drop((held, live, counted));
    }
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
        let (gw, session, ex) = (self.gw.clone(), self.session.clone(), self.exchange.clone());
        ex.request(&req);
        Box::pin(async move {
            let generation = gw.current();
            let resp = proxy::handle(req, session, generation, gw.metrics.clone()).await;
            if let Some(close) = resp.extensions().get::<proxy::CloseSilently>() {
                if close.reset.is_some() {
                    ex.silent_drop();
                }
                return Err(ClosedWithoutAnswer);
            }
            ex.response(&resp);
            Ok(resp.map(|b| Tracked::new(b, ex)))
        })
    }
}
