//! Golden tests of the `haproxy.cfg` parser: small snippets and the exact errors and warnings
//! they produce, `file:line:col` included. The `spoe.conf` files are under `tests/data/`
//! (printed as `$DATA` below, so that the expectations do not depend on the checkout's path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spoe_gateway::config::GatewayConfig;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Errors and warnings as printed, with the data directory replaced by `$DATA`.
fn diagnostics(text: &str) -> (Vec<String>, Vec<String>) {
    let dir = data_dir();
    let env = BTreeMap::from([("LISTEN".to_owned(), "127.0.0.1:8080".to_owned())]);
    let norm = |s: String| s.replace(dir.to_str().expect("utf-8 path"), "$DATA");
    match GatewayConfig::parse_str(text, "haproxy.cfg", &dir, Some(env)) {
        Ok((_, warnings)) => (
            Vec::new(),
            warnings.into_iter().map(|w| norm(w.to_string())).collect(),
        ),
        Err(e) => (
            e.errors.iter().map(|x| norm(x.to_string())).collect(),
            e.warnings.iter().map(|x| norm(x.to_string())).collect(),
        ),
    }
}

struct Case {
    name: &'static str,
    text: &'static str,
    errors: &'static [&'static str],
    warnings: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "resolvers, server-template and source: what is refused, by name",
        text: "\
resolvers dns
    nameserver ns1 tcp@127.0.0.1:53
    nameserver ns2 127.0.0.1
    hold sometimes 1s
    accepted_payload_size 100
defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
backend app
    source 127.0.0.1 usesrc clientip
    server s1 127.0.0.1:80 source 127.0.0.1:1024
    server s2 app.invalid:80 init-addr sometimes
    server-template web 0 app.invalid:80
    server-template srv 3 _http._tcp.app.invalid resolvers dns
    server s3 app.invalid:80 resolvers elsewhere init-addr none
    server s4 app.invalid:80 init-addr libc,none
    server s5 app.invalid:80 init-addr none
    server s6 app.invalid:80 init-addr last
