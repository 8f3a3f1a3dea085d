//! `mode tcp`: a connection to a tcp frontend goes, as HAProxy 2.6 sends it, to the backend
//! its `use_backend` rules or `default_backend` name ([`route`]), to a server chosen by the
//! backend's `balance` among the servers its checks and admin state leave in service
//! (`crate::balance`), within the server's `maxconn` (queued at most `timeout queue`, else
//! `timeout connect`), connected within `timeout connect` with `retries` and `option
//! redispatch`; then bytes go both ways ([`pump`]) until both sides close.
//!
//! ```text
//!   accept ── route ── pick server ── queue ── connect (retries) ── pump ── access line
//!               │ no backend: SC    │ none up: SC   │ sQ       │ SC, sC       │ --, CD, SD, cD, sD, KD
//! ```
//!
//! The access line is the frontend's (`option tcplog` or `log-format`, else HAProxy's
//! `Connect from` line at accept); the frontend's, backend's and server's statistics count the
//! session, its bytes, its connection attempts and failures as HAProxy's do (no HTTP request
//! is counted). A connection keeps the generation it started on until it ends; a stop or the
//! reload's `hard-stop-after` cuts it (`KD`).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use spoe_http::ConnectionFacts;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::access::{Access, RequestLine};
use crate::attempt;
use crate::balance::{self, Key};
use crate::generation::{BackendRt, FrontendRt, Generation, ServerRt};
use crate::httplog::ACCESS_LEVEL;
use crate::limits::ConnCounts;
use crate::logtime::Timer;
use crate::stats::Wire;

mod content;
pub(crate) mod inspect;
pub(crate) mod pump;

use inspect::{Inspected, TcpHost};
use pump::{Bounds, Ended};

/// The backend of a connection to a tcp `frontend`: the first `use_backend` whose condition
/// holds, else `default_backend` (HAProxy's `process_switching_rules()`). `Err` names a backend
/// that the generation does not run (none: no backend at all).
pub(crate) fn route<'g>(
    generation: &'g Generation,
    frontend: &FrontendRt,
    conn: &ConnectionFacts,
    data: &[u8],
) -> Result<&'g BackendRt, Option<String>> {
    let model = &frontend.model;
    let host = TcpHost::new(conn, data);
    let name = model
        .use_backends
        .iter()
        .find(|u| u.cond.as_ref().is_none_or(|c| c.eval(&host, &model.acls)))
        .and_then(|u| match &u.format {
            None => Some(u.backend.clone()),
            Some(format) => Some(crate::txn::render(format, &host))
                .filter(|name| generation.backends.contains_key(name.as_str())),
        })
        .or_else(|| model.default_backend.clone());
    let Some(name) = name else {
        return Err(None);
    };
    generation.backends.get(&name).ok_or(Some(name))
}

/// A tcp connection, accepted (and routed, when its frontend inspects nothing).
pub(crate) struct Session<'a> {
    pub(crate) generation: &'a Generation,
    pub(crate) frontend: &'a FrontendRt,
    pub(crate) conn: &'a ConnectionFacts,
    /// The backend [`route`] chose, or why there is none; `None`: routed once the
    /// `tcp-request content` rules have read the first bytes.
    pub(crate) backend: Option<Result<&'a BackendRt, Option<String>>>,
    /// `%ac`, `%fc`.
    pub(crate) conns: Arc<ConnCounts>,
    /// When it was accepted.
    pub(crate) accepted: (Instant, SystemTime),
    /// Cut at once (`KD`) when cancelled: a stop's bound, or its generation's
    /// `hard-stop-after` after a reload.
    pub(crate) cut: CancellationToken,
}

/// The client's and server's addresses as `Connect from` and the access line say them.
fn client_addrs(conn: &ConnectionFacts) -> (SocketAddr, SocketAddr) {
    let none = SocketAddr::from(([0, 0, 0, 0], 0));
    (conn.client.unwrap_or(none), conn.local.unwrap_or(none))
}

