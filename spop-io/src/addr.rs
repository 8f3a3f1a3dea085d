//! Where an agent listens, or is reached: one address type for the agent
//! runtime, the engine, the conformance kit and the command line.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A TCP address or a Unix socket path.
///
/// Parsed from `HOST:PORT` (an IP literal, `[::1]:PORT`, or a host name,
/// resolved once, when parsed, as HAProxy resolves `server` addresses at
/// start-up: its first IPv4 address when it has one, else its first), or
/// `unix@PATH` (HAProxy's spelling), also `unix:PATH`. Shown as `IP:PORT` or
/// `unix@PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// An address that does not parse or resolve. Each names the text given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// Neither `HOST:PORT` nor a Unix socket.
    #[error(
        "{0:?}: expected HOST:PORT (such as localhost:12345 or 127.0.0.1:12345), unix@PATH or unix:PATH"
    )]
    Expected(String),
    /// A port above 65535.
    #[error("{text:?}: port out of range: {port} (expected 0 to 65535)")]
    PortOutOfRange {
        /// The address given.
        text: String,
        /// The port given.
        port: String,
    },
    /// `unix@` with no path.
    #[error("{0:?}: the unix socket path is empty")]
    EmptyPath(String),
    /// The host name does not resolve.
    #[error("{text:?}: cannot resolve the host name: {source}")]
    Resolve {
        /// The address given.
        text: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The host name resolves to nothing.
    #[error("{0:?}: the host name resolves to no address")]
    NoAddress(String),
}

impl FromStr for Addr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix@").or_else(|| s.strip_prefix("unix:")) {
            if path.is_empty() {
                return Err(AddrError::EmptyPath(s.to_owned()));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Ok(a) = s.parse() {
            return Ok(Self::Tcp(a));
        }
        let Some((host, port)) = s
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && !p.is_empty())
        else {
            return Err(AddrError::Expected(s.to_owned()));
        };
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddrError::Expected(s.to_owned()));
        }
        let Ok(port) = port.parse::<u16>() else {
            return Err(AddrError::PortOutOfRange {
                text: s.to_owned(),
                port: port.to_owned(),
            });
        };
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|source| AddrError::Resolve {
                text: s.to_owned(),
                source,
            })?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .map(|a| Self::Tcp(*a))
            .ok_or_else(|| AddrError::NoAddress(s.to_owned()))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix@{}", p.display()),
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(a: SocketAddr) -> Self {
        Self::Tcp(a)
    }
}

impl Addr {
    /// The TCP address, when it is one.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(a) => Some(*a),
            Self::Unix(_) => None,
        }
    }

    /// Connects: TCP with `TCP_NODELAY` (frames are written whole; Nagle
    /// would only delay them), or the Unix socket.
    pub async fn connect(&self) -> io::Result<Stream> {
        Ok(match self {
            Self::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Self::Unix(p) => Stream::Unix(UnixStream::connect(p).await?),
        })
    }
}

/// A connected TCP or Unix stream.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// A Unix socket.
    Unix(UnixStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Addr {
        Addr::Tcp(s.parse().unwrap())
    }

    #[test]
    fn literals_names_and_sockets_parse() {
        assert_eq!(
            "127.0.0.1:12345".parse::<Addr>().unwrap(),
            tcp("127.0.0.1:12345")
        );
        assert_eq!("[::1]:80".parse::<Addr>().unwrap(), tcp("[::1]:80"));
        assert_eq!(
            "localhost:12345".parse::<Addr>().unwrap(),
            tcp("127.0.0.1:12345"),
            "a name takes its IPv4 address"
        );
        assert_eq!("localhost:0".parse::<Addr>().unwrap(), tcp("127.0.0.1:0"));
        for s in ["unix@/run/a.sock", "unix:/run/a.sock"] {
            assert_eq!(s.parse::<Addr>().unwrap(), Addr::Unix("/run/a.sock".into()));
        }
    }

    #[test]
    fn it_shows_as_haproxy_writes_it() {
        assert_eq!(tcp("127.0.0.1:1").to_string(), "127.0.0.1:1");
        assert_eq!(
            Addr::Unix("/run/a.sock".into()).to_string(),
            "unix@/run/a.sock"
        );
        let a = Addr::Unix("/run/a.sock".into());
        assert_eq!(a.to_string().parse::<Addr>().unwrap(), a);
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        let e = |s: &str| s.parse::<Addr>().unwrap_err().to_string();
        assert!(
            e("localhost").contains("expected HOST:PORT"),
            "{}",
            e("localhost")
        );
        assert!(e("localhost:notaport").contains("expected HOST:PORT"));
        assert!(e(":80").contains("expected HOST:PORT"));
        assert_eq!(
            e("127.0.0.1:70000"),
            "\"127.0.0.1:70000\": port out of range: 70000 (expected 0 to 65535)"
        );
        assert!(e("localhost:99999").contains("port out of range"));
        assert!(e("unix@").contains("path is empty"));
        assert!(e("no-such-host.invalid:80").contains("cannot resolve"));
    }

    #[tokio::test]
    async fn it_connects_over_tcp_and_unix() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = Addr::from(l.local_addr().unwrap());
        let (s, _) = tokio::join!(a.connect(), l.accept());
        assert!(matches!(s.unwrap(), Stream::Tcp(t) if t.nodelay().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        let a = Addr::Unix(path);
        let (s, _) = tokio::join!(a.connect(), l.accept());
        assert!(matches!(s.unwrap(), Stream::Unix(_)));
    }
}
