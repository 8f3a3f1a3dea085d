//! `log-format FMT`, `option tcplog` and `option httplog [clf]`: a frontend's access-line
//! format (`crate::logline`), the last one read winning as in HAProxy. In a backend they are
//! ignored with HAProxy's warning: the frontend's format is the one used.

use std::sync::Arc;

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Line, Modifier};

use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};
use crate::logline::{HTTPLOG, HTTPLOG_CLF, LineFormat, TCPLOG};

impl Lowerer<'_, '_> {
    /// `log-format FMT`.
    pub(super) fn log_format(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), "log-format expects an argument.");
        };
        if let Some(extra) = line.arg(2) {
            return self.diag.error_msg(
                extra.span().clone(),
                "log-format expects only one argument, don't forget to escape spaces!",
            );
        }
        if !p.has_frontend() {
            return self.diag.ignored(
                line.span().clone(),
                "log-format",
                "the directive is ignored in backends (the frontend's log format is used)",
            );
        }
        match LineFormat::parse(word) {
            Ok(format) => self.set_access_format(p, line, "log-format", format),
            Err(e) => self.diag.error_msg(
                word.span().clone(),
                format!("failed to parse log-format : {e}"),
            ),
        }
    }

    /// `option httplog [clf]` and `option tcplog`: HAProxy's presets (`no` is refused, as by
    /// HAProxy).
    pub(super) fn option_log_preset(&mut self, p: &mut Proxy, line: &Line, name: &str) {
        if line.modifier != Modifier::None {
            let word = line
                .arg(1)
                .map_or_else(|| line.span().clone(), |w| w.span().clone());
            return self.diag.error(
                word,
                ConfigErrorKind::NegationNotSupported {
                    name: name.to_owned(),
                },
            );
        }
        let clf = name == "httplog" && line.arg_str(2) == Some("clf");
        let directive = format!("option {name}");
        if self.too_many(line, if clf { 2 } else { 1 }, &directive) {
            return;
        }
        if !p.has_frontend() {
            return self.diag.ignored(
                line.span().clone(),
                directive,
                "it is ignored in backends (the frontend's log format is used)",
            );
        }
        let (text, directive) = match (name, clf) {
            ("tcplog", _) => (TCPLOG, "option tcplog"),
            (_, true) => (HTTPLOG_CLF, "option httplog clf"),
            _ => (HTTPLOG, "option httplog"),
        };
        let format = LineFormat::preset(text, line.span().clone());
        self.set_access_format(p, line, directive, format);
    }

    /// The proxy's format is now `format`, set by `directive`; in `defaults`, HAProxy warns
    /// when it replaces another one.
    fn set_access_format(
        &mut self,
        p: &mut Proxy,
        line: &Line,
        directive: &'static str,
        format: LineFormat,
    ) {
        if p.kind == Kind::Defaults && p.access_format.is_some() {
            self.diag.warn_msg(
                line.span().clone(),
                format!(
                    "'{directive}' overrides previous '{}' in 'defaults' section.",
                    p.access_format_from
                ),
            );
        }
        p.access_format = Some(Arc::new(format));
        p.access_format_from = directive;
    }
}
