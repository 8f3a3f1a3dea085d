//! Listeners and accept: the sockets kept across reloads, and each accepted
//! connection handed to the least busy worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Gateway, ListenerHandle, ReloadError};
use socket2::SockRef;

use crate::limits::{self, Levels, Slots};
use crate::model::{Frontend, GatewayConfig};
use crate::sockopt::{self, BufTunes, ClientSock, ListenerOpts};
use crate::workers::LoadGuard;

impl Gateway {
    pub(super) async fn bind_listeners(
        self: &Arc<Self>,
        config: &GatewayConfig,
    ) -> Result<(), ReloadError> {
        let wanted: Vec<SocketAddr> = config
            .frontends
            .iter()
            .flat_map(|f| f.binds.iter().copied())
            .collect();
        let mut new = Vec::new();
        {
            let have = self
                .listeners
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for addr in &wanted {
                if !have.contains_key(addr) && !new.contains(addr) {
                    new.push(*addr);
                }
            }
        }
        // Bind every new address before changing anything.
        let threads = self.workers.len();
        let mut bound = Vec::new();
        for addr in new {
            let settings = Listening::of(config, addr, threads);
            let l = match self.take_prebound(addr) {
                Some(l) => l,
                None => bind(addr, &settings, ipv6_only(config, addr)),
            }
            .map_err(|e| ReloadError::Bind {
                addr,
                source: Arc::new(e),
            })?;
            settings.apply(&l, addr);
            bound.push((addr, Arc::new(l)));
        }
        let mut have = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The listeners kept take the new configuration's options, as HAProxy's new
        // process binds its listeners with them.
        for (addr, h) in have.iter() {
            if wanted.contains(addr) {
                Listening::of(config, *addr, threads).apply(&h.socket, *addr);
            }
        }
        for (addr, listener) in bound {
            let stop = self.stopping.child_token();
            let gw = self.clone();
            let token = stop.clone();
            let socket = listener.clone();
            self.connections
                .spawn(async move { gw.accept_loop(listener, addr, token).await });
            have.insert(addr, ListenerHandle { stop, socket });
        }
        // Listeners the new configuration no longer has.
        have.retain(|addr, h| {
            let keep = wanted.contains(addr);
            if !keep {
                h.stop.cancel();
            }
            keep
        });
        Ok(())
    }

    fn take_prebound(&self, addr: SocketAddr) -> Option<std::io::Result<TcpListener>> {
        let mut prebound = self
            .prebound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = prebound
            .iter()
            .position(|l| l.local_addr().ok() == Some(addr))?;
        let l = prebound.swap_remove(i);
        Some(
            l.set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(l)),
        )
    }

    /// Accepts connections on `listener` (bound to `addr`) while every `maxconn` level has
    /// room; beyond, connections wait in the listen backlog (see [`crate::limits`]).
    async fn accept_loop(
        self: Arc<Self>,
        listener: Arc<TcpListener>,
        addr: SocketAddr,
        stop: CancellationToken,
    ) {
        loop {
            let (levels, sock) = self.levels(addr);
            tokio::select! {
                () = limits::room(&levels) => {}
                () = stop.cancelled() => return,
            }
            // The accept rates: connections wait in the backlog until each has room.
            let wait = sock.rates.wait();
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => continue,
                    () = stop.cancelled() => return,
                }
            }
            // A place is taken only while a connection is accepted: waiting for the next
            // client holds none.
            let accepted = std::future::poll_fn(|cx| {
                let Some(slots) = limits::take(&levels) else {
                    return Poll::Ready(None);
                };
                match listener.poll_accept(cx) {
                    Poll::Ready(r) => Poll::Ready(Some((r, slots))),
                    Poll::Pending => Poll::Pending,
                }
            });
            let (accepted, slots) = tokio::select! {
                a = accepted => match a {
                    Some(a) => a,
                    // A level filled up meanwhile: wait for room again.
                    None => continue,
                },
                () = stop.cancelled() => return,
            };
            let (stream, client) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            sock.rates.count();
            let _ = stream.set_nodelay(true);
            sockopt::accepted(
                SockRef::from(&stream),
                client,
                sock.listener.as_ref(),
                &sock.client,
                &sock.buffers,
            );
            let local = stream.local_addr().unwrap_or(client);
            // The connection moves to its worker's reactor.
            let sock = match stream.into_std() {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, %client, "cannot hand the connection to a worker");
                    continue;
                }
            };
            let worker = self.workers.assign();
            let handle = worker.handle().clone();
            let gw = self.clone();
            let stop = self.stopping.clone();
            // One pointer in the task for all of it: the connection's task is what an idle
            // connection costs.
            let accepted = Box::new(Accepted {
                sock,
                client,
                local,
                held: Held {
                    _slots: slots,
                    _worker: worker,
                },
            });
            // Each poll of the connection reads the clock once (`spoe::clock`): its request's
            // timers, SPOE times and log line share the reading, as HAProxy's loop turn does.
            self.connections.spawn_on(
                spoe::clock::stamped(gw.serve_connection(accepted, stop)),
                &handle,
            );
        }
    }
}

