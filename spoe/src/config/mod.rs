//! `spoe.conf`, HAProxy's SPOE configuration file, with HAProxy's syntax unchanged.
//!
//! ```text
//!   text ── reader (quotes, escapes, "${ENV}", .if, sections) ── parse ([scope]) ── lower ──> SpoeConfig
//!              │ Word { text, span, column of each byte }             │ every directive checked, │ AgentConfig
//!              └──────────── errors and warnings, all of them, with file:line:col ───────────┘ messages, groups
//! ```
//!
//! ```
//! use spoe::config::{Event, SpoeConfig};
//!
//! let text = "\
//! [coraza]
//! spoe-agent coraza-agent
//!     messages coraza-req
//!     option var-prefix coraza
//!     timeout hello 2s
//!     timeout idle 2m
//!     timeout processing 500ms
//!     use-backend coraza-spoa
//! spoe-message coraza-req
//!     args id=unique-id src-ip=src path=path
//!     event on-frontend-http-request
//! ";
//! let (config, warnings) = SpoeConfig::parse_str(text, "spoe.conf", Some("coraza")).unwrap();
//! assert!(warnings.is_empty());
//! assert_eq!(config.agent.id, "coraza-agent");
//! assert_eq!(config.agent.messages_for(Event::OnFrontendHttpRequest).count(), 1);
//!
//! let bad = "spoe-agent a\n    timeout processing 5x\n    use-backend b\n";
//! let errors = SpoeConfig::parse_str(bad, "spoe.conf", None).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "parsing [spoe.conf:2:24] : 'timeout processing' expects a duration such as 500ms, got '5x'"
//! );
//! ```
//!
//! Scopes work as `filter spoe [engine NAME] config FILE` does in HAProxy 2.6: with an engine
//! name, only the sections after `[NAME]` count; without one, only the sections before the
//! first `[scope]` line. Each scope holds exactly one `spoe-agent`.
//!
//! What HAProxy accepts, this parser accepts; where HAProxy silently tolerates something odd
//! (an unknown keyword in `spoe-message`, `maxconnrate 10x`, words after an empty `""`), the
//! parser accepts it with a warning. Directives this engine does not act on (`option async`,
//! `option send-frag-payload`) are accepted with a warning saying why. Fetches and converters
//! HAProxy has but this engine does not evaluate are errors that say so.
//!
//! Checks that need `haproxy.cfg` (the `use-backend` target exists and is `mode tcp`, a
//! `ring@` log target exists) are the caller's. The fetch-versus-event check assumes the
//! filter is declared in a frontend.

mod agent;
mod directives;
mod error;
mod keywords;
mod log;
mod lower;
mod message;
mod parse;
pub mod reader;
mod span;
mod suggest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use agent::{AgentConfig, FrameSizeOutOfRange, InvalidVarName, MaxFrameSize, VarName};
pub use error::{
    ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning, ConfigWarningKind, Diagnostics,
    SectionKind,
};
pub use log::{FACILITIES, FORMATS, LEVELS, LogAddress, LogServer, LogTarget, check_sample};
pub use message::{Event, GroupConfig, MessageArg, MessageConfig, UnknownEvent};
pub use span::{Span, Spanned};
pub use suggest::did_you_mean;

/// Options for [`SpoeConfig::parse_str_with`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The environment `"${VAR}"` reads; `None` reads the process's environment.
    pub env: Option<BTreeMap<String, String>>,
    /// The directory relative `-f` pattern files are read from; `None` is the current
    /// directory ([`SpoeConfig::from_file`] uses the file's directory).
    pub base_dir: Option<PathBuf>,
    /// The features `.if feature(NAME)` finds: the host's (the gateway passes its own).
    pub features: &'static [&'static str],
}

/// A parsed `spoe.conf` scope: one engine, its agent, and the messages and groups the agent
/// uses.
#[derive(Debug, Clone)]
pub struct SpoeConfig {
    /// The file, as named by the caller.
    pub file: Arc<Path>,
    /// The selected `[scope]` (`filter spoe engine NAME`), if any.
    pub engine: Option<String>,
    /// The scope's `spoe-agent`.
    pub agent: AgentConfig,
}

