//! What a proxy's options say of the connections it carries (`cfg_parse_listen()` in
//! `src/cfgparse-listen.c`): `option forwardfor [except NET] [header NAME] [if-none]`, `option
//! originalto [except NET] [header NAME]` and the
//! HTTP connection mode (`option http-keep-alive`, `http-server-close`, `httpclose`). The
//! request path reads them in `crate::hop`.

use std::net::{Ipv4Addr, Ipv6Addr};

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Line, Modifier};

use crate::config::lower::{Lowerer, Proxy};
use crate::model::{ForwardFor, HttpMode, Net};

impl Lowerer<'_, '_> {
    /// `option forwardfor [except NET] [header NAME] [if-none]`: each line starts afresh from
    /// HAProxy's defaults (`X-Forwarded-For`, no network, always added); `no` is refused.
    pub(super) fn option_forwardfor(&mut self, p: &mut Proxy, line: &Line) {
        if line.modifier != Modifier::None {
            return self.diag.error(
                line.words[1].span().clone(),
                ConfigErrorKind::NegationNotSupported {
                    name: "forwardfor".to_owned(),
                },
            );
        }
        let mut ff = ForwardFor {
            header: hyper::header::HeaderName::from_static("x-forwarded-for"),
            except: None,
            always: true,
        };
        let mut at = 2;
        while let Some(word) = line.arg(at) {
            match word.as_str() {
                "except" => {
                    let Some(net) = line.arg(at + 1).and_then(|w| parse_net(w.as_str())) else {
                        return self.diag.error_msg(
                            word.span().clone(),
                            "'option forwardfor except' expects <address>[/mask] as argument",
                        );
                    };
                    ff.except = Some(net);
                    at += 2;
                }
                "header" => {
                    let name = line.arg(at + 1).map(|w| w.as_str()).unwrap_or_default();
                    if name.is_empty() {
                        return self.diag.error_msg(
                            word.span().clone(),
                            "'option forwardfor header' expects <header_name> as argument",
                        );
                    }
                    let Ok(header) = hyper::header::HeaderName::from_bytes(name.as_bytes()) else {
                        return self.diag.error_msg(
                            line.words[at + 2].span().clone(),
                            format!(
                                "'option forwardfor header' : '{name}' is not a valid header name"
                            ),
                        );
                    };
                    ff.header = header;
                    at += 2;
                }
                "if-none" => {
                    ff.always = false;
                    at += 1;
                }
                _ => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        "'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'",
                    );
                }
            }
        }
        p.forwardfor = Some(ff);
    }

    /// `option originalto [except NET] [header NAME]`: the address the client connected to
    /// in `X-Original-To` (or NAME), each line starting afresh; `no` is refused.
    pub(super) fn option_originalto(&mut self, p: &mut Proxy, line: &Line) {
        if line.modifier != Modifier::None {
            return self.diag.error(
                line.words[1].span().clone(),
                ConfigErrorKind::NegationNotSupported {
                    name: "originalto".to_owned(),
                },
            );
        }
        let mut ot = ForwardFor {
            header: hyper::header::HeaderName::from_static("x-original-to"),
            except: None,
            always: true,
        };
        let mut at = 2;
        while let Some(word) = line.arg(at) {
            let value = line.arg(at + 1).map(|w| w.as_str()).unwrap_or_default();
            match word.as_str() {
                "except" => {
                    let Some(net) = parse_net(value) else {
                        return self.diag.error_msg(
                            word.span().clone(),
                            "'option originalto except' expects <address>[/mask] as argument.",
                        );
                    };
                    ot.except = Some(net);
                }
                "header" => {
                    if value.is_empty() {
                        return self.diag.error_msg(
                            word.span().clone(),
                            "'option originalto header' expects <header_name> as argument.",
                        );
                    }
                    let Ok(header) = hyper::header::HeaderName::from_bytes(value.as_bytes()) else {
                        return self.diag.error_msg(
                            line.words[at + 1].span().clone(),
                            format!(
                                "'option originalto header' : '{value}' is not a valid header name"
                            ),
                        );
                    };
                    ot.header = header;
                }
                _ => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        "'option originalto' only supports optional values: 'except' and 'header'.",
                    );
                }
            }
            at += 2;
        }
        p.originalto = Some(ot);
    }

    /// `[no] option http-keep-alive|http-server-close|httpclose`: the last one read sets the
    /// mode; `no` goes back to keep-alive only if that option set the mode in effect.
    pub(super) fn option_http_mode(&mut self, p: &mut Proxy, line: &Line, mode: HttpMode) {
        let name = line.arg_str(1).unwrap_or_default().to_owned();
        if self.too_many(line, 1, &format!("option {name}")) {
            return;
        }
        match line.modifier {
            Modifier::None => p.http_mode = mode,
            Modifier::No if p.http_mode == mode => p.http_mode = HttpMode::KeepAlive,
            Modifier::No => {}
            Modifier::Default => {
                self.diag.error(
                    line.words[1].span().clone(),
                    ConfigErrorKind::NegationNotSupported { name },
                );
            }
        }
    }
}

/// `str2net()` (IPv4 `addr[/mask]`, the mask dotted or a length) then `str62net()` (IPv6
/// `addr[/len]`); the address is masked, as HAProxy stores it.
pub(crate) fn parse_net(text: &str) -> Option<Net> {
    let (addr, mask) = match text.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (text, None),
    };
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        let mask = match mask {
            None => Ipv4Addr::BROADCAST,
            Some(m) => match m.parse::<u32>() {
                Ok(len) if len <= 32 => Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0)),
                Ok(_) => return None,
                Err(_) => m.parse::<Ipv4Addr>().ok()?,
            },
        };
        return Some(Net::V4(a & mask, mask));
    }
    let a = addr.parse::<Ipv6Addr>().ok()?;
    let len = match mask {
        None => 128,
        Some(m) => m.parse::<u8>().ok().filter(|&l| l <= 128)?,
    };
    let bits = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    Some(Net::V6(Ipv6Addr::from(u128::from(a) & bits), len))
}

#[cfg(test)]
mod tests {
    use super::parse_net;
    use crate::model::Net;

    #[test]
    fn networks_are_read_and_masked_as_haproxy_stores_them() {
        assert_eq!(
            parse_net("10.1.2.3/8"),
            Some(Net::V4([10, 0, 0, 0].into(), [255, 0, 0, 0].into()))
        );
        assert_eq!(
            parse_net("127.0.0.1"),
            Some(Net::V4([127, 0, 0, 1].into(), [255; 4].into()))
        );
        assert_eq!(
            parse_net("192.168.1.9/255.255.255.0"),
            Some(Net::V4([192, 168, 1, 0].into(), [255, 255, 255, 0].into()))
        );
        assert_eq!(
            parse_net("2001:db8::1/32"),
            Some(Net::V6("2001:db8::".parse().unwrap(), 32))
        );
        assert_eq!(parse_net("10.0.0.0/33"), None);
        assert_eq!(parse_net("nonsense"), None);
    }
}
