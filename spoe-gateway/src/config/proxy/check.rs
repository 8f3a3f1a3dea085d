//! Active health checks of a backend: `option httpchk`, `http-check send|expect|connect|
//! disable-on-404`, `option tcp-check` with `tcp-check connect`; what the backend does when
//! servers fail: `option allbackups`, `retries`, `option redispatch`
//! (`proxy_parse_httpchk_opt()`, `proxy_parse_http_check_req()`, `parse_tcpcheck_send_http()`,
//! `parse_tcpcheck_expect()` and `parse_tcpcheck_connect()` in HAProxy 2.6's
//! `src/tcpcheck.c`). What the section says is gathered in a
//! [`CheckBuilder`](crate::config::check_rules::CheckBuilder).

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Line, Modifier, Word};

use crate::config::lower::{Lowerer, Proxy};
use crate::model::{Expect, ExpectKind};

impl Lowerer<'_, '_> {
    /// `option httpchk [[METH] URI [VER]]`: HTTP checks. A version may carry headers after
    /// `\r\n` (the older form HAProxy still reads, with a warning).
    pub(super) fn option_httpchk(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if line.modifier != Modifier::None {
            return self.negation(line, "httpchk");
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        if self.too_many(line, 4, directive) {
            return;
        }
        let args: Vec<&str> = line.words[2..].iter().map(Word::as_str).collect();
        let c = &mut p.checks;
        c.http = true;
        c.proto = None;
        let (meth, uri, ver) = match args.as_slice() {
            [] => (None, None, None),
            [uri] => (None, Some(*uri), None),
            [meth, uri] => (Some(*meth), Some(*uri), None),
            [meth, uri, ver, ..] => (Some(*meth), Some(*uri), Some(*ver)),
        };
        c.meth = meth.map(str::to_owned);
        c.uri = uri.map(str::to_owned);
        c.hdrs.clear();
        c.body = None;
        c.ver = None;
        if let Some(ver) = ver {
            let mut parts = ver.split("\r\n");
            c.ver = parts.next().map(str::to_owned);
            let mut rest: Vec<&str> = parts.collect();
            // Headers up to an empty line, then the body.
            if let Some(blank) = rest.iter().position(|l| l.is_empty()) {
                let body = rest.split_off(blank)[1..].join("\r\n");
                c.body = Some(body).filter(|b| !b.is_empty());
            }
            for h in rest {
                let Some((n, v)) = h.split_once(':') else {
                    return self.diag.error_msg(
                        line.words[4].span().clone(),
                        format!("'{directive}' : invalid header '{h}' after the version"),
                    );
                };
                c.hdrs.push((n.trim().to_owned(), v.trim().to_owned()));
            }
            if !c.hdrs.is_empty() || c.body.is_some() {
                self.diag.warn_msg(
                    line.words[4].span().clone(),
                    format!(
                        "'{directive}' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead."
                    ),
                );
            }
        }
    }

    /// `option tcp-check`: checks made of `tcp-check` rules (a TCP connect without any).
    pub(super) fn option_tcp_check(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if line.modifier != Modifier::None {
            return self.negation(line, "tcp-check");
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        if self.too_many(line, 1, directive) {
            return;
        }
        p.checks.http = false;
        p.checks.proto = None;
    }

    /// `[no] option allbackups`.
    pub(super) fn option_allbackups(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 1, directive) {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        p.all_backups = line.modifier == Modifier::None;
    }

    /// `[no] option redispatch [interval]` (`no`: none; 0 is refused as in HAProxy).
    pub(super) fn option_redispatch(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        if self.too_many(line, 2, directive) {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        if line.modifier == Modifier::No {
            p.retry.redispatch = None;
            return;
        }
        let interval = match line.arg(2) {
            None => -1,
            Some(word) => match word.as_str().parse::<i32>() {
                Ok(n) if n != 0 => n,
                _ => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!(
                            "'{directive}' : the interval must be a non-zero integer, got '{}'",
                            word.as_str()
                        ),
                    );
                }
            },
        };
        p.retry.redispatch = Some(interval);
    }

    /// `retries N`: connection attempts after a failed one.
    pub(super) fn retries(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "retries", "an integer");
        };
        if self.too_many(line, 1, "retries") {
            return;
        }
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "retries");
        }
        if let Some(n) = self.ranged(word, "retries", 0, i32::MAX as u64) {
            p.retry.retries = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }

    pub(super) fn negation(&mut self, line: &Line, name: &str) {
        self.diag.error(
            line.words[1].span().clone(),
            ConfigErrorKind::NegationNotSupported {
                name: name.to_owned(),
            },
        );
    }

    /// `http-check send|expect|connect|disable-on-404 ...`.
    pub(super) fn http_check(&mut self, p: &mut Proxy, line: &Line) {
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "http-check");
        }
        let Some(verb) = line.arg(1) else {
            return self.missing(
                line,
                "http-check",
                "'disable-on-404', 'send-state', 'comment', 'connect', 'send', 'expect' or 'set-var'",
            );
        };
        match verb.as_str() {
            "disable-on-404" => {
                if !self.too_many(line, 1, "http-check disable-on-404") {
                    p.checks.disable_on_404 = true;
                }
            }
            "send" => self.http_check_send(p, line),
            "expect" => self.http_check_expect(p, line),
            "connect" => self.check_connect(p, line, "http-check connect"),
            other => self.diag.error_msg(
                verb.span().clone(),
                format!("'http-check {other}' is not supported by the gateway (supported: 'send', 'expect', 'connect' and 'disable-on-404')"),
            ),
        }
    }

    /// `tcp-check connect [port N]`: the only rule of a TCP check the gateway runs.
    pub(super) fn tcp_check(&mut self, p: &mut Proxy, line: &Line) {
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "tcp-check");
        }
        match line.arg_str(1) {
            Some("connect") => self.check_connect(p, line, "tcp-check connect"),
            Some(other) => self.diag.error_msg(
                line.words[1].span().clone(),
                format!("'tcp-check {other}' is not supported by the gateway (supported: 'connect [port N]')"),
            ),
            None => self.missing(line, "tcp-check", "'connect'"),
        }
    }

    /// `http-check connect [port N]` / `tcp-check connect [port N]`.
    fn check_connect(&mut self, p: &mut Proxy, line: &Line, directive: &str) {
        let mut i = 2;
        while let Some(word) = line.arg(i) {
            match word.as_str() {
                "port" => {
                    let Some(value) = line.arg(i + 1) else {
                        return self.missing(line, directive, "a port after 'port'");
                    };
                    let Some(port) = self.ranged(value, "port", 1, 65535) else {
                        return;
                    };
                    p.checks.port = u16::try_from(port).ok();
                    i += 2;
                }
                other => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!(
                            "'{directive}' : '{other}' is not supported by the gateway (supported: 'port')"
                        ),
                    );
                }
            }
        }
    }

    /// `http-check send [meth M] [uri U] [ver V] [hdr NAME VALUE]... [body STRING]`: each
    /// part replaces what `option httpchk` said, headers are added.
    fn http_check_send(&mut self, p: &mut Proxy, line: &Line) {
        let mut i = 2;
        let c = &mut p.checks;
        while let Some(word) = line.arg(i) {
            let key = word.as_str();
            let arity = if key == "hdr" { 2 } else { 1 };
            let values: Vec<&str> = (1..=arity).filter_map(|k| line.arg_str(i + k)).collect();
            if !matches!(key, "meth" | "uri" | "ver" | "hdr" | "body") {
                let msg = if matches!(key, "uri-lf" | "body-lf" | "comment") {
                    format!(
                        "'http-check send' : '{key}' is not supported by the gateway (supported: 'meth', 'uri', 'ver', 'hdr' and 'body')"
                    )
                } else {
                    format!(
                        "'http-check send' expects 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '{key}' as argument"
                    )
                };
                return self.diag.error_msg(word.span().clone(), msg);
            }
            if values.len() < arity {
                return self.diag.error_msg(
                    word.span().clone(),
                    format!("'http-check send' : '{key}' expects {arity} argument(s)"),
                );
            }
            match key {
                "meth" => c.meth = Some(values[0].to_owned()),
                "uri" => c.uri = Some(values[0].to_owned()),
                "ver" => c.ver = Some(values[0].to_owned()),
                "hdr" => c.hdrs.push((values[0].to_owned(), values[1].to_owned())),
                _ => c.body = Some(values[0].to_owned()),
            }
            i += arity + 1;
        }
    }

    /// `http-check expect [!] status|rstatus|string|rstring PATTERN`.
    fn http_check_expect(&mut self, p: &mut Proxy, line: &Line) {
        let mut i = 2;
        let mut inverse = false;
        if line.arg_str(i) == Some("!") {
            inverse = true;
            i += 1;
        }
        let (Some(kind), Some(pattern)) = (line.arg(i), line.arg(i + 1)) else {
            return self.missing(
                line,
                "http-check expect",
                "a match ('status', 'rstatus', 'string' or 'rstring') and its pattern",
            );
        };
        let text = pattern.as_str();
        let regex = |lw: &mut Self| match regex::Regex::new(text) {
            Ok(r) => Some(r),
            Err(e) => {
                lw.diag.error_msg(
                    pattern.span().clone(),
                    format!("'http-check expect' : invalid regex '{text}': {e}"),
                );
                None
            }
        };
        let kind = match kind.as_str() {
            "status" => {
                let mut codes = Vec::new();
                for range in text.split(',') {
                    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                    match (lo.parse::<u16>(), hi.parse::<u16>()) {
                        (Ok(lo), Ok(hi)) => codes.push((lo, hi)),
                        _ => {
                            return self.diag.error_msg(
                                pattern.span().clone(),
                                format!("'http-check expect status' : invalid status code or range '{range}'"),
                            );
                        }
                    }
                }
                ExpectKind::Status(codes)
            }
            "rstatus" => match regex(self) {
                Some(r) => ExpectKind::RStatus(r),
                None => return,
            },
            "string" => ExpectKind::String(text.to_owned()),
            "rstring" => match regex(self) {
                Some(r) => ExpectKind::RString(r),
                None => return,
            },
            other => {
                return self.diag.error_msg(
                    kind.span().clone(),
                    format!("'http-check expect {other}' is not supported by the gateway (supported: 'status', 'rstatus', 'string' and 'rstring')"),
                );
            }
        };
        if let Some(extra) = line.arg(i + 2) {
            return self.diag.error_msg(
                extra.span().clone(),
                format!(
                    "'http-check expect' : '{}' is not supported by the gateway",
                    extra.as_str()
                ),
            );
        }
        p.checks.expects.push(Expect { inverse, kind });
    }
}
