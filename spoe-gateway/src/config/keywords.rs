//! Keyword tables: what the gateway accepts and ignores (with a warning, and why), and what
//! HAProxy 2.6 has but the gateway does not run (so that an error says "not supported" rather
//! than "unknown"). The HAProxy lists come from `src/cfgparse-global.c`,
//! `src/cfgparse-listen.c`, `src/proxy.c` and `src/server.c` of HAProxy 2.6.
//!
//! The keywords the gateway runs are the tables of [`Keyword`]s next to their handlers
//! (`global::KEYWORDS`, `proxy::KEYWORDS`): each says which model fields it fills and where
//! they are read at run time, so that a keyword parsed and then read by nothing cannot hide.

/// A keyword the gateway runs, with its handler `H`.
#[derive(Debug)]
pub(super) struct Keyword<H> {
    /// The keyword.
    pub(super) name: &'static str,
    /// What reads the line.
    pub(super) handler: H,
    /// What the gateway does with it.
    pub(super) uses: Use,
}

/// What the gateway does with a keyword it runs.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read by the keyword audit test")
)]
pub(super) enum Use {
    /// Fills model fields, each read at run time: `("Frontend.maxconn", "server.rs")` says
    /// that field `maxconn` of `Frontend` is read in `src/server.rs`.
    Runs(&'static [(&'static str, &'static str)]),
    /// Acts while the configuration is read, or is refused: nothing for the run time to read
    /// (`default-path`, `nbproc`...).
    Read,
    /// Accepted and not acted on: the handler warns with this reason.
    #[cfg_attr(
        test,
        allow(
            dead_code,
            reason = "no row of the tables is ignored today; the handlers and the README table still read this state"
        )
    )]
    Ignored(&'static str),
}

/// The keyword of `table` called `name`.
pub(super) fn find<'t, H>(table: &'t [Keyword<H>], name: &str) -> Option<&'t Keyword<H>> {
    table.iter().find(|k| k.name == name)
}

/// `; did you mean 'X' maybe ?` among every name given, as HAProxy 2.6 suggests; empty
/// without a close one.
pub(super) fn suggestion<'a>(kw: &str, all: impl Iterator<Item = &'a str>) -> String {
    spoe::config::did_you_mean(kw, all)
        .map(|s| format!("; did you mean '{s}' maybe ?"))
        .unwrap_or_default()
}

/// `global` keywords accepted with a warning.
pub(super) const IGNORED_GLOBAL: &[(&str, &str)] = &[
    ("quiet", "the gateway's output is set on its command line"),
    ("description", "informational only"),
    ("node", "informational only"),
    (
        "expose-experimental-directives",
        "the gateway has no experimental directive",
    ),
    (
        "spread-checks",
        "the gateway schedules health checks by itself",
    ),
    (
        "mworker-max-reloads",
        "the gateway is a single process that reloads in place",
    ),
];

/// Proxy keywords accepted with a warning (in `defaults`, `frontend`, `backend`, `listen`).
pub(super) const IGNORED_PROXY: &[(&str, &str)] = &[
    ("description", "informational only"),
    ("id", "proxy IDs are informational only"),
    ("enabled", "proxies are enabled by default"),
];

/// Options accepted with a warning: name, whether `no option` / `default option` is allowed
/// (HAProxy's rule), why it is ignored.
pub(super) const IGNORED_OPTIONS: &[(&str, bool, &str)] = &[(
    "http-no-delay",
    true,
    "the gateway never delays a send: TCP_NODELAY is set on every connection",
)];

/// Other `global` keywords of HAProxy 2.6 (reported as not supported rather than unknown).
pub(super) const HAPROXY_GLOBAL: &[&str] = &[
    "ca-base",
    "cluster-secret",
    "default-path",
    "external-check",
    "grace",
    "h1-accept-payload-with-any-method",
    "h1-case-adjust",
    "h1-case-adjust-file",
    "h2-workaround-bogus-websocket-clients",
    "httpclient.resolvers.id",
    "httpclient.resolvers.prefer",
    "httpclient.ssl.ca-file",
    "httpclient.ssl.verify",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "issuers-chain-path",
    // What a log pipeline receives would change: the syslog header's host name, the tag.
    "log-send-hostname",
    "log-tag",
    "maxcompcpuusage",
    "maxcomprate",
    "maxsslconn",
    "maxzlibmem",
    "pp2-never-send-local",
    "set-var",
    "set-var-fmt",
    "ssl-engine",
    "ssl-load-extra-files",
    "ssl-mode-async",
    "unix-bind",
];

