//! Listening and server addresses, read as HAProxy's `str2sa_range()` (`src/tools.c`) reads
//! them: `ADDR:PORT`, `:PORT` and `*:PORT` (every IPv4 address), `[::1]:PORT` or `::1:PORT`
//! (the last colon separates the port), `:::PORT` (every IPv6 address), `ipv4@` / `ipv6@`
//! prefixes, comma-separated lists and port ranges for `bind`. A host name is resolved once,
//! when the configuration is read (as HAProxy does at startup); the first address wins.
//!
//! Environment variables are expanded first, outside quotes too, as `str2sa_range()` does
//! with `env_expand()`: `bind :${PORT}`, `server s1 ${BACKEND}:80`.
//!
//! A server's port may be left out, or be an offset (`+1000`, `-10`): the client's
//! destination port is used, plus the offset (HAProxy's `SRV_F_MAPPORTS`).
//!
//! Stricter than HAProxy: a port must be plain digits (HAProxy's `atoi()` reads `80x` as 80).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use spoe::config::reader::{Word, env_expand};

/// The most addresses one `bind` line may expand to (every port of one address).
const MAX_ADDRESSES: usize = 65536;

/// What the address is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddrUse {
    /// `bind`: lists and port ranges allowed.
    Bind,
    /// `server`: one address.
    Server,
}

