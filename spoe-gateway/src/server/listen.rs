//! Listeners and accept: the sockets kept across reloads, and each accepted
//! connection handed to the least busy worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Gateway, ListenerHandle, ReloadError};
use crate::model::GatewayConfig;

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
        let mut bound = Vec::new();
        for addr in new {
            let l = match self.take_prebound(addr) {
                Some(l) => l,
                None => bind(addr),
            }
            .map_err(|e| ReloadError(format!("cannot bind {addr}: {e}")))?;
            bound.push((addr, l));
        }
        let mut have = self
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (addr, listener) in bound {
            let stop = self.stopping.child_token();
            let gw = self.clone();
            let token = stop.clone();
            self.connections
                .spawn(async move { gw.accept_loop(listener, token).await });
            have.insert(addr, ListenerHandle { stop });
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

    async fn accept_loop(self: Arc<Self>, listener: TcpListener, stop: CancellationToken) {
        loop {
            let permit = match &self.maxconn {
                Some(s) => tokio::select! {
                    p = s.clone().acquire_owned() => p.ok(),
                    () = stop.cancelled() => return,
                },
                None => None,
            };
            let (sock, client) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stop.cancelled() => return,
            };
            let _ = sock.set_nodelay(true);
            let local = sock.local_addr().unwrap_or(client);
            // The connection moves to its worker's reactor.
            let sock = match sock.into_std() {
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
            self.connections.spawn_on(
                async move {
                    let _permit = permit;
                    let _worker = worker;
                    match tokio::net::TcpStream::from_std(sock) {
                        Ok(sock) => gw.serve_connection(sock, client, local, stop).await,
                        Err(e) => warn!(error = %e, %client, "cannot register the connection"),
                    }
                },
                &handle,
            );
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
