//! `server ... check [inter D] [fastinter D] [downinter D] [rise N] [fall N]` on an HTTP
//! backend: a check ([`probe`]: a TCP connect, its TLS handshake for an `ssl` or `check-ssl`
//! server, or `option httpchk`'s exchange) every interval, judged as HAProxy judges its
//! checks (its health counter), with its statistics and its log line for each change of
//! state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{ServerRt, probe};
use crate::log::LogRoute;
use crate::model::{CheckSpec, Timeouts};
use crate::stats::{CheckReport, CheckStatus, Counters};

/// HAProxy's health counter: from 0 to `rise + fall - 1`; the server is UP
/// from `rise`. A server starts UP but fragile (at `rise`: one failure takes
/// it down); a success while UP fills the counter, so that `fall` failures
/// in a row take it down, and `rise` successes bring it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    level: u32,
    rise: u32,
    fall: u32,
}

impl Health {
    pub(crate) fn new(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Self {
            level: rise,
            rise,
            fall,
        }
    }

    pub(crate) fn up(self) -> bool {
        self.level >= self.rise
    }

    /// Whether a failure now is counted (`chkfail`): only those that lower
    /// the health, not those of a server already down.
    pub(crate) fn failure_counts(self) -> bool {
        self.level > 0
    }

    /// Records a check; whether the state changed.
    pub(crate) fn record(&mut self, ok: bool) -> bool {
        let was = self.up();
        let full = self.rise + self.fall - 1;
        if ok {
            if self.level < full {
                self.level += 1;
                if self.level >= self.rise {
                    self.level = full;
                }
            }
        } else if self.level > self.rise {
            self.level -= 1;
        } else {
            self.level = 0;
        }
        self.up() != was
    }

    /// At full health (`rise + fall - 1`): checked every `inter`.
    pub(crate) fn full(self) -> bool {
        self.level == self.rise + self.fall - 1
    }

    /// HAProxy's `check_health` field.
    pub(crate) fn level(self) -> u32 {
        self.level
    }
}

/// What a backend's checks need from its configuration.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) backend: String,
    pub(crate) checks: CheckSpec,
    pub(crate) timeouts: Timeouts,
    /// The backend's `log` lines: where HAProxy sends these lines too.
    pub(crate) log: LogRoute,
}

/// Syslog levels of HAProxy's lines about servers.
const LOG_EMERG: u8 = 0;
const LOG_ALERT: u8 = 1;
const LOG_NOTICE: u8 = 5;

/// The address checked: the server's, with its `addr` and `port` (or the check rules'
/// `connect port`, which wins as in HAProxy's `tcpcheck_eval_connect()`).
fn target(server: &ServerRt, checks: &CheckSpec) -> SocketAddr {
    let probe = &server.model.probe;
    let ip = probe.addr.unwrap_or_else(|| server.addr_now().ip());
    let port = checks
        .port
        .or(probe.port)
        .unwrap_or_else(|| server.addr.port());
    SocketAddr::new(ip, port)
}

/// HAProxy's `srv_getinter()`: `inter` at full health, `downinter` when fully down,
/// `fastinter` in between (each falling back to `inter`).
fn interval(server: &ServerRt, health: Health) -> std::time::Duration {
    let m = &server.model;
    if health.full() {
        m.inter
    } else if health.level() == 0 {
        m.probe.downinter.unwrap_or(m.inter)
    } else {
        m.probe.fastinter.unwrap_or(m.inter)
    }
}

