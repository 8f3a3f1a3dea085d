//! A connection to a `mode tcp` frontend: routed, then served by [`crate::tcp`] on the
//! generation it was accepted on, registered with the stop (which lets it run until it closes
//! or the stop's bound cuts it, as HAProxy's soft stop does).

use std::sync::Arc;
use std::time::SystemTime;

use spoe_http::ConnectionFacts;
use tokio::time::Instant;

use super::Gateway;
use super::exchange::Exchange;
use super::stream::ClientStream;
use crate::generation::Generation;
use crate::limits::ConnCounts;
use crate::model::Mode;
use crate::tcp;

impl Gateway {
    /// Serves `stream`, accepted on the address `listener`, on its tcp frontend of
    /// `generation`; gives it back when the backend it routes to is in `mode http` (HAProxy
    /// upgrades such a connection to HTTP).
    pub(super) async fn serve_tcp(
        self: &Arc<Self>,
        generation: Arc<Generation>,
        stream: ClientStream,
        (listener, facts): (std::net::SocketAddr, &ConnectionFacts),
        conns: Arc<ConnCounts>,
        accepted: (Instant, SystemTime),
    ) -> Option<ClientStream> {
        let Some(frontend) = generation.frontend_for(listener) else {
            return Some(stream);
        };
        let rules = &frontend.model.tcp_rules;
        let inspects = !rules.content.is_empty() || rules.inspect_delay.is_some();
        // Routed now, unless content rules read the first bytes first (a frontend that
        // inspects routes to tcp backends only: see the configuration's checks).
        let backend = (!inspects).then(|| tcp::route(&generation, frontend, facts, &[]));
        if let Some(Ok(b)) = &backend
            && b.model.mode == Mode::Http
        {
            return Some(stream);
        }
        let _in_flight = generation.enter();
        let exchange = Exchange::new(crate::body::Progress::new());
        // A tcp connection is always busy for the stop's progress line.
        exchange.head_started();
        let _live = self.register(accepted.0, exchange, None);
        let cut = self.killed.child_token();
        let generation_cut = generation.cut.clone();
        let session = tcp::Session {
            generation: &generation,
            frontend,
            conn: facts,
            backend,
            conns,
            accepted,
            cut: cut.clone(),
        };
        let served = session.serve(stream);
        tokio::pin!(served);
        tokio::select! {
            () = &mut served => {}
            () = generation_cut.cancelled() => {
                cut.cancel();
                served.await;
            }
        }
        None
    }
}
