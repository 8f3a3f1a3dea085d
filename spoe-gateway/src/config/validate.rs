//! The checks HAProxy makes once every section is read (`check_config_validity()` in
//! `src/cfgparse.c`, `spoe_check()` and `check_send_spoe_group()` in `src/flt_spoe.c`), and
//! the split of each proxy into the model's frontends and backends.

use std::sync::Arc;

use spoe::config::Span;
use spoe::expr::AclSet;

use super::diag::Diag;
use super::grammar::Kind;
use super::logformat::Phase;
use super::lower::{Lowered, Proxy};
use crate::model::{Backend, Frontend, GatewayConfig, Mode, TcpAction};

/// Whether a `listen` section has a frontend half: it listens, or it is in `mode http` (a
/// `listen` in `mode tcp` without `bind` is a backend, such as the agents' one).
fn listen_is_frontend(p: &Proxy) -> bool {
    p.has_bind || p.mode == Some(Mode::Http)
}

fn is_frontend(p: &Proxy) -> bool {
    match p.kind {
        Kind::Frontend => true,
        Kind::Listen => listen_is_frontend(p),
        _ => false,
    }
}

fn mode_name(mode: Option<Mode>) -> &'static str {
    match mode {
        Some(Mode::Http) => "http",
        Some(Mode::Tcp) | None => "tcp",
    }
}

