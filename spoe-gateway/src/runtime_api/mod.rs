//! The runtime API (`stats socket`), as HAProxy 2.6's CLI (`src/cli.c`, `src/stats.c`,
//! `src/server.c`) answers the commands tools use: `help`, `prompt`, `quit`, `show info`,
//! `show stat`, `show servers state`, `show table`, `clear table`, `disable server`, `enable server`,
//! `set server B/S state ready|drain|maint`, `set server B/S weight W[%]`, `set weight`,
//! `get weight`, `show version`, `show cache`. The replies are HAProxy's texts; the statistics are the rows
//! the stats page and the Prometheus exporter read. Commands HAProxy has and the gateway does
//! not are answered with HAProxy's "Unknown command" and the list of the ones it has.
//!
//! This module is the commands (pure: a line in, a reply out); [`socket`] moves the bytes.

pub(crate) mod socket;

use std::fmt::Write as _;

use crate::generation::{Admin, BackendRt, Generation, ServerRt};
use crate::metrics::snapshot::Snapshot;
use crate::model::CliLevel;
use crate::stats::{CheckStatus, Field, ObjType, Value, csv_document};
use crate::sticktable;

/// What a command did to the connection, besides its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing.
    None,
    /// `prompt`: toggles the interactive mode.
    TogglePrompt,
    /// `quit`: closes the connection.
    Quit,
}

/// The help lines of the commands the gateway has, as HAProxy prints them.
const HELP: &[&str] = &[
    "  disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
    "  enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
    "  get weight <bk>/<srv>                   : report a server's current weight",
    "  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl",
    "  set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
    "  show info [desc|json|typed|float]*      : report information about the running process",
    "  show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
    "  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server",
    "  clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)",
    "  show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)",
    "  show version                            : show version of the current process",
    "  show cache                              : show cache status",
    "  help [<command>]                        : list matching or all commands",
    "  prompt                                  : toggle interactive mode with prompt",
    "  quit                                    : disconnect",
];

/// `show cache`: every cache, then its fresh objects (`cli_io_handler_show_cache()`).
fn show_cache(generation: &Generation) -> String {
    let now = crate::cache::serve::now();
    let mut out = String::new();
    for (i, decl) in generation.config.caches.iter().enumerate() {
        if let Some(store) = generation.caches.get(&decl.name) {
            store.show(i, now, &mut out);
        }
    }
    out
}

/// `show table [NAME [key K | data.X OP V...]]` (`cli_io_handler_table()`).
fn show_table(cx: &Context<'_>, rest: &[&str]) -> String {
    let tables = &cx.generation.tables;
    let Some(name) = rest.first() else {
        return sticktable::show::show_all(tables);
    };
    let Some(table) = tables.get(name) else {
        return "No such table\n".to_owned();
    };
    if cx.level < CliLevel::Operator {
        let mut out = String::new();
        sticktable::show::head(table, &mut out);
        out.push_str("# contents not dumped due to insufficient privileges\n");
        return out;
    }
    match sticktable::show::parse_select(table, &rest[1..], false) {
        Ok(select) => sticktable::show::show(table, &select),
        Err(e) => e,
    }
}

/// `clear table NAME [key K | data.X OP V...]`: removes the untracked entries selected.
fn clear_table(cx: &Context<'_>, rest: &[&str]) -> String {
    let Some(name) = rest.first() else {
        return "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n".to_owned();
    };
    let Some(table) = cx.generation.tables.get(name) else {
        return "No such table\n".to_owned();
    };
    match sticktable::show::parse_select(table, &rest[1..], true) {
        Ok(select) => sticktable::show::clear(table, &select),
        Err(e) => e,
    }
}

fn help(intro: &str) -> String {
    let mut out = format!("{intro}\n");
    for line in HELP {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// What a command reads and changes.
pub(crate) struct Context<'a> {
    pub(crate) generation: &'a Generation,
    pub(crate) snapshot: &'a dyn Fn() -> Snapshot,
    pub(crate) level: CliLevel,
}

/// Splits a line into commands (`;`, unless escaped) and each into words (blanks, `\`
/// escapes), as HAProxy's CLI does.
pub(crate) fn commands(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            ';' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                out.push(std::mem::take(&mut words));
            }
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    out.push(words);
    out.retain(|c| !c.is_empty());
    out
}

