//! The socket options `haproxy.cfg` asks for, set where HAProxy 2.6 sets them
//! (`tcp_bind_listener()`, `sock_inet_bind_receiver()`, `session_accept_fd()` and
//! `tcp_connect_server()`): on each listening socket (`bind ... backlog|defer-accept|mss|tfo|
//! tcp-ut|interface|transparent`, `option nolinger`, `option tcp-smart-accept`), on each
//! accepted connection (`option clitcpka`, `clitcpka-*`, `tune.rcvbuf|sndbuf.client`, a
//! negative `mss`) and on each connection to a server (`option srvtcpka`, `srvtcpka-*`,
//! `option nolinger`, `option tcp-smart-connect`, `tune.rcvbuf|sndbuf.server`, `server ...
//! tcp-ut`).
//!
//! As in HAProxy, an option the system refuses is not fatal: the listener or connection works
//! without it, and a debug line says which.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::socket::{getsockopt, setsockopt};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use socket2::{SockRef, TcpKeepalive};

// The two options neither rustix nor socket2 has, through nix's own helper for them.
sockopt_impl!(
    /// `TCP_DEFER_ACCEPT`: seconds a connection waits for its first data before `accept()`
    /// returns it.
    DeferAccept,
    Both,
    libc::IPPROTO_TCP,
    libc::TCP_DEFER_ACCEPT,
    usize
);
sockopt_impl!(
    /// `TCP_FASTOPEN` on a listener: the length of its queue of Fast Open requests.
    FastOpen,
    Both,
    libc::IPPROTO_TCP,
    libc::TCP_FASTOPEN,
    usize
);

/// TCP keep-alive on a connection (`option clitcpka|srvtcpka|tcpka`): `SO_KEEPALIVE`, with
/// `TCP_KEEPCNT`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL` where `*tcpka-cnt|idle|intvl` set them (the
/// system's values otherwise, as HAProxy leaves them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Keepalive {
    /// `clitcpka-cnt`/`srvtcpka-cnt`: probes before the connection is dropped.
    pub(crate) cnt: Option<u32>,
    /// `clitcpka-idle`/`srvtcpka-idle`: idle time before the first probe (whole seconds).
    pub(crate) idle: Option<Duration>,
    /// `clitcpka-intvl`/`srvtcpka-intvl`: time between probes (whole seconds).
    pub(crate) intvl: Option<Duration>,
}

/// What a `bind` line sets on its listening sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListenerOpts {
    /// `backlog N`: the listen queue (otherwise the frontend's `maxconn`, as HAProxy).
    pub(crate) backlog: Option<u32>,
    /// `defer-accept`: `TCP_DEFER_ACCEPT` of one second.
    pub(crate) defer_accept: bool,
    /// `mss N`: `TCP_MAXSEG` N on the listener (N > 0), or each accepted connection's MSS
    /// lowered by -N (N < 0).
    pub(crate) mss: Option<i32>,
    /// `tfo`: `TCP_FASTOPEN`, the queue as long as the backlog.
    pub(crate) tfo: bool,
    /// `tcp-ut`: `TCP_USER_TIMEOUT` (milliseconds).
    pub(crate) user_timeout: Option<Duration>,
    /// `interface NAME`: `SO_BINDTODEVICE`.
    pub(crate) interface: Option<String>,
    /// `transparent`: `IP_TRANSPARENT`/`IPV6_TRANSPARENT` (binds a foreign address).
    pub(crate) transparent: bool,
}

/// What a frontend sets on its client connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClientSock {
    /// `option clitcpka` (or `tcpka`) with `clitcpka-*`.
    pub(crate) keepalive: Option<Keepalive>,
    /// `option nolinger`: `SO_LINGER` 0 on its listeners, which accepted connections inherit:
    /// they close with a reset.
    pub(crate) nolinger: bool,
    /// `[no] option tcp-smart-accept` as written (`None`: HAProxy's default, on in `mode http`
    /// and on TLS listeners): `TCP_QUICKACK` off on its listeners.
    pub(crate) smart_accept: Option<bool>,
    /// `backlog N`: its listeners' queue when their `bind` line sets none (otherwise its
    /// `maxconn`, as HAProxy).
    pub(crate) backlog: Option<u32>,
}

