//! What crossing the gateway does to a request and its response, as HAProxy 2.6 does it:
//! the hop-by-hop headers, `option forwardfor` (`http_process_request()`, step 9) and the
//! connection mode of each side (`h1_set_srv_conn_mode()`, `h1_set_cli_conn_mode()` in
//! `src/mux_h1.c`). Pure functions over the model and the headers.

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;
use hyper::header::{CONNECTION, HeaderName, HeaderValue, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};

use crate::model::{Backend, ForwardFor, Frontend, HttpMode, Server};
use crate::net::in_net;

/// The headers of one hop, never forwarded.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` is one of [`HOP_BY_HOP`]: five are the `http` crate's standard names,
/// compared as such (no parse, no hash).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRAILER
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Removes the hop-by-hop headers.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one pass over the names they have costs less than the seven
    // removals by name below (each parses and hashes its name: 3,500 instructions a request
    // and its response).
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // `te: trailers` is the one TE that goes on (gRPC servers require it),
    // as HAProxy keeps it.
    let trailers = headers.get_all(TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
    if trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// The `Upgrade` header of a message that asks to switch protocols, or of a `101` that does
/// (`Connection: upgrade` with an `Upgrade` header, HTTP/1.1's `H1_MF_CONN_UPG`), forwarded
/// as it is.
pub(crate) fn upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    // Most messages have no `Connection` header, and this runs up to four times a request
    // (the request's checks, the response's): a look at the names the message has costs
    // less than a lookup by name (a hash and a probe, about 180 instructions each).
    if !headers.keys().any(|name| name == CONNECTION) {
        return None;
    }
    let asks = headers.get_all(CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
    });
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// HAProxy 2.6's check of a WebSocket handshake (`h1_search_websocket_key()`): a message
/// asking for `Upgrade: websocket` carries a `Sec-WebSocket-Key` of 24 characters (a
/// request) or a `Sec-WebSocket-Accept` (a response); without it the request is refused
/// (400) and the response is an invalid one (502).
pub(crate) fn websocket_keyed(headers: &HeaderMap, response: bool) -> bool {
    let websocket = upgrade(headers).is_some_and(|p| {
        p.to_str().is_ok_and(|p| {
            p.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        })
    });
    if !websocket {
        return true;
    }
    if response {
        headers.contains_key("sec-websocket-accept")
    } else {
        headers
            .get_all("sec-websocket-key")
            .iter()
            .any(|k| k.len() == 24)
    }
}

/// Puts back the headers of a protocol switch after [`strip_hop_by_hop`].
pub(crate) fn mark_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

/// Where a request to `server`, at `addr` now, goes (`alloc_dst_address()` in
/// `src/backend.c`): an unspecified server address (`0.0.0.0`, `::`) takes the address the
/// client connected to, and a mapped port the port it connected to plus the offset (modulo
/// 65536, as HAProxy's 16-bit port).
pub(crate) fn server_target(
    server: &Server,
    addr: SocketAddr,
    dst: Option<SocketAddr>,
) -> SocketAddr {
    let mut addr = addr;
    let Some(dst) = dst else {
        return addr;
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(dst.ip());
    }
    if let Some(offset) = server.port_offset {
        let port = (i32::from(dst.port()) + offset).rem_euclid(65536);
        addr.set_port(u16::try_from(port).unwrap_or_default());
    }
    addr
}

/// `option forwardfor` of the frontend or the backend: the client's address in the
/// backend's header name (the frontend's when the backend has no option), unless the client
/// is in either proxy's `except` network, or neither proxy says `if-none`-less and the
/// request has the header already.
pub(crate) fn add_forwarded_for(
    headers: &mut HeaderMap,
    fe: &Frontend,
    be: &Backend,
    client: IpAddr,
) {
    add_address(
        headers,
        fe.forwardfor.as_ref(),
        be.forwardfor.as_ref(),
        client,
    );
}

