//! Errors and warnings of one `haproxy.cfg` read, kept in file order.
//!
//! The gateway reports its problems with `spoe::config`'s types, so that `haproxy.cfg` and
//! `spoe.conf` problems print alike (`parsing [file:line:col] : ...`): its own messages are
//! [`ConfigErrorKind::Host`] and [`ConfigWarningKind::Host`] (printed verbatim), and
//! directives accepted and ignored are [`ConfigWarningKind::Ignored`].

use std::path::Path;
use std::sync::Arc;

use spoe::config::{
    ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning, ConfigWarningKind, Diagnostics, Span,
};
use spoe::expr::ExprError;

/// Sort key: whole-file diagnostics last, then line and column in `haproxy.cfg` (of the line
/// that read the other file, for another file's), then line and column in that other file,
/// then order of discovery.
type Key = (bool, u32, u32, u32, u32, u64);

/// The diagnostics of a read, with a sort key each.
#[derive(Debug)]
pub(super) struct Diag {
    main: Arc<Path>,
    errors: Vec<(Key, ConfigError)>,
    warnings: Vec<(Key, ConfigWarning)>,
    seq: u64,
}

impl Diag {
    pub(super) fn new(main: Arc<Path>) -> Self {
        Self {
            main,
            errors: Vec::new(),
            warnings: Vec::new(),
            seq: 0,
        }
    }

    /// The key of `span`; a span in another file (a `spoe.conf`) sorts at `anchor`.
    fn key(&mut self, span: &Span, anchor: Option<&Span>) -> Key {
        self.seq += 1;
        match anchor {
            Some(a) if *span.file != *self.main => {
                (a.line == 0, a.line, a.col, span.line, span.col, self.seq)
            }
            _ => (span.line == 0, span.line, span.col, 0, 0, self.seq),
        }
    }

    pub(super) fn error(&mut self, span: Span, kind: ConfigErrorKind) {
        let key = self.key(&span, None);
        self.errors.push((key, ConfigError { span, kind }));
    }

    /// A gateway message (see the module documentation for the carrier).
    pub(super) fn error_msg(&mut self, span: Span, msg: impl Into<String>) {
        self.error(span, ConfigErrorKind::Host(msg.into()));
    }

    /// A sample expression, ACL or condition error, with what was being parsed.
    pub(super) fn expr(&mut self, context: impl Into<String>, e: ExprError) {
        self.error(
            e.span,
            ConfigErrorKind::Expr {
                context: context.into(),
                error: e.kind,
            },
        );
    }

    pub(super) fn warn(&mut self, span: Span, kind: ConfigWarningKind) {
        let key = self.key(&span, None);
        self.warnings.push((key, ConfigWarning { span, kind }));
    }

    /// A warning that may be in another file (a `spoe.conf`), sorted at `anchor` (the line
    /// that read it) then.
    pub(super) fn warn_in(&mut self, anchor: &Span, span: Span, kind: ConfigWarningKind) {
        let key = self.key(&span, Some(anchor));
        self.warnings.push((key, ConfigWarning { span, kind }));
    }

    /// `'directive' is accepted and ignored: reason`.
    pub(super) fn ignored(
        &mut self,
        span: Span,
        directive: impl Into<String>,
        reason: &'static str,
    ) {
        self.warn(
            span,
            ConfigWarningKind::Ignored {
                directive: directive.into(),
                reason,
            },
        );
    }

    /// A gateway warning with no dedicated variant (printed between quotes).
    pub(super) fn warn_msg(&mut self, span: Span, msg: impl Into<String>) {
        self.warn(span, ConfigWarningKind::Host(msg.into()));
    }

    /// Takes what the lexer reported.
    pub(super) fn absorb(&mut self, d: Diagnostics) {
        for e in d.errors {
            self.error(e.span, e.kind);
        }
        for w in d.warnings {
            self.warn(w.span, w.kind);
        }
    }

    /// Takes the diagnostics of another file, sorted at `anchor` (the line that read it).
    pub(super) fn merge(
        &mut self,
        anchor: &Span,
        errors: Vec<ConfigError>,
        warnings: Vec<ConfigWarning>,
    ) {
        for e in errors {
            let key = self.key(&e.span, Some(anchor));
            self.errors.push((key, e));
        }
        for w in warnings {
            let key = self.key(&w.span, Some(anchor));
            self.warnings.push((key, w));
        }
    }

    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(super) fn has_warnings(&self) -> bool {
        !self.warnings.is_empty()
    }

    pub(super) fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Everything found, in file order.
    pub(super) fn finish(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|(k, _)| *k);
        self.warnings.sort_by_key(|(k, _)| *k);
        ConfigErrors {
            errors: self.errors.into_iter().map(|(_, e)| e).collect(),
            warnings: self.warnings.into_iter().map(|(_, w)| w).collect(),
        }
    }
}