",
        errors: &[
            "parsing [haproxy.cfg:2:20] : nameserver 'ns1' : 'tcp@127.0.0.1:53' : DNS over TCP is not supported by the gateway (UDP only)",
            "parsing [haproxy.cfg:3:20] : 'nameserver' : invalid address '127.0.0.1' (expected IP:PORT, UDP)",
            "parsing [haproxy.cfg:4:10] : 'hold' unknown <event>: 'sometimes', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'.",
            "parsing [haproxy.cfg:5:27] : 'accepted_payload_size' expects a positive integer argument in the range [512, 65535], got '100'",
            "parsing [haproxy.cfg:12:22] : 'source' : 'source ... usesrc' is not supported by the gateway (transparent proxying needs IP_TRANSPARENT and a policy routing set-up the gateway does not make)",
            "parsing [haproxy.cfg:13:35] : 'server s1' : 'source' : a fixed source port or range ('1024') is not supported by the gateway (it binds any port of '127.0.0.1')",
            "parsing [haproxy.cfg:14:40] : 'server s2' : 'init-addr' : unknown init-addr method 'sometimes', supported methods are 'libc', 'last', 'none'.",
            "parsing [haproxy.cfg:15:25] : 'server-template' : wrong range '0' (expects a number N, or LOW-HIGH with 1 <= LOW <= HIGH)",
            "parsing [haproxy.cfg:16:21] : 'server srv1' : '_http._tcp.app.invalid' : SRV records are not supported by the gateway (A and AAAA only)",
            "parsing [haproxy.cfg:17:40] : 'server s3' : unable to find required resolvers 'elsewhere'",
            "parsing [haproxy.cfg:20:12] : 'server s6' : no method found to resolve address 'app.invalid'.",
        ],
        warnings: &[
            "parsing [haproxy.cfg:18:12] : 'server s4' : could not resolve address 'app.invalid', disabling server.",
        ],
    },
    Case {
        name: "bad durations",
        text: "\
defaults
    mode http
    timeout client 5x
    timeout server 1mx
",
        errors: &[
            "parsing [haproxy.cfg:3:20] : 'timeout client' expects a duration such as 500ms, got '5x'",
        ],
        warnings: &[
            "parsing [haproxy.cfg:4:20] : unexpected character 'x' after the timer value '1mx', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported",
        ],
    },
    Case {
        name: "bind addresses",
        text: "\
frontend web
    mode http
    bind :70000
    bind 127.0.0.1
    bind [::1]:0
    bind unix@/run/gw.sock
    bind :8080 ssl crt /etc/cert.pem
",
        errors: &[
            "parsing [haproxy.cfg:3:11] : 'bind' : invalid port '70000' in ':70000'",
            "parsing [haproxy.cfg:4:19] : 'bind' : missing port specification in '127.0.0.1'",
            "parsing [haproxy.cfg:5:16] : 'bind' : invalid port '0' in '[::1]:0'",
            "parsing [haproxy.cfg:6:10] : 'bind' : 'unix@' addresses are not supported by the gateway (TCP over IPv4 or IPv6 only)",
            "parsing [haproxy.cfg:7:24] : 'bind' : unable to load SSL certificate from '/etc/cert.pem': No such file or directory (os error 2)",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "unknown and unsupported keywords",
        text: "\
frontend web
    mode http
    bind :80
    foo bar
    use-fcgi-app php
    email-alert level alert
",
        errors: &[
            "parsing [haproxy.cfg:4:5] : unknown keyword 'foo' in 'frontend' section",
            "parsing [haproxy.cfg:5:5] : 'use-fcgi-app' is not supported in a 'frontend' section by the gateway",
            "parsing [haproxy.cfg:6:5] : 'email-alert' is not supported in a 'frontend' section by the gateway",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "server choice: stick, use-server, persistence rules, ids",
        text: "\
defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
    stick on src
backend app
    stick-table type ip size 1k
    stick on src table nowhere
    stick match src
    stick store-response req.hdr(x) table app
    stick on src foo
    use-server s9 if TRUE
    use-server s1
    force-persist
    http-send-name-header
    server s1 127.0.0.1:8080 id 3
    server s2 127.0.0.1:8081 id 3 non-stick
backend tcp
    mode tcp
    use-server s1 if TRUE
    server s1 127.0.0.1:8080
frontend fe
    bind :80
    use-server s1 if TRUE
    default_backend app
",
        errors: &[
            "parsing [haproxy.cfg:6:5] : 'stick' not allowed in 'defaults' section.",
            "parsing [haproxy.cfg:9:5] : backend 'app': unable to find stick-table 'nowhere'.",
            "parsing [haproxy.cfg:11:26] : 'stick': fetch method 'req.hdr' extracts information from 'HTTP request headers', none of which is available for 'store-response'.",
            "parsing [haproxy.cfg:12:18] : 'stick': unknown keyword 'foo'.",
            "parsing [haproxy.cfg:13:16] : backend 'app' : unable to find server 's9' referenced in a 'use-server' rule.",
            "parsing [haproxy.cfg:14:5] : 'use-server' requires either 'if' or 'unless' followed by a condition.",
            "parsing [haproxy.cfg:15:5] : 'force-persist' requires either 'if' or 'unless' followed by a condition.",
            "parsing [haproxy.cfg:16:5] : 'http-send-name-header' requires a header field name.",
            "parsing [haproxy.cfg:18:12] : backend 'app' : server 's2' has the same ID (3) as server 's1'",
            "parsing [haproxy.cfg:19:1] : backend 'tcp' : 'stick', 'use-server', 'force-persist' and 'ignore-persist' are not supported by the gateway in 'mode tcp' (only in 'mode http')",
        ],
        warnings: &[
            "parsing [haproxy.cfg:25:5] : 'use-server' is accepted and ignored: a frontend has no backend capability",
        ],
    },
    Case {
        name: "hash-type: map-based runs, consistent is refused",
        text: "\
backend a
    hash-type consistent
    hash-type map-based md5
    hash-type map-based sdbm avalanche
    hash-balance-factor 50
",
        errors: &[
            "parsing [haproxy.cfg:2:15] : 'hash-type consistent' is not supported by the gateway (only 'map-based')",
            "parsing [haproxy.cfg:3:25] : 'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
            "parsing [haproxy.cfg:5:25] : 'hash-balance-factor' must be 0 or greater than 100.",
        ],
        warnings: &[],
    },
    Case {
        name: "stick tables: what is wrong, and what the gateway does not run",
        text: "\
peers local
    peer me 127.0.0.1:10000
peers cluster
    peer a 10.0.0.1:10000
    peer b 10.0.0.2:10000
defaults
    mode http
    timeout client 1s
    timeout connect 1s
    timeout server 1s
frontend web
    bind :80
    stick-table type ip expire 10s
    http-request track-sc0 src table nosuch
    http-request deny if { src_conn_rate gt 10 }
    http-request deny if { sc_http_req_rate(0,other) gt 10 }
    http-request sc-inc-gpc0(3)
    default_backend app
backend app
    stick-table type ip size 1k store bytes_in_rate(10s)
backend t1
    stick-table type foo size 1k
backend t2
    stick-table type ip size 1k store http_req_rate,conn_cur(1s)
backend t3
    stick-table type ip size 1k store foo peers nowhere
backend t4
    stick-table type string len 8 size 1k peers local store gpc0,gpc0 srvkey name
",
        errors: &[
            "parsing [haproxy.cfg:5:5] : peers section 'cluster': remote peer 'b' is not supported by the gateway (it does not synchronise stick tables between instances; a section whose only peer is this process keeps its tables across reloads)",
            "parsing [haproxy.cfg:13:5] : stick-table: missing size.",
            "parsing [haproxy.cfg:14:5] : 'track-sc0' : unable to find table 'nosuch' (a proxy with a 'stick-table' line)",
            "parsing [haproxy.cfg:15:28] : fetch method 'src_conn_rate' : no table in proxy 'web' (name one: 'src_conn_rate(TABLE)')",
            "parsing [haproxy.cfg:16:28] : fetch method 'sc_http_req_rate' : unable to find table 'other'",
            "parsing [haproxy.cfg:17:18] : 'http-request sc-inc-gpc0(3)' : invalid stick table track ID '3'. The max allowed ID is 2",
            "parsing [haproxy.cfg:20:39] : stick-table: store option 'bytes_in_rate' is not supported by the gateway",
            "parsing [haproxy.cfg:22:22] : stick-table: unknown type 'foo'.",
            "parsing [haproxy.cfg:24:39] : stick-table: missing argument to store option 'http_req_rate'.",
            "parsing [haproxy.cfg:26:39] : stick-table: unknown store option 'foo'.",
            "parsing [haproxy.cfg:28:71] : stick-table: 'srvkey' is not supported by the gateway (no 'server_key' is stored)",
        ],
        warnings: &[
            "parsing [haproxy.cfg:28:61] : stick-table: store option 'gpc0' already enabled, ignored.",
        ],
    },
    Case {
        name: "bind maxconn, as HAProxy reads it",
        text: "\
defaults
    mode http
    timeout client 1s
frontend f
    bind 127.0.0.1:18600 maxconn
    bind 127.0.0.1:18601 maxconn -1
    bind 127.0.0.1:18602 maxconn 5 ssl
    bind 127.0.0.1:18603 maxconn x
    http-request return status 200
",
        errors: &[
            "parsing [haproxy.cfg:5:26] : 'bind 127.0.0.1:18600' in section 'frontend' : 'maxconn' : missing value",
            "parsing [haproxy.cfg:6:34] : 'bind 127.0.0.1:18601' in section 'frontend' : 'maxconn' : invalid value -1, must be >= 0",
            "parsing [haproxy.cfg:7:36] : 'bind' : no certificate configured ('ssl' needs 'crt' or 'crt-list')",
        ],
        warnings: &[],
    },
    Case {
        name: "global section",
        text: "\
maxconn 10
global
    nbthread 100
    lua-load x.lua
    frobnicate
    log stdout format raw local0 info
    log stderr local0
    log 127.0.0.1:514 local0
    log stdout format nope local0
    log stdout badfacility
    maxconn abc
    hard-stop-after 10x
    nbproc 2
    default-path nowhere
    daemon
    user haproxy
",
        errors: &[
            "parsing [haproxy.cfg:1:1] : unknown keyword 'maxconn' out of section",
            "parsing [haproxy.cfg:3:14] : 'nbthread' expects a positive integer argument in the range [1, 64], got '100'",
            "parsing [haproxy.cfg:4:5] : error in Lua file '$DATA/x.lua': No such file or directory (os error 2)",
            "parsing [haproxy.cfg:5:5] : unknown keyword 'frobnicate' in 'global' section",
            "parsing [haproxy.cfg:9:23] : log : unknown log format 'nope'",
            "parsing [haproxy.cfg:10:16] : log : unknown log facility 'badfacility'",
            "parsing [haproxy.cfg:11:13] : 'maxconn' expects a positive integer argument, got 'abc'",
            "parsing [haproxy.cfg:12:21] : 'hard-stop-after' expects a duration such as 500ms, got '10x'",
            "parsing [haproxy.cfg:13:5] : 'nbproc' is not supported anymore since HAProxy 2.5; threads are enabled by default",
            "parsing [haproxy.cfg:14:18] : 'default-path' expects either 'current', 'config', 'parent' or 'origin', got 'nowhere'",
        ],
        warnings: &[],
    },
    Case {
        name: "duplicate proxy names",
        text: "\
frontend web
    mode http
    bind :80
backend web
    mode http
backend app
    mode http
listen app
    mode http
    bind :81
",
        errors: &[
            "parsing [haproxy.cfg:8:8] : listen 'app' has the same name as backend 'app' declared at haproxy.cfg:6:1",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:8:1] : missing timeouts for proxy 'app'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "routes to missing or tcp backends",
        text: "\
frontend web
    mode http
    bind :80
    use_backend nope if { path_beg /x }
    use_backend agents
    default_backend app
backend app
backend agents
    mode tcp
",
        errors: &[
            "parsing [haproxy.cfg:4:17] : frontend 'web' : unable to find required use_backend: 'nope'",
            "parsing [haproxy.cfg:5:17] : http frontend 'web' (haproxy.cfg:1:1) tries to use incompatible tcp backend 'agents' (haproxy.cfg:8:1) in a 'use_backend' rule (see 'mode')",
            "parsing [haproxy.cfg:6:21] : http frontend 'web' (haproxy.cfg:1:1) tries to use incompatible tcp backend 'app' (haproxy.cfg:7:1) as its default backend (see 'mode')",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "frontends in mode tcp, by default or said",
        text: "\
frontend plain
    bind :80
frontend tcp
    mode tcp
    bind :81
    http-request deny
frontend nobind
    mode http
",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'plain'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:3:1] : missing timeouts for frontend 'tcp'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:6:5] : 'http-request' is accepted and ignored: the frontend is in 'mode tcp' and these rules require HTTP mode (HAProxy ignores them too)",
            "parsing [haproxy.cfg:7:1] : missing timeouts for frontend 'nobind'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:7:1] : frontend 'nobind' has no 'bind' directive. Please declare it as a backend if this was intended",
        ],
    },
    Case {
        name: "server lines",
        text: "\
frontend web
    mode http
    bind :80
    server s1 127.0.0.1:80
backend app
    mode http
    server s1 127.0.0.1:80 weight 300
    server s2 127.0.0.1:81 rise 0
    server s3 127.0.0.1:82 backup slowstart 2s
    server s4 127.0.0.1:83 frob
    server s5 127.0.0.1:84 inter
    server s6 127.0.0.1 check
    server s7 127.0.0.1:86 check
    server s7 127.0.0.1:87
",
        errors: &[
            "parsing [haproxy.cfg:4:5] : 'server' not allowed because frontend 'web' has no backend capability",
            "parsing [haproxy.cfg:7:35] : 'weight' expects a positive integer argument in the range [0, 256], got '300'",
            "parsing [haproxy.cfg:8:33] : 'rise' expects a positive integer argument in the range [1, 2147483647], got '0'",
            "parsing [haproxy.cfg:9:35] : 'server s3' : 'slowstart' is not supported by the gateway",
            "parsing [haproxy.cfg:10:28] : 'server s4' : unknown keyword 'frob'",
            "parsing [haproxy.cfg:11:28] : 'server s5' : 'inter' expects <value> as argument",
            "parsing [haproxy.cfg:12:12] : backend 'app': server 's6' has neither service port nor check port",
            "parsing [haproxy.cfg:14:12] : backend 'app' : another server named 's7' was already defined at haproxy.cfg:13:12, please use distinct names",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:5:1] : missing timeouts for backend 'app'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "server pool settings",
        text: "\
backend app
    mode http
    default-server pool-max-conn -2
    server s1 127.0.0.1:80 pool-max-conn many
    server s2 127.0.0.1:81 pool-purge-delay -1
    server s3 127.0.0.1:82 pool-purge-delay 5x
    server s4 127.0.0.1:83 pool-max-conn
    server s5 127.0.0.1:84 pool-max-conn -1 pool-purge-delay 0
",
        errors: &[
            "parsing [haproxy.cfg:3:34] : 'default-server' : 'pool-max-conn' must be >= -1, got '-2'",
            "parsing [haproxy.cfg:4:42] : 'pool-max-conn' expects a positive integer argument, got 'many'",
            "parsing [haproxy.cfg:5:45] : 'pool-purge-delay' expects a duration such as 500ms, got '-1'",
            "parsing [haproxy.cfg:6:45] : 'pool-purge-delay' expects a duration such as 500ms, got '5x'",
            "parsing [haproxy.cfg:7:28] : 'server s4' : 'pool-max-conn' expects <value> as argument",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for backend 'app'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "acls and conditions",
        text: "\
frontend web
    mode http
    bind :80
    acl or path_beg /x
    acl bad nope(1)
    acl bad$ path /x
    acl ok path_beg /ok
    http-request deny if ok missing
    http-request deny if { path_beg /a
    acl empty path_beg
",
        errors: &[
            "parsing [haproxy.cfg:4:9] : acl name 'or' will never match. 'or' is used to express a logical disjunction within a condition",
            "parsing [haproxy.cfg:5:13] : error detected while parsing ACL 'bad' : unknown fetch method 'nope'",
            "parsing [haproxy.cfg:6:12] : character '$' is not permitted in 'acl' name 'bad$'",
            "parsing [haproxy.cfg:8:29] : error detected while parsing an 'http-request deny' condition : no such ACL : 'missing'",
            "parsing [haproxy.cfg:9:26] : error detected while parsing an 'http-request deny' condition : missing closing '}' in condition",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:10:15] : acl 'path_beg' : no pattern to match against were provided, so this ACL will never match. If this is what you intended, please add '--' to get rid of this warning. If you intended to match only for existence, please use '-m found'. If you wanted to force an int to match as a bool, please use '-m bool'",
        ],
    },
    Case {
        name: "http-request actions",
        text: "\
frontend web
    mode http
    bind :80
    http-request frobnicate
    http-request set-nice 5
    http-request deny deny_status 418
    http-request deny status 403 content-type text/plain string no
    http-request return string \"x\"
    http-request return status 204 content-type text/plain string x
    http-request redirect location /x code 304
    http-request redirect scheme https drop-query
    http-request use-service lua.foo
    http-request set-header X-Only
    http-request del-header X -m sub
    http-request set-header X-A %[src] foo
    http-response deny
    http-response return status 200
",
        errors: &[
            "parsing [haproxy.cfg:4:18] : 'http-request' expects 'deny', 'return', 'set-header', 'add-header', 'del-header', 'replace-header', 'replace-value', 'set-var(<var-name>)', 'send-spoe-group', 'set-log-level', 'redirect', 'use-service', 'silent-drop', 'allow', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'replace-path', 'replace-pathq', 'replace-uri', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'sc-set-gpt0', 'capture', 'auth', 'tarpit', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port' or 'cache-use', but got 'frobnicate'",
            "parsing [haproxy.cfg:5:18] : 'http-request set-nice' is not supported by the gateway (supported: 'deny', 'return', 'set-header', 'add-header', 'del-header', 'replace-header', 'replace-value', 'set-var(<var-name>)', 'send-spoe-group', 'set-log-level', 'redirect', 'use-service', 'silent-drop', 'allow', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'replace-path', 'replace-pathq', 'replace-uri', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'sc-set-gpt0', 'capture', 'auth', 'tarpit', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port' or 'cache-use')",
            "parsing [haproxy.cfg:6:35] : 'http-request deny' : status code '418' not handled by default with 'default-errorfiles' argument",
            "parsing [haproxy.cfg:8:18] : 'http-request return' : a content type must be defined when non-empty payload is configured",
            "parsing [haproxy.cfg:9:18] : 'http-request return' : No body expected for 204 responses",
            "parsing [haproxy.cfg:10:44] : 'http-request redirect' : 'code': unsupported HTTP code '304' (must be one of 301, 302, 303, 307 or 308)",
            "parsing [haproxy.cfg:12:30] : 'http-request use-service' : unknown service 'lua.foo' (no Lua service of that name registered)",
            "parsing [haproxy.cfg:13:18] : 'http-request set-header' : expects exactly 2 arguments",
            "parsing [haproxy.cfg:14:34] : 'http-request del-header' : '-m sub' is not supported by the gateway (only '-m str')",
            "parsing [haproxy.cfg:15:40] : 'http-request set-header' expects either 'if' or 'unless' followed by a condition but found 'foo'",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:11:5] : 'http-request redirect' is accepted and ignored: a previous rule is final and has no condition attached, further entries are NOOP",
            "parsing [haproxy.cfg:17:5] : 'http-response return' is accepted and ignored: a previous rule is final and has no condition attached, further entries are NOOP",
        ],
    },
    Case {
        name: "set-var",
        text: "\
frontend web
    mode http
    bind :80
    http-request set-var(foo.x) src
    http-request set-var(txn.x) res.hdr(a)
    http-request set-var(txn.x,ifexists) src
    http-request set-var(txn.y
    http-request set-var(txn.z)
    http-request set-var(txn.w) nope
    http-response set-var(txn.v) req.hdr(host)
    http-request set-var-fmt(txn.f) \"%[src]\"
",
        errors: &[
            "parsing [haproxy.cfg:4:26] : 'http-request set-var(foo.x)' : invalid variable name 'foo.x'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'",
            "parsing [haproxy.cfg:5:33] : 'http-request set-var(txn.x)' : fetch method 'res.hdr' extracts information from 'HTTP response headers', none of which is available here",
            "parsing [haproxy.cfg:6:32] : 'http-request set-var(txn.x,ifexists)' : set-var conditions ('ifexists') are not supported by the gateway",
            "parsing [haproxy.cfg:7:18] : 'http-request set-var(txn.y' : incomplete argument after action 'set-var(txn.y'. Expects 'set-var(<var-name>)', 'set-var-fmt(<var-name>)' or 'unset-var(<var-name>)'",
            "parsing [haproxy.cfg:8:18] : 'http-request set-var(txn.z)' : expects a sample expression",
            "parsing [haproxy.cfg:9:33] : 'http-request set-var(txn.w)' : unknown fetch method 'nope'",
            "parsing [haproxy.cfg:10:34] : 'http-response set-var(txn.v)' : fetch method 'req.hdr' extracts information from 'HTTP request headers', none of which is available here",
            "parsing [haproxy.cfg:11:18] : 'http-request set-var-fmt(txn.f)' is not supported by the gateway (supported: 'deny', 'return', 'set-header', 'add-header', 'del-header', 'replace-header', 'replace-value', 'set-var(<var-name>)', 'send-spoe-group', 'set-log-level', 'redirect', 'use-service', 'silent-drop', 'allow', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'replace-path', 'replace-pathq', 'replace-uri', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'sc-set-gpt0', 'capture', 'auth', 'tarpit', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port' or 'cache-use')",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "log-format strings",
        text: "\
frontend web
    mode http
    bind :80
    http-request set-header X-A \"%ci:%cp\"
    http-request set-header X-B \"50% off\"
    http-request add-header X-C \"%[res.hdr(server)]\"
    http-response set-header X-D \"%[req.hdr(host)]\"
    http-request set-header X-E \"%[req.hdr(host),nope]\"
    http-request set-header X-F \"%{+Q}[src]\"
    http-request set-header X-G \"100%\"
    http-request set-header X-H \"a%-b\"
",
        errors: &[
            "parsing [haproxy.cfg:4:34] : 'http-request set-header' : log-format variable '%ci' is not supported by the gateway; use '%[src]' instead",
            "parsing [haproxy.cfg:4:38] : 'http-request set-header' : log-format variable '%cp' is not supported by the gateway; use '%[src_port]' instead",
            "parsing [haproxy.cfg:5:36] : 'http-request set-header' : unexpected variable name near ' ' at position 3 line : '50% off'. Maybe you want to write a single '%', use the syntax '%%'",
            "parsing [haproxy.cfg:6:36] : 'http-request add-header' : sample fetch <res.hdr(server)> may not be reliably used here because it needs 'HTTP response headers' which is not available here",
            "parsing [haproxy.cfg:7:37] : 'http-response set-header' : sample fetch <req.hdr(host)> may not be reliably used here because it needs 'HTTP request headers' which is not available here",
            "parsing [haproxy.cfg:8:50] : 'http-request set-header' : failed to parse sample expression <req.hdr(host),nope> : unknown converter 'nope'",
            "parsing [haproxy.cfg:9:34] : 'http-request set-header' : log-format flags such as '%{+Q}' are not supported by the gateway",
            "parsing [haproxy.cfg:10:37] : 'http-request set-header' : truncated line after '%'",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:11:35] : a percent sign followed by a punctuation character is dropped (HAProxy drops it too); write '%%' for a literal one",
        ],
    },
    Case {
        name: "send-spoe-group",
        text: "\
frontend web
    mode http
    bind :80
    filter spoe engine ip config agents.conf
    http-request send-spoe-group nope req-group
    http-request send-spoe-group ip nope
    http-request send-spoe-group ip resp-group
    http-response send-spoe-group ip req-group
    http-request send-spoe-group ip
backend agents
    mode tcp
",
        errors: &[
            "parsing [haproxy.cfg:5:34] : unable to find SPOE engine 'nope' used by the send-spoe-group 'req-group'",
            "parsing [haproxy.cfg:6:37] : unable to find SPOE group 'nope' into SPOE engine 'ip' configuration",
            "parsing [haproxy.cfg:7:18] : Invalid SPOE message 'resp-msg' used by SPOE group 'resp-group' at $DATA/agents.conf:21:1: some args extract information from 'the HTTP response', none of which is available here ('frontend http-request header rule')",
            "parsing [haproxy.cfg:8:19] : Invalid SPOE message 'req-msg' used by SPOE group 'req-group' at $DATA/agents.conf:18:1: some args extract information from 'HTTP request headers', none of which is available here ('backend http-response header rule')",
            "parsing [haproxy.cfg:9:18] : 'http-request send-spoe-group' : expects 2 arguments: <engine-id> <group-id>",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "filter lines and spoe.conf errors",
        text: "\
frontend web
    mode http
    bind :80
    filter spoe engine ip config missing.conf
    filter spoe config broken.conf
    filter compression
    filter spoe engine ip
    filter spoe config
backend agents
    mode tcp
",
        errors: &[
            "parsing [haproxy.cfg:4:34] : 'filter spoe' : could not open configuration file $DATA/missing.conf : No such file or directory (os error 2)",
            "parsing [$DATA/broken.conf:3:24] : 'timeout processing' expects a duration such as 500ms, got '5x'",
            "parsing [haproxy.cfg:6:12] : filter 'compression' is not supported by the gateway (only 'spoe')",
            "parsing [haproxy.cfg:7:5] : 'spoe' : missing config file",
            "parsing [haproxy.cfg:8:17] : 'spoe' : 'config' option without value",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [$DATA/broken.conf:1:1] : missing timeouts for SPOE agent 'broken': 'hello', 'idle'. While not properly invalid, you will certainly encounter various problems with such a configuration; set them to a non-zero value",
        ],
    },
    Case {
        name: "agents backend in http mode",
        text: "\
frontend web
    mode http
    bind :80
    filter spoe config http-backend.conf
    default_backend app
backend app
    mode http
",
        errors: &[
            "parsing [$DATA/http-backend.conf:6:17] : backend 'app' used by SPOE agent 'misrouted' does not support HTTP mode",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "duplicate engine, missing agents backend",
        text: "\
frontend web
    mode http
    bind :80
    filter spoe engine ip config agents.conf
    filter spoe engine ip config agents.conf
    filter spoe engine waf config agents.conf
backend agents
    mode tcp
",
        errors: &[
            "parsing [haproxy.cfg:5:5] : frontend 'web' : duplicated name for SPOE engine 'ip'",
            "parsing [$DATA/agents.conf:37:17] : unknown backend 'waf-agents' used by SPOE agent 'waf-agent'",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "lexer errors and empty words",
        text: "\
frontend web
    mode http
    bind \"127.0.0.1:80
    bind \"${LISTEN}\" # from the environment
    http-request set-header X \"\\xZZ\"
    http-request set-header Y \"${UNSET_VAR}\" if TRUE
",
        errors: &[
            "parsing [haproxy.cfg:3:10] : unmatched quote",
            "parsing [haproxy.cfg:5:32] : truncated or invalid hexadecimal sequence",
            "parsing [haproxy.cfg:6:18] : 'http-request set-header' : expects exactly 2 arguments",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:6:46] : 'if' and the words after it are ignored: they follow an empty word, where HAProxy stops reading arguments",
        ],
    },
    Case {
        name: "missing LF on the last line",
        text: "frontend web\n    mode http\n    bind :80",
        errors: &[
            "parsing [haproxy.cfg:3:13] : missing LF on last line, file might have been truncated",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "preprocessor and modifiers",
        text: "\
.if defined(HOME)
global
    maxconn 10
.endif
.warning \"hello\"
frontend web
    mode http
    bind :80
    no option spop-check
    no option httplog
    no bind :81
    default option dontlognull
",
        errors: &[
            "parsing [haproxy.cfg:9:15] : negation is not supported for option 'spop-check'",
            "parsing [haproxy.cfg:10:15] : negation is not supported for option 'httplog'",
            "parsing [haproxy.cfg:11:5] : negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping",
        ],
        warnings: &[
            "parsing [haproxy.cfg:5:1] : 'hello'",
            "parsing [haproxy.cfg:6:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "timeouts",
        text: "\
defaults
    mode http
    timeout foo 1s
    timeout client
    timeout client 1s 2s
    timeout client 25d
    clitimeout 5s
frontend web
    bind :80
    timeout server 5s
    timeout check 5s
backend app
    timeout client 5s
    timeout tunnel 1h
",
        errors: &[
            "parsing [haproxy.cfg:3:13] : 'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'foo')",
            "parsing [haproxy.cfg:4:13] : 'timeout client' expects an integer value (in milliseconds)",
            "parsing [haproxy.cfg:5:23] : 'timeout client' : unexpected extra argument '2s' after value '1s'",
            "parsing [haproxy.cfg:6:20] : timer overflow in argument '25d' to 'timeout client', maximum value is 2147483647 ms (~24.8 days)",
            "parsing [haproxy.cfg:7:5] : the 'clitimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'",
        ],
        warnings: &[
            "parsing [haproxy.cfg:10:5] : 'timeout server' is accepted and ignored: a frontend has no backend capability",
            "parsing [haproxy.cfg:11:5] : 'timeout check' is accepted and ignored: a frontend has no backend capability",
            "parsing [haproxy.cfg:13:5] : 'timeout client' is accepted and ignored: a backend has no frontend capability",
        ],
    },
    Case {
        name: "named defaults and rules in defaults",
        text: "\
defaults base
    mode http
    timeout client 5s
defaults
    mode tcp
frontend web from nope
    bind :80
frontend web2 from base
    bind :81
    default_backend app
backend app from base
defaults
    acl x path /
    http-request deny
defaults named
    http-response del-header x
defaults twice
defaults twice
backend b from twice
",
        errors: &[
            "parsing [haproxy.cfg:6:19] : defaults section 'nope' not found for frontend 'web'",
            "parsing [haproxy.cfg:13:5] : 'acl' not allowed in anonymous 'defaults' section",
            "parsing [haproxy.cfg:14:5] : 'http-request' not allowed in anonymous 'defaults' section",
            "parsing [haproxy.cfg:16:5] : 'http-response' in a 'defaults' section is not supported by the gateway",
            "parsing [haproxy.cfg:19:16] : ambiguous defaults section name 'twice' referenced by backend 'b' exists at least at haproxy.cfg:17:1 and haproxy.cfg:18:1",
        ],
        warnings: &[],
    },
    Case {
        name: "listen loops to itself",
        text: "\
listen app
    mode http
    bind :80
    use_backend app
    server s1 127.0.0.1:8080
listen spoa
    mode tcp
    server a 127.0.0.1:12345
",
        errors: &[
            "parsing [haproxy.cfg:4:17] : listen 'app' : loop detected for use_backend: 'app'",
        ],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for proxy 'app'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:6:1] : missing timeouts for proxy 'spoa'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "directives without the needed capability",
        text: "\
frontend web
    mode http
    bind :80
    balance leastconn
    option spop-check
    timeout server 1s
backend app
    mode http
    bind :81
    use_backend x
    default_backend x
    maxconn 10
backend tcpbe
    mode tcp
    http-request set-header X y
    http-response set-header X y
",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:4:5] : 'balance' is accepted and ignored: a frontend has no backend capability",
            "parsing [haproxy.cfg:5:5] : 'option spop-check' is accepted and ignored: a frontend has no backend capability",
            "parsing [haproxy.cfg:6:5] : 'timeout server' is accepted and ignored: a frontend has no backend capability",
            "parsing [haproxy.cfg:9:5] : 'bind' is accepted and ignored: a backend has no frontend capability",
            "parsing [haproxy.cfg:10:5] : 'use_backend' is accepted and ignored: a backend has no frontend capability",
            "parsing [haproxy.cfg:11:5] : 'default_backend' is accepted and ignored: a backend has no frontend capability",
            "parsing [haproxy.cfg:12:5] : 'maxconn' is accepted and ignored: a backend has no frontend capability (maybe 'maxconn' on 'server' lines was meant)",
            "parsing [haproxy.cfg:15:5] : 'http-request' is accepted and ignored: the backend is in 'mode tcp' and these rules require HTTP mode",
            "parsing [haproxy.cfg:16:5] : 'http-response' is accepted and ignored: the backend is in 'mode tcp' and these rules require HTTP mode",
        ],
    },
    Case {
        name: "stats lines HAProxy refuses, and those the gateway does not run",
        text: "\
global
    stats socket /run/x.sock mode 600 level root
    stats socket ipv4@127.0.0.1:9999 accept-proxy x
    stats socket
    stats timeout 0
    stats bogus
defaults
    mode http
    timeout client 1s
    stats admin if TRUE
frontend web
    bind :80
    stats bogus
    stats admin TRUE
    stats auth nopassword
    stats http-request deny
    stats refresh 5x
",
        errors: &[
            "parsing [haproxy.cfg:2:45] : 'level' only supports 'user', 'operator', and 'admin'",
            "parsing [haproxy.cfg:3:38] : 'stats socket ... accept-proxy' is not supported by the gateway",
            "parsing [haproxy.cfg:3:51] : 'stats socket ... x' is not supported by the gateway",
            "parsing [haproxy.cfg:4:5] : 'stats socket' in global section expects an address or a path to a UNIX socket",
            "parsing [haproxy.cfg:5:19] : 'stats timeout' expects a positive value",
            "parsing [haproxy.cfg:6:5] : 'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'bogus')",
            "parsing [haproxy.cfg:10:5] : 'stats admin' not allowed in 'defaults' section.",
            "parsing [haproxy.cfg:13:11] : unknown stats parameter 'bogus', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'.",
            "parsing [haproxy.cfg:14:5] : 'stats admin' requires either 'if' or 'unless' followed by a condition.",
            "parsing [haproxy.cfg:15:5] : 'auth' needs a user:password account.",
            "parsing [haproxy.cfg:16:11] : 'stats http-request' is not supported by the gateway",
            "parsing [haproxy.cfg:17:19] : 'stats refresh' expects a duration such as 500ms, got '5x'",
        ],
        warnings: &[],
    },
    Case {
        name: "accepted and ignored directives",
        text: "\
global
    daemon
    pidfile /run/haproxy.pid
    stats socket /run/haproxy.sock mode 600 level admin
    chroot /var/empty
    group haproxy
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option forwardfor
    option http-keep-alive
    option http-server-close
    option redispatch
    retries 3
    errorfile 503 503.http
    log-format \"%ci %ST\"
    timeout client 1s
frontend web
    bind :80
    http-request return status 200 content-type text/plain
    http-request deny
    http-request deny
",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:18:5] : 'log-format' overrides previous 'option httplog' in 'defaults' section.",
            "parsing [haproxy.cfg:20:1] : log format ignored for frontend 'web' since it has no log address",
            "parsing [haproxy.cfg:22:49] : 'content-type text/plain' is accepted and ignored: the http reply has no payload (HAProxy ignores it too)",
            "parsing [haproxy.cfg:23:5] : 'http-request deny' is accepted and ignored: a previous rule is final and has no condition attached, further entries are NOOP",
            "parsing [haproxy.cfg:24:5] : 'http-request deny' is accepted and ignored: a previous rule is final and has no condition attached, further entries are NOOP",
        ],
    },
    Case {
        name: "conditions that never match where they are used",
        text: "\
frontend web
    mode http
    bind :80
    acl ok status 200
    http-request set-header X y if ok
    http-response set-header X y if { req.hdr(x) -m found }
    use_backend app if { res.hdr(y) -m found }
backend app
    mode http
",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:1:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
            "parsing [haproxy.cfg:5:33] : acl 'ok' will never match because it only involves keywords that are incompatible with 'frontend http-request header rule'",
            "parsing [haproxy.cfg:6:34] : anonymous acl will never match because it uses keyword 'req.hdr' which is incompatible with 'frontend http-response header rule'",
            "parsing [haproxy.cfg:7:21] : anonymous acl will never match because it uses keyword 'res.hdr' which is incompatible with 'frontend use-backend rule'",
        ],
    },
    Case {
        name: "many errors at once",
        text: "\
global
    nbthread 65
frontend web
    mode http
    bind :8080
    bind :99999
    timeout client soon
    use_backend ghost
    http-request set-var(txn.a) nope
backend app
    balance random-ish
    server s1 127.0.0.1:80 weight -1
",
        errors: &[
            "parsing [haproxy.cfg:2:14] : 'nbthread' expects a positive integer argument in the range [1, 64], got '65'",
            "parsing [haproxy.cfg:6:11] : 'bind' : invalid port '99999' in ':99999'",
            "parsing [haproxy.cfg:7:20] : 'timeout client' expects a duration such as 500ms, got 'soon'",
            "parsing [haproxy.cfg:8:17] : frontend 'web' : unable to find required use_backend: 'ghost'",
            "parsing [haproxy.cfg:9:33] : 'http-request set-var(txn.a)' : unknown fetch method 'nope'",
            "parsing [haproxy.cfg:11:13] : 'balance' only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hash', 'hdr(name)', 'random' and 'rdp-cookie(name)' options",
            "parsing [haproxy.cfg:12:35] : 'weight' expects a positive integer argument, got '-1'",
        ],
        warnings: &[],
    },
    Case {
        name: "unsupported sections and scopes",
        text: "\
mailers alerts
    mailer smtp1 127.0.0.1:25
[scope]
mailers mta
    mailer smtp1 127.0.0.1:25
frontend web
    mode http
    bind :80
",
        errors: &[
            "parsing [haproxy.cfg:1:1] : 'mailers' sections are not supported by the gateway",
            "parsing [haproxy.cfg:4:1] : 'mailers' sections are not supported by the gateway",
        ],
        warnings: &[
            "parsing [haproxy.cfg:3:1] : '[scope]' is accepted and ignored: scopes only select sections of SPOE files",
            "parsing [haproxy.cfg:6:1] : missing timeouts for frontend 'web'. While not properly invalid, you will certainly encounter various problems with such a configuration; set 'client', 'connect' and 'server' to a non-zero value",
        ],
    },
    Case {
        name: "option httplog: a frontend's, no clf",
        text: "\
defaults
    mode http
    option httplog
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend web
    bind :80
    option httplog clf
    default_backend be
backend be
    option httplog
    server s 127.0.0.1:81
",
        errors: &[],
        warnings: &[
            "parsing [haproxy.cfg:7:1] : log format ignored for frontend 'web' since it has no log address",
            "parsing [haproxy.cfg:12:5] : 'option httplog' is accepted and ignored: it is ignored in backends (the frontend's log format is used)",
        ],
    },
];

#[test]
fn golden_cases() {
    assert!(CASES.len() >= 20);
    let mut failures = Vec::new();
    for case in CASES {
        let (errors, warnings) = diagnostics(case.text);
        if errors != case.errors || warnings != case.warnings {
            failures.push(format!(
                "case '{}':\n  errors:   {errors:#?}\n  expected: {:#?}\n  warnings: {warnings:#?}\n  expected: {:#?}",
                case.name, case.errors, case.warnings
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn errors_display_one_per_line() {
    let text = "frontend web\n    mode http\n    bind :0\n    bind :1-0\n";
    let errors = GatewayConfig::parse_str(text, "gw.cfg", Path::new("."), None).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "parsing [gw.cfg:3:11] : 'bind' : invalid port '0' in ':0'\n\
         parsing [gw.cfg:4:13] : 'bind' : invalid port '0' in ':1-0'"
    );
    assert_eq!(errors.len(), 2);
}

#[test]
fn unreadable_file() {
    let path = data_dir().join("no-such-haproxy.cfg");
    let errors = GatewayConfig::from_file(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors
            .to_string()
            .replace(data_dir().to_str().unwrap(), "$DATA"),
        "parsing [$DATA/no-such-haproxy.cfg] : cannot read '$DATA/no-such-haproxy.cfg': No such file or directory (os error 2)"
    );
}
