//! `[no|default] option NAME` (`cfg_parse_listen()`, the `proxy_options[]` and
//! `proxy_http_options[]` tables of `src/proxy.c`). A new option the gateway runs is a row of
//! [`OPTIONS`]; one it accepts and ignores, a row of `keywords::IGNORED_OPTIONS`.

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Line, Modifier};

use crate::config::keywords::{HAPROXY_OPTIONS, IGNORED_OPTIONS, Keyword, Use, find};
use crate::config::lower::{Lowerer, Proxy};
use crate::config::proxy::sockets::Side;
use crate::model::HttpMode;
use crate::model::LogOptions;

/// Reads an `option` line the gateway runs; the last argument is the directive as written
/// (`no option http-buffer-request`).
pub(in crate::config) type Handler = fn(&mut Lowerer<'_, '_>, &mut Proxy, &Line, &str);

/// What the options naming a protocol check (`redis-check`, `ssl-hello-chk`, `smtpchk`,
/// `pgsql-check`, `mysql-check`, `ldap-check`) fill.
const PROTO_CHECK: Use = Use::Runs(&[("CheckSpec.proto", "generation/health.rs")]);

/// The options the gateway runs.
pub(in crate::config) const OPTIONS: &[Keyword<Handler>] = &[
    Keyword {
        name: "spop-check",
        handler: |lw, p, line, directive| lw.option_spop_check(p, line, directive),
        uses: Use::Runs(&[("Backend.spop_check", "generation/mod.rs")]),
    },
    Keyword {
        name: "http-buffer-request",
        handler: |lw, p, line, _| lw.option_http_buffer_request(p, line),
        uses: Use::Runs(&[
            ("Frontend.http_buffer_request", "proxy.rs"),
            ("Backend.http_buffer_request", "proxy.rs"),
        ]),
    },
    Keyword {
        name: "httpchk",
        handler: |lw, p, line, directive| lw.option_httpchk(p, line, directive),
        uses: Use::Runs(&[("Backend.checks", "generation/health.rs")]),
    },
    Keyword {
        name: "tcp-check",
        handler: |lw, p, line, directive| lw.option_tcp_check(p, line, directive),
        uses: Use::Runs(&[("Backend.checks", "generation/health.rs")]),
    },
    Keyword {
        name: "redis-check",
        handler: |lw, p, line, directive| lw.option_proto_check(p, line, directive, "redis-check"),
        uses: PROTO_CHECK,
    },
    Keyword {
        name: "ssl-hello-chk",
        handler: |lw, p, line, directive| {
            lw.option_proto_check(p, line, directive, "ssl-hello-chk")
        },
        uses: PROTO_CHECK,
    },
    Keyword {
        name: "smtpchk",
        handler: |lw, p, line, directive| lw.option_proto_check(p, line, directive, "smtpchk"),
        uses: PROTO_CHECK,
    },
    Keyword {
        name: "pgsql-check",
        handler: |lw, p, line, directive| lw.option_proto_check(p, line, directive, "pgsql-check"),
        uses: PROTO_CHECK,
    },
    Keyword {
        name: "mysql-check",
        handler: |lw, p, line, directive| lw.option_proto_check(p, line, directive, "mysql-check"),
        uses: PROTO_CHECK,
    },
    Keyword {
        name: "ldap-check",
        handler: |lw, p, line, directive| lw.option_proto_check(p, line, directive, "ldap-check"),
        uses: PROTO_CHECK,
    },
    Keyword {
        name: "log-health-checks",
        handler: |lw, p, line, directive| lw.option_log_health_checks(p, line, directive),
        uses: Use::Runs(&[("CheckSpec.log_health_checks", "generation/health.rs")]),
    },
    Keyword {
        name: "redispatch",
        handler: |lw, p, line, directive| lw.option_redispatch(p, line, directive),
        uses: Use::Runs(&[("Backend.retry", "proxy.rs")]),
    },
    Keyword {
        name: "persist",
        handler: |lw, p, line, directive| lw.option_persist(p, line, directive),
        uses: Use::Runs(&[("Backend.persist", "proxy.rs")]),
    },
    Keyword {
        name: "prefer-last-server",
        handler: |lw, p, line, directive| lw.option_prefer_last(p, line, directive),
        uses: Use::Runs(&[("Backend.server_rules", "proxy.rs")]),
    },
    Keyword {
        name: "allbackups",
        handler: |lw, p, line, directive| lw.option_allbackups(p, line, directive),
        uses: Use::Runs(&[("Backend.all_backups", "balance.rs")]),
    },
    Keyword {
        name: "abortonclose",
        handler: |lw, p, line, directive| lw.option_abortonclose(p, line, directive),
        // What the gateway always does: nothing to read at run time.
        uses: Use::Read,
    },
    Keyword {
        name: "contstats",
        handler: |lw, p, line, directive| lw.option_contstats(p, line, directive),
        // HAProxy 2.6 reads it and acts on nothing: its counters are always continuous.
        uses: Use::Read,
    },
    Keyword {
        name: "dontlognull",
        handler: |lw, p, line, directive| {
            lw.option_log_flag(p, line, directive, |o| &mut o.dont_log_null)
        },
        uses: Use::Runs(&[("Frontend.log_options", "server/mod.rs")]),
    },
    Keyword {
        name: "dontlog-normal",
        handler: |lw, p, line, directive| {
            lw.option_log_flag(p, line, directive, |o| &mut o.dont_log_normal)
        },
        uses: Use::Runs(&[("Frontend.log_options", "proxy.rs")]),
    },
    Keyword {
        name: "log-separate-errors",
        handler: |lw, p, line, directive| {
            lw.option_log_flag(p, line, directive, |o| &mut o.separate_errors)
        },
        uses: Use::Runs(&[("Frontend.log_options", "proxy.rs")]),
    },
    Keyword {
        name: "httplog",
        handler: |lw, p, line, _| lw.option_log_preset(p, line, "httplog"),
        uses: Use::Runs(&[("Frontend.access_format", "proxy.rs")]),
    },
    Keyword {
        name: "tcplog",
        handler: |lw, p, line, _| lw.option_log_preset(p, line, "tcplog"),
        uses: Use::Runs(&[("Frontend.access_format", "proxy.rs")]),
    },
    Keyword {
        name: "forwardfor",
        handler: |lw, p, line, _| lw.option_forwardfor(p, line),
        uses: Use::Runs(&[
            ("Frontend.forwardfor", "hop.rs"),
            ("Backend.forwardfor", "hop.rs"),
        ]),
    },
    Keyword {
        name: "originalto",
        handler: |lw, p, line, _| lw.option_originalto(p, line),
        uses: Use::Runs(&[
            ("Frontend.originalto", "hop.rs"),
            ("Backend.originalto", "hop.rs"),
        ]),
    },
    Keyword {
        name: "http-keep-alive",
        handler: |lw, p, line, _| lw.option_http_mode(p, line, HttpMode::KeepAlive),
        uses: Use::Runs(&[
            ("Frontend.http_mode", "hop.rs"),
            ("Backend.http_mode", "hop.rs"),
        ]),
    },
    Keyword {
        name: "http-server-close",
        handler: |lw, p, line, _| lw.option_http_mode(p, line, HttpMode::ServerClose),
        uses: Use::Runs(&[
            ("Frontend.http_mode", "hop.rs"),
            ("Backend.http_mode", "hop.rs"),
        ]),
    },
    Keyword {
        name: "httpclose",
        handler: |lw, p, line, _| lw.option_http_mode(p, line, HttpMode::Close),
        uses: Use::Runs(&[
            ("Frontend.http_mode", "hop.rs"),
            ("Backend.http_mode", "hop.rs"),
        ]),
    },
    Keyword {
        name: "splice-auto",
        handler: |lw, _, line, directive| lw.option_splice(line, directive),
        uses: Use::Read,
    },
    Keyword {
        name: "splice-request",
        handler: |lw, _, line, directive| lw.option_splice(line, directive),
        uses: Use::Read,
    },
    Keyword {
        name: "splice-response",
        handler: |lw, _, line, directive| lw.option_splice(line, directive),
        uses: Use::Read,
    },
    Keyword {
        name: "tcpka",
        handler: |lw, p, line, directive| {
            lw.option_sock_flag(p, line, directive, Side::Both, |s, on| {
                s.cli_ka = on;
                s.srv_ka = on;
            });
        },
        uses: Use::Runs(&[
            ("Frontend.client_sock", "server/listen.rs"),
            ("Backend.server_sock", "generation/mod.rs"),
        ]),
    },
    Keyword {
        name: "clitcpka",
        handler: |lw, p, line, directive| {
            lw.option_sock_flag(p, line, directive, Side::Client, |s, on| s.cli_ka = on);
        },
        uses: Use::Runs(&[("Frontend.client_sock", "server/listen.rs")]),
    },
    Keyword {
        name: "srvtcpka",
        handler: |lw, p, line, directive| {
            lw.option_sock_flag(p, line, directive, Side::Server, |s, on| s.srv_ka = on);
        },
        uses: Use::Runs(&[("Backend.server_sock", "generation/mod.rs")]),
    },
    Keyword {
        name: "nolinger",
        handler: |lw, p, line, directive| {
            lw.option_sock_flag(p, line, directive, Side::Both, |s, on| s.nolinger = on);
        },
        uses: Use::Runs(&[
            ("Frontend.client_sock", "server/listen.rs"),
            ("Backend.server_sock", "generation/mod.rs"),
        ]),
    },
    Keyword {
        name: "tcp-smart-accept",
        handler: |lw, p, line, directive| {
            lw.option_sock_flag(p, line, directive, Side::Client, |s, on| {
                s.smart_accept = Some(on);
            });
        },
        uses: Use::Runs(&[("Frontend.client_sock", "server/listen.rs")]),
    },
    Keyword {
        name: "tcp-smart-connect",
        handler: |lw, p, line, directive| {
            lw.option_sock_flag(p, line, directive, Side::Server, |s, on| {
                s.smart_connect = on
            });
        },
        uses: Use::Runs(&[("Backend.server_sock", "generation/mod.rs")]),
    },
];

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
        if let Some(option) = find(OPTIONS, name) {
            return (option.handler)(self, p, line, &directive);
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

    /// `option spop-check`: the agents' health checks (a backend capability, no `no`).
    fn option_spop_check(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if line.modifier != Modifier::None {
            return self.diag.error(
                line.words[1].span().clone(),
                ConfigErrorKind::NegationNotSupported {
                    name: "spop-check".to_owned(),
                },
            );
        }
        if self.too_many(line, 1, "option spop-check") {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        p.spop_check = true;
    }

    /// `[no] option http-buffer-request`: wait for the body (`no` turns off what `defaults`
    /// turned on).
    fn option_http_buffer_request(&mut self, p: &mut Proxy, line: &Line) {
        if self.too_many(line, 1, "option http-buffer-request") {
            return;
        }
        p.http_buffer_request = line.modifier == Modifier::None;
    }

    /// `[no] option dontlognull|dontlog-normal|log-separate-errors`: which lines a frontend
    /// writes, and at which level (HAProxy's `PR_CAP_FE` options: ignored with a warning in a
    /// backend).
    fn option_log_flag(
        &mut self,
        p: &mut Proxy,
        line: &Line,
        directive: &str,
        flag: fn(&mut LogOptions) -> &mut bool,
    ) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_frontend() {
            return self.not_capable(p, line.span(), directive);
        }
        *flag(&mut p.log_options) = line.modifier == Modifier::None;
    }

    /// `option abortonclose`: a request whose client closed (a shutdown of its write side
    /// included) is aborted while it waits in a queue or for its server, logged `CQ`/`CC`:
    /// what the gateway always does (its HTTP/1 connections do not half-close).
    /// `no option abortonclose`, HAProxy's default where a half-closed client still gets its
    /// answer, the gateway does not run: a warning says so.
    fn option_abortonclose(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        if line.modifier == Modifier::No {
            self.diag.ignored(
                line.span().clone(),
                directive,
                "the gateway always aborts a request whose client closed its side, as with 'option abortonclose'",
            );
        }
    }

    /// `[no] option contstats`: HAProxy 2.6 keeps the option's flag and reads it nowhere
    /// (its byte counters are updated as data passes, as the gateway's are); a frontend
    /// option.
    fn option_contstats(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_frontend() {
            self.not_capable(p, line.span(), directive);
        }
    }

    /// `[no] option log-health-checks`: a line for each check whose result or health changes
    /// (a backend option).
    fn option_log_health_checks(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        p.checks.log_health_checks = line.modifier == Modifier::None;
    }

    /// `[no] option persist`: a persistence cookie naming a down server still sends the
    /// request there (a backend option).
    fn option_prefer_last(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        p.choice.rules.prefer_last = line.modifier == Modifier::None;
    }

    fn option_persist(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        p.persist = line.modifier == Modifier::None;
    }
}
