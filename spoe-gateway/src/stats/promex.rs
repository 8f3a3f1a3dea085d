//! The Prometheus exporter's `haproxy_frontend_*`, `haproxy_backend_*` and
//! `haproxy_server_*` families, written from [`Row`]s as HAProxy 2.6's
//! `service-prometheus.c` writes them from its stats fields: the same names,
//! labels (`proxy`, `server`, and `state` / `code` where HAProxy has them),
//! types, help texts and units (times in seconds), families in the same
//! order, HTTP-only families left out of other proxies.
//!
//! The text is OpenMetrics, as the rest of the gateway's metrics: a counter
//! family is announced without its `_total` suffix, which its samples keep,
//! so the series are HAProxy's (`haproxy_frontend_sessions_total`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::counters::CheckStatus;
use super::fields::Field;
use super::rows::{ObjType, Row, ServerState};

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count since the process started.
    Counter,
}

const FE: u8 = 1;
const BE: u8 = 2;
const SRV: u8 = 4;

/// One family of HAProxy's exporter: the field it shows, its name after
/// `haproxy_<object>_`, its type and the objects that have it.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The stats field.
    pub field: Field,
    /// The name after `haproxy_frontend_` (`_backend_`, `_server_`).
    pub name: &'static str,
    /// Gauge or counter.
    pub kind: Kind,
    scopes: u8,
}

const fn fam(field: Field, name: &'static str, kind: Kind, scopes: u8) -> Family {
    Family {
        field,
        name,
        kind,
        scopes,
    }
}

