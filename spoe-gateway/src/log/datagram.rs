//! Syslog over datagrams: `log 127.0.0.1:514 local0`, `log udp@host:514 ...`, `log /dev/log
//! ...`, `log unix@/path ...`, sent as HAProxy 2.6 sends them (`__do_send_log()` in
//! `src/log.c`): one datagram per line, its line feed included, written with a non-blocking
//! `sendmsg()` from the thread that writes the line. A socket whose buffer is full (a syslog
//! daemon that does not keep up) drops the line and counts it, as HAProxy counts it in
//! `dropped_logs`; nothing waits.
//!
//! An address is resolved once, when the configuration is read (HAProxy resolves host names
//! while it parses the file and refuses one it cannot resolve).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use spoe::config::LogAddress;

use super::sink::{LogSink, SinkCounts};

/// The syslog port, when an address names none (HAProxy's `SYSLOG_PORT`).
pub const SYSLOG_PORT: u16 = 514;

/// Where a datagram target sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// UDP (`HOST[:PORT]`, `udp@`, `udp4@`, `udp6@`, `ipv4@`, `ipv6@`).
    Udp(SocketAddr),
    /// A Unix datagram socket (`/dev/log`, `unix@PATH`).
    Unix(PathBuf),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Udp(a) => write!(f, "udp@{a}"),
            Self::Unix(p) => write!(f, "unix@{}", p.display()),
        }
    }
}

impl Destination {
    /// Where `address` sends datagrams: `Ok(None)` for a target that is not a datagram one
    /// (stdout, stderr, a ring); an error, in HAProxy's words, for an address that cannot be
    /// resolved or a stream (`tcp@`) target, which HAProxy sends through a ring the gateway
    /// does not have.
    pub fn of(address: &LogAddress) -> Result<Option<Self>, String> {
        let text = match address {
            LogAddress::Fd(_) | LogAddress::Ring(_) => return Ok(None),
            LogAddress::Unix(path) => return Ok(Some(Self::Unix(PathBuf::from(path)))),
            LogAddress::Net(text) => text.as_str(),
        };
        let (prefix, host_port) = text.split_once('@').unwrap_or(("", text));
        let family = match prefix {
            "" | "udp" => None,
            "udp4" | "ipv4" => Some(true),
            "udp6" | "ipv6" => Some(false),
            _ => {
                return Err(format!(
                    "'log {text}' : syslog over TCP ('{prefix}@') is not supported by the gateway; \
                     use UDP ('udp@') or a Unix socket"
                ));
            }
        };
        let (host, port) = split_port(host_port);
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("invalid address: '{host_port}' in '{text}'"))?,
            None => SYSLOG_PORT,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let resolved = (host, port)
            .to_socket_addrs()
            .map_err(|_| format!("invalid address: '{host}' in '{text}'"))?
            .find(|a| family.is_none_or(|v4| a.is_ipv4() == v4))
            .ok_or_else(|| format!("invalid address: '{host}' in '{text}'"))?;
        Ok(Some(Self::Udp(resolved)))
    }
}

/// `host` and its port: `h:514`, `[::1]:514`, or an IPv6 address without one (`::1`).
fn split_port(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (text, None),
        };
    }
    match text.matches(':').count() {
        1 => text
            .split_once(':')
            .map_or((text, None), |(h, p)| (h, Some(p))),
        _ => (text, None),
    }
}

/// The socket a datagram sink writes with.
#[derive(Debug)]
enum Socket {
    Udp(UdpSocket, SocketAddr),
    Unix(UnixDatagram, PathBuf),
}

/// A sink sending each line as one datagram, without ever waiting.
#[derive(Debug)]
pub struct DatagramSink {
    name: String,
    socket: Socket,
    written: AtomicU64,
    dropped: AtomicU64,
    /// A failure other than a full buffer was reported once (HAProxy alerts once).
    failure_reported: AtomicBool,
}