/// Runs the cross-section checks and builds the configuration.
pub(super) fn finish(lowered: Lowered, diag: &mut Diag) -> GatewayConfig {
    let Lowered {
        global,
        proxies,
        files,
        misplaced,
        lua,
        userlists,
        caches,
    } = lowered;
    let userlists = super::userlist::resolve(userlists, diag);
    let caches = super::cache::resolve(caches, &proxies, diag);
    let mut proxies = proxies;
    super::proxy::persist::resolve(&mut proxies, diag);
    let tables = super::track::resolve_tables(&mut proxies, diag);
    for p in proxies.iter().filter(|p| is_frontend(p)) {
        check_routes(p, &proxies, &misplaced, diag);
    }
    for p in proxies.iter().filter(|p| p.spop && is_frontend(p)) {
        diag.error_msg(
            p.span.clone(),
            format!(
                "{} '{}' : 'mode spop' is for the backend of SPOE agents only; the gateway runs no SPOP frontend",
                p.kind.keyword(),
                p.name
            ),
        );
    }
    for p in &mut proxies {
        default_realm(p);
    }
    for p in &proxies {
        check_filters(p, &proxies, &misplaced, diag);
        check_groups(p, diag);
        check_ports(p, diag);
    }
    super::server_track::check_tracks(&proxies, diag);

    // The SPOE agents' backends: their servers need a port of their own.
    let agent_backends: std::collections::BTreeSet<String> = proxies
        .iter()
        .flat_map(|p| &p.filters)
        .map(|f| f.config.agent.use_backend.value.clone())
        .collect();
    let mut frontends = Vec::new();
    let mut backends = Vec::new();
    for mut p in proxies {
        warn_forwardfor_in_tcp(&mut p, diag);
        let frontend_half = is_frontend(&p);
        let backend_half = matches!(p.kind, Kind::Backend | Kind::Listen);
        if backend_half {
            let mut backend = Backend {
                name: p.name.clone(),
                logs: p.logs.clone(),
                mode: p.mode.unwrap_or(Mode::Tcp),
                timeouts: p.timeouts,
                balance: p.balance.clone(),
                hash_type: p.choice.hash_type,
                servers: p
                    .servers
                    .iter()
                    .map(|(s, _)| {
                        let mut s = super::proxy::persist::pooled(s, p.choice.rules.reuse);
                        s.source = s.source.or(p.source);
                        s
                    })
                    .collect(),
                spop_check: p.spop_check,
                checks: p.checks.build(),
                all_backups: p.all_backups,
                retry: p.retry,
                fullconn: p.fullconn,
                http_buffer_request: p.http_buffer_request,
                forwardfor: p.forwardfor.clone(),
                originalto: p.originalto.clone(),
                http_mode: p.http_mode,
                cookie: p.cookie.clone().map(Arc::new),
                persist: p.persist,
                server_rules: Arc::new(crate::server_rules::ServerRules {
                    acls: if p.choice.rules.is_empty() {
                        AclSet::new()
                    } else {
                        p.acls.clone()
                    },
                    ..p.choice.rules.clone()
                }),
                server_sock: p.sock.server(),
                acls: AclSet::new(),
                http_request: Vec::new(),
                http_response: Vec::new(),
                http_after_response: Vec::new(),
                redirects: Vec::new(),
                filters: Vec::new(),
                errorfiles: Arc::new(p.errorfiles.clone()),
                compression: p.compression.clone().map(Arc::new),
                stats: None,
            };
            if backend.mode == Mode::Tcp && !p.choice.rules.is_empty() {
                diag.error_msg(
                    p.span.clone(),
                    format!(
                        "{} '{}' : 'stick', 'use-server', 'force-persist' and 'ignore-persist' are not supported by the gateway in 'mode tcp' (only in 'mode http')",
                        proxy_type(&p),
                        p.name
                    ),
                );
            }
            if !frontend_half {
                backend.stats = p.stats.clone().map(Arc::new);
                // A backend alone holds its rules; a `listen` runs them once, as a frontend.
                if backend.mode == Mode::Tcp {
                    warn_http_in_tcp(&p, diag);
                    refuse_h2_to_agents(&p, agent_backends.contains(&p.name), diag);
                } else {
                    backend.acls = p.acls.clone();
                    backend.http_request = p.http_request.clone();
                    backend.http_response = p.http_response.clone();
                    backend.http_after_response = p.http_after_response.clone();
                    backend.redirects = p.redirects.clone();
                }
                backend.filters = p.filters.clone();
            }
            backends.push(backend);
        }
        if frontend_half {
            let default_backend = p
                .default_backend
                .as_ref()
                .map(|b| b.value.clone())
                .or_else(|| (p.kind == Kind::Listen).then(|| p.name.clone()));
            if p.mode != Some(Mode::Http) && !p.mode_unsure {
                warn_http_in_tcp(&p, diag);
                refuse_in_tcp_frontend(&p, diag);
            }
            frontends.push(Frontend {
                mode: p.mode.unwrap_or(Mode::Tcp),
                name: p.name,
                binds: p.binds,
                bind_confs: p.bind_confs,
                ipv6_only: p.ipv6_only,
                bind_maxconn: p.bind_maxconn,
                listener_opts: p.listener_opts,
                client_sock: p.sock.client(),
                timeouts: p.timeouts,
                maxconn: p.maxconn,
                sess_rate: p.sess_rate,
                acls: p.acls,
                http_request: p.http_request,
                http_response: p.http_response,
                http_after_response: p.http_after_response,
                redirects: p.redirects,
                use_backends: p.use_backends.into_iter().map(|(u, _)| u).collect(),
                default_backend,
                tcp_rules: Arc::new(p.tcp_rules),
                filters: p.filters,
                http_buffer_request: p.http_buffer_request,
                access_format: p.access_format,
                log_options: p.log_options,
                logs: p.logs,
                unique_id_format: p.unique_id_format,
                unique_id_header: p.unique_id_header,
                monitor_uri: p.monitor_uri,
                errorfiles: Arc::new(p.errorfiles),
                compression: p.compression.map(Arc::new),
                stats: p.stats.map(Arc::new),
                forwardfor: p.forwardfor,
                originalto: p.originalto,
                http_mode: p.http_mode,
                captures: (!p.captures.request.is_empty() || !p.captures.response.is_empty())
                    .then(|| Arc::new(p.captures)),
            });
        }
    }
    super::userlist::check_fetches(
        frontends
            .iter()
            .map(|f| &f.acls)
            .chain(backends.iter().map(|b| &b.acls)),
        &userlists,
        diag,
    );
    GatewayConfig {
        global,
        frontends,
        backends,
        files,
        lua,
        tables,
        userlists: Arc::new(crate::auth::Userlists::new(userlists)),
        caches,
    }
}