impl Session<'_> {
    fn access(&self) -> Access {
        let fe = self.frontend;
        let (client, local) = client_addrs(self.conn);
        let mut access = Access::new(client, &fe.model.name, RequestLine::Bad, self.conns.clone());
        (access.started, access.received) = self.accepted;
        access.local = local;
        access.tls = self.conn.tls.is_some();
        access.log_options = fe.model.log_options;
        if let Some(format) = &fe.model.access_format {
            access.httplog = (!fe.log.is_off()).then(|| fe.log.clone());
            access.format = Some(format.clone());
        } else if !fe.log.is_off() {
            // HAProxy's line for a stream of a frontend without a log format.
            fe.log.send(
                ACCESS_LEVEL,
                &format_args!(
                    "Connect from {}:{} to {}:{} ({}/TCP)",
                    client.ip(),
                    client.port(),
                    local.ip(),
                    local.port(),
                    fe.model.name
                ),
            );
        }
        access
    }

    /// Serves the connection until it ends, and writes its access line.
    pub(crate) async fn serve<C>(self, client: C)
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        let mut access = self.access();
        let mut client = Wire::client(client, self.frontend.counters.clone());
        let model = &self.frontend.model;
        let first = match self.backend {
            Some(_) => Vec::new(),
            None => match inspect::inspect(&mut client, &model.tcp_rules, &model.acls, self.conn)
                .await
            {
                Inspected::Accept(data) => data,
                Inspected::Reject(data) => {
                    // HAProxy's `tcp-request content reject`: `PR`, counted as a denied request.
                    self.frontend.counters.denied_req.inc();
                    access.termination = "PR";
                    if data.is_empty() && model.log_options.dont_log_null {
                        access.httplog = None;
                    }
                    return access.write(0);
                }
                Inspected::ClientError => {
                    access.termination = "CR";
                    return access.write(0);
                }
            },
        };
        let backend = match self.backend {
            Some(routed) => routed,
            None => route(self.generation, self.frontend, self.conn, &first),
        };
        let be = match backend {
            Ok(be) => be,
            Err(name) => {
                if let Some(name) = name {
                    access.backend = Some(name);
                }
                access.termination = "SC";
                return access.write(0);
            }
        };
        access.backend = Some(be.model.name.clone());
        be.counters.session_starts();
        let _session = Ends(&be.counters);
        let key = Key {
            client: self.conn.client,
            request: None,
        };
        let connected = connect(be, key, self.conn, &mut access).await;
        let Some((server, stream, _slot)) = connected else {
            be.counters.failed_conns.inc();
            return access.write(0);
        };
        server.counters.session_starts();
        server.counters.cum_lbconn.inc();
        be.counters.cum_lbconn.inc();
        let _server_session = Ends(&server.counters);
        server.active.fetch_add(1, Ordering::Relaxed);
        let mut upstream = Wire::server(stream, server.counters.clone(), be.counters.clone());
        let bounds = Bounds::of(&self.frontend.model.timeouts, &be.model.timeouts);
        // Cut by a reload's `hard-stop-after`, or with the server's sessions
        // (`on-marked-down shutdown-sessions`...).
        let killed = self.cut.child_token();
        let server_cut = server.sessions_cut();
        let pumping = pump::pump(&mut client, &mut upstream, &first, bounds, &killed);
        tokio::pin!(pumping);
        let (ended, mut moved) = tokio::select! {
            r = &mut pumping => r,
            () = server_cut.cancelled() => {
                killed.cancel();
                pumping.await
            }
        };
        moved.to_server += first.len() as u64;
        server.active.fetch_sub(1, Ordering::Relaxed);
        // `%bc/%sc` as HAProxy writes them: after this connection left its server.
        access.server_conns = server.active.load(Ordering::Relaxed);
        access.backend_conns = be
            .servers
            .iter()
            .map(|s| s.active.load(Ordering::Relaxed))
            .sum();
        let aborted: &[&crate::stats::Counters] =
            &[&self.frontend.counters, &be.counters, &server.counters];
        match ended {
            Ended::ClientAbort | Ended::ClientTimeout => {
                aborted.iter().for_each(|c| c.cli_aborts.inc())
            }
            Ended::ServerAbort | Ended::ServerTimeout => {
                aborted.iter().for_each(|c| c.srv_aborts.inc())
            }
            Ended::Closed | Ended::Killed => {}
        }
        be.counters.t_time.add(access.started.elapsed());
        server.counters.t_time.add(access.started.elapsed());
        access.termination = ended.termination();
        if ended == Ended::Killed && server_cut.is_cancelled() && !self.cut.is_cancelled() {
            access.termination = crate::cut::termination(server, false);
        }
        if moved.to_server == 0 && self.frontend.model.log_options.dont_log_null {
            // `option dontlognull`: no line for a connection the client sent nothing on
            // (HAProxy's `strm_log()` tests `req.total`).
            access.httplog = None;
        }
        access.write(moved.to_client);
    }
}

