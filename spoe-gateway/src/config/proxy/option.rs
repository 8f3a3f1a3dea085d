//! `[no|default] option NAME` (`cfg_parse_listen()`, the `proxy_options[]` and
//! `proxy_http_options[]` tables of `src/proxy.c`).

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Line, Modifier};

use crate::config::keywords::{HAPROXY_OPTIONS, IGNORED_OPTIONS};
use crate::config::lower::{Lowerer, Proxy};

/// The options the gateway runs (each a branch of `option()` below).
pub(in crate::config) const RUN_OPTIONS: &[&str] =
    &["spop-check", "http-buffer-request", "httplog"];

impl Lowerer<'_, '_> {
    pub(super) fn option(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self
                .diag
                .error_msg(line.span().clone(), "'option' expects an option name");
        };
        let name = word.as_str();
        let prefix = match line.modifier {
            Modifier::None => "",
            Modifier::No => "no ",
            Modifier::Default => "default ",
        };
        let directive = format!("{prefix}option {name}");
        if name == "spop-check" {
            if line.modifier != Modifier::None {
                return self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::NegationNotSupported {
                        name: name.to_owned(),
                    },
                );
            }
            if self.too_many(line, 1, "option spop-check") {
                return;
            }
            if !p.has_backend() {
                return self.not_capable(p, line.span(), &directive);
            }
            p.spop_check = true;
            return;
        }
        if name == "http-buffer-request" {
            if self.too_many(line, 1, "option http-buffer-request") {
                return;
            }
            p.http_buffer_request = line.modifier == Modifier::None;
            return;
        }
        if name == "httplog" {
            return self.option_httplog(p, line);
        }
        if let Some((_, negatable, reason)) = IGNORED_OPTIONS.iter().find(|(o, _, _)| *o == name) {
            if line.modifier != Modifier::None && !negatable {
                return self.diag.error(
                    word.span().clone(),
                    ConfigErrorKind::NegationNotSupported {
                        name: name.to_owned(),
                    },
                );
            }
            return self.diag.ignored(line.span().clone(), directive, reason);
        }
        let msg = if HAPROXY_OPTIONS.contains(&name) {
            format!("option '{name}' is not supported by the gateway")
        } else {
            format!("unknown option '{name}'")
        };
        self.diag.error_msg(word.span().clone(), msg);
    }

    /// `option httplog [clf]`: HAProxy's access line (a frontend capability;
    /// HAProxy ignores it in a backend with a warning, and refuses `no`).
    pub(super) fn option_httplog(&mut self, p: &mut Proxy, line: &Line) {
        let directive = "option httplog";
        if line.modifier != Modifier::None {
            let word = line
                .arg(1)
                .map_or_else(|| line.span().clone(), |w| w.span().clone());
            return self.diag.error(
                word,
                ConfigErrorKind::NegationNotSupported {
                    name: "httplog".to_owned(),
                },
            );
        }
        if line.arg_str(2) == Some("clf") {
            return self.diag.error_msg(
                line.span().clone(),
                "'option httplog clf' is not supported by the gateway (it writes HAProxy's httplog format)",
            );
        }
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_frontend() {
            return self.diag.ignored(
                line.span().clone(),
                directive,
                "it is ignored in backends (the frontend's log format is used)",
            );
        }
        p.httplog = true;
    }
}
