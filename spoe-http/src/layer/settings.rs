//! What a layer is built with, kept for its reloads.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use spoe::config::SpoeConfig;
use spoe::{AgentBackend, Connector};

use super::body::BodyPolicy;
use super::decide::{Decide, FailureMode};
use super::error::LayerError;

/// Makes a request's unique id (`unique-id`), from its head.
pub type UniqueIdFn = Arc<dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync>;

/// Where `spoe.conf` comes from: read again at each [`reload`](super::SpoeLayer::reload).
#[derive(Debug, Clone)]
pub(crate) enum ConfigSource {
    File {
        path: PathBuf,
        engine: Option<String>,
    },
    Text {
        text: Arc<str>,
        name: PathBuf,
        engine: Option<String>,
    },
}

impl ConfigSource {
    /// Parses the configuration, logging its warnings.
    pub(crate) fn load(&self) -> Result<SpoeConfig, LayerError> {
        let (config, warnings) = match self {
            Self::File { path, engine } => SpoeConfig::from_file(path, engine.as_deref())?,
            Self::Text { text, name, engine } => {
                SpoeConfig::parse_str(text, name, engine.as_deref())?
            }
        };
        for w in &warnings {
            tracing::warn!("{w}");
        }
        Ok(config)
    }
}

/// The layer's settings (every generation's).
pub(crate) struct Settings {
    pub(crate) backend: AgentBackend,
    pub(crate) connector: Option<Arc<dyn Connector>>,
    pub(crate) failure: FailureMode,
    /// `None`: not chosen (refused when `spoe.conf` reads the body).
    pub(crate) body: Option<BodyPolicy>,
    pub(crate) on_request: Option<Decide>,
    pub(crate) on_response: Option<Decide>,
    pub(crate) var_names: Vec<String>,
    pub(crate) unique_id: Option<UniqueIdFn>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("backend", &self.backend)
            .field("failure", &self.failure)
            .field("body", &self.body)
            .field("var_names", &self.var_names)
            .finish_non_exhaustive()
    }
}