/// Runs one command: its reply (without the empty line that ends every reply) and effect.
pub(crate) fn execute(words: &[String], cx: &Context<'_>) -> (String, Effect) {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let admin = |reply: fn(&[&str], &Context<'_>) -> String| {
        if cx.level < CliLevel::Admin {
            "Permission denied\n".to_owned()
        } else {
            reply(&w, cx)
        }
    };
    let reply = match w.as_slice() {
        ["prompt", ..] => return (String::new(), Effect::TogglePrompt),
        ["quit", ..] => return (String::new(), Effect::Quit),
        ["help", ..] => help("The following commands are valid at this level:"),
        ["show", "info", ..] => show_info(&(cx.snapshot)()),
        ["show", "stat", opts @ ..] => show_stat(&(cx.snapshot)(), opts),
        ["show", "servers", "state", rest @ ..] => show_servers_state(cx.generation, rest.first()),
        ["show", "table", rest @ ..] => show_table(cx, rest),
        ["clear", "table", rest @ ..] => {
            if cx.level < CliLevel::Operator {
                "Permission denied\n".to_owned()
            } else {
                clear_table(cx, rest)
            }
        }
        ["show", "version", ..] => format!("{}\n", env!("CARGO_PKG_VERSION")),
        // Nothing below the admin level, as HAProxy's `cli_parse_show_cache()`.
        ["show", "cache", ..] if cx.level < CliLevel::Admin => String::new(),
        ["show", "cache", ..] => show_cache(cx.generation),
        ["disable", "server", ..] => admin(|w, cx| {
            with_server(
                cx.generation,
                w.get(2).copied().unwrap_or_default(),
                |b, s| {
                    b.set_admin(s, Admin::Maint);
                    String::new()
                },
            )
        }),
        ["enable", "server", ..] => admin(|w, cx| {
            with_server(
                cx.generation,
                w.get(2).copied().unwrap_or_default(),
                |b, s| {
                    if s.admin.state() == Admin::Maint {
                        b.set_admin(s, Admin::Ready);
                    }
                    String::new()
                },
            )
        }),
        ["set", "server", ..] => admin(set_server),
        ["set", "weight", ..] => admin(|w, cx| {
            with_server(
                cx.generation,
                w.get(2).copied().unwrap_or_default(),
                |b, s| {
                    b.set_weight(s, w.get(3).copied().unwrap_or_default())
                        .err()
                        .unwrap_or_default()
                        .to_owned()
                },
            )
        }),
        ["get", "weight", target, ..] => match split_target(target) {
            None => "Require 'backend/server'.\n".to_owned(),
            Some((b, s)) => match find(cx.generation, b, s) {
                Ok((_, server)) => {
                    format!(
                        "{} (initial {})\n",
                        server.admin.weight(),
                        server.model.weight
                    )
                }
                Err(e) => e.to_owned(),
            },
        },
        ["get", "weight"] => "Require 'backend/server'.\n".to_owned(),
        _ => help("Unknown command. Please enter one of the following commands only:"),
    };
    (reply, Effect::None)
}

fn split_target(target: &str) -> Option<(&str, &str)> {
    target
        .split_once('/')
        .filter(|(b, s)| !b.is_empty() && !s.is_empty())
}

/// The backend and server of `b`/`s`, or HAProxy's message.
fn find<'g>(
    generation: &'g Generation,
    b: &str,
    s: &str,
) -> Result<(&'g BackendRt, &'g ServerRt), &'static str> {
    let backend = generation.backend_by_ref(b).ok_or("No such backend.\n")?;
    let server = backend.server(s).ok_or("No such server.\n")?;
    Ok((backend, server))
}

/// HAProxy's `cli_find_server()`, then `f`.
fn with_server(
    generation: &Generation,
    target: &str,
    f: impl FnOnce(&BackendRt, &ServerRt) -> String,
) -> String {
    match split_target(target) {
        None => "Require 'backend/server'.\n".to_owned(),
        Some((b, s)) => match find(generation, b, s) {
            Ok((backend, server)) => f(backend, server),
            Err(e) => e.to_owned(),
        },
    }
}