/// `http-request auth` without `realm` asks for the proxy's name (`http_action_auth()`).
fn default_realm(p: &mut Proxy) {
    for rule in &mut p.http_request {
        if let crate::model::HttpAction::Auth { realm } = &mut rule.action
            && realm.is_empty()
        {
            realm.clone_from(&p.name);
        }
    }
}

/// A `mode tcp` backend's servers: `proto h2` is an error, as in HAProxy 2.6; the SPOE
/// agents' servers (`agents`) speak SPOP on their own port, so one without a port is an
/// error there too (a tcp proxy's server without a port takes the client's destination
/// port, as HAProxy's).
fn refuse_h2_to_agents(p: &Proxy, agents: bool, diag: &mut Diag) {
    for (server, span) in &p.servers {
        // The SPOE engine connects to the agents by itself, at the address read at start.
        let unsupported = [
            (server.dns.is_some(), "'resolvers' (run-time resolution)"),
            (
                server.fqdn.is_some() && server.addr.ip().is_unspecified(),
                "a server without an address ('init-addr none')",
            ),
            (
                server.source.or(p.source).is_some(),
                "'source' (the local address of the connections)",
            ),
        ];
        for (_, what) in unsupported.iter().filter(|(set, _)| agents && *set) {
            diag.error_msg(
                span.clone(),
                format!(
                    "'server {}' : {what} is not supported by the gateway on the SPOE agents' backend '{}'",
                    server.name, p.name
                ),
            );
        }
        if agents && server.port_offset.is_some() {
            diag.error_msg(
                span.clone(),
                format!(
                    "'server {}' : a server without a port (the client's destination port) is not supported by the gateway on a 'mode tcp' backend (the SPOE agents need their port)",
                    server.name
                ),
            );
        }
        if server.proto_h2 {
            diag.error_msg(
                span.clone(),
                format!(
                    "backend '{}' : MUX protocol 'h2' is not usable for server '{}'",
                    p.name, server.name
                ),
            );
        }
    }
}

/// HAProxy's `init_srv_check()`: a server without a port of its own (its port is the
/// client's) checks the port `port` or `tcp-check connect port` names, or cannot be checked.
fn check_ports(p: &Proxy, diag: &mut Diag) {
    let has_check_port = p.checks.port.is_some();
    for (server, span) in &p.servers {
        if server.check
            && server.port_offset.is_some()
            && server.probe.port.is_none()
            && !has_check_port
        {
            diag.error_msg(
                span.clone(),
                format!(
                    "{} '{}': server '{}' has neither service port nor check port",
                    p.kind.keyword(),
                    p.name,
                    server.name
                ),
            );
        }
    }
}

/// HAProxy ignores `option forwardfor` and `option originalto` in a tcp proxy, with a
/// warning (`check_config_validity()`).
fn warn_forwardfor_in_tcp(p: &mut Proxy, diag: &mut Diag) {
    if p.mode == Some(Mode::Http) || p.mode_unsure {
        return;
    }
    let kind = match p.kind {
        Kind::Listen => "proxy",
        other => other.keyword(),
    };
    let (ff, ot) = (p.forwardfor.take(), p.originalto.take());
    for (option, set) in [("forwardfor", ff.is_some()), ("originalto", ot.is_some())] {
        if set {
            diag.warn_msg(
                p.span.clone(),
                format!(
                    "'option {option}' ignored for {kind} '{}' as it requires HTTP mode",
                    p.name
                ),
            );
        }
    }
}