/// An address that could not be read: byte offset in the word, message.
pub(super) type AddrError = (usize, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

/// Parses every address of `word`, after its environment variables (read from `env`). An
/// error in an expanded address points at the word's start.
pub(super) fn parse_addresses(
    word: &Word,
    usage: AddrUse,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<SocketAddr>, AddrError> {
    let expanded = expand(word, env)?;
    let parsed = match expanded {
        Cow::Borrowed(text) => parse_text(text, usage),
        Cow::Owned(text) => parse_text(&text, usage).map_err(|(_, msg)| (0, msg)),
    };
    parsed.map(|(addrs, _)| addrs)
}

/// A `server` address as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServerAddress {
    /// The address; unspecified (`0.0.0.0`) with its port when `fqdn` names it.
    pub(super) addr: SocketAddr,
    /// For a mapped port (none, or `+N`/`-N`), the offset added to the client's destination
    /// port (the address's port is then 0).
    pub(super) port_offset: Option<i32>,
    /// A host name rather than an IP address: resolved as `init-addr` says (by the server's
    /// reader), and at run time with `resolvers`.
    pub(super) fqdn: Option<String>,
}

/// Parses a `server` address; a host name is left for the server's `init-addr` to resolve.
pub(super) fn parse_server_address(
    word: &Word,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerAddress, AddrError> {
    let expanded = expand(word, env)?;
    let mut fqdn = None;
    let mut out = Vec::new();
    let parsed = parse_one(&expanded, 0, AddrUse::Server, &mut out, Some(&mut fqdn));
    let port_offset = match expanded {
        Cow::Borrowed(_) => parsed?,
        Cow::Owned(_) => parsed.map_err(|(_, msg)| (0, msg))?,
    };
    let addr = out.first().copied().ok_or((0, String::new()))?;
    Ok(ServerAddress {
        addr,
        port_offset,
        fqdn,
    })
}

/// Resolves a server's host name with the system's resolver (`init-addr libc`): the first
/// address.
pub(super) fn resolve_libc(host: &str, port: u16) -> Option<IpAddr> {
    resolve(host, port, Family::Any)
}

/// `word` with its environment variables expanded; an empty result is an error.
fn expand<'a>(
    word: &'a Word,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, AddrError> {
    let expanded = env_expand(word.as_str(), env);
    if expanded.is_empty() {
        return Err((
            0,
            format!(
                "'{}' resolves to an empty address (environment variable missing?)",
                word.as_str()
            ),
        ));
    }
    Ok(expanded)
}

fn parse_text(text: &str, usage: AddrUse) -> Result<(Vec<SocketAddr>, Option<i32>), AddrError> {
    let mut out = Vec::new();
    let mut mapped = None;
    let mut offset = 0;
    let elements: Vec<&str> = match usage {
        AddrUse::Bind => text.split(',').collect(),
        AddrUse::Server => vec![text],
    };
    for element in elements {
        mapped = parse_one(element, offset, usage, &mut out, None)?;
        offset += element.len() + 1;
    }
    Ok((out, mapped))
}

/// Parses one address into `out`; for a server's mapped port, returns its offset. With
/// `name`, a host name is not resolved: it goes there, and the address is unspecified.
fn parse_one(
    element: &str,
    offset: usize,
    usage: AddrUse,
    out: &mut Vec<SocketAddr>,
    name: Option<&mut Option<String>>,
) -> Result<Option<i32>, AddrError> {
    let (family, rest, rest_at) = match element.find('@') {
        Some(at) => {
            let prefix = &element[..at];
            let family = match prefix {
                "ipv4" | "tcp4" => Family::V4,
                "ipv6" | "tcp6" => Family::V6,
                "tcp" => Family::Any,
                "unix" | "abns" | "fd" | "sockpair" | "udp" | "udp4" | "udp6" | "uxst" | "uxdg"
                | "quic4" | "quic6" | "rhttp" => {
                    return Err((
                        offset,
                        format!(
                            "'{prefix}@' addresses are not supported by the gateway (TCP over IPv4 or IPv6 only)"
                        ),
                    ));
                }
                _ => {
                    return Err((
                        offset,
                        format!("unknown address family '{prefix}' in '{element}'"),
                    ));
                }
            };
            (family, &element[at + 1..], offset + at + 1)
        }
        None => (Family::Any, element, offset),
    };
    if rest.starts_with('/') {
        return Err((
            rest_at,
            format!(
                "UNIX socket path '{rest}' is not supported by the gateway (TCP over IPv4 or IPv6 only)"
            ),
        ));
    }
    // The last ':' or ']' decides: a ':' after any ']' separates the port.
    let bytes = rest.as_bytes();
    let sep = bytes.iter().rposition(|&b| b == b':' || b == b']');
    let (host, port_text, port_at) = match sep {
        Some(i) if bytes[i] == b':' => (&rest[..i], &rest[i + 1..], rest_at + i + 1),
        _ => (rest, "", rest_at + rest.len()),
    };
    let mapped = match usage {
        AddrUse::Server => mapped_port(port_text, port_at, element)?,
        AddrUse::Bind => None,
    };
    let (low, high) = if mapped.is_some() {
        (0, 0)
    } else if port_text.is_empty() {
        return Err((
            port_at,
            format!("missing port specification in '{element}'"),
        ));
    } else {
        parse_ports(port_text, port_at, element, usage)?
    };
    let ip = parse_host(host, family, element, rest_at)?;
    let ip = match (ip, name) {
        (Some(ip), _) => ip,
        (None, Some(name)) => {
            *name = Some(host.to_owned());
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
        (None, None) => resolve(host, low, family).ok_or_else(|| {
            (
                rest_at,
                format!("invalid address: '{host}' in '{element}' (not an IP address, and the name does not resolve)"),
            )
        })?,
    };
    if out.len() + usize::from(high - low) >= MAX_ADDRESSES {
        return Err((
            offset,
            format!("too many listening addresses (more than {MAX_ADDRESSES} on one line)"),
        ));
    }
    for port in low..=high {
        out.push(SocketAddr::new(ip, port));
    }
    Ok(mapped)
}

/// A server's mapped port: none (offset 0), or `+N`/`-N` (N up to 65535).
fn mapped_port(text: &str, at: usize, element: &str) -> Result<Option<i32>, AddrError> {
    let (sign, digits) = match text.as_bytes().first() {
        None => return Ok(Some(0)),
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        Some(_) => return Ok(None),
    };
    digits
        .parse::<u16>()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .map(|n| Some(sign * i32::from(n)))
        .ok_or_else(|| (at, format!("invalid port offset '{text}' in '{element}'")))
}

/// `PORT` or `LOW-HIGH`, each in 1..=65535.
fn parse_ports(
    text: &str,
    at: usize,
    element: &str,
    usage: AddrUse,
) -> Result<(u16, u16), AddrError> {
    let first = text.as_bytes()[0];
    if first == b'+' || first == b'-' {
        return Err((
            at,
            format!("port offsets are not permitted here in '{element}'"),
        ));
    }
    if !first.is_ascii_digit() {
        let ch = text.chars().next().unwrap_or(' ');
        return Err((
            at,
            format!("invalid character '{ch}' in port number '{text}' in '{element}'"),
        ));
    }
    let (low_text, high_text) = match text.split_once('-') {
        Some((l, h)) => {
            if usage == AddrUse::Server {
                return Err((at, format!("port range not permitted here in '{element}'")));
            }
            (l, Some(h))
        }
        None => (text, None),
    };
    let port = |t: &str, at: usize| -> Result<u16, AddrError> {
        t.parse::<u16>()
            .ok()
            .filter(|p| *p >= 1 && t.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| (at, format!("invalid port '{t}' in '{element}'")))
    };
    let low = port(low_text, at)?;
    let high = match high_text {
        Some(h) => port(h, at + low_text.len() + 1)?,
        None => low,
    };
    if low > high {
        return Err((
            at,
            format!("invalid port range '{low}-{high}' in '{element}'"),
        ));
    }
    Ok((low, high))
}

/// An IP literal, the "any" forms, or `None` for a name to resolve.
fn parse_host(
    host: &str,
    family: Family,
    element: &str,
    at: usize,
) -> Result<Option<IpAddr>, AddrError> {
    let invalid = || (at, format!("invalid address: '{host}' in '{element}'"));
    if host.is_empty() || host == "*" {
        return Ok(Some(match family {
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Family::Any | Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }));
    }
    let literal = match host.strip_prefix('[') {
        Some(inner) => match inner.strip_suffix(']') {
            Some(inner) => inner,
            None => return Err(invalid()),
        },
        None => host,
    };
    let ip = match literal.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) if literal.len() != host.len() => return Err(invalid()),
        Err(_) => return Ok(None),
    };
    match (family, ip) {
        (Family::V4, IpAddr::V6(_)) | (Family::V6, IpAddr::V4(_)) => Err(invalid()),
        _ => Ok(Some(ip)),
    }
}

