//! Writes a [`LineFormat`] with the facts of one request (`sess_build_logline()`).

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::format::LineFormat;
use super::nodes::{Node, Opts, Var};
use crate::logtime::{AcceptDate, Civil, MONTHS, Timer};

/// The facts of one access line.
#[derive(Clone)]
pub(crate) struct Facts<'a> {
    pub(crate) client: SocketAddr,
    /// The address the client connected to (`%fi:%fp`).
    pub(crate) local: SocketAddr,
    /// The server's address, once one was chosen (`%si:%sp`).
    pub(crate) server_addr: Option<SocketAddr>,
    /// `%tr`: when the request started (its first byte, or the head).
    pub(crate) received: SystemTime,
    pub(crate) frontend: &'a str,
    /// The client connection is TLS (`%ft` ends with `~`).
    pub(crate) tls: bool,
    pub(crate) backend: &'a str,
    pub(crate) server: &'a str,
    /// `%TR`: receiving the request head.
    pub(crate) t_request: Timer,
    /// `%Tw`: waiting in a queue for a server slot.
    pub(crate) t_queue: Timer,
    /// `%Tc`: connecting to the server.
    pub(crate) t_connect: Timer,
    /// `%Tr`: the server's response head.
    pub(crate) t_response: Timer,
    /// `%Ta`: the whole request, from `%tr` to the last byte.
    pub(crate) t_active: Duration,
    /// `%ST`: the status sent, `-1` when none was.
    pub(crate) status: Option<u16>,
    /// `%B`: bytes sent to the client.
    pub(crate) bytes: u64,
    /// `%ts`: the two-letter termination state (`--`, `PR`, `cR`, `CD`...).
    pub(crate) termination: &'a str,
    /// `%tsc`'s cookie letters.
    pub(crate) cookies: [u8; 2],
    /// `%ac/%fc/%bc/%sc/%rc`.
    pub(crate) counters: [usize; 5],
    /// `%sq/%bq`.
    pub(crate) queues: [usize; 2],
    /// `%r`: `METHOD URI VERSION`, `None` for `<BADREQ>`.
    pub(crate) request: Option<(&'a str, &'a str, &'a str)>,
    /// `%rt`: the request's number in the process.
    pub(crate) request_counter: u64,
    /// `%lc`.
    pub(crate) log_count: u64,
    /// `%ID`.
    pub(crate) unique_id: Option<&'a str>,
    /// `%hr`, `%hrl`: the request's captures (empty: the frontend captures nothing).
    pub(crate) request_captures: &'a [Option<String>],
    /// `%hs`, `%hsl`.
    pub(crate) response_captures: &'a [Option<String>],
    /// The values of the format's `%[EXPR]`, in its order (shorter: no value).
    pub(crate) samples: &'a [Option<String>],
}