/// HAProxy ignores HTTP rules in a tcp backend, with a warning.
fn warn_http_in_tcp(p: &Proxy, diag: &mut Diag) {
    let why = if p.kind == Kind::Backend {
        "the backend is in 'mode tcp' and these rules require HTTP mode"
    } else {
        "the frontend is in 'mode tcp' and these rules require HTTP mode (HAProxy ignores them too)"
    };
    for (rules, kw) in [
        (&p.http_request, "http-request"),
        (&p.http_response, "http-response"),
        (&p.http_after_response, "http-after-response"),
        (&p.redirects, "redirect"),
    ] {
        if let Some(first) = rules.first() {
            diag.ignored(first.span.clone(), kw, why);
        }
    }
}

/// HAProxy's name of a proxy's kind in its messages (`proxy_type_str()`).
fn proxy_type(p: &Proxy) -> &'static str {
    match p.kind {
        Kind::Listen => "proxy",
        other => other.keyword(),
    }
}

/// What a `mode tcp` frontend cannot run in the gateway yet: an error naming it, never
/// accepted and ignored (SPOE filters on tcp events).
fn refuse_in_tcp_frontend(p: &Proxy, diag: &mut Diag) {
    for rule in &p.tcp_rules.content {
        if matches!(rule.action, TcpAction::SetVar { .. }) {
            diag.error_msg(
                rule.span.clone(),
                format!(
                    "'tcp-request content set-var' in {} '{}' is not supported by the gateway in 'mode tcp' (only in 'mode http' frontends)",
                    proxy_type(p),
                    p.name
                ),
            );
        }
    }
    for filter in &p.filters {
        diag.error_msg(
            filter.span.clone(),
            format!(
                "'filter spoe' in {} '{}' is not supported by the gateway in 'mode tcp' (its events 'on-client-session' and 'on-*-tcp-request' are not run on tcp connections)",
                proxy_type(p),
                p.name
            ),
        );
    }
}

/// `default_backend` and `use_backend` name an HTTP backend other than the proxy itself. A
/// backend a misplaced line would have declared (`misplaced`), or a mode that was itself
/// wrong, is not a second error.
fn check_routes(p: &Proxy, proxies: &[Proxy], misplaced: &[String], diag: &mut Diag) {
    let mut targets: Vec<(&str, &Span, &str)> = p
        .use_backends
        .iter()
        .filter(|(u, _)| u.format.is_none())
        .map(|(u, span)| (u.backend.as_str(), span, "use_backend"))
        .collect();
    if let Some(d) = &p.default_backend {
        targets.push((d.value.as_str(), &d.span, "default_backend"));
    }
    for (name, span, what) in targets {
        let target = proxies
            .iter()
            .find(|t| t.name == name && matches!(t.kind, Kind::Backend | Kind::Listen));
        let Some(target) = target else {
            if misplaced.iter().any(|m| m == name) {
                continue;
            }
            diag.error_msg(
                span.clone(),
                format!(
                    "{} '{}' : unable to find required {what}: '{name}'",
                    p.kind.keyword(),
                    p.name
                ),
            );
            continue;
        };
        if std::ptr::eq(target, p) {
            diag.error_msg(
                span.clone(),
                format!(
                    "{} '{}' : loop detected for {what}: '{name}'",
                    p.kind.keyword(),
                    p.name
                ),
            );
            continue;
        }
        let inspects = p.tcp_content_at.is_some() || p.tcp_rules.inspect_delay.is_some();
        if p.mode != Some(Mode::Http)
            && !p.mode_unsure
            && target.mode == Some(Mode::Http)
            && inspects
        {
            diag.error_msg(
                span.clone(),
                format!(
                    "{} '{}' : a 'mode tcp' frontend with 'tcp-request content' rules or 'tcp-request inspect-delay' using 'mode http' backend '{}' is not supported by the gateway",
                    p.kind.keyword(),
                    p.name,
                    target.name
                ),
            );
        }
        // A tcp frontend may use an http backend (HAProxy upgrades the connection to HTTP);
        // an http frontend may not use a tcp one, and no frontend an agents' `mode spop` one.
        if (p.mode == Some(Mode::Http) && target.mode != Some(Mode::Http) || target.spop)
            && !target.mode_unsure
            && !p.mode_unsure
        {
            let role = if what == "use_backend" {
                "in a 'use_backend' rule"
            } else {
                "as its default backend"
            };
            diag.error_msg(
                span.clone(),
                format!(
                    "{} {} '{}' ({}) tries to use incompatible {} {} '{}' ({}) {role} (see 'mode')",
                    mode_name(p.mode),
                    p.kind.keyword(),
                    p.name,
                    p.span,
                    if target.spop {
                        "spop"
                    } else {
                        mode_name(target.mode)
                    },
                    target.kind.keyword(),
                    target.name,
                    target.span
                ),
            );
        }
    }
}