/// `set server B/S state|weight ...`.
fn set_server(w: &[&str], cx: &Context<'_>) -> String {
    with_server(
        cx.generation,
        w.get(2).copied().unwrap_or_default(),
        |b, s| {
            match (w.get(3).copied(), w.get(4).copied()) {
            (Some("weight"), value) => b
                .set_weight(s, value.unwrap_or_default())
                .err()
                .unwrap_or_default()
                .to_owned(),
            (Some("state"), value) => {
                let state = match value {
                    Some("ready") => Admin::Ready,
                    Some("drain") => Admin::Drain,
                    Some("maint") => Admin::Maint,
                    _ => {
                        return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                            .to_owned();
                    }
                };
                b.set_admin(s, state);
                String::new()
            }
            (
                Some(
                    opt @ ("addr" | "agent" | "agent-addr" | "agent-port" | "agent-send"
                    | "check-addr" | "check-port" | "fqdn" | "health" | "ssl"),
                ),
                _,
            ) => format!("'set server <srv> {opt}' is not supported by the gateway.\n"),
            _ => "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n".to_owned(),
        }
        },
    )
}

/// `show stat [no-maint] [up]`: the CSV of the stats page.
fn show_stat(snapshot: &Snapshot, opts: &[&str]) -> String {
    if let Some(opt) = opts
        .iter()
        .find(|o| matches!(**o, "typed" | "json" | "desc"))
    {
        return format!("'show stat {opt}' is not supported by the gateway.\n");
    }
    let up = opts.contains(&"up");
    let no_maint = opts.contains(&"no-maint");
    let rows: Vec<_> = snapshot
        .rows
        .iter()
        .filter(|r| {
            if r.obj != ObjType::Server {
                return true;
            }
            let status = match r.get(Field::Status) {
                Value::Str(s) => s.as_str(),
                _ => "",
            };
            let down = r.state != crate::stats::ServerState::Up;
            !((up && down) || (no_maint && status == "MAINT"))
        })
        .cloned()
        .collect();
    csv_document(&rows)
}

/// `show info`: HAProxy 2.6's fields, in order, with the gateway's values (zero for what it
/// does not have: pipes, SSL, compression, peers).
fn show_info(s: &Snapshot) -> String {
    let i = &s.info;
    let up = i.uptime.as_secs();
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up / 3600) % 24,
        (up / 60) % 60,
        up % 60
    );
    let version = env!("CARGO_PKG_VERSION");
    let fields: Vec<(&str, String)> = vec![
        ("Name", "spoe-gateway".to_owned()),
        ("Version", version.to_owned()),
        ("Release_date", String::new()),
        ("Nbthread", i.threads.to_string()),
        ("Nbproc", "1".to_owned()),
        ("Process_num", "1".to_owned()),
        ("Pid", i.pid.to_string()),
        ("Uptime", uptime),
        ("Uptime_sec", up.to_string()),
        ("Memmax_MB", "0".to_owned()),
        ("PoolAlloc_MB", "0".to_owned()),
        ("PoolUsed_MB", "0".to_owned()),
        ("PoolFailed", "0".to_owned()),
        ("Ulimit-n", open_files_limit().to_string()),
        ("Maxsock", open_files_limit().to_string()),
        ("Maxconn", i.maxconn.to_string()),
        ("Hard_maxconn", i.maxconn.to_string()),
        ("CurrConns", i.current_conns.to_string()),
        ("CumConns", i.cum_conns.to_string()),
        ("CumReq", i.cum_req.to_string()),
        ("MaxSslConns", "0".to_owned()),
        ("CurrSslConns", "0".to_owned()),
        ("CumSslConns", "0".to_owned()),
        ("Maxpipes", "0".to_owned()),
        ("PipesUsed", "0".to_owned()),
        ("PipesFree", "0".to_owned()),
        ("ConnRate", i.conn_rate.to_string()),
        ("ConnRateLimit", "0".to_owned()),
        ("MaxConnRate", i.conn_rate_max.to_string()),
        ("SessRate", i.sess_rate.to_string()),
        ("SessRateLimit", "0".to_owned()),
        ("MaxSessRate", i.sess_rate_max.to_string()),
        ("SslRate", "0".to_owned()),
        ("SslRateLimit", "0".to_owned()),
        ("MaxSslRate", "0".to_owned()),
        ("SslFrontendKeyRate", "0".to_owned()),
        ("SslFrontendMaxKeyRate", "0".to_owned()),
        ("SslFrontendSessionReuse_pct", "0".to_owned()),
        ("SslBackendKeyRate", "0".to_owned()),
        ("SslBackendMaxKeyRate", "0".to_owned()),
        ("SslCacheLookups", "0".to_owned()),
        ("SslCacheMisses", "0".to_owned()),
        ("CompressBpsIn", "0".to_owned()),
        ("CompressBpsOut", "0".to_owned()),
        ("CompressBpsRateLim", "0".to_owned()),
        ("Tasks", "0".to_owned()),
        ("Run_queue", "0".to_owned()),
        ("Idle_pct", "100".to_owned()),
        ("node", hostname()),
        ("Stopping", u8::from(i.stopping).to_string()),
        ("Jobs", i.current_conns.to_string()),
        ("Unstoppable Jobs", "0".to_owned()),
        ("Listeners", i.listeners.to_string()),
        ("ActivePeers", "0".to_owned()),
        ("ConnectedPeers", "0".to_owned()),
        ("DroppedLogs", i.dropped_logs.to_string()),
        ("BusyPolling", "0".to_owned()),
        ("FailedResolutions", "0".to_owned()),
        ("TotalBytesOut", i.bytes_out.to_string()),
        ("TotalSplicdedBytesOut", "0".to_owned()),
        ("BytesOutRate", "0".to_owned()),
        ("DebugCommandsIssued", "0".to_owned()),
        ("CumRecvLogs", "0".to_owned()),
        ("Build info", version.to_owned()),
        ("Memmax_bytes", "0".to_owned()),
        ("PoolAlloc_bytes", "0".to_owned()),
        ("PoolUsed_bytes", "0".to_owned()),
        ("Start_time_sec", i.started_unix.to_string()),
        ("Tainted", "0".to_owned()),
    ];
    let mut out = String::new();
    for (name, value) in fields {
        let _ = writeln!(out, "{name}: {value}");
    }
    out
}