/// What a backend sets on its connections to servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServerSock {
    /// `option srvtcpka` (or `tcpka`) with `srvtcpka-*`.
    pub(crate) keepalive: Option<Keepalive>,
    /// `option nolinger`: `SO_LINGER` 0: closed with a reset.
    pub(crate) nolinger: bool,
    /// `option tcp-smart-connect`: `TCP_QUICKACK` off once connected, so that the request
    /// leaves with the handshake's last ACK.
    pub(crate) smart_connect: bool,
}

/// `tune.rcvbuf.client|server`, `tune.sndbuf.client|server`: `SO_RCVBUF`/`SO_SNDBUF` of every
/// client and server connection (the system's default and autotuning otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BufTunes {
    pub(crate) client_rcvbuf: Option<usize>,
    pub(crate) client_sndbuf: Option<usize>,
    pub(crate) server_rcvbuf: Option<usize>,
    pub(crate) server_sndbuf: Option<usize>,
}

/// Reports an option the system refused (never fatal, as in HAProxy).
fn noted(what: &str, at: SocketAddr, r: io::Result<()>) {
    if let Err(e) = r {
        tracing::debug!(%at, error = %e, "cannot set {what}");
    }
}

fn nix_io(r: nix::Result<()>) -> io::Result<()> {
    r.map_err(io::Error::from)
}

/// Before `bind()`: what decides which address and device the socket may take.
pub(crate) fn before_bind(sock: SockRef<'_>, at: SocketAddr, opts: &ListenerOpts) {
    if opts.transparent {
        let r = if at.is_ipv4() {
            sock.set_ip_transparent_v4(true)
        } else {
            sock.set_ip_transparent_v6(true)
        };
        noted("IP_TRANSPARENT", at, r);
    }
    if let Some(dev) = &opts.interface {
        noted(
            "SO_BINDTODEVICE",
            at,
            sock.bind_device(Some(dev.as_bytes())),
        );
    }
}

/// On a listening socket (at its start, and again when a reload keeps it): everything
/// HAProxy's `tcp_bind_listener()` sets, and unsets what the configuration no longer asks for.
pub(crate) fn listening(
    sock: SockRef<'_>,
    at: SocketAddr,
    opts: &ListenerOpts,
    backlog: u32,
    client: &ClientSock,
    no_quickack: bool,
) {
    let linger = client.nolinger.then_some(Duration::ZERO);
    noted("SO_LINGER", at, sock.set_linger(linger));
    if let Some(mss) = opts.mss.filter(|m| *m > 0) {
        noted("TCP_MAXSEG", at, sock.set_tcp_mss(mss.unsigned_abs()));
    }
    noted(
        "TCP_USER_TIMEOUT",
        at,
        sock.set_tcp_user_timeout(opts.user_timeout),
    );
    let defer = usize::from(opts.defer_accept);
    noted(
        "TCP_DEFER_ACCEPT",
        at,
        nix_io(setsockopt(&*sock, DeferAccept, &defer)),
    );
    if opts.tfo {
        let qlen = usize::try_from(backlog).unwrap_or(usize::MAX);
        noted(
            "TCP_FASTOPEN",
            at,
            nix_io(setsockopt(&*sock, FastOpen, &qlen)),
        );
    } else if getsockopt(&*sock, FastOpen).is_ok_and(|q| q != 0) {
        // As HAProxy: disabled only where it was on (a queue is not created for nothing).
        noted(
            "TCP_FASTOPEN",
            at,
            nix_io(setsockopt(&*sock, FastOpen, &0usize)),
        );
    }
    noted(
        "listen backlog",
        at,
        rustix::net::listen(&*sock, i32::try_from(backlog).unwrap_or(i32::MAX))
            .map_err(io::Error::from),
    );
    noted("TCP_QUICKACK", at, sock.set_tcp_quickack(!no_quickack));
}

