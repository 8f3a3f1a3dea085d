//! A generation's statistics lines: HAProxy's `stats_fill_fe_stats`,
//! `stats_fill_be_stats` and `stats_fill_sv_stats` for the gateway's
//! frontends, HTTP backends and their servers, from their counters and
//! their state now.

use std::sync::atomic::Ordering;

use super::{Admin, BackendRt, FrontendRt, Generation, ServerRt};
use crate::limits::{ConnLimits, Limit};
use crate::model::Mode;
use crate::stats::{CheckStatus, Counters, Field, ObjType, Row, ServerState, Value};

/// The fields every object type fills the same way from its counters.
fn common(row: &mut Row, c: &Counters) {
    row.num(Field::Scur, c.sessions.cur());
    row.num(Field::Smax, c.sessions.max());
    row.num(Field::Stot, c.cum_sess.get());
    row.num(Field::Bin, c.bytes_in.get());
    row.num(Field::Bout, c.bytes_out.get());
    row.num(Field::Dresp, c.denied_resp.get());
    row.num(Field::Pid, 1);
    row.num(Field::Rate, c.sess_rate.rate());
    row.num(Field::RateMax, c.sess_rate.max());
    for (field, class) in [
        (Field::Hrsp1xx, 1),
        (Field::Hrsp2xx, 2),
        (Field::Hrsp3xx, 3),
        (Field::Hrsp4xx, 4),
        (Field::Hrsp5xx, 5),
        (Field::HrspOther, 0),
    ] {
        row.num(field, c.rsp[class].get());
    }
    row.num(Field::ReqTot, c.cum_req.get());
    row.num(Field::Wrew, c.failed_rewrites.get());
    row.num(Field::Eint, c.internal_errors.get());
}

/// The fields backends and servers share: connections, errors, times.
fn upstream(row: &mut Row, c: &Counters) {
    row.num(Field::Econ, c.failed_conns.get());
    row.num(Field::Eresp, c.failed_resp.get());
    row.num(Field::Wretr, c.retries.get());
    row.num(Field::Wredis, c.redispatches.get());
    row.num(Field::Lbtot, c.cum_lbconn.get());
    row.num(Field::CliAbrt, c.cli_aborts.get());
    row.num(Field::SrvAbrt, c.srv_aborts.get());
    row.set(
        Field::Lastsess,
        Value::S64(
            c.last_session_age()
                .map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX)),
        ),
    );
    row.num(Field::Qtime, c.q_time.avg_ms());
    row.num(Field::Ctime, c.c_time.avg_ms());
    row.num(Field::Rtime, c.d_time.avg_ms());
    row.num(Field::Ttime, c.t_time.avg_ms());
    row.num(Field::QtimeMax, c.q_time.max_ms());
    row.num(Field::CtimeMax, c.c_time.max_ms());
    row.num(Field::RtimeMax, c.d_time.max_ms());
    row.num(Field::TtimeMax, c.t_time.max_ms());
    let connects = c.connect.get();
    row.num(Field::Connect, connects);
    row.num(Field::Reuse, c.forwards.get().saturating_sub(connects));
    row.num(Field::Lastchg, c.last_change_age());
}

/// Transitions to DOWN and the time spent DOWN: a backend's, and a checked
/// server's (a server without checks never goes down: HAProxy leaves them
/// empty).
fn downs(row: &mut Row, c: &Counters) {
    row.num(Field::Chkdown, c.chk_down.get());
    row.num(Field::Downtime, c.downtime());
}

/// Compression and cache: the gateway has neither.
const NO_COMPRESSION_NOR_CACHE: &[Field] = &[
    Field::CompIn,
    Field::CompOut,
    Field::CompByp,
    Field::CompRsp,
    Field::CacheLookups,
    Field::CacheHits,
];

/// The fields nothing in the gateway does, zero as in HAProxy without them.
fn none_of(row: &mut Row, fields: &[Field]) {
    for f in fields {
        row.num(*f, 0);
    }
}

impl Generation {
    /// One line per frontend, HTTP backend and server, in configuration
    /// order (each backend after its servers, as HAProxy lists them), with what was counted
    /// up to now; a frontend's sessions and limit are those `limits` counts
    /// and enforces (`maxconn`).
    pub(crate) fn stats_rows(&self, limits: &ConnLimits) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut iid = self.first_proxy_id() as u64 - 1;
        for f in &self.frontends {
            iid += 1;
            rows.push(frontend_row(f, iid, &limits.frontend(&f.model.name)));
        }
        for b in &self.config.backends {
            iid += 1;
            let Some(rt) = self.backends.get(&b.name) else {
                continue;
            };
            for s in &rt.servers {
                rows.push(server_row(rt, s, iid, u64::from(s.model.choice.id)));
            }
            rows.push(backend_row(rt, iid));
        }
        rows
    }
}

fn frontend_row(f: &FrontendRt, iid: u64, limit: &Limit) -> Row {
    let c = &f.counters;
    let mut row = Row::new(
        ObjType::Frontend,
        &f.model.name,
        "FRONTEND",
        f.model.mode == Mode::Http,
    );
    common(&mut row, c);
    // The connections `maxconn` counts, as HAProxy's `feconn` is both.
    row.num(Field::Scur, limit.current() as u64);
    row.num(Field::Smax, limit.peak() as u64);
    row.num(Field::Slim, limit.max() as u64);
    row.num(Field::Dreq, c.denied_req.get());
    row.num(Field::Ereq, c.failed_req.get());
    row.set(Field::Status, Value::Str("OPEN".to_owned()));
    row.num(Field::Iid, iid);
    row.num(Field::Sid, 0);
    row.num(Field::RateLim, 0);
    row.num(Field::ReqRate, c.req_rate.rate());
    row.num(Field::ReqRateMax, c.req_rate.max());
    row.num(Field::ConnRate, c.conn_rate.rate());
    row.num(Field::ConnRateMax, c.conn_rate.max());
    row.num(Field::ConnTot, c.cum_conn.get());
    row.num(Field::Intercepted, c.intercepted.get());
    none_of(&mut row, NO_COMPRESSION_NOR_CACHE);
    row.num(Field::Dcon, c.denied_conn.get());
    none_of(&mut row, &[Field::Dses]);
    row
}