/// Checks `server` of a backend (whose servers are `siblings`) every interval, for as
/// long as its generation lives.
pub(crate) async fn check_server(
    plan: Arc<Plan>,
    server: Arc<ServerRt>,
    siblings: Vec<Arc<ServerRt>>,
    backend_counters: Arc<Counters>,
    // Passes a change on to the servers that track this one.
    on_change: impl Fn(&ServerRt),
) {
    let model = &server.model;
    let mut health = Health::new(model.rise, model.fall);
    server.health.store(health.level(), Ordering::Relaxed);
    // HAProxy's `check->status` before the first check (`INI`).
    let mut last_status = None;
    // With `timeout check`, the connect has min(`timeout connect`, `inter`) and the answer
    // `timeout check`; without, the whole check has `inter`.
    let limits = |inter| match plan.timeouts.check {
        Some(check) => probe::Limits {
            source: model.source,
            connect: plan.timeouts.connect.map_or(inter, |c| c.min(inter)),
            answer: Some(check),
        },
        None => probe::Limits {
            source: model.source,
            connect: inter,
            answer: None,
        },
    };
    loop {
        let inter = interval(&server, health);
        tokio::time::sleep(inter).await;
        let up = server.up.load(Ordering::Relaxed);
        let talk = match (&plan.checks.http, &plan.checks.proto) {
            (Some(http), _) => probe::Talk::Http(http, plan.checks.disable_on_404 && up),
            (None, Some(proto)) => probe::Talk::Proto(proto),
            (None, None) => probe::Talk::Connect,
        };
        // Each time: a server resolved at run time may have moved.
        let target = target(&server, &plan.checks);
        let report = probe::run(
            target,
            check_proxy_header(model),
            model.check_tls.as_deref(),
            talk,
            limits(inter),
        )
        .await;
        let ok = report.status.passed();
        if !ok && health.failure_counts() {
            server.counters.chk_fail.inc();
        }
        server.counters.checked(report.clone());
        let before = health;
        let mut changed = health.record(ok);
        log_check(&plan, &server, &report, before, health, &mut last_status);
        // HAProxy 2.6 counts a MySQL or LDAP pass twice (see `counts_pass_twice`).
        let twice = plan
            .checks
            .proto
            .as_ref()
            .is_some_and(|p| p.counts_pass_twice());
        if ok && twice {
            let before = health;
            changed |= health.record(ok);
            log_check(&plan, &server, &report, before, health, &mut last_status);
        }
        server.health.store(health.level(), Ordering::Relaxed);
        let backend_was_up = usable(&siblings);
        // A 404 with `disable-on-404` drains an up server; a pass brings it back.
        let stopping = report.status == CheckStatus::L7OkC;
        let was_stopping = server
            .stopping
            .swap(stopping && health.up(), Ordering::Relaxed);
        let drain_changed = health.up() && !changed && stopping != was_stopping;
        if changed {
            server.up.store(ok, Ordering::Relaxed);
        }
        if changed || was_stopping != (stopping && health.up()) {
            crate::generation::chosen::servers_changed();
        }
        if !changed && !drain_changed {
            continue;
        }
        if changed {
            server.counters.state_changed(ok);
        }
        // With `option log-health-checks` the check's own line said why: HAProxy leaves the
        // reason out of this one.
        let why = if plan.checks.log_health_checks {
            String::new()
        } else {
            format!(", reason: {}", check_status(&report))
        };
        log_change(&plan, &server, &why, &siblings, was_stopping);
        if changed {
            // After the line, whose "sessions active" counts them, as HAProxy's.
            cut_sessions_on_change(&server, &siblings, ok);
        }
        backend_changed(&plan, &siblings, &backend_counters, backend_was_up);
        on_change(&server);
    }
}

/// `on-marked-down shutdown-sessions`: a server going DOWN loses its sessions;
/// `on-marked-up shutdown-backup-sessions`: one coming UP cuts the backup servers'.
pub(super) fn cut_sessions_on_change(server: &ServerRt, siblings: &[Arc<ServerRt>], up: bool) {
    let probe = &server.model.probe;
    if !up && probe.down_cuts_sessions {
        server.cut_sessions();
    }
    if up && probe.up_cuts_backup_sessions {
        for backup in siblings.iter().filter(|s| s.model.probe.backup) {
            backup.cut_sessions();
        }
    }
}

