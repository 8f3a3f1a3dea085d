//! What a connection to a server is made for, beyond the server itself: the PROXY header it
//! starts with (`send-proxy[-v2]`) and the SNI its TLS sends (`sni EXPR`). hyper's pool keys
//! idle connections by the request URI's scheme and authority, so both ride in the authority's
//! user part (hex, `PROXY:SNI`): a connection is reused only by requests that would have made
//! the same one, as HAProxy 2.6 hashes the SNI and the PROXY header into its idle
//! connections' key (`conn_hash_params` in `src/backend.c`). The connector reads them back
//! ([`proxy_header`], [`sni`]); the user part never reaches the server (hyper sends the path
//! alone over HTTP/1, and the vendored h2 leaves it out of `:authority`).

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use hyper::Uri;
use hyper::http::uri::Authority;

/// What a connection is made for, beyond its server's address.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnKey<'a> {
    /// The PROXY header it starts with.
    pub(crate) proxy: Option<&'a [u8]>,
    /// The SNI it sends (an evaluated `sni`, already a DNS name).
    pub(crate) sni: Option<&'a str>,
}

impl ConnKey<'_> {
    /// The authority of a request to `addr` made with this key; `last` keeps the one of the
    /// server's requests without a key (most of them).
    pub(crate) fn authority(self, addr: SocketAddr, last: &LastAuthority) -> Option<Authority> {
        if self.proxy.is_none() && self.sni.is_none() {
            return last.of(addr);
        }
        let mut s = String::with_capacity(
            2 * (self.proxy.map_or(0, <[u8]>::len) + self.sni.map_or(0, str::len)) + 48,
        );
        hex(&mut s, self.proxy.unwrap_or_default());
        s.push(':');
        hex(&mut s, self.sni.unwrap_or_default().as_bytes());
        let _ = write!(s, "@{addr}");
        Authority::try_from(s).ok()
    }
}

/// The authority of a server's last request without a key, with the address it was made
/// for: formatting and parsing the address for each request cost about 1,200 instructions,
/// a clone of the kept one (a reference count) a few dozen. A server's address changes only
/// when it is resolved again or when it follows the address the client connected to
/// (`hop::server_target`): then the authority is made again.
#[derive(Debug, Default)]
pub(crate) struct LastAuthority(Mutex<Option<(SocketAddr, Authority)>>);

impl LastAuthority {
    /// The authority of a request to `addr` without a key.
    pub(crate) fn of(&self, addr: SocketAddr) -> Option<Authority> {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((kept, authority)) = &*last
            && *kept == addr
        {
            return Some(authority.clone());
        }
        let authority = Authority::try_from(addr.to_string()).ok()?;
        *last = Some((addr, authority.clone()));
        Some(authority)
    }
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The two parts of `uri`'s user part, if it has one.
fn parts(uri: &Uri) -> Option<(&str, &str)> {
    let (user, _) = uri.authority()?.as_str().split_once('@')?;
    user.split_once(':')
}

/// The PROXY header a connection for `uri` starts with, if any.
pub(crate) fn proxy_header(uri: &Uri) -> Option<Vec<u8>> {
    parts(uri)
        .map(|(p, _)| p)
        .filter(|p| !p.is_empty())
        .and_then(unhex)
}

/// The SNI a connection for `uri` sends, if it was evaluated for it.
pub(crate) fn sni(uri: &Uri) -> Option<String> {
    parts(uri)
        .map(|(_, s)| s)
        .filter(|s| !s.is_empty())
        .and_then(unhex)
        .and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(key: ConnKey<'_>) -> Uri {
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        format!(
            "https://{}/x",
            key.authority(addr, &LastAuthority::default()).unwrap()
        )
        .parse()
        .unwrap()
    }

    #[test]
    fn each_part_comes_back_and_the_host_is_the_servers() {
        let header = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n\0\xff";
        for (proxy, sni_) in [
            (None, None),
            (Some(&header[..]), None),
            (None, Some("a.example")),
            (Some(&header[..]), Some("b.example")),
        ] {
            let u = uri(ConnKey { proxy, sni: sni_ });
            assert_eq!(proxy_header(&u).as_deref(), proxy, "{u}");
            assert_eq!(sni(&u).as_deref(), sni_, "{u}");
            assert_eq!(u.host(), Some("127.0.0.1"));
            assert_eq!(u.port_u16(), Some(8443));
        }
    }

    #[test]
    fn the_kept_authority_follows_the_address() {
        let last = LastAuthority::default();
        let a: SocketAddr = "127.0.0.1:8001".parse().unwrap();
        let b: SocketAddr = "[::1]:8002".parse().unwrap();
        for addr in [a, a, b, a, b, b] {
            let got = ConnKey::default().authority(addr, &last).unwrap();
            assert_eq!(got.as_str(), addr.to_string());
        }
    }

    #[test]
    fn keys_that_differ_make_authorities_that_differ() {
        let a = uri(ConnKey {
            proxy: None,
            sni: Some("a.example"),
        });
        let b = uri(ConnKey {
            proxy: None,
            sni: Some("b.example"),
        });
        let none = uri(ConnKey::default());
        assert_ne!(a.authority(), b.authority());
        assert_ne!(a.authority(), none.authority());
        assert_eq!(
            a.authority(),
            uri(ConnKey {
                proxy: None,
                sni: Some("a.example")
            })
            .authority()
        );
    }
}