/// `option originalto` of the frontend or the backend: the address the client connected to
/// in the backend's header name (the frontend's when the backend has no option), unless it
/// is in either proxy's `except` network (HAProxy's `http_process_request()`, step 10).
pub(crate) fn add_original_to(headers: &mut HeaderMap, fe: &Frontend, be: &Backend, dst: IpAddr) {
    add_address(headers, fe.originalto.as_ref(), be.originalto.as_ref(), dst);
}

/// The header of [`add_forwarded_for`] and [`add_original_to`].
fn add_address(
    headers: &mut HeaderMap,
    fe_ff: Option<&ForwardFor>,
    be_ff: Option<&ForwardFor>,
    client: IpAddr,
) {
    let Some(name) = be_ff.or(fe_ff).map(|ff| &ff.header) else {
        return;
    };
    let always = fe_ff.is_some_and(|ff| ff.always) || be_ff.is_some_and(|ff| ff.always);
    if !always && headers.contains_key(name) {
        return;
    }
    let excepted = [fe_ff, be_ff]
        .into_iter()
        .flatten()
        .filter_map(|ff| ff.except.as_ref())
        .any(|net| in_net(client, net));
    if excepted {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
        headers.append(name.clone(), value);
    }
}

/// What the request to the server says of its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerConnection {
    /// Nothing: HTTP/1.1's keep-alive, the connection goes back to the pool.
    KeepAlive,
    /// `option http-server-close` or `httpclose` on either proxy: `Connection: close`
    /// (hyper's client then does not reuse the connection).
    Close,
    /// The client asks to switch to this protocol: `Connection: upgrade` and the `Upgrade`
    /// header go to the server.
    Upgrade(HeaderValue),
}

impl ServerConnection {
    /// The server side of a request of `fe` to `be` with `headers`.
    pub(crate) fn of(headers: &HeaderMap, fe: &Frontend, be: &Backend) -> Self {
        if let Some(protocol) = upgrade(headers) {
            Self::Upgrade(protocol)
        } else if fe.http_mode != HttpMode::KeepAlive || be.http_mode != HttpMode::KeepAlive {
            Self::Close
        } else {
            Self::KeepAlive
        }
    }

    /// Sets the request's connection headers (after [`strip_hop_by_hop`]).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        match self {
            Self::KeepAlive => {}
            Self::Close => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Self::Upgrade(protocol) => mark_upgrade(headers, protocol.clone()),
        }
    }
}

/// Marks the response as the client connection's last when the frontend says `option
/// httpclose` (only the frontend's option decides for the client side, as in HAProxy).
pub(crate) fn close_client_side(headers: &mut HeaderMap, fe: &Frontend) {
    if fe.http_mode == HttpMode::Close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Net;

    #[test]
    fn the_names_checked_are_the_names_removed() {
        for name in HOP_BY_HOP {
            assert!(is_hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
        for name in [
            "host",
            "content-length",
            "x-connection",
            "keep-alive2",
            "tee",
        ] {
            assert!(!is_hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("a"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.append("te", HeaderValue::from_static("gzip, trailers"));
        headers.insert("proxy-connection", HeaderValue::from_static("close"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 2, "{headers:?}");
        assert_eq!(headers["te"], "trailers");
        let mut plain = HeaderMap::new();
        plain.insert("host", HeaderValue::from_static("a"));
        let before = plain.clone();
        strip_hop_by_hop(&mut plain);
        assert_eq!(plain, before);
    }

    #[test]
    fn addresses_match_networks_of_their_family_only() {
        let net = Net::V4([10, 0, 0, 0].into(), [255, 0, 0, 0].into());
        assert!(in_net("10.9.8.7".parse().unwrap(), &net));
        assert!(!in_net("11.0.0.1".parse().unwrap(), &net));
        assert!(!in_net("::ffff:10.0.0.1".parse().unwrap(), &net));
        let net6 = Net::V6("2001:db8::".parse().unwrap(), 32);
        assert!(in_net("2001:db8:1::1".parse().unwrap(), &net6));
        assert!(!in_net("2001:db9::1".parse().unwrap(), &net6));
        let all = Net::V4([0; 4].into(), [0; 4].into());
        assert!(in_net("1.2.3.4".parse().unwrap(), &all));
    }
}