/// Counts and says it when a backend's last server stopped taking requests, or the first
/// came back (`backend_was_up`: before the change).
pub(super) fn backend_changed(
    plan: &Plan,
    siblings: &[Arc<ServerRt>],
    counters: &Counters,
    backend_was_up: bool,
) {
    let backend_up = usable(siblings);
    if backend_up == backend_was_up {
        return;
    }
    counters.state_changed(backend_up);
    if !backend_up {
        let backend = &plan.backend;
        tracing::error!(backend = %backend, "backend '{backend}' has no server available!");
        plan.log.send(
            LOG_EMERG,
            &format_args!("backend {backend} has no server available!"),
        );
    }
}

/// Whether a server takes new requests now: up, not drained by its check, ready (not put in
/// maintenance or drained by the runtime API or the stats page), with a weight.
pub(crate) fn takes_requests(s: &ServerRt) -> bool {
    s.up.load(Ordering::Relaxed)
        && !s.stopping.load(Ordering::Relaxed)
        && s.admin.state() == super::Admin::Ready
        && s.admin.weight() > 0
}

/// The PROXY header of a server's checks: its own `send-proxy[-v2]` when they go to its
/// address (no `port`, no `addr`), or with `check-send-proxy` (version 1 unless the server
/// sends version 2), as HAProxy's `tcpcheck_eval_connect()` decides.
fn check_proxy_header(m: &crate::model::Server) -> Option<crate::proxy_proto::SendProxy> {
    let own_address = m.probe.port.is_none() && m.probe.addr.is_none();
    match m.send_proxy {
        Some(spec) if own_address || m.check_send_proxy => Some(spec),
        None if m.check_send_proxy => Some(crate::proxy_proto::SendProxy {
            v2: false,
            authority: false,
            unique_id: false,
        }),
        _ => None,
    }
}

/// Whether a server is running (HAProxy's `cur_state != SRV_ST_STOPPED`): up and not in
/// maintenance, draining or weightless included, as persistence reads it.
pub(crate) fn running(s: &ServerRt) -> bool {
    s.up.load(Ordering::Relaxed) && s.admin.state() != super::Admin::Maint
}

/// The servers of a backend that take requests now: the active ones up, or when none is,
/// the first backup up (every backup up with `option allbackups`), in configuration order
/// (`crate::balance` picks among them; a backend's line is served by them).
pub(crate) fn candidates_of(servers: &[Arc<ServerRt>], all_backups: bool) -> Vec<usize> {
    let backup = |i: &usize| servers[*i].model.probe.backup;
    let usable = |i: &usize| takes_requests(&servers[*i]);
    let all = 0..servers.len();
    let active: Vec<usize> = all.clone().filter(|i| !backup(i)).filter(usable).collect();
    if !active.is_empty() {
        return active;
    }
    let mut backups: Vec<usize> = all.filter(backup).filter(usable).collect();
    if !all_backups {
        backups.truncate(1);
    }
    backups
}

/// Whether a backend has a server to send requests to.
pub(super) fn usable(servers: &[Arc<ServerRt>]) -> bool {
    servers.iter().any(|s| takes_requests(s))
}

/// HAProxy's `srv_append_status()` figures: the active and backup servers taking requests.
fn online(siblings: &[Arc<ServerRt>]) -> (usize, usize) {
    let backup = |s: &&Arc<ServerRt>| s.model.probe.backup;
    let on = siblings.iter().filter(|s| takes_requests(s));
    let (bck, act): (Vec<_>, Vec<_>) = on.partition(backup);
    (act.len(), bck.len())
}