/// TCP keep-alive as `ka` says.
fn keepalive(sock: &SockRef<'_>, at: SocketAddr, ka: &Keepalive) {
    let mut params = TcpKeepalive::new();
    if let Some(idle) = ka.idle {
        params = params.with_time(idle);
    }
    if let Some(intvl) = ka.intvl {
        params = params.with_interval(intvl);
    }
    if let Some(cnt) = ka.cnt {
        params = params.with_retries(cnt);
    }
    noted("TCP keep-alive", at, sock.set_tcp_keepalive(&params));
}

/// `SO_RCVBUF`/`SO_SNDBUF` where set.
fn buffers(sock: &SockRef<'_>, at: SocketAddr, rcv: Option<usize>, snd: Option<usize>) {
    if let Some(n) = snd {
        noted("SO_SNDBUF", at, sock.set_send_buffer_size(n));
    }
    if let Some(n) = rcv {
        noted("SO_RCVBUF", at, sock.set_recv_buffer_size(n));
    }
}

/// On a connection just accepted from `client` on a listener with `opts`.
pub(crate) fn accepted(
    sock: SockRef<'_>,
    client: SocketAddr,
    opts: Option<&ListenerOpts>,
    fe: &ClientSock,
    tunes: &BufTunes,
) {
    if let Some(ka) = &fe.keepalive {
        keepalive(&sock, client, ka);
    }
    if let Some(reduce) = opts.and_then(|o| o.mss).filter(|m| *m < 0)
        && let Ok(mss) = sock.tcp_mss()
    {
        let lowered = mss.saturating_sub(reduce.unsigned_abs());
        noted("TCP_MAXSEG", client, sock.set_tcp_mss(lowered));
    }
    buffers(&sock, client, tunes.client_rcvbuf, tunes.client_sndbuf);
}

/// What a server's connections get before `connect()` (the buffers, as HAProxy sets them
/// there, so that the window scale matches) and once connected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub(crate) backend: ServerSock,
    /// `server ... tcp-ut`.
    pub(crate) user_timeout: Option<Duration>,
    pub(crate) rcvbuf: Option<usize>,
    pub(crate) sndbuf: Option<usize>,
    /// `source ADDR`: the local address (set by the connector on HTTP pools; here for
    /// `mode tcp` connections).
    pub(crate) source: Option<std::net::IpAddr>,
}

impl Outgoing {
    /// Before `connect()`.
    pub(crate) fn before_connect(&self, sock: SockRef<'_>, to: SocketAddr) {
        buffers(&sock, to, self.rcvbuf, self.sndbuf);
    }

    /// Once connected to `to`.
    pub(crate) fn connected(&self, sock: SockRef<'_>, to: SocketAddr) {
        if let Some(ka) = &self.backend.keepalive {
            keepalive(&sock, to, ka);
        }
        if self.backend.nolinger {
            noted("SO_LINGER", to, sock.set_linger(Some(Duration::ZERO)));
        }
        if self.backend.smart_connect {
            noted("TCP_QUICKACK", to, sock.set_tcp_quickack(false));
        }
        if self.user_timeout.is_some() {
            noted(
                "TCP_USER_TIMEOUT",
                to,
                sock.set_tcp_user_timeout(self.user_timeout),
            );
        }
    }

    /// Connects to `to` with these options (a `mode tcp` backend's connection).
    pub(crate) async fn connect(&self, to: SocketAddr) -> io::Result<tokio::net::TcpStream> {
        if self.is_empty() {
            return tokio::net::TcpStream::connect(to).await;
        }
        let sock = if to.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        self.before_connect(SockRef::from(&sock), to);
        if let Some(ip) = self.source {
            sock.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = sock.connect(to).await?;
        self.connected(SockRef::from(&stream), to);
        Ok(stream)
    }

    /// Whether it sets anything at all (most backends: nothing to do per connection).
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
