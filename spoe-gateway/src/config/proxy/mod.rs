//! `defaults`, `frontend`, `backend` and `listen` sections (`cfg_parse_listen()` in
//! `src/cfgparse-listen.c`): the section line, the dispatch of each line to its family, and the
//! checks that need the whole section.
//!
//! A new proxy keyword is a row of [`KEYWORDS`] and a handler in the file of its family:
//! [`bind`], [`server`] (and `default-server`, `balance`), [`timeout`], [`option`], [`rules`]
//! (`acl`, `http-request`, `http-response`; the actions are in `config::actions`), [`routing`]
//! (`default_backend`, `use_backend`), [`filter`], [`limits`] (`maxconn`), [`persist`]
//! (`stick`, `use-server`, `force-persist`, `ignore-persist`, `http-reuse`,
//! `http-send-name-header`, the servers' `id` and `non-stick`), [`hash`] (`hash-type`), `log`
//! in `config::log`; what `defaults` hands down is `Proxy::from_defaults`.

pub(super) mod bind;
mod capture;
pub(super) mod check;
mod check_proto;
mod compression;
mod cond;
mod conn;
mod cookie;
mod defaults;
mod errorfile;
mod filter;
mod hash;
mod limits;
mod log_format;
mod monitor;
mod option;
pub(super) mod persist;
mod routing;
mod rules;
mod server;
mod server_dns;
mod server_template;
mod sockets;
mod source;
mod stats;
mod sticktable;
mod tcp_rules;
mod timeout;
mod unique_id;

pub(super) use option::OPTIONS;
pub(super) use server::SERVER_SETTINGS;
pub(super) use server_dns::DNS_SETTINGS;
pub(super) use timeout::TIMEOUTS;

use spoe::config::reader::{Line, Section, Word};

use super::grammar::Kind;
use super::keywords::{HAPROXY_PROXY, IGNORED_PROXY, Keyword, Use, find, suggestion};
use super::lower::{Lowerer, Proxy};
use crate::model::Mode;

/// Reads a line of a proxy section.
type Handler = fn(&mut Lowerer<'_, '_>, &mut Proxy, &Line);

/// What the error-page keywords (`errorfile`, `errorloc*`, `errorfiles`, `http-error`) fill:
/// the pages of either side of a proxy.
const ERROR_PAGES: Use = Use::Runs(&[
    ("Frontend.errorfiles", "proxy.rs"),
    ("Backend.errorfiles", "proxy.rs"),
]);

/// What the rules that pick a server before balancing fill (`stick`, `use-server`,
/// `force-persist`, `ignore-persist`, `http-reuse`, `http-send-name-header`).
const SERVER_RULES: Use = Use::Runs(&[("Backend.server_rules", "proxy.rs")]);

