//! The `stats socket` listeners of the running gateway: bound when a configuration that
//! names them starts, kept across reloads while it still names them (the same address with
//! the same options), closed when it no longer does.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Gateway, ReloadError};
use crate::generation::Generation;
use crate::metrics::GatewayMetrics;
use crate::model::{GatewayConfig, StatsAddr};
use crate::runtime_api::socket::{self, Source};

impl Source for Gateway {
    fn generation(&self) -> Arc<Generation> {
        self.current()
    }

    fn metrics(&self) -> &GatewayMetrics {
        &self.metrics
    }
}

impl Gateway {
    /// Binds the `stats socket` lines of `config` the gateway does not serve yet, and stops
    /// serving those it no longer has.
    pub(super) fn bind_stats_sockets(
        self: &Arc<Self>,
        config: &GatewayConfig,
    ) -> Result<(), ReloadError> {
        let wanted = &config.global.stats_sockets;
        let mut serving = self
            .cli
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        serving.retain(|(s, stop)| {
            let keep = wanted.contains(s);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for s in wanted {
            if serving.iter().any(|(have, _)| have == s) {
                continue;
            }
            let listener = socket::bind(s).map_err(|e| ReloadError::StatsSocket {
                addr: match &s.addr {
                    StatsAddr::Unix(p) => p.display().to_string(),
                    StatsAddr::Tcp(a) => a.to_string(),
                },
                source: Arc::new(e),
            })?;
            let stop = self.stopping.child_token();
            let source: Arc<dyn Source> = self.clone();
            let global = config.global.clone();
            let (socket, token) = (s.clone(), stop.clone());
            self.connections.spawn(async move {
                socket::serve(listener, socket, &global, source, token).await;
            });
            serving.push((s.clone(), stop));
        }
        Ok(())
    }
}

/// The sockets being served, each with what stops it.
pub(super) type Serving = std::sync::Mutex<Vec<(crate::model::StatsSocket, CancellationToken)>>;
