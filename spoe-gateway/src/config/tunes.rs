//! The `global` tuning keywords (`tune.*`, `no*` pollers, `profiling.*`, thread groups...) of
//! HAProxy 2.6 (`src/cfgparse-global.c` and the `cfg_kws` of the files that own them). Those
//! that change what a client, a server or a log pipeline sees run (`tune.maxrewrite`,
//! `tune.http.maxhdr`, the socket buffers, `set-dumpable`); those that tune HAProxy's own
//! machinery (poller, splicing, batch sizes, pools) are read and checked, with nothing to
//! apply: what they change is not observable, or the gateway already behaves as they ask. The
//! README's table says each difference (`table::DIFFERENCES`).

use spoe::config::reader::{Line, Modifier};
use spoe::duration::parse_timer;

use super::keywords::{Keyword, Use};
use super::lower::Lowerer;

/// Reads a `global` line.
type Handler = fn(&mut Lowerer<'_, '_>, &Line);

/// What a tuning keyword takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arg {
    /// Nothing.
    Flag,
    /// A non-negative integer.
    Int,
    /// A time (milliseconds without a unit).
    Time,
    /// `on` or `off`.
    OnOff,
    /// One word HAProxy checks against its own set (`auto`, `on`, `off`, `by-thread`...).
    Word,
}

/// The tuning keywords read and checked, with nothing to apply (the README's table says why
/// in `table::DIFFERENCES`), with what each takes.
pub(super) const MACHINERY: &[(&str, Arg)] = &[
    ("busy-polling", Arg::Flag),
    ("close-spread-time", Arg::Time),
    ("max-spread-checks", Arg::Time),
    ("maxpipes", Arg::Int),
    ("no-memory-trimming", Arg::Flag),
    ("noepoll", Arg::Flag),
    ("noevports", Arg::Flag),
    ("nogetaddrinfo", Arg::Flag),
    ("nokqueue", Arg::Flag),
    ("nopoll", Arg::Flag),
    ("noreuseport", Arg::Flag),
    ("nosplice", Arg::Flag),
    ("numa-cpu-mapping", Arg::Flag),
    ("profiling.memory", Arg::OnOff),
    ("profiling.tasks", Arg::Word),
    ("tune.buffers.limit", Arg::Int),
    ("tune.buffers.reserve", Arg::Int),
    ("tune.fd.edge-triggered", Arg::OnOff),
    ("tune.http.cookielen", Arg::Int),
    ("tune.idle-pool.shared", Arg::OnOff),
    ("tune.idletimer", Arg::Time),
    ("tune.listener.multi-queue", Arg::OnOff),
    ("tune.maxaccept", Arg::Int),
    ("tune.maxpollevents", Arg::Int),
    ("tune.pattern.cache-size", Arg::Int),
    ("tune.pipesize", Arg::Int),
    ("tune.pool-high-fd-ratio", Arg::Int),
    ("tune.pool-low-fd-ratio", Arg::Int),
    ("tune.recv_enough", Arg::Int),
    ("tune.runqueue-depth", Arg::Int),
    ("tune.sched.low-latency", Arg::OnOff),
    ("tune.ssl.capture-buffer-size", Arg::Int),
    ("tune.ssl.capture-cipherlist-size", Arg::Int),
    ("tune.ssl.force-private-cache", Arg::Flag),
    ("tune.ssl.ssl-ctx-cache-size", Arg::Int),
];