fn backend_row(b: &BackendRt, iid: u64) -> Row {
    let c = &b.counters;
    let mut row = Row::new(
        ObjType::Backend,
        &b.model.name,
        "BACKEND",
        b.model.mode == Mode::Http,
    );
    common(&mut row, c);
    upstream(&mut row, c);
    downs(&mut row, c);
    let up: Vec<&ServerRt> = b
        .servers
        .iter()
        .map(|s| &**s)
        .filter(|s| s.usable())
        .collect();
    let backups = up.iter().filter(|s| s.model.probe.backup).count() as u64;
    let weight: u64 = up.iter().map(|s| u64::from(s.admin.weight())).sum();
    row.state = if up.is_empty() && !b.servers.is_empty() {
        ServerState::Down
    } else {
        ServerState::Up
    };
    row.num(Field::Qcur, c.queue.cur());
    row.num(Field::Qmax, c.queue.max());
    row.num(Field::Dreq, c.denied_req.get());
    row.set(
        Field::Status,
        Value::Str(
            match row.state {
                ServerState::Up => "UP",
                ServerState::Down => "DOWN",
            }
            .to_owned(),
        ),
    );
    row.num(Field::Weight, weight);
    row.num(Field::Uweight, weight);
    row.num(Field::Act, up.len() as u64 - backups);
    row.num(Field::Bck, backups);
    row.num(Field::Iid, iid);
    row.num(Field::Sid, 0);
    row.set(Field::Algo, Value::Str(b.model.balance.name().to_owned()));
    none_of(&mut row, NO_COMPRESSION_NOR_CACHE);
    row
}

fn server_row(b: &BackendRt, s: &ServerRt, iid: u64, sid: u64) -> Row {
    let c = &s.counters;
    let m = &s.model;
    let mut row = Row::new(
        ObjType::Server,
        &b.model.name,
        &s.name,
        b.model.mode == Mode::Http,
    );
    common(&mut row, c);
    upstream(&mut row, c);
    let up = s.up.load(Ordering::Relaxed);
    row.state = if up {
        ServerState::Up
    } else {
        ServerState::Down
    };
    row.num(Field::Qcur, c.queue.cur());
    row.num(Field::Qmax, c.queue.max());
    if let Some(max) = m.maxconn {
        row.num(Field::Slim, max as u64);
    }
    if m.maxqueue > 0 {
        row.num(Field::Qlimit, m.maxqueue as u64);
    }
    let status = match (s.admin.state(), m.check, up) {
        (Admin::Maint, _, _) if s.admin.resolution_maint() => "MAINT (resolution)",
        (Admin::Maint, _, _) => "MAINT",
        (Admin::Drain, _, true) => "DRAIN",
        (_, false, _) => "no check",
        (_, true, true) if s.stopping.load(Ordering::Relaxed) => "NOLB",
        (_, true, true) => "UP",
        (_, true, false) => "DOWN",
    };
    if s.admin.state() == Admin::Maint {
        row.state = ServerState::Down;
    }
    row.set(Field::Status, Value::Str(status.to_owned()));
    row.num(Field::Weight, u64::from(s.admin.weight()));
    row.num(Field::Uweight, u64::from(s.admin.weight()));
    row.num(Field::Act, u64::from(!m.probe.backup));
    row.num(Field::Bck, u64::from(m.probe.backup));
    row.num(Field::Iid, iid);
    row.num(Field::Sid, sid);
    row.set(Field::Addr, Value::Str(s.addr_now().to_string()));
    if m.check {
        let check = c.check();
        row.check = Some(check.status);
        downs(&mut row, c);
        row.num(Field::Chkfail, c.chk_fail.get());
        row.num(Field::CheckRise, u64::from(m.rise));
        row.num(Field::CheckFall, u64::from(m.fall));
        row.num(
            Field::CheckHealth,
            u64::from(s.health.load(Ordering::Relaxed)),
        );
        if check.status != CheckStatus::Unknown {
            row.set(
                Field::CheckStatus,
                Value::Str(check.status.name().to_owned()),
            );
            row.num(Field::CheckDuration, check.duration_ms);
            if let Some(code) = check.code {
                row.num(Field::CheckCode, u64::from(code));
            }
            row.set(
                Field::CheckDesc,
                Value::Str(check.status.reason().to_owned()),
            );
            row.set(Field::LastChk, Value::Str(check.desc));
        }
    }
    // HTTP/1: a request in progress holds one connection; the others are idle
    // in the pool, ready for reuse (hyper pools only connections that
    // completed an exchange: HAProxy's "safe" ones).
    let open = c.conns_open.cur();
    let used = c.sessions.cur().min(open);
    row.num(Field::UsedConnCur, used);
    row.num(Field::SrvIcur, open - used);
    row.num(Field::SafeConnCur, open - used);
    row.num(Field::IdleConnCur, 0);
    if let Some(max) = m.pool_max_conn {
        row.num(Field::SrcIlim, max as u64);
    }
    row
}