/// Each filter's agents backend exists and is in `mode tcp`; engine names are unique in a
/// proxy.
fn check_filters(p: &Proxy, proxies: &[Proxy], misplaced: &[String], diag: &mut Diag) {
    for (i, filter) in p.filters.iter().enumerate() {
        if p.kind == Kind::Backend && p.mode != Some(Mode::Http) {
            diag.error_msg(
                filter.span.clone(),
                format!(
                    "'filter spoe' in backend '{}' is not supported by the gateway: the backend is not in 'mode http'",
                    p.name
                ),
            );
        }
        let id = filter.config.engine_id();
        if p.filters[..i].iter().any(|f| f.config.engine_id() == id) {
            diag.error_msg(
                filter.span.clone(),
                format!(
                    "{} '{}' : duplicated name for SPOE engine '{id}'",
                    p.kind.keyword(),
                    p.name
                ),
            );
        }
        // A backend that a misplaced line would have declared, or whose mode line was wrong,
        // counts as right: its error was reported.
        let backend_is_tcp = |name: &str| match proxies
            .iter()
            .find(|b| b.name == name && matches!(b.kind, Kind::Backend | Kind::Listen))
        {
            Some(b) => Some(b.mode != Some(Mode::Http) || b.mode_unsure),
            None => misplaced.iter().any(|m| m == name).then_some(true),
        };
        if let Err(errors) = filter.config.check_backend(backend_is_tcp) {
            diag.merge(&filter.span, errors.errors, errors.warnings);
        }
    }
}

/// `send-spoe-group ENGINE GROUP` names an engine of the proxy, a group its agent uses, and
/// messages whose arguments exist where the rule runs.
fn check_groups(p: &Proxy, diag: &mut Diag) {
    for r in &p.group_refs {
        let engine = r.engine.value.as_str();
        let group = r.group.value.as_str();
        let Some(filter) = p.filters.iter().find(|f| f.config.engine_id() == engine) else {
            if p.filter_failed {
                continue;
            }
            diag.error_msg(
                r.engine.span.clone(),
                format!(
                    "unable to find SPOE engine '{engine}' used by the send-spoe-group '{group}'"
                ),
            );
            continue;
        };
        let Some(g) = filter.config.agent.group(group) else {
            diag.error_msg(
                r.group.span.clone(),
                format!(
                    "unable to find SPOE group '{group}' into SPOE engine '{engine}' configuration"
                ),
            );
            continue;
        };
        let site = match r.phase {
            Phase::Request => "frontend http-request header rule",
            Phase::Response => "backend http-response header rule",
        };
        for msg in &g.messages {
            if let Some(arg) = msg.args.iter().find(|a| !r.phase.provides(a.expr.source())) {
                diag.error_msg(
                    r.span.clone(),
                    format!(
                        "Invalid SPOE message '{}' used by SPOE group '{group}' at {}: some args extract information from '{}', none of which is available here ('{site}')",
                        msg.name,
                        msg.span,
                        arg.expr.source().describe()
                    ),
                );
            }
        }
    }
}
