//! Why a layer could not be built or reloaded.

use spoe::config::ConfigErrors;

/// Why [`SpoeLayerBuilder::build`](super::SpoeLayerBuilder::build) or
/// [`SpoeLayer::reload`](super::SpoeLayer::reload) failed. Configuration errors print as
/// HAProxy's (`parsing [spoe.conf:12:5] : ...`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// `spoe.conf` is invalid (every error found).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// No `spoe.conf` was given.
    #[error("SpoeLayer needs a spoe.conf: call config_file() or config_str()")]
    NoConfig,
    /// No agent address was given.
    #[error("SpoeLayer needs the agents' addresses: call agent() or agents()")]
    NoAgents,
    /// The failure mode was not chosen.
    #[error(
        "SpoeLayer needs a failure mode: call fail_open() (the request goes on, the handler sees the failure) or fail_closed(status)"
    )]
    NoFailureMode,
    /// A message runs on an event a layer never sees.
    #[error(
        "parsing [{span}] : spoe-message '{message}' runs on '{event}', which SpoeLayer cannot run (it sees neither TCP content nor server connections); it runs on-client-session, on-frontend-http-request, on-backend-http-request and on-http-response"
    )]
    UnsupportedEvent {
        /// Where the message is.
        span: String,
        /// The message.
        message: String,
        /// The event.
        event: &'static str,
    },
    /// A message reads the request body and no body policy was chosen.
    #[error(
        "parsing [{span}] : spoe-message '{message}' reads '{fetch}': choose a body policy with body() (BodyPolicy::NotSent sends an empty body, as HAProxy without option http-buffer-request)"
    )]
    NoBodyPolicy {
        /// Where the message is.
        span: String,
        /// The message.
        message: String,
        /// The fetch, as written.
        fetch: String,
    },
}