/// The proxy keywords the gateway runs.
pub(super) const KEYWORDS: &[Keyword<Handler>] = &[
    Keyword {
        name: "option",
        handler: |lw, p, line| lw.option(p, line),
        uses: Use::Read,
    },
    Keyword {
        name: "log",
        handler: |lw, p, line| lw.proxy_log(p, line),
        uses: Use::Runs(&[("Frontend.logs", "generation/mod.rs")]),
    },
    Keyword {
        name: "mode",
        handler: |lw, p, line| lw.mode(p, line),
        uses: Use::Runs(&[("Backend.mode", "generation/mod.rs")]),
    },
    Keyword {
        name: "bind",
        handler: |lw, p, line| lw.bind(p, line),
        uses: Use::Runs(&[
            ("Frontend.binds", "model.rs"),
            ("Frontend.bind_confs", "model.rs"),
            ("BindConf.tls", "server/connection.rs"),
            ("BindConf.h2", "server/connection.rs"),
            ("Frontend.bind_maxconn", "limits.rs"),
            ("Frontend.listener_opts", "server/listen.rs"),
        ]),
    },
    Keyword {
        name: "rate-limit",
        handler: |lw, p, line| lw.rate_limit(p, line),
        uses: Use::Runs(&[("Frontend.sess_rate", "rate.rs")]),
    },
    Keyword {
        name: "backlog",
        handler: |lw, p, line| lw.proxy_backlog(p, line),
        uses: Use::Runs(&[("ClientSock.backlog", "server/listen.rs")]),
    },
    Keyword {
        name: "clitcpka-cnt",
        handler: |lw, p, line| lw.tcpka_param(p, line),
        uses: Use::Runs(&[("Keepalive.cnt", "sockopt.rs")]),
    },
    Keyword {
        name: "clitcpka-idle",
        handler: |lw, p, line| lw.tcpka_param(p, line),
        uses: Use::Runs(&[("Keepalive.idle", "sockopt.rs")]),
    },
    Keyword {
        name: "clitcpka-intvl",
        handler: |lw, p, line| lw.tcpka_param(p, line),
        uses: Use::Runs(&[("Keepalive.intvl", "sockopt.rs")]),
    },
    Keyword {
        name: "srvtcpka-cnt",
        handler: |lw, p, line| lw.tcpka_param(p, line),
        uses: Use::Runs(&[("Keepalive.cnt", "sockopt.rs")]),
    },
    Keyword {
        name: "srvtcpka-idle",
        handler: |lw, p, line| lw.tcpka_param(p, line),
        uses: Use::Runs(&[("Keepalive.idle", "sockopt.rs")]),
    },
    Keyword {
        name: "srvtcpka-intvl",
        handler: |lw, p, line| lw.tcpka_param(p, line),
        uses: Use::Runs(&[("Keepalive.intvl", "sockopt.rs")]),
    },
    Keyword {
        name: "timeout",
        handler: |lw, p, line| lw.timeout(p, line),
        uses: Use::Read,
    },
    Keyword {
        name: "maxconn",
        handler: |lw, p, line| lw.proxy_maxconn(p, line),
        uses: Use::Runs(&[("Frontend.maxconn", "limits.rs")]),
    },
    Keyword {
        name: "fullconn",
        handler: |lw, p, line| lw.fullconn(p, line),
        uses: Use::Runs(&[("Backend.fullconn", "limits.rs")]),
    },
    Keyword {
        name: "default_backend",
        handler: |lw, p, line| lw.default_backend(p, line),
        uses: Use::Runs(&[("Frontend.default_backend", "proxy.rs")]),
    },
    Keyword {
        name: "use_backend",
        handler: |lw, p, line| lw.use_backend(p, line),
        uses: Use::Runs(&[("Frontend.use_backends", "proxy.rs")]),
    },
    Keyword {
        name: "server",
        handler: |lw, p, line| lw.server(p, line),
        uses: Use::Runs(&[("Backend.servers", "generation/mod.rs")]),
    },
    Keyword {
        name: "default-server",
        handler: |lw, p, line| lw.server(p, line),
        uses: Use::Read,
    },
    Keyword {
        name: "source",
        handler: |lw, p, line| lw.source(p, line),
        uses: Use::Runs(&[("Server.source", "generation/mod.rs")]),
    },
    Keyword {
        name: "server-template",
        handler: |lw, p, line| lw.server(p, line),
        uses: Use::Runs(&[("Backend.servers", "generation/mod.rs")]),
    },
    Keyword {
        name: "cookie",
        handler: |lw, p, line| lw.cookie(p, line),
        uses: Use::Runs(&[("Backend.cookie", "proxy.rs")]),
    },
    Keyword {
        name: "stick",
        handler: |lw, p, line| lw.stick(p, line),
        uses: SERVER_RULES,
    },
    Keyword {
        name: "use-server",
        handler: |lw, p, line| lw.use_server(p, line),
        uses: SERVER_RULES,
    },
    Keyword {
        name: "force-persist",
        handler: |lw, p, line| lw.persist_rule(p, line),
        uses: SERVER_RULES,
    },
    Keyword {
        name: "ignore-persist",
        handler: |lw, p, line| lw.persist_rule(p, line),
        uses: SERVER_RULES,
    },
    Keyword {
        name: "hash-type",
        handler: |lw, p, line| lw.hash_type(p, line),
        uses: Use::Runs(&[("Backend.hash_type", "balance.rs")]),
    },
    Keyword {
        name: "load-server-state-from-file",
        handler: super::server_state::load_from_file,
        uses: Use::Read,
    },
    Keyword {
        name: "server-state-file-name",
        handler: super::server_state::file_name,
        uses: Use::Read,
    },
    Keyword {
        name: "hash-balance-factor",
        handler: |lw, p, line| lw.hash_balance_factor(p, line),
        uses: Use::Read,
    },
    Keyword {
        name: "http-reuse",
        handler: |lw, p, line| lw.http_reuse(p, line),
        uses: SERVER_RULES,
    },
    Keyword {
        name: "http-send-name-header",
        handler: |lw, p, line| lw.send_name_header(p, line),
        uses: SERVER_RULES,
    },
    Keyword {
        name: "balance",
        handler: |lw, p, line| lw.balance(p, line),
        uses: Use::Runs(&[("Backend.balance", "balance.rs")]),
    },
    Keyword {
        name: "retries",
        handler: |lw, p, line| lw.retries(p, line),
        uses: Use::Runs(&[("Backend.retry", "proxy.rs")]),
    },
    Keyword {
        name: "http-check",
        handler: |lw, p, line| lw.http_check(p, line),
        uses: Use::Runs(&[("Backend.checks", "generation/health.rs")]),
    },
    Keyword {
        name: "tcp-request",
        handler: |lw, p, line| lw.tcp_request(p, line),
        uses: Use::Runs(&[("Frontend.tcp_rules", "server/tcp.rs")]),
    },
    Keyword {
        name: "tcp-check",
        handler: |lw, p, line| lw.tcp_check(p, line),
        uses: Use::Runs(&[("Backend.checks", "generation/health.rs")]),
    },
    Keyword {
        name: "acl",
        handler: |lw, p, line| lw.acl(p, line),
        uses: Use::Runs(&[("Frontend.acls", "proxy.rs")]),
    },
    Keyword {
        name: "http-request",
        handler: |lw, p, line| lw.http_rule(p, line),
        uses: Use::Runs(&[("Frontend.http_request", "proxy.rs")]),
    },
    Keyword {
        name: "http-response",
        handler: |lw, p, line| lw.http_rule(p, line),
        uses: Use::Runs(&[("Frontend.http_response", "proxy.rs")]),
    },
    Keyword {
        name: "redirect",
        handler: |lw, p, line| lw.http_rule(p, line),
        uses: Use::Runs(&[("Frontend.redirects", "proxy.rs")]),
    },
    Keyword {
        name: "http-after-response",
        handler: |lw, p, line| lw.http_rule(p, line),
        uses: Use::Runs(&[("Frontend.http_after_response", "proxy.rs")]),
    },
    Keyword {
        name: "filter",
        handler: |lw, p, line| lw.filter(p, line),
        uses: Use::Runs(&[("Frontend.filters", "generation/mod.rs")]),
    },
    Keyword {
        name: "log-format",
        handler: |lw, p, line| lw.log_format(p, line),
        uses: Use::Runs(&[("Frontend.access_format", "proxy.rs")]),
    },
    Keyword {
        name: "unique-id-format",
        handler: |lw, p, line| lw.unique_id_format(p, line),
        uses: Use::Runs(&[("Frontend.unique_id_format", "proxy.rs")]),
    },
    Keyword {
        name: "unique-id-header",
        handler: |lw, p, line| lw.unique_id_header(p, line),
        uses: Use::Runs(&[("Frontend.unique_id_header", "proxy.rs")]),
    },
    Keyword {
        name: "errorfile",
        handler: |lw, p, line| lw.errorfile(p, line),
        uses: ERROR_PAGES,
    },
    Keyword {
        name: "errorloc",
        handler: |lw, p, line| lw.errorloc(p, line),
        uses: ERROR_PAGES,
    },
    Keyword {
        name: "errorloc302",
        handler: |lw, p, line| lw.errorloc(p, line),
        uses: ERROR_PAGES,
    },
    Keyword {
        name: "errorloc303",
        handler: |lw, p, line| lw.errorloc(p, line),
        uses: ERROR_PAGES,
    },
    Keyword {
        name: "errorfiles",
        handler: |lw, p, line| lw.errorfiles(p, line),
        uses: ERROR_PAGES,
    },
    Keyword {
        name: "http-error",
        handler: |lw, p, line| lw.http_error(p, line),
        uses: ERROR_PAGES,
    },
    Keyword {
        name: "compression",
        handler: |lw, p, line| lw.compression(p, line),
        uses: Use::Runs(&[
            ("Frontend.compression", "proxy.rs"),
            ("Backend.compression", "proxy.rs"),
        ]),
    },
    Keyword {
        name: "monitor-uri",
        handler: |lw, p, line| lw.monitor_uri(p, line),
        uses: Use::Runs(&[("Frontend.monitor_uri", "proxy.rs")]),
    },
    Keyword {
        name: "stats",
        handler: |lw, p, line| lw.stats(p, line),
        uses: Use::Runs(&[
            ("Frontend.stats", "proxy.rs"),
            ("StatsPage.uri", "stats_page/mod.rs"),
            ("StatsPage.realm", "stats_page/mod.rs"),
            ("StatsPage.users", "stats_page/mod.rs"),
            ("StatsPage.refresh", "stats_page/mod.rs"),
            ("StatsPage.admin", "proxy.rs"),
            ("StatsPage.hide_version", "stats_page/html.rs"),
            ("StatsPage.show_legends", "stats_page/html.rs"),
            ("StatsPage.show_node", "stats_page/html.rs"),
            ("StatsPage.show_desc", "stats_page/html.rs"),
            ("StatsPage.scope", "stats_page/mod.rs"),
        ]),
    },
    Keyword {
        name: "stick-table",
        handler: |lw, p, line| lw.stick_table(p, line),
        uses: Use::Runs(&[("GatewayConfig.tables", "generation/mod.rs")]),
    },
    Keyword {
        name: "capture",
        handler: |lw, p, line| lw.capture(p, line),
        uses: Use::Runs(&[("Frontend.captures", "capture.rs")]),
    },
    Keyword {
        name: "declare",
        handler: |lw, p, line| lw.declare(p, line),
        uses: Use::Runs(&[("Frontend.captures", "capture.rs")]),
    },
    Keyword {
        name: "clitimeout",
        handler: |lw, p, line| lw.removed_timeout(p, line),
        uses: Use::Read,
    },
    Keyword {
        name: "contimeout",
        handler: |lw, p, line| lw.removed_timeout(p, line),
        uses: Use::Read,
    },
    Keyword {
        name: "srvtimeout",
        handler: |lw, p, line| lw.removed_timeout(p, line),
        uses: Use::Read,
    },
];

