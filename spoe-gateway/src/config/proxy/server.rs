//! `server NAME ADDR [settings]`, `default-server [settings]` (`parse_server()` in
//! `src/server.c`) and `balance`.

use spoe::config::reader::{Line, Word};

use super::server_dns::DNS_SETTINGS;
use crate::config::addr::parse_server_address;
use crate::config::grammar::Kind;
use crate::config::keywords::{HAPROXY_SERVER_KEYWORDS, Keyword, Use, arity, find};
use crate::config::lower::{Lowerer, Proxy, ServerSettings};
use crate::config::ssl;
use crate::model::{Balance, Server};

/// The settings of `server` and `default-server` lines the gateway runs (`check` and
/// `no-check` are flags, the others take a value). A new one is a row here and an arm in
/// `server_settings`.
pub(in crate::config) const SERVER_SETTINGS: &[Keyword<()>] = &[
    Keyword {
        name: "tcp-ut",
        handler: (),
        uses: Use::Runs(&[("Server.user_timeout", "generation/mod.rs")]),
    },
    Keyword {
        name: "tfo",
        handler: (),
        uses: Use::Read,
    },
    Keyword {
        name: "no-tfo",
        handler: (),
        uses: Use::Read,
    },
    Keyword {
        name: "check",
        handler: (),
        uses: Use::Runs(&[("Server.check", "generation/mod.rs")]),
    },
    Keyword {
        name: "on-marked-down",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.down_cuts_sessions", "generation/health.rs")]),
    },
    Keyword {
        name: "on-marked-up",
        handler: (),
        uses: Use::Runs(&[(
            "ServerProbe.up_cuts_backup_sessions",
            "generation/health.rs",
        )]),
    },
    Keyword {
        name: "track",
        handler: (),
        uses: Use::Runs(&[("Server.track", "generation/track.rs")]),
    },
    Keyword {
        name: "no-check",
        handler: (),
        uses: Use::Runs(&[("Server.check", "generation/mod.rs")]),
    },
    Keyword {
        name: "inter",
        handler: (),
        uses: Use::Runs(&[("Server.inter", "generation/mod.rs")]),
    },
    Keyword {
        name: "rise",
        handler: (),
        uses: Use::Runs(&[("Server.rise", "generation/mod.rs")]),
    },
    Keyword {
        name: "fall",
        handler: (),
        uses: Use::Runs(&[("Server.fall", "generation/mod.rs")]),
    },
    Keyword {
        name: "fastinter",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.fastinter", "generation/health.rs")]),
    },
    Keyword {
        name: "downinter",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.downinter", "generation/health.rs")]),
    },
    Keyword {
        name: "port",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.port", "generation/health.rs")]),
    },
    Keyword {
        name: "addr",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.addr", "generation/health.rs")]),
    },
    Keyword {
        name: "backup",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.backup", "balance.rs")]),
    },
    Keyword {
        name: "no-backup",
        handler: (),
        uses: Use::Runs(&[("ServerProbe.backup", "balance.rs")]),
    },
    Keyword {
        name: "weight",
        handler: (),
        uses: Use::Runs(&[("Server.weight", "balance.rs")]),
    },
    Keyword {
        name: "maxconn",
        handler: (),
        uses: Use::Runs(&[("Server.maxconn", "generation/mod.rs")]),
    },
    Keyword {
        name: "minconn",
        handler: (),
        uses: Use::Runs(&[("Server.minconn", "generation/mod.rs")]),
    },
    Keyword {
        name: "maxqueue",
        handler: (),
        uses: Use::Runs(&[("Server.maxqueue", "generation/mod.rs")]),
    },
    Keyword {
        name: "pool-max-conn",
        handler: (),
        uses: Use::Runs(&[("Server.pool_max_conn", "generation/mod.rs")]),
    },
    Keyword {
        name: "check-ssl",
        handler: (),
        uses: Use::Runs(&[("Server.check_tls", "generation/health.rs")]),
    },
    Keyword {
        name: "no-check-ssl",
        handler: (),
        uses: Use::Runs(&[("Server.check_tls", "generation/health.rs")]),
    },
    Keyword {
        name: "cookie",
        handler: (),
        uses: Use::Runs(&[("Server.cookie", "proxy.rs")]),
    },
    Keyword {
        name: "send-proxy",
        handler: (),
        uses: Use::Runs(&[("Server.send_proxy", "proxy.rs")]),
    },
    Keyword {
        name: "send-proxy-v2",
        handler: (),
        uses: Use::Runs(&[("Server.send_proxy", "proxy.rs")]),
    },
    Keyword {
        name: "no-send-proxy",
        handler: (),
        uses: Use::Runs(&[("Server.send_proxy", "proxy.rs")]),
    },
    Keyword {
        name: "no-send-proxy-v2",
        handler: (),
        uses: Use::Runs(&[("Server.send_proxy", "proxy.rs")]),
    },
    Keyword {
        name: "proxy-v2-options",
        handler: (),
        uses: Use::Runs(&[("Server.send_proxy", "proxy.rs")]),
    },
    Keyword {
        name: "check-send-proxy",
        handler: (),
        uses: Use::Runs(&[("Server.check_send_proxy", "generation/health.rs")]),
    },
    Keyword {
        name: "id",
        handler: (),
        uses: Use::Runs(&[("ServerChoice.id", "persist.rs")]),
    },
    Keyword {
        name: "non-stick",
        handler: (),
        uses: Use::Runs(&[("ServerChoice.non_stick", "persist.rs")]),
    },
    Keyword {
        name: "stick",
        handler: (),
        uses: Use::Runs(&[("ServerChoice.non_stick", "persist.rs")]),
    },
    Keyword {
        name: "source",
        handler: (),
        uses: Use::Runs(&[("Server.source", "generation/mod.rs")]),
    },
    Keyword {
        name: "pool-purge-delay",
        handler: (),
        uses: Use::Runs(&[("Server.pool_purge_delay", "generation/mod.rs")]),
    },
];