thread_local! {
    /// The datagram being sent: the line and its line feed.
    static DATAGRAM: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl DatagramSink {
    /// A non-blocking socket sending to `to`, named after it (`udp@127.0.0.1:514`).
    pub fn open(to: &Destination) -> io::Result<Self> {
        let socket = match to {
            Destination::Udp(addr) => {
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local)?;
                s.set_nonblocking(true)?;
                Socket::Udp(s, *addr)
            }
            Destination::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.set_nonblocking(true)?;
                Socket::Unix(s, path.clone())
            }
        };
        Ok(Self {
            name: to.to_string(),
            socket,
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failure_reported: AtomicBool::new(false),
        })
    }

    fn send_datagram(&self, datagram: &[u8]) -> io::Result<usize> {
        match &self.socket {
            Socket::Udp(s, to) => s.send_to(datagram, to),
            Socket::Unix(s, to) => s.send_to(datagram, to),
        }
    }
}

impl LogSink for DatagramSink {
    fn send(&self, line: &[u8]) -> bool {
        let sent = DATAGRAM.with(|cell| {
            let mut own = Vec::new();
            let mut kept = cell.try_borrow_mut();
            let buf = match kept.as_deref_mut() {
                Ok(buf) => buf,
                Err(_) => &mut own,
            };
            buf.clear();
            buf.extend_from_slice(line);
            buf.push(b'\n');
            self.send_datagram(buf)
        });
        match sent {
            Ok(_) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if e.kind() != io::ErrorKind::WouldBlock
                    && !self.failure_reported.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        sink = %self.name,
                        error = %e,
                        "cannot send log lines to {}: {e} (lines are dropped and counted; said once)",
                        self.name
                    );
                }
                false
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn counts(&self) -> SinkCounts {
        SinkCounts {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn flush(&self, _within: Duration) -> bool {
        // Every line was sent (or dropped) when it was written.
        true
    }

    fn counts_line_feed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(text: &str) -> Result<Option<Destination>, String> {
        Destination::of(&LogAddress::parse(text).unwrap())
    }

    #[test]
    fn addresses_resolve_as_haproxy_reads_them() {
        let udp = |s: &str| Some(Destination::Udp(s.parse().unwrap()));
        assert_eq!(dest("127.0.0.1").unwrap(), udp("127.0.0.1:514"));
        assert_eq!(dest("127.0.0.1:1514").unwrap(), udp("127.0.0.1:1514"));
        assert_eq!(dest("udp@127.0.0.1:9").unwrap(), udp("127.0.0.1:9"));
        assert_eq!(dest("udp6@[::1]:9").unwrap(), udp("[::1]:9"));
        assert_eq!(dest("::1").unwrap(), udp("[::1]:514"));
        // A host name resolves (to whichever loopback address comes first).
        assert!(matches!(
            dest("localhost:7").unwrap(),
            Some(Destination::Udp(a)) if a.ip().is_loopback() && a.port() == 7
        ));
        assert_eq!(
            dest("/dev/log").unwrap(),
            Some(Destination::Unix("/dev/log".into()))
        );
        assert_eq!(
            dest("unix@/run/x").unwrap(),
            Some(Destination::Unix("/run/x".into()))
        );
        assert_eq!(dest("stdout").unwrap(), None);
        assert_eq!(
            dest("no-such-host.invalid:514").unwrap_err(),
            "invalid address: 'no-such-host.invalid' in 'no-such-host.invalid:514'"
        );
        assert!(dest("tcp@127.0.0.1:514").unwrap_err().contains("TCP"));
    }

    #[test]
    fn one_datagram_per_line_and_a_full_socket_drops() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let sink = DatagramSink::open(&Destination::Udp(rx.local_addr().unwrap())).unwrap();
        assert!(sink.send(b"<134>hello"));
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<134>hello\n");
        assert_eq!(
            sink.counts(),
            SinkCounts {
                written: 1,
                dropped: 0
            }
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let sink = DatagramSink::open(&Destination::Unix(path.clone())).unwrap();
        // Nobody listens yet: dropped and counted, never an error to the caller.
        assert!(!sink.send(b"lost"));
        let rx = UnixDatagram::bind(&path).unwrap();
        assert!(sink.send(b"found"));
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"found\n");
        // A reader that never reads: the socket's buffer fills, lines are dropped at once.
        let line = vec![b'x'; 1000];
        let sent = (0..10_000).filter(|_| sink.send(&line)).count();
        assert!(sent < 10_000, "the receive buffer never filled");
        assert_eq!(sink.counts().dropped, 1 + 10_000 - sent as u64);
    }
}