/// HAProxy 2.6.12's families, in its order (`promex_st_metrics`).
pub const FAMILIES: &[Family] = &[
    fam(Field::Qcur, "current_queue", Kind::Gauge, BE | SRV),
    fam(Field::Qmax, "max_queue", Kind::Gauge, BE | SRV),
    fam(Field::Scur, "current_sessions", Kind::Gauge, FE | BE | SRV),
    fam(Field::Smax, "max_sessions", Kind::Gauge, FE | BE | SRV),
    fam(Field::Slim, "limit_sessions", Kind::Gauge, FE | BE | SRV),
    fam(Field::Stot, "sessions_total", Kind::Counter, FE | BE | SRV),
    fam(Field::Bin, "bytes_in_total", Kind::Counter, FE | BE | SRV),
    fam(Field::Bout, "bytes_out_total", Kind::Counter, FE | BE | SRV),
    fam(Field::Dreq, "requests_denied_total", Kind::Counter, FE | BE),
    fam(
        Field::Dresp,
        "responses_denied_total",
        Kind::Counter,
        FE | BE | SRV,
    ),
    fam(Field::Ereq, "request_errors_total", Kind::Counter, FE),
    fam(
        Field::Econ,
        "connection_errors_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::Eresp,
        "response_errors_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::Wretr,
        "retry_warnings_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::Wredis,
        "redispatch_warnings_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(Field::Status, "status", Kind::Gauge, FE | BE | SRV),
    fam(Field::Weight, "weight", Kind::Gauge, BE | SRV),
    fam(Field::Act, "active_servers", Kind::Gauge, BE),
    fam(Field::Bck, "backup_servers", Kind::Gauge, BE),
    fam(Field::Chkfail, "check_failures_total", Kind::Counter, SRV),
    fam(
        Field::Chkdown,
        "check_up_down_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::Lastchg,
        "check_last_change_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::Downtime,
        "downtime_seconds_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(Field::Qlimit, "queue_limit", Kind::Gauge, SRV),
    fam(Field::Throttle, "current_throttle", Kind::Gauge, SRV),
    fam(Field::Lbtot, "loadbalanced_total", Kind::Counter, BE | SRV),
    fam(Field::RateLim, "limit_session_rate", Kind::Gauge, FE),
    fam(
        Field::RateMax,
        "max_session_rate",
        Kind::Gauge,
        FE | BE | SRV,
    ),
    fam(Field::CheckStatus, "check_status", Kind::Gauge, SRV),
    fam(Field::CheckCode, "check_code", Kind::Gauge, SRV),
    fam(
        Field::CheckDuration,
        "check_duration_seconds",
        Kind::Gauge,
        SRV,
    ),
    fam(
        Field::Hrsp1xx,
        "http_responses_total",
        Kind::Counter,
        FE | BE | SRV,
    ),
    fam(Field::ReqRateMax, "http_requests_rate_max", Kind::Gauge, FE),
    fam(Field::ReqTot, "http_requests_total", Kind::Counter, FE | BE),
    fam(
        Field::CliAbrt,
        "client_aborts_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::SrvAbrt,
        "server_aborts_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::CompIn,
        "http_comp_bytes_in_total",
        Kind::Counter,
        FE | BE,
    ),
    fam(
        Field::CompOut,
        "http_comp_bytes_out_total",
        Kind::Counter,
        FE | BE,
    ),
    fam(
        Field::CompByp,
        "http_comp_bytes_bypassed_total",
        Kind::Counter,
        FE | BE,
    ),
    fam(
        Field::CompRsp,
        "http_comp_responses_total",
        Kind::Counter,
        FE | BE,
    ),
    fam(
        Field::Lastsess,
        "last_session_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::Qtime,
        "queue_time_average_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::Ctime,
        "connect_time_average_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::Rtime,
        "response_time_average_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::Ttime,
        "total_time_average_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(Field::ConnRateMax, "connections_rate_max", Kind::Gauge, FE),
    fam(Field::ConnTot, "connections_total", Kind::Counter, FE),
    fam(
        Field::Intercepted,
        "intercepted_requests_total",
        Kind::Counter,
        FE,
    ),
    fam(Field::Dcon, "denied_connections_total", Kind::Counter, FE),
    fam(Field::Dses, "denied_sessions_total", Kind::Counter, FE),
    fam(
        Field::Wrew,
        "failed_header_rewriting_total",
        Kind::Counter,
        FE | BE | SRV,
    ),
    fam(
        Field::Connect,
        "connection_attempts_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::Reuse,
        "connection_reuses_total",
        Kind::Counter,
        BE | SRV,
    ),
    fam(
        Field::CacheLookups,
        "http_cache_lookups_total",
        Kind::Counter,
        FE | BE,
    ),
    fam(
        Field::CacheHits,
        "http_cache_hits_total",
        Kind::Counter,
        FE | BE,
    ),
    fam(Field::SrvIcur, "idle_connections_current", Kind::Gauge, SRV),
    fam(Field::SrcIlim, "idle_connections_limit", Kind::Gauge, SRV),
    fam(
        Field::QtimeMax,
        "max_queue_time_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::CtimeMax,
        "max_connect_time_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::RtimeMax,
        "max_response_time_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::TtimeMax,
        "max_total_time_seconds",
        Kind::Gauge,
        BE | SRV,
    ),
    fam(
        Field::Eint,
        "internal_errors_total",
        Kind::Counter,
        FE | BE | SRV,
    ),
    fam(
        Field::IdleConnCur,
        "unsafe_idle_connections_current",
        Kind::Gauge,
        SRV,
    ),
    fam(
        Field::SafeConnCur,
        "safe_idle_connections_current",
        Kind::Gauge,
        SRV,
    ),
    fam(
        Field::UsedConnCur,
        "used_connections_current",
        Kind::Gauge,
        SRV,
    ),
    fam(
        Field::NeedConnEst,
        "need_connections_current",
        Kind::Gauge,
        SRV,
    ),
    fam(Field::Uweight, "uweight", Kind::Gauge, BE | SRV),
    fam(Field::AggServerStatus, "agg_server_status", Kind::Gauge, BE),
    fam(
        Field::AggServerCheckStatus,
        "agg_server_check_status",
        Kind::Gauge,
        BE,
    ),
    fam(Field::AggCheckStatus, "agg_check_status", Kind::Gauge, BE),
];

impl Family {
    /// Whether objects of type `obj` have this family.
    pub fn applies_to(&self, obj: ObjType) -> bool {
        let bit = match obj {
            ObjType::Frontend => FE,
            ObjType::Backend => BE,
            ObjType::Server => SRV,
        };
        self.scopes & bit != 0
    }

    /// The help text: HAProxy's exporter overrides a few fields' descriptions.
    fn help(&self) -> &'static str {
        match self.field {
            Field::Status => "Current status of the service, per state label value.",
            Field::CheckStatus => "Status of last health check, per state label value.",
            Field::CheckCode => "layer5-7 code, if available of the last health check.",
            Field::CheckDuration => "Total duration of the latest server health check, in seconds.",
            Field::Qtime => "Avg. queue time for last 1024 successful connections.",
            Field::Ctime => "Avg. connect time for last 1024 successful connections.",
            Field::Rtime => "Avg. response time for last 1024 successful connections.",
            Field::Ttime => "Avg. total time for last 1024 successful connections.",
            Field::QtimeMax => "Maximum observed time spent in the queue",
            Field::CtimeMax => "Maximum observed time spent waiting for a connection to complete",
            Field::RtimeMax => "Maximum observed time spent waiting for a server response",
            Field::TtimeMax => {
                "Maximum observed total request+response time (request+queue+connect+response+processing)"
            }
            f => f.desc(),
        }
    }

    /// HTTP families, left out of `mode tcp` proxies.
    fn http_only(&self, obj: ObjType) -> bool {
        matches!(
            (obj, self.field),
            (ObjType::Frontend, Field::ReqRateMax | Field::Intercepted)
                | (
                    _,
                    Field::ReqTot
                        | Field::CacheLookups
                        | Field::CacheHits
                        | Field::CompIn
                        | Field::CompOut
                        | Field::CompByp
                        | Field::CompRsp
                        | Field::Hrsp1xx
                )
        )
    }
}

/// The state labels of `haproxy_server_status` and the aggregates.
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

/// The check statuses of `haproxy_server_check_status` (those whose result
/// is at least a failure, in HAProxy's order).
pub const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

const RESPONSE_CLASSES: [(Field, &str); 6] = [
    (Field::Hrsp1xx, "1xx"),
    (Field::Hrsp2xx, "2xx"),
    (Field::Hrsp3xx, "3xx"),
    (Field::Hrsp4xx, "4xx"),
    (Field::Hrsp5xx, "5xx"),
    (Field::HrspOther, "other"),
];

/// A sample's value: a number as HAProxy writes its integer fields, or one
/// of its floats (`%f`: six decimals).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(f64),
    Float(f64),
}

/// A sample: its labels after `proxy` (and `server`), and its value.
type Sample = (Vec<(&'static str, String)>, Num);

/// Writes every family that `rows` have, frontends first, then backends,
/// then servers, as HAProxy's exporter does.
pub fn render(rows: &[Row], out: &mut String) {
    for obj in [ObjType::Frontend, ObjType::Backend, ObjType::Server] {
        let prefix = match obj {
            ObjType::Frontend => "haproxy_frontend_",
            ObjType::Backend => "haproxy_backend_",
            ObjType::Server => "haproxy_server_",
        };
        for family in FAMILIES.iter().filter(|f| f.applies_to(obj)) {
            let mut lines = String::new();
            for row in rows.iter().filter(|r| r.obj == obj) {
                if family.http_only(obj) && !row.http {
                    continue;
                }
                for (labels, value) in samples(family, row, rows) {
                    write_sample(&mut lines, prefix, family, row, &labels, value);
                }
            }
            if lines.is_empty() {
                continue;
            }
            let name = format!("{prefix}{}", family.name);
            let announced = match family.kind {
                Kind::Counter => name.strip_suffix("_total").unwrap_or(&name),
                Kind::Gauge => &name,
            };
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {announced} {}", family.help());
            let _ = writeln!(out, "# TYPE {announced} {kind}");
            out.push_str(&lines);
        }
    }
}

fn write_sample(
    out: &mut String,
    prefix: &str,
    family: &Family,
    row: &Row,
    labels: &[(&'static str, String)],
    value: Num,
) {
    let _ = write!(
        out,
        "{prefix}{}{{proxy=\"{}\"",
        family.name,
        escape(row.proxy())
    );
    if row.obj == ObjType::Server {
        let _ = write!(out, ",server=\"{}\"", escape(row.svname()));
    }
    for (k, v) in labels {
        let _ = write!(out, ",{k}=\"{}\"", escape(v));
    }
    out.push_str("} ");
    match value {
        Num::Int(v) | Num::Float(v) if v.is_nan() => out.push_str("NaN"),
        Num::Int(v) => {
            let _ = write!(out, "{}", v as i64);
        }
        Num::Float(v) => {
            let _ = write!(out, "{v:.6}");
        }
    }
    out.push('\n');
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A field as a number (NaN when empty).
fn number(row: &Row, field: Field) -> Num {
    Num::Int(row.get(field).number().unwrap_or(f64::NAN))
}

/// A field in milliseconds, as seconds.
fn seconds(row: &Row, field: Field) -> Num {
    Num::Float(row.get(field).number().unwrap_or(f64::NAN) / 1000.0)
}

fn flag(on: bool) -> Num {
    Num::Int(f64::from(u8::from(on)))
}

/// The samples one row gives a family.
fn samples(family: &Family, row: &Row, rows: &[Row]) -> Vec<Sample> {
    let one = |v: Num| vec![(Vec::new(), v)];
    match family.field {
        Field::Status => {
            let states: &[&str] = match row.obj {
                ObjType::Server => &SERVER_STATES,
                ObjType::Frontend | ObjType::Backend => &SERVER_STATES[..2],
            };
            let now = match row.state {
                ServerState::Down => "DOWN",
                ServerState::Up => "UP",
            };
            states
                .iter()
                .map(|s| (vec![("state", (*s).to_owned())], flag(*s == now)))
                .collect()
        }
        Field::Hrsp1xx => RESPONSE_CLASSES
            .iter()
            .map(|(f, code)| (vec![("code", (*code).to_owned())], number(row, *f)))
            .collect(),
        Field::Qtime
        | Field::Ctime
        | Field::Rtime
        | Field::Ttime
        | Field::QtimeMax
        | Field::CtimeMax
        | Field::RtimeMax
        | Field::TtimeMax => one(seconds(row, family.field)),
        Field::CheckStatus => match row.check {
            Some(status) => CHECK_STATES
                .iter()
                .map(|s| {
                    let on = status != CheckStatus::Unknown && status.name() == *s;
                    (vec![("state", (*s).to_owned())], flag(on))
                })
                .collect(),
            None => Vec::new(),
        },
        Field::CheckCode => match row.check {
            // The HTTP status of a layer 7 check; layer 4 checks have none: HAProxy writes 0.
            Some(_) => one(Num::Int(row.get(Field::CheckCode).number().unwrap_or(0.0))),
            None => Vec::new(),
        },
        Field::CheckDuration => match row.check {
            Some(status) if status != CheckStatus::Unknown => {
                one(seconds(row, Field::CheckDuration))
            }
            _ => Vec::new(),
        },
        Field::AggServerStatus | Field::AggServerCheckStatus | Field::AggCheckStatus => {
            aggregate(family.field, row, rows)
        }
        f => one(number(row, f)),
    }
}

/// A backend's servers counted by state (or by check status).
fn aggregate(field: Field, backend: &Row, rows: &[Row]) -> Vec<Sample> {
    let servers: Vec<&Row> = rows
        .iter()
        .filter(|r| r.obj == ObjType::Server && r.proxy() == backend.proxy())
        .collect();
    if servers.is_empty() {
        return Vec::new();
    }
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    let states: &[&str] = if field == Field::AggCheckStatus {
        for s in &servers {
            if let Some(c) = s.check.filter(|c| *c != CheckStatus::Unknown) {
                *counts.entry(c.name()).or_default() += 1;
            }
        }
        &CHECK_STATES
    } else {
        for s in &servers {
            let name = match s.state {
                ServerState::Down => "DOWN",
                ServerState::Up => "UP",
            };
            *counts.entry(name).or_default() += 1;
        }
        &SERVER_STATES
    };
    states
        .iter()
        .map(|s| {
            (
                vec![("state", (*s).to_owned())],
                Num::Int(f64::from(counts.get(s).copied().unwrap_or(0))),
            )
        })
        .collect()
}

/// Every family name HAProxy's exporter has for `obj`, as its samples are
/// named (`haproxy_frontend_sessions_total`).
pub fn family_names(obj: ObjType) -> Vec<String> {
    let prefix = match obj {
        ObjType::Frontend => "haproxy_frontend_",
        ObjType::Backend => "haproxy_backend_",
        ObjType::Server => "haproxy_server_",
    };
    FAMILIES
        .iter()
        .filter(|f| f.applies_to(obj))
        .map(|f| format!("{prefix}{}", f.name))
        .collect()
}