/// The `global` tuning keywords the gateway runs or reads.
pub(super) const KEYWORDS: &[Keyword<Handler>] = &[
    Keyword {
        name: "tune.maxrewrite",
        handler: maxrewrite,
        uses: Use::Runs(&[("Global.maxrewrite", "head_room.rs")]),
    },
    Keyword {
        name: "tune.http.logurilen",
        handler: logurilen,
        uses: Use::Runs(&[("Global.logurilen", "proxy.rs")]),
    },
    Keyword {
        name: "tune.http.maxhdr",
        handler: maxhdr,
        uses: Use::Runs(&[("Global.max_headers", "server/http1.rs")]),
    },
    Keyword {
        name: "tune.rcvbuf.client",
        handler: socket_buffer,
        uses: Use::Runs(&[("BufTunes.client_rcvbuf", "sockopt.rs")]),
    },
    Keyword {
        name: "tune.sndbuf.client",
        handler: socket_buffer,
        uses: Use::Runs(&[("BufTunes.client_sndbuf", "sockopt.rs")]),
    },
    Keyword {
        name: "tune.rcvbuf.server",
        handler: socket_buffer,
        uses: Use::Runs(&[("Outgoing.rcvbuf", "sockopt.rs")]),
    },
    Keyword {
        name: "tune.sndbuf.server",
        handler: socket_buffer,
        uses: Use::Runs(&[("Outgoing.sndbuf", "sockopt.rs")]),
    },
    Keyword {
        name: "maxconnrate",
        handler: accept_rate,
        uses: Use::Runs(&[("Global.max_conn_rate", "rate.rs")]),
    },
    Keyword {
        name: "maxsessrate",
        handler: accept_rate,
        uses: Use::Runs(&[("Global.max_sess_rate", "rate.rs")]),
    },
    Keyword {
        name: "maxsslrate",
        handler: accept_rate,
        uses: Use::Runs(&[("Global.max_ssl_rate", "rate.rs")]),
    },
    Keyword {
        name: "set-dumpable",
        handler: set_dumpable,
        uses: Use::Runs(&[("Process.dumpable", "process.rs")]),
    },
    Keyword {
        name: "thread-groups",
        handler: thread_groups,
        uses: Use::Read,
    },
    Keyword {
        name: "thread-group",
        handler: thread_group,
        uses: Use::Read,
    },
    Keyword {
        name: "tune.ssl.cachesize",
        handler: ssl_cachesize,
        uses: Use::Read,
    },
    Keyword {
        name: "tune.ssl.maxrecord",
        handler: ssl_maxrecord,
        uses: Use::Read,
    },
    Keyword {
        name: "tune.ssl.hard-maxrecord",
        handler: ssl_maxrecord,
        uses: Use::Read,
    },
    Keyword {
        name: "tune.ssl.lifetime",
        handler: ssl_lifetime,
        uses: Use::Read,
    },
    Keyword {
        name: "tune.ssl.keylog",
        handler: keylog,
        uses: Use::Read,
    },
];

/// A keyword of [`MACHINERY`]: its argument checked as HAProxy checks it.
pub(super) fn machinery(lw: &mut Lowerer<'_, '_>, line: &Line) -> bool {
    let kw = line.keyword();
    let Some((_, arg)) = MACHINERY.iter().find(|(k, _)| *k == kw) else {
        return false;
    };
    if line.modifier != Modifier::None && *arg != Arg::Flag {
        lw.diag
            .error_msg(line.span().clone(), format!("'{kw}' cannot be negated"));
        return true;
    }
    checked(lw, line, *arg);
    true
}

/// Checks `line`'s argument against `arg`; the word, if it is one.
fn checked<'l>(
    lw: &mut Lowerer<'_, '_>,
    line: &'l Line,
    arg: Arg,
) -> Option<&'l spoe::config::reader::Word> {
    let kw = line.keyword();
    if arg == Arg::Flag {
        lw.too_many(line, 0, kw);
        return None;
    }
    let expected = match arg {
        Arg::Int => "an integer argument",
        Arg::Time => "a time argument",
        Arg::OnOff => "'on' or 'off'",
        _ => "an argument",
    };
    let word = lw.single(line, kw, expected)?;
    let v = word.as_str();
    let fine = match arg {
        Arg::Int => v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty(),
        Arg::Time => parse_timer(v).is_ok_and(|t| t.trailing.is_none()),
        Arg::OnOff => matches!(v, "on" | "off"),
        Arg::Word | Arg::Flag => true,
    };
    if !fine {
        lw.diag.error_msg(
            word.span().clone(),
            format!("'{kw}' expects {expected}, got '{v}'."),
        );
        return None;
    }
    Some(word)
}

/// `tune.maxrewrite N`: what a request head leaves free of `tune.bufsize` (HAProxy lowers it
/// to half the buffer when it is larger, at start).
fn maxrewrite(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if let Some(word) = checked(lw, line, Arg::Int) {
        lw.global.maxrewrite = word.as_str().parse().unwrap_or(usize::MAX);
    }
}

/// `tune.http.logurilen N`: the request line the logs read (`%r`, `%HU`...) is cut to N
/// bytes (HAProxy keeps N + 1 as its capture's length, the default 1024 cutting at 1023).
fn logurilen(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if let Some(word) = checked(lw, line, Arg::Int) {
        lw.global.logurilen = word
            .as_str()
            .parse::<usize>()
            .unwrap_or(usize::MAX)
            .saturating_add(1);
    }
}

/// `tune.http.maxhdr N` (1 to 32767).
fn maxhdr(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = lw.single(line, "tune.http.maxhdr", "an integer argument") else {
        return;
    };
    match word.as_str().parse::<usize>() {
        Ok(n) if (1..=32767).contains(&n) => lw.global.max_headers = n,
        _ => lw.diag.error_msg(
            word.span().clone(),
            "'tune.http.maxhdr' expects a numeric value between 1 and 32767",
        ),
    }
}

