//! The `log` directive of `spoe-agent`: `log global`, `no log`, or
//! `log <address> [len <length>] [format <format>] [sample <ranges>:<size>] <facility> [<level>
//! [<minlevel>]]` (`parse_logsrv()` in `src/log.c`).

use std::fmt;

use super::span::Span;

/// Syslog facilities, in HAProxy's order (their index is the syslog code).
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog levels, from the most severe (their index is the syslog code).
pub const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Log formats HAProxy knows.
pub const FORMATS: [&str; 8] = [
    "local", "rfc3164", "rfc5424", "priority", "short", "timed", "iso", "raw",
];

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAddress {
    /// `stdout` / `fd@1`, `stderr` / `fd@2`, or `fd@N`.
    Fd(i32),
    /// `ring@NAME`: a ring declared in `haproxy.cfg`.
    Ring(String),
    /// A UNIX socket path (`/dev/log`, `unix@/path`).
    Unix(String),
    /// A network address as written (`127.0.0.1:514`, `udp@host:514`, `tcp@[::1]:601`);
    /// host names are resolved by whoever sends the logs.
    Net(String),
}

/// One `log <address> ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogServer {
    /// Where to send.
    pub address: LogAddress,
    /// `len`: the longest line (80..=65535; 1024 by default).
    pub max_len: u16,
    /// `format`: one of [`FORMATS`] (`rfc3164` by default).
    pub format: Option<String>,
    /// `sample RANGES:SIZE`, as written.
    pub sample: Option<String>,
    /// Facility code (index in [`FACILITIES`]).
    pub facility: u8,
    /// Highest level sent (index in [`LEVELS`]; 7, `debug`, by default).
    pub level: u8,
    /// Lowest level a line is raised to (0, `emerg`, by default).
    pub min_level: u8,
    /// Where the line is.
    pub span: Span,
}

/// One effective `log` line of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// `log global`: the `global` section's log servers.
    Global(Span),
    /// A server of its own.
    Server(LogServer),
}

/// What a `log` line does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogDirective {
    /// `no log`: forget the previous lines.
    Clear,
    /// Add a target.
    Add(LogTarget),
}

/// Parses the words after `log` (`negated` for `no log`). The error is HAProxy's wording.
pub(crate) fn parse_log(args: &[&str], negated: bool, span: &Span) -> Result<LogDirective, String> {
    if negated {
        if !args.is_empty() {
            return Err("'no log' does not expect arguments".to_owned());
        }
        return Ok(LogDirective::Clear);
    }
    if args.len() == 1 && args[0] == "global" {
        return Ok(LogDirective::Add(LogTarget::Global(span.clone())));
    }
    if args.len() < 2 {
        return Err("expects <address> and <facility> or global as arguments".to_owned());
    }
    let mut i = 1;
    let mut max_len = 1024;
    if args.get(i) == Some(&"len") {
        let value = args.get(i + 1).copied().unwrap_or_default();
        let len = atoi(value);
        if !(80..=65535).contains(&len) {
            return Err(format!(
                "invalid log length '{value}', must be between 80 and 65535"
            ));
        }
        max_len = len as u16;
        i += 2;
    }
    let mut format = None;
    if args.get(i) == Some(&"format") {
        let value = args.get(i + 1).copied().unwrap_or_default();
        if !FORMATS.contains(&value) {
            return Err(format!("unknown log format '{value}'"));
        }
        format = Some(value.to_owned());
        i += 2;
    }
    let mut sample = None;
    if args.get(i) == Some(&"sample") {
        let value = args.get(i + 1).copied().unwrap_or_default();
        check_sample(value)?;
        sample = Some(value.to_owned());
        i += 2;
    }
    let facility_name = args.get(i).copied().unwrap_or_default();
    let facility = FACILITIES
        .iter()
        .position(|f| *f == facility_name)
        .ok_or_else(|| format!("unknown log facility '{facility_name}'"))?;
    i += 1;
    let mut level = 7;
    if let Some(name) = args.get(i) {
        level = LEVELS
            .iter()
            .position(|l| l == name)
            .ok_or_else(|| format!("unknown optional log level '{name}'"))?;
        i += 1;
    }
    let mut min_level = 0;
    if let Some(name) = args.get(i) {
        min_level = LEVELS
            .iter()
            .position(|l| l == name)
            .ok_or_else(|| format!("unknown optional minimum log level '{name}'"))?;
        i += 1;
    }
    if let Some(extra) = args.get(i) {
        return Err(format!("cannot handle unexpected argument '{extra}'"));
    }
    let address = parse_address(args[0])?;
    Ok(LogDirective::Add(LogTarget::Server(LogServer {
        address,
        max_len,
        format,
        sample,
        facility: facility as u8,
        level: level as u8,
        min_level: min_level as u8,
        span: span.clone(),
    })))
}

/// C's `atoi()`: leading blanks, a sign, digits; 0 when there are none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n: i64 = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg { -n } else { n }
}

