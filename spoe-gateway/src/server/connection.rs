//! One client connection from its accept: the session its requests share,
//! its place in the stop's registry, and the service that hands each request
//! to the proxy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::exchange::{Exchange, Tracked};
use crate::access::{ConnCounts, Counted};
use crate::proxy::{self, Session};

impl Gateway {
    pub(super) async fn serve_connection(
        self: Arc<Self>,
        sock: tokio::net::TcpStream,
        client: SocketAddr,
        local: SocketAddr,
        stop: CancellationToken,
    ) {
        let started = tokio::time::Instant::now();
        let generation = self.current();
        let frontend = generation.frontend_for(local);
        let timeouts = frontend.map(|f| f.model.timeouts).unwrap_or_default();
        // The frontend's statistics (a listener left from an earlier
        // generation serves nobody's: counted apart, and nowhere shown).
        let frontend_counters = frontend.map(|f| f.counters.clone()).unwrap_or_default();
        drop(generation);
        let conns = Arc::new(ConnCounts {
            process: self.conns.clone(),
            frontend: frontend_counters,
            killing: self.killing.clone(),
        });
        let _counted = Counted::new(conns.clone());
        let session = Arc::new(Session {
            client,
            local,
            conn: spoe_http::ConnectionFacts::tcp(client, local),
            // Room for the usual one generation, allocated now rather than
            // among the first request's buffers (see `Progress::new`).
            session_event_done: Mutex::new(Vec::with_capacity(1)),
            requests: AtomicU64::new(0),
            conns,
            // Until the first bytes come: a connection that sends nothing is
            // logged from its accept.
            first_bytes: Mutex::new(Some((started, std::time::SystemTime::now()))),
            body: crate::body::Progress::new(),
        });
        let exchange = Exchange::new();
        let _live = self.register(started, exchange.clone());
        let service = ConnService {
            gw: self.clone(),
            session: session.clone(),
            exchange: exchange.clone(),
        };
        self.serve_http1(sock, service, timeouts, started, stop)
            .await;
    }
}

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
    type Error = Infallible;
    // Boxed: hyper hands the connection back between requests only when the
    // service's future is Unpin.
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let (gw, session, ex) = (self.gw.clone(), self.session.clone(), self.exchange.clone());
        ex.request(&req);
        Box::pin(async move {
            let generation = gw.current();
            let resp = proxy::handle(req, session, generation, gw.metrics.clone()).await;
            ex.response(&resp);
            Ok(resp.map(|b| Tracked::new(b, ex)))
        })
    }
}