/// The facts written with a format.
pub(crate) struct Line<'a> {
    pub(crate) format: &'a LineFormat,
    pub(crate) facts: Facts<'a>,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last_space = true;
        for node in self.format.nodes() {
            match node {
                Node::Separator => {
                    if !last_space {
                        f.write_char(' ')?;
                        last_space = true;
                    }
                }
                Node::Text(t) => {
                    f.write_str(t)?;
                    last_space = false;
                }
                Node::Sample(i, opts) => {
                    let value = self.facts.samples.get(*i).and_then(Option::as_deref);
                    text(f, value, *opts)?;
                    last_space = false;
                }
                Node::Var(var, opts) => {
                    if self.facts.var(f, *var, *opts)? {
                        last_space = false;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `lf_text_len()`: `value` quoted and escaped as `opts` say; `-` when there is none and the
/// node is mandatory and not quoted.
fn text(f: &mut fmt::Formatter<'_>, value: Option<&str>, opts: Opts) -> fmt::Result {
    if opts.quote {
        f.write_char('"')?;
    }
    match value.filter(|v| !v.is_empty()) {
        Some(v) if opts.escape => {
            for c in v.chars() {
                if matches!(c, '"' | '\\' | ']') {
                    f.write_char('\\')?;
                }
                f.write_char(c)?;
            }
        }
        Some(v) => f.write_str(v)?,
        None if opts.mandatory && !opts.quote => f.write_char('-')?,
        None => {}
    }
    if opts.quote {
        f.write_char('"')?;
    }
    Ok(())
}

/// Which bytes `encode()` writes as `#XX`.
#[derive(Clone, Copy)]
enum Map {
    /// `url_encode_map`: controls, non-ASCII, `"`, `#`.
    Url,
    /// `hdr_encode_map`: also `{`, `|`, `}`.
    Header,
}

/// `lf_encode_string()`: the bytes of `map` as `#XX`; with `+E`, `"`, `\` and `]` escaped.
fn encode(f: &mut fmt::Formatter<'_>, value: &str, map: Map, opts: Opts) -> fmt::Result {
    for &b in value.as_bytes() {
        let encoded = !(32..127).contains(&b)
            || matches!(b, b'"' | b'#')
            || (matches!(map, Map::Header) && matches!(b, b'{' | b'|' | b'}'));
        if encoded {
            write!(f, "#{b:02X}")?;
        } else {
            if opts.escape && matches!(b, b'"' | b'\\' | b']') {
                f.write_char('\\')?;
            }
            f.write_char(char::from(b))?;
        }
    }
    Ok(())
}

/// `value` (encoded with the URL map) in quotes when `+Q`.
fn quoted_encoded(f: &mut fmt::Formatter<'_>, value: &str, opts: Opts) -> fmt::Result {
    if opts.quote {
        f.write_char('"')?;
    }
    encode(f, value, Map::Url, opts)?;
    if opts.quote {
        f.write_char('"')?;
    }
    Ok(())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The host name `%H` writes (`gethostname()`), read once.
fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

/// `dd/Mmm/yyyy:hh:mm:ss +0000` (HAProxy's `gmt2str_log()` and, on a UTC host,
/// `localdate2str_log()`).
struct ZonedDate(SystemTime);

impl fmt::Display for ZonedDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = Civil::of(self.0);
        write!(
            f,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            c.day,
            MONTHS[usize::from(c.month - 1)],
            c.year,
            c.hour,
            c.minute,
            c.second
        )
    }
}

impl Facts<'_> {
    /// `%TR`, `%Tw`, `%Tc`, `%Tr` as the cumulated times since the request's start
    /// (HAProxy's `t_request`, `t_queue`, `t_connect`, `t_data`), `-1` from the first step
    /// that never happened.
    fn cumulated(&self) -> [i64; 4] {
        let mut total = 0;
        let mut out = [-1; 4];
        for (o, t) in out.iter_mut().zip([
            self.t_request,
            self.t_queue,
            self.t_connect,
            self.t_response,
        ]) {
            let Some(d) = t.0 else { break };
            total += ms(d);
            *o = total;
        }
        out
    }

    /// Writes `var`; whether it wrote something that is not a space (`%hr` and its kind write
    /// nothing without captures, and leave the last space as it was).
    fn var(&self, f: &mut fmt::Formatter<'_>, var: Var, opts: Opts) -> Result<bool, fmt::Error> {
        let num = |f: &mut fmt::Formatter<'_>, n: i64| write!(f, "{n}");
        let hex4 = |f: &mut fmt::Formatter<'_>, n: u64| {
            if opts.hexa {
                write!(f, "{n:04X}")
            } else {
                write!(f, "{n}")
            }
        };
        let addr_ip = |f: &mut fmt::Formatter<'_>, a: Option<SocketAddr>| match a {
            Some(a) if opts.hexa => match a.ip() {
                std::net::IpAddr::V4(v4) => {
                    v4.octets().iter().try_for_each(|b| write!(f, "{b:02X}"))
                }
                std::net::IpAddr::V6(v6) => {
                    v6.octets().iter().try_for_each(|b| write!(f, "{b:02X}"))
                }
            },
            Some(a) => text(f, Some(&a.ip().to_string()), opts),
            None => text(f, None, opts),
        };
        let addr_port = |f: &mut fmt::Formatter<'_>, a: Option<SocketAddr>| match a {
            Some(a) if opts.hexa => write!(f, "{:04X}", a.port()),
            Some(a) => write!(f, "{}", a.port()),
            None => text(f, None, opts),
        };
        let [t_req, t_queue, t_conn, t_data] = self.cumulated();
        let t_close = ms(self.t_active);
        match var {
            Var::ClientIp => addr_ip(f, Some(self.client))?,
            Var::ClientPort => addr_port(f, Some(self.client))?,
            Var::FrontendIp => addr_ip(f, Some(self.local))?,
            Var::FrontendPort => addr_port(f, Some(self.local))?,
            Var::ServerIp => addr_ip(f, self.server_addr)?,
            Var::ServerPort => addr_port(f, self.server_addr)?,
            Var::Date | Var::DateRequest => write!(f, "{}", AcceptDate(self.received))?,
            Var::DateGmt | Var::DateRequestGmt | Var::DateLocal | Var::DateRequestLocal => {
                write!(f, "{}", ZonedDate(self.received))?;
            }
            Var::Timestamp => {
                let secs = self
                    .received
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                hex4(f, secs)?;
            }
            Var::Millis => {
                let millis = self
                    .received
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_millis();
                if opts.hexa {
                    write!(f, "{millis:02X}")?;
                } else {
                    write!(f, "{millis:03}")?;
                }
            }
            Var::Frontend => text(f, Some(self.frontend), opts)?,
            Var::FrontendXprt => {
                if opts.quote {
                    f.write_char('"')?;
                }
                f.write_str(self.frontend)?;
                if self.tls {
                    f.write_char('~')?;
                }
                if opts.quote {
                    f.write_char('"')?;
                }
            }
            Var::Backend => text(f, Some(self.backend), opts)?,
            Var::Server => text(f, Some(self.server), opts)?,
            Var::Th | Var::Ti => num(f, 0)?,
            Var::TR | Var::Tq => num(f, t_req)?,
            Var::Tw => num(f, if t_queue >= 0 { t_queue - t_req } else { -1 })?,
            Var::Tc => num(f, if t_conn >= 0 { t_conn - t_queue } else { -1 })?,
            Var::Tr => num(f, if t_data >= 0 { t_data - t_conn } else { -1 })?,
            Var::Td => num(f, if t_data >= 0 { t_close - t_data } else { -1 })?,
            Var::Ta | Var::Tt | Var::Tu => num(f, t_close)?,
            Var::Status => num(f, self.status.map_or(-1, i64::from))?,
            Var::Bytes => write!(f, "{}", self.bytes)?,
            Var::CookieClient | Var::CookieServer => text(f, None, opts)?,
            Var::Termination => write!(f, "{:-<2}", self.termination)?,
            Var::TerminationCookies => write!(
                f,
                "{:-<2}{}{}",
                self.termination,
                char::from(self.cookies[0]),
                char::from(self.cookies[1])
            )?,
            Var::ActConn => write!(f, "{}", self.counters[0])?,
            Var::FeConn => write!(f, "{}", self.counters[1])?,
            Var::BeConn => write!(f, "{}", self.counters[2])?,
            Var::SrvConn => write!(f, "{}", self.counters[3])?,
            Var::Retries => write!(f, "{}", self.counters[4])?,
            Var::ServerQueue => write!(f, "{}", self.queues[0])?,
            Var::BackendQueue => write!(f, "{}", self.queues[1])?,
            Var::HeadersRequest | Var::HeadersResponse => {
                let caps = if var == Var::HeadersRequest {
                    self.request_captures
                } else {
                    self.response_captures
                };
                if caps.is_empty() {
                    return Ok(false);
                }
                if opts.quote {
                    f.write_char('"')?;
                }
                f.write_char('{')?;
                for (i, c) in caps.iter().enumerate() {
                    if i > 0 {
                        f.write_char('|')?;
                    }
                    if let Some(c) = c {
                        encode(f, c, Map::Header, opts)?;
                    }
                }
                f.write_char('}')?;
                if opts.quote {
                    f.write_char('"')?;
                }
            }
            Var::HeadersRequestList | Var::HeadersResponseList => {
                let caps = if var == Var::HeadersRequestList {
                    self.request_captures
                } else {
                    self.response_captures
                };
                if caps.is_empty() {
                    return Ok(false);
                }
                for (i, c) in caps.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    if opts.quote {
                        f.write_char('"')?;
                    }
                    match c {
                        Some(c) => encode(f, c, Map::Header, opts)?,
                        None if !opts.quote => f.write_char('-')?,
                        None => {}
                    }
                    if opts.quote {
                        f.write_char('"')?;
                    }
                }
            }
            Var::Request => {
                let line = self
                    .request
                    .map(|(m, u, v)| format!("{m} {u} {v}"))
                    .unwrap_or_else(|| "<BADREQ>".to_owned());
                quoted_encoded(f, &line, opts)?;
            }
            Var::HttpMethod | Var::HttpUri | Var::HttpVersion => {
                let value = match self.request {
                    Some((m, u, v)) => match var {
                        Var::HttpMethod => m,
                        Var::HttpUri => u,
                        _ => v,
                    },
                    None => "<BADREQ>",
                };
                quoted_encoded(f, value, opts)?;
            }
            Var::HttpPath | Var::HttpPathOnly | Var::HttpQuery => {
                let value = match self.request {
                    Some((_, u, _)) => {
                        let (before, query) = u.find('?').map_or((u, ""), |q| u.split_at(q));
                        match var {
                            Var::HttpPath => before,
                            Var::HttpQuery => query,
                            // The path of an absolute URI, without its scheme and authority.
                            _ => match before.find("://") {
                                Some(s) => before[s + 3..]
                                    .find('/')
                                    .map_or("", |p| &before[s + 3 + p..]),
                                None => before,
                            },
                        }
                    }
                    None => "<BADREQ>",
                };
                quoted_encoded(f, value, opts)?;
            }
            Var::RequestCounter => hex4(f, self.request_counter)?,
            Var::LogCount => hex4(f, self.log_count)?,
            Var::Hostname => text(f, Some(hostname()), opts)?,
            Var::Pid => hex4(f, u64::from(std::process::id()))?,
            Var::UniqueId => text(f, self.unique_id, opts)?,
        }
        Ok(true)
    }
}
