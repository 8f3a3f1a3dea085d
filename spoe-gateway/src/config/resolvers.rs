//! `resolvers NAME` sections (`cfg_parse_resolvers()` in `src/resolvers.c`): the nameservers
//! and timings of the run-time resolution of servers named by a host name (`crate::resolve`).

use std::net::SocketAddr;
use std::sync::Arc;

use spoe::config::reader::{Line, Section};

use super::grammar::Kind;
use super::lower::Lowerer;
use crate::resolve::Resolvers;

/// The keywords of a `resolvers` section the gateway runs.
pub(super) const RESOLVERS_KEYWORDS: &[&str] = &[
    "nameserver",
    "parse-resolv-conf",
    "accepted_payload_size",
    "resolve_retries",
    "timeout",
    "hold",
];

/// Where `parse-resolv-conf` reads its nameservers.
const RESOLV_CONF: &str = "/etc/resolv.conf";

impl Lowerer<'_, '_> {
    pub(super) fn resolvers_section(&mut self, section: &Section<Kind>) {
        let Some(name) = section.header.arg(1) else {
            return self.diag.error_msg(
                section.span().clone(),
                "missing name for resolvers section.",
            );
        };
        if !self.check_name(name, "resolvers section") {
            return;
        }
        if self
            .global
            .resolvers
            .iter()
            .any(|r| r.name == name.as_str())
        {
            return self.diag.error_msg(
                name.span().clone(),
                format!(
                    "resolvers section '{}' has the same name as another resolvers section declared before.",
                    name.as_str()
                ),
            );
        }
        let mut r = Resolvers::new(name.as_str().to_owned());
        for line in &section.lines {
            self.resolvers_line(&mut r, line);
        }
        let lines_named_one = section
            .lines
            .iter()
            .any(|l| matches!(l.keyword(), "nameserver" | "parse-resolv-conf"));
        if r.nameservers.is_empty() && !lines_named_one {
            self.diag.error_msg(
                section.span().clone(),
                format!("resolvers '{}' : no nameserver found", r.name),
            );
        }
        self.global.resolvers.push(Arc::new(r));
    }

    fn resolvers_line(&mut self, r: &mut Resolvers, line: &Line) {
        let kw = line.keyword();
        match kw {
            "nameserver" => {
                let (Some(id), Some(addr)) = (line.arg(1), line.arg(2)) else {
                    return self.missing(line, "nameserver", "<id> and <addr>[:<port>]");
                };
                if r.nameservers.iter().any(|(n, _)| n == id.as_str()) {
                    return self.diag.error_msg(
                        id.span().clone(),
                        format!(
                            "nameserver '{}' has the same name as another nameserver declared before.",
                            id.as_str()
                        ),
                    );
                }
                let text = addr.as_str();
                let plain = text
                    .strip_prefix("udp@")
                    .or_else(|| text.strip_prefix("udp4@"))
                    .or_else(|| text.strip_prefix("udp6@"))
                    .or_else(|| text.strip_prefix("ipv4@"))
                    .or_else(|| text.strip_prefix("ipv6@"))
                    .unwrap_or(text);
                if plain.starts_with("tcp") && plain.contains('@') {
                    return self.diag.error_msg(
                        addr.span().clone(),
                        format!(
                            "nameserver '{}' : '{text}' : DNS over TCP is not supported by the gateway (UDP only)",
                            id.as_str()
                        ),
                    );
                }
                match plain_address(plain) {
                    Some(a) => r.nameservers.push((id.as_str().to_owned(), a)),
                    None => self.diag.error_msg(
                        addr.span().clone(),
                        format!("'nameserver' : invalid address '{text}' (expected IP:PORT, UDP)"),
                    ),
                }
                self.too_many(line, 2, "nameserver");
            }
            "parse-resolv-conf" => {
                let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
                let mut n = 0;
                for ip in text.lines().filter_map(|l| {
                    let mut words = l.split_whitespace();
                    (words.next() == Some("nameserver"))
                        .then(|| words.next()?.parse::<std::net::IpAddr>().ok())
                        .flatten()
                }) {
                    n += 1;
                    r.nameservers
                        .push((format!("resolv.conf.{n}"), SocketAddr::new(ip, 53)));
                }
                if n == 0 {
                    self.diag.warn_msg(
                        line.span().clone(),
                        format!("parse-resolv-conf : no nameserver found in {RESOLV_CONF}"),
                    );
                }
            }
            "accepted_payload_size" => {
                let Some(v) = line.arg(1) else {
                    return self.missing(line, kw, "<nb> as argument");
                };
                if let Some(n) = self.ranged(v, kw, 512, 65535) {
                    r.payload = u16::try_from(n).unwrap_or(u16::MAX);
                }
            }
            "resolve_retries" => {
                let Some(v) = line.arg(1) else {
                    return self.missing(line, kw, "<nb> as argument");
                };
                if let Some(n) = self.ranged(v, kw, 1, 1000) {
                    r.retries = u32::try_from(n).unwrap_or(1);
                }
            }
            "timeout" => {
                let (Some(event), Some(v)) = (line.arg(1), line.arg(2)) else {
                    return self.missing(line, kw, "'retry' or 'resolve' and <time> as arguments");
                };
                let Some(d) = self.duration(v, kw) else {
                    return;
                };
                match event.as_str() {
                    "retry" => r.retry = d,
                    "resolve" => r.resolve = d,
                    other => self.diag.error_msg(
                        event.span().clone(),
                        format!("'timeout' : '{other}' is not a valid timeout, expects 'retry' or 'resolve'"),
                    ),
                }
            }
            "hold" => {
                let (Some(event), Some(v)) = (line.arg(1), line.arg(2)) else {
                    return self.missing(line, kw, "<event> and <time> as arguments");
                };
                let Some(d) = self.duration(v, kw) else {
                    return;
                };
                match event.as_str() {
                    "valid" => r.hold.valid = d,
                    "nx" => r.hold.nx = d,
                    "other" => r.hold.other = d,
                    "refused" => r.hold.refused = d,
                    "timeout" => r.hold.timeout = d,
                    "obsolete" => r.hold.obsolete = d,
                    other => self.diag.error_msg(
                        event.span().clone(),
                        format!("'hold' unknown <event>: '{other}', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."),
                    ),
                }
            }
            other => {
                let hint = super::keywords::suggestion(other, RESOLVERS_KEYWORDS.iter().copied());
                self.diag.error_msg(
                    line.span().clone(),
                    format!("unknown keyword '{other}' in 'resolvers' section{hint}"),
                );
            }
        }
    }
}

/// `IP:PORT` or `[IPv6]:PORT` (the port is mandatory, as in HAProxy).
fn plain_address(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    let (host, port) = text.rsplit_once(':')?;
    let ip = host.parse::<std::net::IpAddr>().ok()?;
    Some(SocketAddr::new(ip, port.parse().ok()?))
}