/// Whether `word` is a keyword of proxy sections, run, ignored or refused by the gateway.
pub(super) fn is_keyword(word: &str) -> bool {
    find(KEYWORDS, word).is_some()
        || IGNORED_PROXY.iter().any(|(k, _)| *k == word)
        || HAPROXY_PROXY.contains(&word)
}

impl Lowerer<'_, '_> {
    pub(in crate::config) fn proxy_section(&mut self, section: &Section<Kind>) {
        let kind = section.kind;
        let keyword = kind.keyword();
        let header = &section.header;
        let span = section.span().clone();
        // `defaults [NAME] [from OTHER]`, `frontend NAME [from OTHER]`...
        let (name_word, from) = match (kind, header.arg_str(1)) {
            (Kind::Defaults, Some("from")) if header.words.len() == 3 => (None, header.arg(2)),
            (_, _) => {
                let name = header.arg(1);
                match header.arg(2) {
                    None => (name, None),
                    Some(w) if w.as_str() == "from" && header.words.len() == 4 => {
                        (name, header.arg(3))
                    }
                    Some(w) => {
                        let hint = if kind == Kind::Backend || kind == Kind::Defaults {
                            ""
                        } else {
                            " (listening addresses go on 'bind' lines)"
                        };
                        self.diag.error_msg(
                            w.span().clone(),
                            format!("'{keyword}' : unexpected argument '{}'{hint}", w.as_str()),
                        );
                        return;
                    }
                }
            }
        };
        if kind != Kind::Defaults && name_word.is_none() {
            self.diag
                .error_msg(span, format!("'{keyword}' expects an <id> argument"));
            return;
        }
        let name = name_word.map_or_else(String::new, |w| w.as_str().to_owned());
        if let Some(w) = name_word {
            self.check_name(w, keyword);
            if kind != Kind::Defaults {
                self.check_duplicate(kind, w);
            }
        }
        let Some(base) = self.defaults_for(kind, &name, from) else {
            return;
        };
        let mut proxy = Proxy::from_defaults(kind, name, span, &base);
        for line in &section.lines {
            self.proxy_line(&mut proxy, line);
        }
        if kind == Kind::Defaults {
            self.keep_defaults(proxy);
        } else {
            self.finish_proxy(&mut proxy);
            self.proxies.push(proxy);
        }
    }