fn open_files_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The header of `show servers state` (version 1 of HAProxy's server-state format).
const SERVERS_STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state \
     srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
     srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
     srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
     srv_agent_addr srv_agent_port\n";

/// `show servers state [BACKEND]`.
fn show_servers_state(generation: &Generation, only: Option<&&str>) -> String {
    let backends: Vec<(usize, &BackendRt)> = generation
        .config
        .backends
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((i, generation.backends.get(&b.name)?)))
        .filter(|(_, b)| only.is_none_or(|o| **o == b.model.name))
        .collect();
    if only.is_some() && backends.is_empty() {
        return "Can't find backend.\n".to_owned();
    }
    let mut out = SERVERS_STATE_HEADER.to_owned();
    let first_backend_id = generation.first_proxy_id() + generation.frontends.len();
    for (i, b) in backends {
        for s in &b.servers {
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 {} {} - 0 0 - - 0",
                first_backend_id + i,
                b.model.name,
                s.model.choice.id,
                s.name,
                s.current_ip()
                    .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
                op_state(s),
                s.admin.bits(),
                s.admin.weight(),
                s.model.weight,
                s.counters.last_change_age(),
                check_status_code(s),
                check_result(s),
                s.health.load(std::sync::atomic::Ordering::Relaxed),
                if s.model.check { 6 } else { 0 },
                s.model.fqdn.as_deref().unwrap_or("-"),
                s.addr.port(),
            );
        }
    }
    out
}

/// `srv_op_state`: 0 stopped, 2 running.
fn op_state(s: &ServerRt) -> u8 {
    if s.admin.state() != Admin::Maint && s.up.load(std::sync::atomic::Ordering::Relaxed) {
        2
    } else {
        0
    }
}

/// `srv_check_status`: HAProxy's `HCHK_STATUS_*` number (1: not run yet).
fn check_status_code(s: &ServerRt) -> u8 {
    if !s.model.check {
        return 1;
    }
    match s.counters.check().status {
        CheckStatus::L4Ok => 5,
        CheckStatus::L4Timeout => 6,
        CheckStatus::L4Con => 7,
        CheckStatus::SockErr => 4,
        _ => 1,
    }
}

/// `srv_check_result`: `CHK_RES_*` (0 unknown, 2 failed, 3 passed).
fn check_result(s: &ServerRt) -> u8 {
    if !s.model.check {
        return 0;
    }
    match s.counters.check().status {
        CheckStatus::L4Ok => 3,
        CheckStatus::Unknown => 0,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_as_haproxys_cli() {
        assert_eq!(
            commands("show info; show stat\n"),
            [vec!["show", "info"], vec!["show", "stat"]]
        );
        assert_eq!(
            commands("set server a\\;b/c state ready"),
            [vec!["set", "server", "a;b/c", "state", "ready"]]
        );
        assert!(commands("  ").is_empty());
    }
}