/// Resolves a host name the way HAProxy does at startup: the first address of the family.
fn resolve(host: &str, port: u16, family: Family) -> Option<IpAddr> {
    let plausible = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !plausible {
        return None;
    }
    (host, port)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(|ip| match family {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use spoe::config::Span;

    use super::*;

    fn parse(text: &str, usage: AddrUse) -> Result<Vec<String>, AddrError> {
        let word = Word::synthetic(text, Span::new(Arc::from(Path::new("t")), 1, 1));
        let env = |name: &str| match name {
            "PORT" => Some("8080".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        parse_addresses(&word, usage, &env).map(|v| v.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn environment_outside_quotes() {
        let bind = |t| parse(t, AddrUse::Bind);
        assert_eq!(bind(":${PORT}").unwrap(), ["0.0.0.0:8080"]);
        assert_eq!(bind("127.0.0.1:$PORT").unwrap(), ["127.0.0.1:8080"]);
        assert_eq!(
            bind(":${NOPE}").unwrap_err(),
            (0, "missing port specification in ':'".to_owned())
        );
        assert_eq!(
            bind("${EMPTY}").unwrap_err().1,
            "'${EMPTY}' resolves to an empty address (environment variable missing?)"
        );
    }

    #[test]
    fn forms() {
        let bind = |t| parse(t, AddrUse::Bind).unwrap();
        assert_eq!(bind(":80"), ["0.0.0.0:80"]);
        assert_eq!(bind("*:80"), ["0.0.0.0:80"]);
        assert_eq!(bind("127.0.0.1:8080"), ["127.0.0.1:8080"]);
        assert_eq!(bind("[::1]:80"), ["[::1]:80"]);
        assert_eq!(bind("::1:80"), ["[::1]:80"]);
        assert_eq!(bind(":::80"), ["[::]:80"]);
        assert_eq!(bind("ipv6@:80"), ["[::]:80"]);
        assert_eq!(bind("ipv4@127.0.0.1:1"), ["127.0.0.1:1"]);
        assert_eq!(
            bind(":80,127.0.0.1:81-82"),
            ["0.0.0.0:80", "127.0.0.1:81", "127.0.0.1:82"]
        );
        assert_eq!(bind("localhost:80").len(), 1);
    }

    #[test]
    fn errors() {
        let err = |t, u| parse(t, u).unwrap_err();
        assert_eq!(
            err(":70000", AddrUse::Bind),
            (1, "invalid port '70000' in ':70000'".to_owned())
        );
        assert_eq!(
            err(":0", AddrUse::Bind),
            (1, "invalid port '0' in ':0'".to_owned())
        );
        assert_eq!(parse("1.2.3.4", AddrUse::Server).unwrap(), ["1.2.3.4:0"]);
        assert_eq!(
            err("1.2.3.4:80-81", AddrUse::Server).1,
            "port range not permitted here in '1.2.3.4:80-81'"
        );
        assert_eq!(
            err(":82-81", AddrUse::Bind).1,
            "invalid port range '82-81' in ':82-81'"
        );
        assert_eq!(err(":8x", AddrUse::Bind).1, "invalid port '8x' in ':8x'");
        assert_eq!(
            err("[::1:80", AddrUse::Bind).1,
            "invalid address: '[::1' in '[::1:80'"
        );
        assert!(err("unix@/x", AddrUse::Bind).1.contains("not supported"));
        assert!(err("/run/x.sock", AddrUse::Bind).1.contains("UNIX socket"));
        assert_eq!(
            err("ipv4@[::1]:80", AddrUse::Bind).1,
            "invalid address: '[::1]' in 'ipv4@[::1]:80'"
        );
        assert_eq!(err(":+1", AddrUse::Bind).0, 1);
        assert_eq!(parse(":1-65535", AddrUse::Bind).unwrap().len(), 65535);
        assert_eq!(
            err(":1-65535,:1-2", AddrUse::Bind),
            (
                9,
                "too many listening addresses (more than 65536 on one line)".to_owned()
            )
        );
    }
}