    /// HAProxy's rule: two proxies with a frontend side, or two with a backend side, cannot
    /// share a name (a frontend and a backend can).
    fn check_duplicate(&mut self, kind: Kind, name: &Word) {
        let fe = matches!(kind, Kind::Frontend | Kind::Listen);
        let be = matches!(kind, Kind::Backend | Kind::Listen);
        let clash = self.proxies.iter().find(|p| {
            p.name == name.as_str() && ((fe && p.has_frontend()) || (be && p.has_backend()))
        });
        if let Some(first) = clash {
            let msg = format!(
                "{} '{}' has the same name as {} '{}' declared at {}",
                kind.keyword(),
                name.as_str(),
                first.kind.keyword(),
                first.name,
                first.span
            );
            self.diag.error_msg(name.span().clone(), msg);
        }
    }

    /// Checks that need the whole section.
    fn finish_proxy(&mut self, p: &mut Proxy) {
        self.missing_timeouts(p);
        self.check_capture_ids(p);
        if p.kind == Kind::Backend {
            return;
        }
        if (p.access_format.is_some() || p.log_format) && !p.log_lines {
            // HAProxy's words; the gateway's access line follows the same rule.
            self.diag.warn_msg(
                p.span.clone(),
                format!(
                    "log format ignored for {} '{}' since it has no log address",
                    if p.kind == Kind::Listen {
                        "proxy"
                    } else {
                        "frontend"
                    },
                    p.name
                ),
            );
        }
        if !p.has_bind {
            if p.kind == Kind::Listen && p.mode != Some(Mode::Http) {
                // A `listen` without `bind` in tcp mode only serves as a backend.
                return;
            }
            self.diag.warn_msg(
                p.span.clone(),
                format!(
                    "{} '{}' has no 'bind' directive. Please declare it as a backend if this was intended",
                    p.kind.keyword(),
                    p.name
                ),
            );
        }
    }