/// `sample <ranges>:<size>`: comma-separated `N` or `N-M` ranges (1-based), then the size; the
/// error is HAProxy's wording.
pub fn check_sample(value: &str) -> Result<(), String> {
    let Some((ranges, size)) = value.rsplit_once(':') else {
        return Err("Missing sample size".to_owned());
    };
    if ranges.is_empty() {
        return Err("no sampling ranges given".to_owned());
    }
    let mut highest = 0u64;
    for range in ranges.split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let parse = |s: &str| s.parse::<u64>().ok().filter(|&v| v > 0);
        match (parse(lo), parse(hi)) {
            (Some(lo), Some(hi)) if lo <= hi => highest = highest.max(hi),
            _ => return Err(format!("invalid range '{range}'")),
        }
    }
    match size.parse::<u64>() {
        Ok(s) if s > 0 && s >= highest => Ok(()),
        Ok(s) if s > 0 => Err(format!(
            "sample size {s} should be greater or equal to {highest} the maximum of the high ranges limits"
        )),
        _ => Err(format!(
            "wrong sample size '{size}' for sample range '{value}'"
        )),
    }
}

/// The address forms of `str2sa_range()` that a log line accepts.
fn parse_address(text: &str) -> Result<LogAddress, String> {
    let bad = || format!("invalid address: '{text}'");
    match text {
        "stdout" => return Ok(LogAddress::Fd(1)),
        "stderr" => return Ok(LogAddress::Fd(2)),
        _ => {}
    }
    if let Some(fd) = text.strip_prefix("fd@") {
        return fd.parse().map(LogAddress::Fd).map_err(|_| bad());
    }
    if let Some(ring) = text.strip_prefix("ring@") {
        return Ok(LogAddress::Ring(ring.to_owned()));
    }
    if let Some(path) = text.strip_prefix("unix@") {
        if path.is_empty() {
            return Err(bad());
        }
        return Ok(LogAddress::Unix(path.to_owned()));
    }
    if text.starts_with('/') {
        return Ok(LogAddress::Unix(text.to_owned()));
    }
    let host_port = [
        "ipv4@", "ipv6@", "udp@", "udp4@", "udp6@", "tcp@", "tcp4@", "tcp6@",
    ]
    .iter()
    .find_map(|p| text.strip_prefix(p))
    .unwrap_or(text);
    if host_port.is_empty() || host_port.contains('@') {
        return Err(bad());
    }
    // A port, when there is one, is a number (IPv6 addresses have several colons).
    if host_port.matches(':').count() == 1
        && let Some((host, port)) = host_port.split_once(':')
        && (host.is_empty() || (!port.is_empty() && port.parse::<u16>().is_err()))
    {
        return Err(bad());
    }
    Ok(LogAddress::Net(text.to_owned()))
}

impl LogAddress {
    /// A `log` line's address (`stdout`, `fd@N`, `ring@NAME`, `/dev/log`, `unix@PATH`,
    /// `[udp@]HOST:PORT`...); the error is HAProxy's wording.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_address(text)
    }
}

impl fmt::Display for LogAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fd(n) => write!(f, "fd@{n}"),
            Self::Ring(r) => write!(f, "ring@{r}"),
            Self::Unix(p) | Self::Net(p) => f.write_str(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;

    fn parse(line: &str, negated: bool) -> Result<LogDirective, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse_log(&words, negated, &Span::file(Arc::from(Path::new("t"))))
    }

    fn server(line: &str) -> LogServer {
        match parse(line, false) {
            Ok(LogDirective::Add(LogTarget::Server(s))) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forms() {
        assert!(matches!(
            parse("global", false),
            Ok(LogDirective::Add(LogTarget::Global(_)))
        ));
        assert_eq!(parse("", true), Ok(LogDirective::Clear));
        assert_eq!(
            parse("global", true).unwrap_err(),
            "'no log' does not expect arguments"
        );
        let s = server("127.0.0.1:514 local0");
        assert_eq!(s.address, LogAddress::Net("127.0.0.1:514".into()));
        assert_eq!(
            (s.facility, s.level, s.min_level, s.max_len),
            (16, 7, 0, 1024)
        );
        let s = server("/dev/log len 2048 format rfc5424 sample 1-2,4:5 daemon info notice");
        assert_eq!(s.address, LogAddress::Unix("/dev/log".into()));
        assert_eq!(
            (s.facility, s.level, s.min_level, s.max_len),
            (3, 6, 5, 2048)
        );
        assert_eq!(s.format.as_deref(), Some("rfc5424"));
        assert_eq!(server("stdout local7").address, LogAddress::Fd(1));
        assert_eq!(
            server("ring@buf user").address,
            LogAddress::Ring("buf".into())
        );
        assert_eq!(
            server("udp@[::1]:514 user").address.to_string(),
            "udp@[::1]:514"
        );
    }

    #[test]
    fn errors() {
        let e = |l: &str| parse(l, false).unwrap_err();
        assert_eq!(
            e("127.0.0.1"),
            "expects <address> and <facility> or global as arguments"
        );
        assert_eq!(e("127.0.0.1 nope"), "unknown log facility 'nope'");
        assert_eq!(
            e("127.0.0.1 user loud"),
            "unknown optional log level 'loud'"
        );
        assert_eq!(
            e("127.0.0.1 user info bad"),
            "unknown optional minimum log level 'bad'"
        );
        assert_eq!(
            e("127.0.0.1 user info err x"),
            "cannot handle unexpected argument 'x'"
        );
        assert_eq!(
            e("127.0.0.1 len 10 user"),
            "invalid log length '10', must be between 80 and 65535"
        );
        assert_eq!(e("127.0.0.1 format xml user"), "unknown log format 'xml'");
        assert_eq!(e("127.0.0.1 sample 2 user"), "Missing sample size");
        assert_eq!(e("host:port user"), "invalid address: 'host:port'");
        assert_eq!(e("fd@x user"), "invalid address: 'fd@x'");
    }
}