/// HAProxy's line for a server going UP, DOWN or stopping (draining); `why`: what the check
/// saw (`, reason: ...`), or the server it follows (` via BACKEND/SERVER`).
pub(super) fn log_change(
    plan: &Plan,
    server: &ServerRt,
    why: &str,
    siblings: &[Arc<ServerRt>],
    was_stopping: bool,
) {
    let backend = plan.backend.as_str();
    let (act, bck) = online(siblings);
    let role = if server.model.probe.backup {
        "Backup "
    } else {
        ""
    };
    let name = &server.name;
    let on_backup = if bck > 0 && act == 0 {
        " Running on backup."
    } else {
        ""
    };
    let sessions = server.active.load(Ordering::Relaxed);
    let queued = server.counters.queue.cur();
    let status = why;
    if !server.up.load(Ordering::Relaxed) {
        let line = format!(
            "{role}Server {backend}/{name} is DOWN{status}. \
             {act} active and {bck} backup servers left.{on_backup} {sessions} sessions active, \
             0 requeued, {queued} remaining in queue."
        );
        tracing::warn!(backend, server = %name, addr = %server.addr, up = false, "{line}");
        // No alert for a server that was draining.
        let level = if was_stopping { LOG_NOTICE } else { LOG_ALERT };
        plan.log.send(level, &line);
        return;
    }
    let state = if server.stopping.load(Ordering::Relaxed) {
        "stopping"
    } else {
        "UP"
    };
    let line = format!(
        "{role}Server {backend}/{name} is {state}{status}. \
         {act} active and {bck} backup servers online.{on_backup} 0 sessions requeued, \
         {queued} total in queue."
    );
    tracing::warn!(backend, server = %name, addr = %server.addr, up = true, "{line}");
    plan.log.send(LOG_NOTICE, &line);
}

/// HAProxy's `srv_append_status()` words for a check: its reason, code, info and duration.
fn check_status(report: &CheckReport) -> String {
    let code = match (report.status, report.code) {
        (CheckStatus::L7Ok | CheckStatus::L7OkC | CheckStatus::L7Sts, Some(c)) => {
            format!(", code: {c}")
        }
        _ => String::new(),
    };
    let info = if report.desc.is_empty() {
        String::new()
    } else {
        format!(", info: \"{}\"", report.desc)
    };
    let reason = report.status.reason();
    let ms = report.duration_ms;
    format!("{reason}{code}{info}, check duration: {ms}ms")
}

/// `option log-health-checks`: HAProxy's line for a check whose status differs from the last
/// one's or that moved the health counter (`set_server_check_status()`), with where the
/// counter stands.
fn log_check(
    plan: &Plan,
    server: &ServerRt,
    report: &CheckReport,
    before: Health,
    after: Health,
    last_status: &mut Option<CheckStatus>,
) {
    let moved = before.level() != after.level();
    let status_changed = *last_status != Some(report.status);
    *last_status = Some(report.status);
    if !plan.checks.log_health_checks || !(moved || status_changed) {
        return;
    }
    let role = if server.model.probe.backup {
        "backup "
    } else {
        ""
    };
    let outcome = match report.status {
        CheckStatus::L7OkC => "conditionally succeeded",
        s if s.passed() => "succeeded",
        _ => "failed",
    };
    let (level, rise, fall) = (after.level(), after.rise, after.fall);
    let standing = if after.up() {
        let state = if server.admin.weight() > 0 {
            "UP"
        } else {
            "DRAIN"
        };
        format!("{}/{fall} {state}", level - rise + 1)
    } else {
        format!("{level}/{rise} DOWN")
    };
    let line = format!(
        "Health check for {role}server {}/{} {outcome}, reason: {}, status: {standing}.",
        plan.backend,
        server.name,
        check_status(report),
    );
    tracing::warn!(backend = %plan.backend, server = %server.name, "{line}");
    plan.log.send(LOG_NOTICE, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_counter_is_haproxys() {
        // Starts up but fragile: one failure takes it down.
        let mut h = Health::new(2, 3);
        assert!(h.up());
        assert!(h.record(false));
        assert!(!h.up());
        // `rise` successes bring it back, filling the counter.
        assert!(!h.record(true));
        assert!(h.record(true));
        assert_eq!(h.level(), 4);
        // Then `fall` failures in a row take it down.
        assert!(!h.record(false));
        assert!(!h.record(false));
        assert!(h.record(false));
        assert_eq!(h.level(), 0);
        // A success while up refills it.
        let mut h = Health::new(2, 3);
        h.record(true);
        h.record(false);
        h.record(true);
        assert_eq!(h.level(), 4);
    }
}