    /// HAProxy 2.6's warning (`check_config_validity()`): a frontend side without `timeout
    /// client`, a backend side with servers without `timeout connect` or `timeout server` (or,
    /// in tcp mode, `timeout tunnel`).
    fn missing_timeouts(&mut self, p: &Proxy) {
        let t = &p.timeouts;
        let fe = matches!(p.kind, Kind::Frontend | Kind::Listen);
        let be = matches!(p.kind, Kind::Backend | Kind::Listen);
        let http = p.mode == Some(Mode::Http);
        let missing = (fe && t.client.is_none())
            || (be
                && !p.servers.is_empty()
                && (t.connect.is_none() || (t.server.is_none() && (http || t.tunnel.is_none()))));
        if !missing || p.timeouts_unsure {
            return;
        }
        let kind = match p.kind {
            Kind::Listen => "proxy",
            other => other.keyword(),
        };
        self.diag.warn_msg(
            p.span.clone(),
            format!(
                "missing timeouts for {kind} '{}'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
                p.name
            ),
        );
    }

    fn proxy_line(&mut self, p: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        if let Some(keyword) = find(KEYWORDS, kw) {
            return (keyword.handler)(self, p, line);
        }
        if let Some((_, reason)) = IGNORED_PROXY.iter().find(|(k, _)| *k == kw) {
            p.log_format |= kw == "log-format-sd";
            self.diag.ignored(line.span().clone(), kw, reason);
        } else if HAPROXY_PROXY.contains(&kw) {
            self.diag.error_msg(
                line.span().clone(),
                format!(
                    "'{kw}' is not supported in a '{}' section by the gateway",
                    p.kind.keyword()
                ),
            );
        } else {
            let all = KEYWORDS
                .iter()
                .map(|k| k.name)
                .chain(IGNORED_PROXY.iter().map(|(k, _)| *k))
                .chain(HAPROXY_PROXY.iter().copied());
            // A misspelt `mode` leaves the proxy in the default mode: not a second error.
            p.mode_unsure |= spoe::config::did_you_mean(kw, ["mode"]).is_some();
            self.diag.error_msg(
                line.span().clone(),
                format!(
                    "unknown keyword '{kw}' in '{}' section{}",
                    p.kind.keyword(),
                    suggestion(kw, all)
                ),
            );
        }
    }

    /// `clitimeout`, `contimeout`, `srvtimeout`: removed from HAProxy.
    fn removed_timeout(&mut self, _: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        let replacement = match kw {
            "clitimeout" => "client",
            "contimeout" => "connect",
            _ => "server",
        };
        self.diag.error_msg(
            line.span().clone(),
            format!(
                "the '{kw}' directive is not supported anymore since HAProxy 2.1. Use 'timeout {replacement}'"
            ),
        );
    }

    fn mode(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "mode", "'http', 'tcp' or 'spop'");
        };
        if self.too_many(line, 1, "mode") {
            return;
        }
        // Until the line is right, what follows from the mode is not reported.
        p.mode_unsure = true;
        p.spop = false;
        p.mode = match word.as_str() {
            "http" => Some(Mode::Http),
            "tcp" => Some(Mode::Tcp),
            // HAProxy 3.1's mode of the agents' backend (its `cfgparse-listen.c` takes it where
            // the section has the backend capability), the same backend as 2.6's `mode tcp`.
            "spop" if p.kind != Kind::Frontend => {
                p.spop = true;
                Some(Mode::Tcp)
            }
            "spop" => {
                return self.diag.error_msg(
                    word.span().clone(),
                    "unknown proxy mode 'spop' ('mode spop' is for the backend of SPOE agents, HAProxy 3.1+)",
                );
            }
            "health" => {
                return self.diag.error_msg(
                    word.span().clone(),
                    "'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead",
                );
            }
            other => {
                return self
                    .diag
                    .error_msg(word.span().clone(), format!("unknown proxy mode '{other}'"));
            }
        };
        p.mode_unsure = false;
    }
}