/// Ends a session on its counters when dropped.
struct Ends<'a>(&'a crate::stats::Counters);

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        self.0.session_ends();
    }
}

/// Picks a server of `be`, waits for a slot under its `maxconn` (`%Tw` counts from the accept,
/// the content inspection included, as HAProxy's `t_queue` of a tcp stream), connects; retries a failed
/// connect as HAProxy's `back_handle_st_cer()` does. `None`: no connection, and `access` says
/// why (`SC`: none up or refused, `sC`: `timeout connect`, `sQ`: `timeout queue`).
async fn connect<'b>(
    be: &'b BackendRt,
    key: Key<'_>,
    conn: &ConnectionFacts,
    access: &mut Access,
) -> Option<(&'b ServerRt, TcpStream, Option<crate::queue::Slot>)> {
    let connect_bound = attempt::connect_bound(be);
    let Some(target) = balance::pick_target(be, key) else {
        access.termination = "SC";
        return None;
    };
    let mut want = match target {
        balance::Target::Server(si) => Some(si),
        balance::Target::Queue => None,
    };
    let mut retries = 0u32;
    loop {
        let slot = match attempt::server_slot(be, want, |at| at.record(access)).await {
            Ok(slot) => slot,
            Err(refused) => {
                let (termination, at) = attempt::refusal(&refused);
                access.t_queue = Timer::ms(access.started.elapsed());
                access.termination = termination;
                at.record(access);
                return None;
            }
        };
        // The backend's line hands the slot of whichever server frees first.
        let Some(si) = slot.as_ref().map(|s| s.server).or(want) else {
            access.termination = "SC";
            return None;
        };
        if let Some(left) = slot.as_ref().and_then(|s| s.waited) {
            attempt::Positions::of(Some(left)).record(access);
        }
        let server = &*be.servers[si];
        access.server = Cow::Owned(server.name.clone());
        let addr = server.target(conn.local);
        access.server_addr = Some(addr);
        access.t_queue = Timer::ms(access.started.elapsed());
        server.counters.connect.inc();
        be.counters.connect.inc();
        let started = Instant::now();
        let attempt = tokio::time::timeout(connect_bound, server.outgoing.connect(addr)).await;
        let refused = match attempt {
            Ok(Ok(mut stream)) => {
                let _ = stream.set_nodelay(true);
                // `send-proxy[-v2]`: the PROXY header before the client's bytes.
                if let Some(spec) = server.model.send_proxy {
                    let header = crate::proxy_proto::header(
                        spec,
                        &crate::proxy_proto::Origin::of(conn, None),
                    );
                    if let Err(e) = tokio::io::AsyncWriteExt::write_all(&mut stream, &header).await
                    {
                        tracing::debug!(server = %addr, error = %e, "PROXY header not sent");
                    }
                }
                access.t_connect = Timer::ms(started.elapsed());
                return Some((server, stream, slot));
            }
            Ok(Err(e)) => {
                tracing::debug!(server = %addr, error = %e, "tcp connect failed");
                true
            }
            Err(_) => false,
        };
        server.counters.failed_conns.inc();
        access.termination = if refused { "SC" } else { "sC" };
        if retries >= be.model.retry.retries {
            return None;
        }
        drop(slot);
        retries += 1;
        access.retries = retries as usize;
        let next = balance::retry_server_for(be, si, retries, false, key);
        attempt::before_retry(be, si, next, refused).await;
        want = Some(next);
    }
}