/// Other proxy keywords of HAProxy 2.6 (reported as not supported rather than unknown).
pub(super) const HAPROXY_PROXY: &[&str] = &[
    "bind-process",
    "disabled",
    "dispatch",
    "dynamic-cookie-key",
    "email-alert",
    // What a log pipeline receives would change (RFC5424 structured data, the lines of
    // connection errors, the syslog tag).
    "error-log-format",
    "log-format-sd",
    "log-tag",
    "max-keep-alive-queue",
    "max-session-srv-conns",
    "monitor",
    "persist",
    "retry-on",
    "tcp-response",
    "transparent",
    "use-fcgi-app",
];

/// Options of HAProxy 2.6 the gateway does not implement (errors, not "unknown option").
pub(super) const HAPROXY_OPTIONS: &[&str] = &[
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "checkcache",
    "disable-h2-upgrade",
    "external-check",
    "h1-case-adjust-bogus-client",
    "h1-case-adjust-bogus-server",
    // Changes what is logged and counted for a connection that sends no request.
    "http-ignore-probes",
    "http-pretend-keepalive",
    "http-restrict-req-hdr-names",
    "http-use-proxy-header",
    "idle-close-on-response",
    // Changes when a tcp side's read timeout is renewed (by its own reads only).
    "independent-streams",
    // Logs at the response's headers, with partial timers and byte counts.
    "logasap",
    "original-to",
    // Adds a row per listening socket to the statistics.
    "socket-stats",
    "transparent",
];

/// Server keywords of HAProxy 2.6 the gateway does not implement, each with the number of
/// arguments it takes (`srv_kw_list` in `src/server.c`, `src/cfgparse-ssl.c`,
/// `src/backend.c`...), so that every one on a line is reported, not the first only. `source`
/// takes an address then optional `usesrc X` / `interface X`, read here as keywords.
pub(super) const HAPROXY_SERVER_KEYWORDS: &[(&str, usize)] = &[
    ("agent-addr", 1),
    ("agent-check", 0),
    ("agent-inter", 1),
    ("agent-port", 1),
    ("agent-send", 1),
    ("allow-0rtt", 0),
    ("alpn", 1),
    ("ca-file", 1),
    ("check-alpn", 1),
    ("check-proto", 1),
    ("check-sni", 1),
    ("check-ssl", 0),
    ("check-via-socks4", 0),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("crl-file", 1),
    ("crt", 1),
    ("disabled", 0),
    ("enabled", 0),
    ("error-limit", 1),
    ("force-sslv3", 0),
    ("force-tlsv10", 0),
    ("force-tlsv11", 0),
    ("force-tlsv12", 0),
    ("force-tlsv13", 0),
    ("id", 1),
    ("log-proto", 1),
    ("max-reuse", 1),
    ("namespace", 1),
    ("no-agent-check", 0),
    ("no-check-send-proxy", 0),
    ("no-check-ssl", 0),
    ("no-send-proxy-v2-ssl", 0),
    ("no-send-proxy-v2-ssl-cn", 0),
    ("no-ssl", 0),
    ("no-ssl-reuse", 0),
    ("no-sslv3", 0),
    ("no-tfo", 0),
    ("no-tls-tickets", 0),
    ("no-tlsv10", 0),
    ("no-tlsv11", 0),
    ("no-tlsv12", 0),
    ("no-tlsv13", 0),
    ("non-stick", 0),
    ("npn", 1),
    ("observe", 1),
    ("on-error", 1),
    ("pool-low-conn", 1),
    ("proto", 1),
    ("redir", 1),
    ("send-proxy-v2-ssl", 0),
    ("send-proxy-v2-ssl-cn", 0),
    ("slowstart", 1),
    ("sni", 1),
    ("socks4", 1),
    ("ssl", 0),
    ("ssl-max-ver", 1),
    ("ssl-min-ver", 1),
    ("ssl-reuse", 0),
    ("stick", 0),
    ("tcp-ut", 1),
    ("tfo", 0),
    ("tls-tickets", 0),
    ("usesrc", 1),
    ("verify", 1),
    ("verifyhost", 1),
    ("ws", 1),
    ("interface", 1),
];

