//! A client's byte stream: the TCP socket, or TLS over it. One type for
//! both, so that the HTTP/1 hand-back and HTTP/2 serve either without
//! being compiled twice; the TLS state is boxed so that a clear-text
//! connection does not carry its room.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The most bytes of several slices that a clear-text write copies into one
/// buffer and sends with `send(2)` rather than `writev(2)`: a small response
/// (hyper queues its head and its body apart) costs the kernel about 0.2 us
/// less as one `send` (bench/README.md, "Session 7: system calls and
/// wake-ups"), which is what HAProxy does; copying 1 KiB costs a few dozen
/// nanoseconds. Larger writes stay vectored: the copy would outgrow the gain.
const SEND_FLAT: usize = 1024;

/// How many bytes `bufs` hold when they are to go out as one `send`: several
/// non-empty slices of at most [`SEND_FLAT`] bytes together (`None`: one
/// slice, or too many bytes, written as they are).
fn small_gather(bufs: &[std::io::IoSlice<'_>]) -> Option<usize> {
    let (mut slices, mut total) = (0, 0);
    for b in bufs.iter().filter(|b| !b.is_empty()) {
        slices += 1;
        total += b.len();
        if total > SEND_FLAT {
            return None;
        }
    }
    (slices > 1).then_some(total)
}

/// Writes `bufs` (of `total` bytes, at most [`SEND_FLAT`]) with one `send`.
fn poll_send_gathered(
    s: &mut TcpStream,
    cx: &mut Context<'_>,
    bufs: &[std::io::IoSlice<'_>],
    total: usize,
) -> Poll<std::io::Result<usize>> {
    let mut flat = [0u8; SEND_FLAT];
    let mut n = 0;
    for b in bufs {
        flat[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    }
    debug_assert_eq!(n, total);
    Pin::new(s).poll_write(cx, &flat[..n])
}

/// A client connection's stream.
#[derive(Debug)]
pub(crate) enum ClientStream {
    /// Clear text.
    Plain(TcpStream),
    /// TLS, handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

impl ClientStream {
    /// The socket under it (to wait until the client sends something: when
    /// the TLS layer holds no decrypted byte, which is the case whenever
    /// hyper found nothing to read, new bytes arrive on the socket).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref().0,
        }
    }
}

impl ClientStream {
    /// Whether bytes the client sent are already read and decrypted, waiting
    /// in the TLS layer (a request sent with the handshake's last flight):
    /// the socket will not tell of them.
    pub(crate) fn has_buffered(&mut self) -> bool {
        match self {
            Self::Plain(_) => false,
            Self::Tls(s) => s
                .get_mut()
                .1
                .process_new_packets()
                .is_ok_and(|state| state.plaintext_bytes_to_read() > 0),
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => match small_gather(bufs) {
                Some(total) => poll_send_gathered(s, cx, bufs, total),
                None => Pin::new(s).poll_write_vectored(cx, bufs),
            },
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn only_several_small_slices_are_gathered() {
        let head = [b'h'; 100];
        let big = [b'b'; SEND_FLAT];
        let one = |b: &'static [u8]| IoSlice::new(b);
        assert_eq!(small_gather(&[IoSlice::new(&head), one(b"ok")]), Some(102));
        assert_eq!(
            small_gather(&[IoSlice::new(&head), one(b""), one(b"ok")]),
            Some(102)
        );
        assert_eq!(
            small_gather(&[IoSlice::new(&head), one(b"")]),
            None,
            "one slice"
        );
        assert_eq!(
            small_gather(&[IoSlice::new(&head), IoSlice::new(&big)]),
            None,
            "too big"
        );
        assert_eq!(small_gather(&[]), None);
    }

    #[tokio::test]
    async fn gathered_or_vectored_the_peer_reads_the_same_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut stream = ClientStream::Plain(accepted.unwrap().0);
        let mut peer = client.unwrap();
        let big = vec![b'b'; SEND_FLAT + 1];
        let mut sent = Vec::new();
        for bufs in [
            vec![
                IoSlice::new(b"HTTP/1.1 200 OK\r\n\r\n"),
                IoSlice::new(b"ok"),
            ],
            vec![IoSlice::new(b"head"), IoSlice::new(&big)],
        ] {
            let mut left: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            sent.extend_from_slice(&left);
            // The first write of each takes at least something; the rest as plain writes.
            let n = stream.write_vectored(&bufs).await.unwrap();
            assert!(n > 0);
            left.drain(..n);
            stream.write_all(&left).await.unwrap();
        }
        stream.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, sent);
    }
}
