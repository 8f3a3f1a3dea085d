//! `source ADDR[:PORT] [usesrc ...] [interface NAME]` on a proxy (`cfg_parse_listen()`) and
//! on a server (`srv_parse_source()`): the local address of the connections to the
//! servers. The gateway binds that address (any port); a fixed source port or range,
//! `usesrc` (transparent proxying, which needs `IP_TRANSPARENT` and a routing set-up) and
//! `interface` are errors naming them.

use std::net::IpAddr;

use spoe::config::reader::{Line, Word};

use crate::config::lower::{Lowerer, Proxy};

impl Lowerer<'_, '_> {
    /// `source ...` in a proxy.
    pub(super) fn source(&mut self, p: &mut Proxy, line: &Line) {
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "source");
        }
        let mut i = 0;
        if let Some(ip) = self.source_words(&line.words, &mut i, "source") {
            p.source = Some(ip);
        }
        if i + 1 < line.words.len() {
            self.too_many(line, i, "source");
        }
    }

    /// Reads `source ADDR[:PORT]` at `words[*i]` (the keyword) and the `usesrc`/`interface`
    /// words after it, `*i` left on the last word read; `None` after an error.
    pub(super) fn source_words(
        &mut self,
        words: &[Word],
        i: &mut usize,
        label: &str,
    ) -> Option<IpAddr> {
        let Some(value) = words.get(*i + 1) else {
            self.diag.error_msg(
                words[*i].span().clone(),
                format!("'{label}' : 'source' expects <addr>[:<port>] as argument"),
            );
            return None;
        };
        *i += 1;
        let ip = parse_source(value.as_str()).map_err(|msg| {
            self.diag.error_msg(
                value.span().clone(),
                format!("'{label}' : 'source' : {msg}"),
            );
        });
        let mut ok = ip.is_ok();
        while let Some(next) = words.get(*i + 1) {
            let kw = next.as_str();
            if kw != "usesrc" && kw != "interface" {
                break;
            }
            let why = match kw {
                "usesrc" => {
                    "transparent proxying needs IP_TRANSPARENT and a policy routing set-up the gateway does not make"
                }
                _ => "binding to an interface (SO_BINDTODEVICE) is not done by the gateway",
            };
            self.diag.error_msg(
                next.span().clone(),
                format!("'{label}' : 'source ... {kw}' is not supported by the gateway ({why})"),
            );
            ok = false;
            *i += 1 + usize::from(words.get(*i + 2).is_some());
        }
        ip.ok().filter(|_| ok)
    }
}

/// `ADDR`, `ADDR:0` or `[ADDR]:0` (any local port); a fixed port or range is refused.
fn parse_source(text: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(ip);
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid address '{text}' (expected an IP address)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid address '{text}' (expected an IP address)"))?;
    match port {
        "" | "0" => Ok(ip),
        _ => Err(format!(
            "a fixed source port or range ('{port}') is not supported by the gateway (it binds any port of '{host}')"
        )),
    }
}