impl SpoeConfig {
    /// The engine's identifier, as HAProxy computes it: the engine name when given, else the
    /// agent's name.
    pub fn engine_id(&self) -> &str {
        self.engine.as_deref().unwrap_or(&self.agent.id)
    }

    /// Parses `text` (named `file_name` in messages) and keeps the scope `engine`, reading
    /// `"${VAR}"` from the process environment and `-f` files from the current directory.
    ///
    /// # Errors
    ///
    /// Every error found, in file order, with the warnings.
    pub fn parse_str(
        text: &str,
        file_name: impl AsRef<Path>,
        engine: Option<&str>,
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigErrors> {
        Self::parse_str_with(text, file_name, engine, &ParseOptions::default())
    }

    /// [`parse_str`](Self::parse_str) with explicit options.
    ///
    /// # Errors
    ///
    /// Every error found, in file order, with the warnings.
    pub fn parse_str_with(
        text: &str,
        file_name: impl AsRef<Path>,
        engine: Option<&str>,
        options: &ParseOptions,
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigErrors> {
        let file: Arc<Path> = Arc::from(file_name.as_ref());
        let env = |name: &str| match &options.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        let base_dir = options.base_dir.clone().unwrap_or_default();
        let mut diags = Diagnostics::default();
        let input = reader::Input {
            text,
            file: &file,
            env: &env,
            features: options.features,
        };
        let doc = parse::parse_document(&input, engine, &mut diags);
        let agent = lower::lower(&doc, &file, engine, &base_dir, &mut diags);
        sort(&mut diags);
        match agent {
            Some(agent) if diags.errors.is_empty() => Ok((
                Self {
                    file,
                    engine: engine.map(str::to_owned),
                    agent,
                },
                diags.warnings,
            )),
            _ => Err(ConfigErrors {
                errors: diags.errors,
                warnings: diags.warnings,
            }),
        }
    }

    /// Reads and parses the file at `path`; relative `-f` files are read from its directory.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or every error found in it.
    pub fn from_file(
        path: impl AsRef<Path>,
        engine: Option<&str>,
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigErrors> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                span: Span::file(Arc::from(path)),
                kind: ConfigErrorKind::Io {
                    path: path.to_owned(),
                    error: e.to_string(),
                },
            }],
            warnings: Vec::new(),
        })?;
        let text = String::from_utf8_lossy(&text);
        let options = ParseOptions {
            base_dir: path.parent().map(Path::to_owned),
            ..ParseOptions::default()
        };
        Self::parse_str_with(&text, path, engine, &options)
    }

    /// The check HAProxy makes once `haproxy.cfg` is read: the `use-backend` target exists
    /// and is in `mode tcp`. `backend_is_tcp` answers for a backend name: `None` when there is
    /// no such backend, `Some(is_tcp)` otherwise.
    ///
    /// # Errors
    ///
    /// HAProxy 2.6's error, at the `use-backend` line (one error, no warning).
    pub fn check_backend(
        &self,
        backend_is_tcp: impl FnOnce(&str) -> Option<bool>,
    ) -> Result<(), ConfigErrors> {
        let backend = &self.agent.use_backend;
        let kind = match backend_is_tcp(&backend.value) {
            Some(true) => return Ok(()),
            Some(false) => ConfigErrorKind::BackendNotTcp {
                backend: backend.value.clone(),
                agent: self.agent.id.clone(),
            },
            None => ConfigErrorKind::UnknownBackend {
                backend: backend.value.clone(),
                agent: self.agent.id.clone(),
            },
        };
        Err(ConfigErrors {
            errors: vec![ConfigError {
                span: backend.span.clone(),
                kind,
            }],
            warnings: Vec::new(),
        })
    }

    /// The names of the `[scope]` lines of `text`, in order (each one an engine
    /// [`parse_str`](Self::parse_str) can select).
    pub fn scopes(text: &str) -> Vec<String> {
        parse::scope_names(text)
    }
}

/// File order: by line then column, whole-file diagnostics last.
fn sort(diags: &mut Diagnostics) {
    let key = |s: &Span| (s.line == 0, s.line, s.col);
    diags.errors.sort_by_key(|e| key(&e.span));
    diags.warnings.sort_by_key(|w| key(&w.span));
}