impl Lowerer<'_, '_> {
    /// `server NAME ADDR:PORT [settings]` and `default-server [settings]`.
    pub(super) fn server(&mut self, p: &mut Proxy, line: &Line) {
        let kw = line.keyword();
        let is_default = kw == "default-server";
        if p.kind == Kind::Defaults && !is_default {
            return self.diag.error_msg(
                line.span().clone(),
                "'server' not allowed in 'defaults' section",
            );
        }
        if !p.has_backend() {
            return self.diag.error_msg(
                line.span().clone(),
                format!(
                    "'{kw}' not allowed because {} '{}' has no backend capability",
                    p.kind.keyword(),
                    p.name
                ),
            );
        }
        if kw == "server-template" {
            return self.server_template(p, line);
        }
        if is_default {
            let mut settings = p.server_settings.clone();
            if self.server_settings(&line.words[1..], kw, &mut settings) {
                p.server_settings = settings;
            }
            return;
        }
        let (Some(name), Some(addr)) = (line.arg(1), line.arg(2)) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'server' expects <name> and <addr>[:<port>] as arguments",
            );
        };
        if !self.check_name(name, "server") {
            return;
        }
        self.add_server(p, name.as_str(), name.span(), addr, &line.words[3..]);
    }

    /// Adds server `name` (at `at`) at `addr` with the settings `words` to `p`; `false` after
    /// an error.
    pub(super) fn add_server(
        &mut self,
        p: &mut Proxy,
        name: &str,
        at: &spoe::config::Span,
        addr: &Word,
        words: &[Word],
    ) -> bool {
        if let Some((_, first)) = p.servers.iter().find(|(s, _)| s.name == name) {
            let msg = format!(
                "{} '{}' : another server named '{}' was already defined at {first}, please use distinct names",
                p.kind.keyword(),
                p.name,
                name
            );
            self.diag.error_msg(at.clone(), msg);
            return false;
        }
        let label = format!("server {name}");
        let address = match parse_server_address(addr, &|name| self.env_var(name)) {
            Ok(a) => a,
            Err((offset, msg)) => {
                self.diag
                    .error_msg(addr.span_at(offset), format!("'{label}' : {msg}"));
                return false;
            }
        };
        let mut settings = p.server_settings.clone();
        if !self.server_settings(words, &label, &mut settings) {
            return false;
        }
        let port_offset = address.port_offset;
        let Some(start) = self.server_start(address, &settings, &label, at) else {
            return false;
        };
        let tls = match settings.tls.ssl || settings.check_ssl {
            false => None,
            true => {
                let at = settings.ssl_at.clone().unwrap_or_else(|| at.clone());
                let refused = self.ssl.refused_for(&settings.tls.options, true);
                if !refused.is_empty() {
                    for r in refused {
                        self.diag.error_msg(at.clone(), format!("'{label}' : {r}"));
                    }
                    return false;
                }
                let mut spec = settings.tls.clone();
                spec.options = spec.options.over(&self.ssl.server_defaults);
                match crate::tls::UpstreamTls::load(&spec) {
                    Ok(tls) => Some(std::sync::Arc::new(tls)),
                    Err(e) => {
                        self.diag.error_msg(at, format!("'{label}' : {e}"));
                        return false;
                    }
                }
            }
        };
        if settings.check && settings.track.is_some() {
            self.diag.error_msg(
                at.clone(),
                format!("'{label}' : unable to enable checks and tracking at the same time!"),
            );
            return false;
        }
        p.servers.push((
            Server {
                name: name.to_owned(),
                // Resolved against the other sections once all are read.
                track: settings.track.as_deref().map(|t| match t.rsplit_once('/') {
                    Some((backend, server)) => crate::model::Track {
                        backend: backend.to_owned(),
                        server: server.to_owned(),
                    },
                    None => crate::model::Track {
                        backend: p.name.clone(),
                        server: t.to_owned(),
                    },
                }),
                addr: start.addr,
                port_offset,
                check: settings.check,
                inter: settings.inter,
                rise: settings.rise,
                fall: settings.fall,
                weight: settings.weight,
                // HAProxy's `check_config_validity()`: `minconn` above `maxconn` (or
                // alone) becomes the `maxconn`; equal to it, there is no dynamic limit.
                maxconn: match settings.maxconn {
                    Some(max) if max >= settings.minconn => Some(max),
                    _ => Some(settings.minconn).filter(|n| *n > 0),
                },
                minconn: settings
                    .maxconn
                    .filter(|max| settings.minconn > 0 && settings.minconn < *max)
                    .map(|_| settings.minconn),
                maxqueue: settings.maxqueue,
                pool_max_conn: settings.pool_max_conn,
                pool_purge_delay: settings.pool_purge_delay,
                tls: tls.clone().filter(|_| settings.tls.ssl),
                // As HAProxy: an `ssl` server is checked in TLS unless its checks go to
                // another `port` or `addr`; `check-ssl` makes them TLS in every case.
                check_tls: tls.filter(|_| {
                    settings.check_ssl
                        || (settings.probe.port.is_none() && settings.probe.addr.is_none())
                }),
                proto_h2: settings.proto_h2,
                probe: settings.probe,
                cookie: settings.cookie,
                send_proxy: (settings.proxy_v1 || settings.proxy_v2).then_some(
                    crate::proxy_proto::SendProxy {
                        v2: settings.proxy_v2,
                        authority: settings.proxy_authority,
                        unique_id: settings.proxy_unique_id,
                    },
                ),
                check_send_proxy: settings.check_send_proxy,
                fqdn: start.fqdn,
                source: settings.source,
                dns: start.dns,
                choice: settings.choice,
                user_timeout: settings.user_timeout,
            },
            at.clone(),
        ));
        true
    }

    /// The settings after a server's address; `false` after an error.
    pub(super) fn server_settings(
        &mut self,
        words: &[Word],
        label: &str,
        s: &mut ServerSettings,
    ) -> bool {
        let mut i = 0;
        let mut ok = true;
        while let Some(word) = words.get(i) {
            let key = word.as_str();
            if key == "source" {
                match self.source_words(words, &mut i, label) {
                    Some(ip) => s.source = Some(ip),
                    None => return false,
                }
                i += 1;
                continue;
            }
            if find(DNS_SETTINGS, key).is_some() {
                if !self.dns_setting(words, &mut i, label, &mut s.dns) {
                    return false;
                }
                i += 1;
                continue;
            }
            if find(SERVER_SETTINGS, key).is_none() && !ssl::SERVER_TLS_SETTINGS.contains(&key) {
                // Every unsupported setting of the line is reported, not the first only: a
                // known one's arguments are skipped; after an unknown word, nothing can be
                // told apart.
                if let Some(n) = arity(HAPROXY_SERVER_KEYWORDS, key) {
                    self.diag.error_msg(
                        word.span().clone(),
                        format!(
                            "'{label}' : '{key}' is not supported by the gateway{}",
                            ssl::old_tls(key)
                        ),
                    );
                    ok = false;
                    i += n + 1;
                    continue;
                }
                self.diag.error_msg(
                    word.span().clone(),
                    format!("'{label}' : unknown keyword '{key}'"),
                );
                return false;
            }
            match key {
                "check" => s.check = true,
                "no-check" => s.check = false,
                "check-ssl" => s.check_ssl = true,
                "no-check-ssl" => s.check_ssl = false,
                "backup" => s.probe.backup = true,
                "send-proxy" => s.proxy_v1 = true,
                "send-proxy-v2" => s.proxy_v2 = true,
                "no-send-proxy" => s.proxy_v1 = false,
                "no-send-proxy-v2" => s.proxy_v2 = false,
                "check-send-proxy" => s.check_send_proxy = true,
                "proxy-v2-options" => {
                    let Some(value) = words.get(i + 1) else {
                        self.diag.error_msg(
                            word.span().clone(),
                            format!("'{label}' : 'proxy-v2-options' expects <options> as argument"),
                        );
                        return false;
                    };
                    for option in value.as_str().split(',') {
                        match option {
                            "authority" => s.proxy_authority = true,
                            "unique-id" => s.proxy_unique_id = true,
                            "ssl" | "cert-cn" | "cert-key" | "cert-sig" | "ssl-cipher"
                            | "crc32c" => {
                                self.diag.error_msg(
                                    value.span().clone(),
                                    format!(
                                        "'{label}' : proxy v2 option '{option}' is not supported by the gateway (only 'authority' and 'unique-id')"
                                    ),
                                );
                                ok = false;
                            }
                            other => {
                                self.diag.error_msg(
                                    value.span().clone(),
                                    format!(
                                        "'{label}' : '{other}' : proxy v2 option not implemented"
                                    ),
                                );
                                return false;
                            }
                        }
                    }
                    i += 1;
                }
                "cookie" => {
                    let Some(value) = words.get(i + 1) else {
                        self.diag.error_msg(
                            word.span().clone(),
                            format!("'{label}' : 'cookie' expects <value> as argument"),
                        );
                        return false;
                    };
                    s.cookie = Some(value.as_str().to_owned());
                    i += 1;
                }
                "no-backup" => s.probe.backup = false,
                "id" | "non-stick" | "stick" => {
                    if !self.server_choice(words, &mut i, label, &mut s.choice) {
                        return false;
                    }
                }
                "on-marked-down" | "on-marked-up" => {
                    let want = if key == "on-marked-down" {
                        "shutdown-sessions"
                    } else {
                        "shutdown-backup-sessions"
                    };
                    match words.get(i + 1).map(Word::as_str) {
                        Some(v) if v == want => {
                            if key == "on-marked-down" {
                                s.probe.down_cuts_sessions = true;
                            } else {
                                s.probe.up_cuts_backup_sessions = true;
                            }
                        }
                        got => {
                            self.diag.error_msg(
                                words.get(i + 1).unwrap_or(word).span().clone(),
                                format!(
                                    "'{label}' : '{key}' expects '{want}' but got '{}'",
                                    got.unwrap_or_default()
                                ),
                            );
                            return false;
                        }
                    }
                    i += 1;
                }
                "track" => {
                    let Some(value) = words.get(i + 1) else {
                        self.diag.error_msg(
                            word.span().clone(),
                            format!("'{label}' : 'track' expects [<proxy>/]<server> as argument"),
                        );
                        return false;
                    };
                    s.track = Some(value.as_str().to_owned());
                    i += 1;
                }
                "inter" | "rise" | "fall" | "weight" | "maxconn" | "minconn" | "maxqueue"
                | "pool-max-conn" | "pool-purge-delay" | "fastinter" | "downinter" | "port"
                | "addr" => {
                    let Some(value) = words.get(i + 1) else {
                        self.diag.error_msg(
                            word.span().clone(),
                            format!("'{label}' : '{key}' expects <value> as argument"),
                        );
                        return false;
                    };
                    let valid = match key {
                        "inter" | "fastinter" | "downinter" => match self.duration(value, key) {
                            Some(d) if !d.is_zero() => {
                                match key {
                                    "inter" => s.inter = d,
                                    "fastinter" => s.probe.fastinter = Some(d),
                                    _ => s.probe.downinter = Some(d),
                                }
                                true
                            }
                            Some(_) => {
                                self.diag.error_msg(
                                    value.span().clone(),
                                    format!("'{label}' : '{key}' has to be > 0"),
                                );
                                false
                            }
                            None => false,
                        },
                        "rise" | "fall" => match self.ranged(value, key, 1, i32::MAX as u64) {
                            Some(n) => {
                                let n = u32::try_from(n).unwrap_or(u32::MAX);
                                if key == "rise" {
                                    s.rise = n;
                                } else {
                                    s.fall = n;
                                }
                                true
                            }
                            None => false,
                        },
                        "weight" => match self.ranged(value, "weight", 0, 256) {
                            Some(n) => {
                                s.weight = u32::try_from(n).unwrap_or(256);
                                true
                            }
                            None => false,
                        },
                        // -1: unlimited, as in HAProxy (which reads the
                        // number with atol; a non-number is an error here).
                        "pool-max-conn" if value.as_str() == "-1" => {
                            s.pool_max_conn = None;
                            true
                        }
                        "pool-max-conn"
                            if value.as_str().starts_with('-')
                                && value.as_str()[1..].bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            self.diag.error_msg(
                                value.span().clone(),
                                format!(
                                    "'{label}' : 'pool-max-conn' must be >= -1, got '{}'",
                                    value.as_str()
                                ),
                            );
                            false
                        }
                        "pool-max-conn" => match self.ranged(value, key, 0, i32::MAX as u64) {
                            Some(n) => {
                                s.pool_max_conn = usize::try_from(n).ok();
                                true
                            }
                            None => false,
                        },
                        "port" => match self.ranged(value, key, 1, 65535) {
                            Some(n) => {
                                s.probe.port = u16::try_from(n).ok();
                                true
                            }
                            None => false,
                        },
                        "addr" => match value.as_str().parse::<std::net::IpAddr>() {
                            Ok(ip) => {
                                s.probe.addr = Some(ip);
                                true
                            }
                            Err(_) => {
                                self.diag.error_msg(
                                    value.span().clone(),
                                    format!(
                                        "'{label}' : 'addr' expects an IPv4 or IPv6 address, got '{}' (the gateway does not resolve names here)",
                                        value.as_str()
                                    ),
                                );
                                false
                            }
                        },
                        "pool-purge-delay" => match self.duration(value, key) {
                            Some(d) => {
                                s.pool_purge_delay = d;
                                true
                            }
                            None => false,
                        },
                        "minconn" | "maxqueue" => match self.ranged(value, key, 0, i32::MAX as u64)
                        {
                            Some(n) => {
                                let n = usize::try_from(n).unwrap_or(usize::MAX);
                                if key == "minconn" {
                                    s.minconn = n;
                                } else {
                                    s.maxqueue = n;
                                }
                                true
                            }
                            None => false,
                        },
                        _ => match self.ranged(value, "maxconn", 0, i32::MAX as u64) {
                            Some(n) => {
                                s.maxconn = usize::try_from(n).ok().filter(|n| *n > 0);
                                true
                            }
                            None => false,
                        },
                    };
                    if !valid {
                        return false;
                    }
                    i += 1;
                }
                // Connections are made without TCP Fast Open (the README's table says so).
                "tfo" | "no-tfo" => {}
                "tcp-ut" => {
                    if !self.server_user_timeout(s, label, word, words.get(i + 1)) {
                        return false;
                    }
                    i += 1;
                }
                key if ssl::SERVER_TLS_SETTINGS.contains(&key) => {
                    let bases = ssl::Bases {
                        dir: &self.base_dir,
                        global: &self.ssl,
                    };
                    let before = self.diag.error_count();
                    let at = i;
                    ssl::server_option(
                        words,
                        &mut i,
                        (&mut s.tls, &mut s.proto_h2),
                        bases,
                        self.diag,
                        label,
                    );
                    if key == "ssl" {
                        s.ssl_at = Some(words[at].span().clone());
                    }
                    if self.diag.error_count() != before {
                        ok = false;
                    }
                    continue;
                }
                key => {
                    // A row of SERVER_SETTINGS without its arm above (the audit test parses
                    // every row).
                    self.diag.error_msg(
                        word.span().clone(),
                        format!("'{label}' : '{key}' has no reader in the gateway"),
                    );
                    return false;
                }
            }
            i += 1;
        }
        ok
    }

    /// `balance ALGO [ARGS]`.
    pub(super) fn balance(&mut self, p: &mut Proxy, line: &Line) {
        const SUPPORTED: &str = "only 'roundrobin', 'leastconn', 'source', 'uri [whole]', 'hdr(name)' and 'random[(draws)]'";
        let Some(word) = line.arg(1) else {
            return self.missing(line, "balance", "an algorithm such as 'roundrobin'");
        };
        let algo = word.as_str();
        let mut max_args = 1;
        let balance = match algo {
            "roundrobin" => Balance::RoundRobin,
            "leastconn" => Balance::LeastConn,
            "source" => Balance::Source,
            "uri" => {
                let whole = line.arg_str(2) == Some("whole");
                if let Some(extra) = line.arg(2 + usize::from(whole)) {
                    return self.diag.error_msg(
                        extra.span().clone(),
                        format!(
                            "'balance uri' : '{}' is not supported by the gateway (only 'whole')",
                            extra.as_str()
                        ),
                    );
                }
                max_args += usize::from(whole);
                Balance::Uri { whole }
            }
            "random" => Balance::Random { draws: 2 },
            other if other.starts_with("random(") && other.ends_with(')') => {
                match other["random(".len()..other.len() - 1].parse::<u32>() {
                    Ok(draws) if draws > 0 => Balance::Random { draws },
                    _ => {
                        return self.diag.error_msg(
                            word.span().clone(),
                            format!(
                                "'balance random' expects a positive number of draws, got '{other}'"
                            ),
                        );
                    }
                }
            }
            other if other.starts_with("hdr(") && other.ends_with(')') && other.len() > 5 => {
                if let Some(extra) = line.arg(2) {
                    return self.diag.error_msg(
                        extra.span().clone(),
                        format!(
                            "'balance hdr' : '{}' is not supported by the gateway",
                            extra.as_str()
                        ),
                    );
                }
                Balance::Hdr(other["hdr(".len()..other.len() - 1].to_ascii_lowercase())
            }
            other
                if ["static-rr", "first", "url_param", "hash"].contains(&other)
                    || other.starts_with("hdr(")
                    || other.starts_with("rdp-cookie") =>
            {
                return self.diag.error_msg(
                    word.span().clone(),
                    format!("'balance {other}' is not supported by the gateway ({SUPPORTED})"),
                );
            }
            _ => {
                return self.diag.error_msg(
                    word.span().clone(),
                    "'balance' only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', \
                     'url_param', 'hash', 'hdr(name)', 'random' and 'rdp-cookie(name)' options",
                );
            }
        };
        if self.too_many(line, max_args, "balance") {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "balance");
        }
        p.balance = balance;
    }
}