/// `tune.rcvbuf.client|server`, `tune.sndbuf.client|server N`: `SO_RCVBUF`/`SO_SNDBUF`.
fn socket_buffer(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = checked(lw, line, Arg::Int) else {
        return;
    };
    let n = word.as_str().parse::<usize>().ok().filter(|n| *n > 0);
    let tunes = &mut lw.global.buf_tunes;
    let slot = match line.keyword() {
        "tune.rcvbuf.client" => &mut tunes.client_rcvbuf,
        "tune.sndbuf.client" => &mut tunes.client_sndbuf,
        "tune.rcvbuf.server" => &mut tunes.server_rcvbuf,
        _ => &mut tunes.server_sndbuf,
    };
    *slot = n;
}

/// `maxconnrate N`, `maxsessrate N`, `maxsslrate N`: accepts a second.
fn accept_rate(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = checked(lw, line, Arg::Int) else {
        return;
    };
    let n = word.as_str().parse().unwrap_or(u64::MAX);
    let g = &mut lw.global;
    match line.keyword() {
        "maxconnrate" => g.max_conn_rate = n,
        "maxsessrate" => g.max_sess_rate = n,
        _ => g.max_ssl_rate = n,
    }
}

/// `set-dumpable`: the process stays dumpable after it changes user (`PR_SET_DUMPABLE`).
fn set_dumpable(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if !lw.too_many(line, 0, "set-dumpable") {
        lw.global.process.dumpable = true;
    }
}

/// `thread-groups N`: one group (HAProxy 2.6's builds have one too).
fn thread_groups(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = checked(lw, line, Arg::Int) else {
        return;
    };
    if word.as_str() != "1" {
        lw.diag.error_msg(
            word.span().clone(),
            format!(
                "'thread-groups' value must be between 1 and 1 (was {})",
                word.as_str()
            ),
        );
    }
}

/// `thread-group 1 [THREADS]`: the one group.
fn thread_group(lw: &mut Lowerer<'_, '_>, line: &Line) {
    match line.arg(1) {
        Some(g) if g.as_str() == "1" => {}
        Some(g) => lw.diag.error_msg(
            g.span().clone(),
            format!(
                "'thread-group' : the gateway runs one thread group (1), not {}",
                g.as_str()
            ),
        ),
        None => lw.missing(line, "thread-group", "a group number"),
    }
}

/// `tune.ssl.cachesize N`: each TLS listener's session cache (0: none).
fn ssl_cachesize(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if let Some(word) = checked(lw, line, Arg::Int) {
        lw.ssl.tunes.session_cache = word.as_str().parse().unwrap_or(usize::MAX);
    }
}

/// `tune.ssl.maxrecord N`, `tune.ssl.hard-maxrecord N`: the most plaintext bytes per TLS
/// record (0: TLS's own bound). rustls takes no fewer than 32.
fn ssl_maxrecord(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let Some(word) = checked(lw, line, Arg::Int) else {
        return;
    };
    match word.as_str().parse::<usize>() {
        Ok(0) => lw.ssl.tunes.max_record = None,
        Ok(n) if n >= 32 => lw.ssl.tunes.max_record = (n < 16384).then_some(n),
        _ => lw.diag.error_msg(
            word.span().clone(),
            format!(
                "'{}' : the gateway's TLS (rustls) writes records of at least 32 bytes, not {}",
                line.keyword(),
                word.as_str()
            ),
        ),
    }
}

/// `tune.ssl.lifetime T` (seconds without a unit): checked; rustls's sessions have lifetimes
/// of their own (the README's table).
fn ssl_lifetime(lw: &mut Lowerer<'_, '_>, line: &Line) {
    checked(lw, line, Arg::Time);
}

/// `tune.ssl.keylog on|off`: `off` only (the `ssl_*_secret` fetches are not supported).
fn keylog(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if let Some(word) = checked(lw, line, Arg::OnOff)
        && word.as_str() == "on"
    {
        lw.diag.error_msg(
            word.span().clone(),
            "'tune.ssl.keylog on' is not supported by the gateway (no TLS secrets are kept for \
             the ssl_*_secret fetches)",
        );
    }
}

/// Why a `global` keyword HAProxy 2.6 has is refused, where more can be said than "not
/// supported" (appended to the error).
pub(super) fn why_refused(kw: &str) -> &'static str {
    match kw {
        "ssl-engine" | "ssl-mode-async" => {
            ": its TLS (rustls) has no OpenSSL engine and no asynchronous engine mode"
        }
        "h1-case-adjust" | "h1-case-adjust-file" => {
            ": it writes HTTP/1 header names in lower case, as HAProxy does without it, and \
             cannot write them in another case"
        }
        "tune.chksize" => " (as HAProxy 2.6: not supported any more, tune.bufsize is used instead)",
        _ if kw.starts_with("tune.quic.") => ": it has no QUIC",
        _ => "",
    }
}