/// A connection just accepted, on its way to its worker.
pub(super) struct Accepted {
    pub(super) sock: std::net::TcpStream,
    pub(super) client: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) held: Held,
}

/// What a connection holds until it ends: its places under `maxconn`, its count on its worker.
pub(super) struct Held {
    _slots: Slots,
    _worker: LoadGuard,
}

impl Held {
    /// Its places under `maxconn` (the counters of `%ac` and `%fc`).
    pub(super) fn slots(&self) -> &Slots {
        &self._slots
    }
}

impl Gateway {
    /// The `maxconn` levels of a connection on the listener bound to `addr`, and the options
    /// of its socket, as the current generation says.
    fn levels(&self, addr: SocketAddr) -> (Levels, Accepting) {
        let generation = self.current();
        let frontend = generation.frontend_for(addr).map(|f| &f.model);
        let levels = Levels {
            listener: self
                .limits
                .listener(addr, frontend.map_or(0, |f| limits::listener_max(f, addr))),
            frontend: self
                .limits
                .frontend(frontend.map_or("-", |f| f.name.as_str())),
            process: self.limits.process().clone(),
        };
        let tls = frontend
            .and_then(|f| f.bind_conf(addr))
            .is_some_and(|c| c.tls.is_some());
        let accepting = Accepting {
            rates: self.rates.of(frontend.map(|f| f.name.as_str()), tls),
            listener: frontend.and_then(|f| listener_opts(f, addr)).cloned(),
            client: frontend.map(|f| f.client_sock).unwrap_or_default(),
            buffers: generation.config.global.buf_tunes,
        };
        (levels, accepting)
    }
}

/// What a connection accepted on a listener gets (`crate::sockopt::accepted`).
struct Accepting {
    rates: crate::rate::ListenerRates,
    listener: Option<ListenerOpts>,
    client: ClientSock,
    buffers: BufTunes,
}

/// The `bind` line's socket options of `frontend`'s listener on `addr`.
fn listener_opts(frontend: &Frontend, addr: SocketAddr) -> Option<&ListenerOpts> {
    frontend
        .listener_opts
        .iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, o)| o)
}

/// What the configuration sets on the listening socket of an address.
struct Listening {
    opts: ListenerOpts,
    client: ClientSock,
    backlog: u32,
    /// `option tcp-smart-accept`, on by default in `mode http` and on TLS listeners.
    no_quickack: bool,
}

impl Listening {
    fn of(config: &GatewayConfig, addr: SocketAddr, threads: usize) -> Self {
        let frontend = config.frontends.iter().find(|f| f.binds.contains(&addr));
        let opts = frontend
            .and_then(|f| listener_opts(f, addr))
            .cloned()
            .unwrap_or_default();
        let client = frontend.map(|f| f.client_sock).unwrap_or_default();
        // As HAProxy's `listener_backlog()`: the line's, the frontend's, else its `maxconn`.
        let backlog = opts
            .backlog
            .or(client.backlog)
            .unwrap_or_else(|| limits::backlog(config, addr, threads));
        let no_quickack = frontend.is_some_and(|f| f.smart_accept(addr));
        Self {
            opts,
            client,
            backlog,
            no_quickack,
        }
    }

    fn apply(&self, listener: &TcpListener, addr: SocketAddr) {
        sockopt::listening(
            SockRef::from(listener),
            addr,
            &self.opts,
            self.backlog,
            &self.client,
            self.no_quickack,
        );
    }
}

/// `bind ... v6only|v4v6` for `addr`, if a line said.
fn ipv6_only(config: &GatewayConfig, addr: SocketAddr) -> Option<bool> {
    config
        .frontends
        .iter()
        .flat_map(|f| &f.ipv6_only)
        .find(|(a, _)| *a == addr)
        .map(|(_, only)| *only)
}

fn bind(
    addr: SocketAddr,
    settings: &Listening,
    ipv6_only: Option<bool>,
) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(only) = ipv6_only {
        rustix::net::sockopt::set_ipv6_v6only(&socket, only)?;
    }
    socket.set_reuseaddr(true)?;
    sockopt::before_bind(SockRef::from(&socket), addr, &settings.opts);
    socket.bind(addr)?;
    socket.listen(settings.backlog)
}
