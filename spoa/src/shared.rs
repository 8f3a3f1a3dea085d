//! What the connections of one [`crate::Server`] share: the handler, the
//! settings, the metrics and the log limiters.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error_var::ErrorCause;
use crate::log_limit::LogLimiter;
use crate::metrics::Metrics;

/// How often a repeated warning (an undelivered verdict of one cause, a
/// refused connection) may be logged; the lines left out are counted, and
/// the count logged when the interval ends.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) struct Shared<H> {
    pub(crate) handler: H,
    pub(crate) config: Config,
    pub(crate) metrics: Arc<Metrics>,
    /// One limiter per [`ErrorCause`].
    pub(crate) undelivered_log: [LogLimiter; ErrorCause::ALL.len()],
    pub(crate) over_limit_log: LogLimiter,
    /// Failed TLS handshakes (`Server::serve_tls`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tls_log: LogLimiter,
}

impl<H> Shared<H> {
    pub(crate) fn new(handler: H, config: Config, metrics: Arc<Metrics>) -> Self {
        Self {
            handler,
            config,
            metrics,
            undelivered_log: ErrorCause::ALL.map(|cause| {
                LogLimiter::named(
                    LOG_INTERVAL,
                    format!(
                        "verdicts not delivered ({}, code {}), answered with the error variable or the fallback actions",
                        cause.label(),
                        cause.code()
                    ),
                )
            }),
            over_limit_log: LogLimiter::named(
                LOG_INTERVAL,
                "engine connection refused or closed: too many connections open",
            ),
            tls_log: LogLimiter::named(
                LOG_INTERVAL,
                "engine connection refused: TLS handshake failed",
            ),
        }
    }
}