/// `bind` keywords of HAProxy 2.6 (`bind_kw_list` in `src/listener.c`, `src/cfgparse-ssl.c`,
/// `src/cfgparse-tcp.c`, `src/cfgparse-unix.c`, `src/cli.c`...) with the number of arguments
/// each takes, so that every option on a line is reported, not the first only.
pub(super) const HAPROXY_BIND_KEYWORDS: &[(&str, usize)] = &[
    ("accept-netscaler-cip", 1),
    ("accept-proxy", 0),
    ("allow-0rtt", 0),
    ("alpn", 1),
    ("backlog", 1),
    ("ca-file", 1),
    ("ca-ignore-err", 1),
    ("ca-sign-file", 1),
    ("ca-sign-pass", 1),
    ("ca-verify-file", 1),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("crl-file", 1),
    ("crt", 1),
    ("crt-ignore-err", 1),
    ("crt-list", 1),
    ("curves", 1),
    ("defer-accept", 0),
    ("ecdhe", 1),
    ("expose-fd", 1),
    ("force-sslv3", 0),
    ("force-tlsv10", 0),
    ("force-tlsv11", 0),
    ("force-tlsv12", 0),
    ("force-tlsv13", 0),
    ("generate-certificates", 0),
    ("gid", 1),
    ("group", 1),
    ("id", 1),
    ("interface", 1),
    ("level", 1),
    ("maxconn", 1),
    ("mode", 1),
    ("mss", 1),
    ("name", 1),
    ("namespace", 1),
    ("nice", 1),
    ("no-ca-names", 0),
    ("no-sslv3", 0),
    ("no-tls-tickets", 0),
    ("no-tlsv10", 0),
    ("no-tlsv11", 0),
    ("no-tlsv12", 0),
    ("no-tlsv13", 0),
    ("npn", 1),
    ("prefer-client-ciphers", 0),
    ("process", 1),
    ("proto", 1),
    ("quic-force-retry", 0),
    ("severity-output", 1),
    ("shards", 1),
    ("ssl", 0),
    ("ssl-max-ver", 1),
    ("ssl-min-ver", 1),
    ("strict-sni", 0),
    ("tcp-ut", 1),
    ("tfo", 0),
    ("thread", 1),
    ("tls-ticket-keys", 1),
    ("transparent", 0),
    ("uid", 1),
    ("user", 1),
    ("v4v6", 0),
    ("v6only", 0),
    ("verify", 1),
];

/// The `bind` options the TLS reader (`ssl::bind_options`) leaves to `proxy/bind.rs`, with the
/// number of arguments each takes: the listening socket's options (`proxy/sockets.rs`) and those
/// that have nothing to change in a one-process gateway without Unix listeners.
pub(super) const BIND_SOCKET_KEYWORDS: &[(&str, usize)] = &[
    ("backlog", 1),
    ("defer-accept", 0),
    ("gid", 1),
    ("group", 1),
    ("id", 1),
    ("interface", 1),
    ("mode", 1),
    ("mss", 1),
    ("nice", 1),
    ("process", 1),
    ("shards", 1),
    ("tcp-ut", 1),
    ("tfo", 0),
    ("thread", 1),
    ("transparent", 0),
    ("uid", 1),
    ("user", 1),
];

/// What the error for a TLS version rustls does not have says (`force-sslv3`, `force-tlsv10`,
/// `force-tlsv11` on `bind` and `server` lines).
pub(super) const OLD_TLS: &[&str] = &["force-sslv3", "force-tlsv10", "force-tlsv11"];

/// The number of arguments keyword `name` of `table` takes, if HAProxy 2.6 has it.
pub(super) fn arity(table: &[(&str, usize)], name: &str) -> Option<usize> {
    table.iter().find(|(k, _)| *k == name).map(|(_, n)| *n)
}
