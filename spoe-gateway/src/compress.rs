//! `compression algo|type|offload`: HAProxy 2.6's compression filter (`src/flt_http_comp.c`)
//! on the responses of servers. The request chooses an algorithm from `Accept-Encoding`
//! (`select_request`), the response decides whether it is compressed (`compressible`), and
//! its body is compressed as it streams ([`Compressed`]): each frame the server sends is
//! compressed and flushed (zlib's sync flush, as HAProxy flushes each buffer), so memory per
//! response is the compressor's state plus one frame.
//!
//! Level 1, as HAProxy's default `tune.comp.maxlevel`. The bytes differ from zlib's (this is
//! miniz_oxide); what they decompress to does not. `maxcomprate`, `maxcompcpuusage` and
//! `maxzlibmem` are refused by the configuration.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::Compression as Level;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use http_body::Frame;
use hyper::HeaderMap;
use hyper::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    HeaderValue, TRANSFER_ENCODING, USER_AGENT, VARY,
};

use crate::body::{Body, BoxError};
use crate::model::{CompAlgo, Compression};

/// The algorithm for this request (HAProxy's `select_compression_request_header()`), from the
/// backend's `compression algo` list, else the frontend's; `compression offload` (of either)
/// removes `Accept-Encoding` from what the server gets. `None`: no compression.
pub(crate) fn select_request(
    fe: Option<&Compression>,
    be: Option<&Compression>,
    headers: &mut HeaderMap,
) -> Option<CompAlgo> {
    if old_mozilla(headers) {
        return None;
    }
    let algos = [be, fe]
        .into_iter()
        .flatten()
        .map(|c| &c.algos)
        .find(|a| !a.is_empty())?;
    let mut chosen = None;
    let mut best_q = 0;
    for value in headers.get_all(ACCEPT_ENCODING) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let item = trim_lws(item);
            let token_len = item.iter().take_while(|&&b| is_token(b)).count();
            let q = qvalue(&item[token_len..]);
            if q <= best_q {
                continue;
            }
            let token = &item[..token_len];
            if let Some(a) = algos.iter().find(|a| {
                item.first() == Some(&b'*') || token.eq_ignore_ascii_case(a.token().as_bytes())
            }) {
                chosen = Some(*a);
                best_q = q;
            }
        }
    }
    if chosen.is_some() {
        if [be, fe].into_iter().flatten().any(|c| c.offload) {
            headers.remove(ACCEPT_ENCODING);
        }
        return chosen;
    }
    // `identity` needs no header.
    algos.iter().copied().find(|a| *a == CompAlgo::Identity)
}

/// HAProxy's test for old user agents announcing themselves as `Mozilla/4` (unless MSIE 6 SP2
/// or later).
fn old_mozilla(headers: &HeaderMap) -> bool {
    let Some(ua) = headers.get(USER_AGENT).map(HeaderValue::as_bytes) else {
        return false;
    };
    ua.len() >= 9
        && ua.starts_with(b"Mozilla/4")
        && (ua.len() < 31
            || &ua[25..30] != b"MSIE "
            || ua[30] < b'6'
            || (ua[30] == b'6' && (ua.len() < 54 || &ua[51..54] != b"SV1")))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// The `q=` of what follows a token (1000 without one), as `http_parse_qvalue()`.
fn qvalue(params: &[u8]) -> u32 {
    for p in params.split(|&b| b == b';').skip(1) {
        let p = trim_lws(p);
        if let Some(v) = p.strip_prefix(b"q=") {
            let mut q = 0u32;
            let digit = |i: usize| {
                v.get(i)
                    .filter(|c| c.is_ascii_digit())
                    .map(|c| u32::from(c - b'0'))
            };
            let Some(d0) = digit(0) else { return 1000 };
            q = q.saturating_add(d0 * 1000);
            if v.get(1) == Some(&b'.') {
                for (i, scale) in [(2, 100), (3, 10), (4, 1)] {
                    match digit(i) {
                        Some(d) => q += d * scale,
                        None => break,
                    }
                }
            }
            return q.min(1000);
        }
    }
    1000
}

/// The request facts the response's decision needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFacts {
    /// HTTP/1.1 or later.
    pub(crate) v11: bool,
    /// `HEAD`.
    pub(crate) head: bool,
}

/// Whether the response is compressed (`select_compression_response_header()`): HTTP/1.1 on
/// both sides, not `HEAD`, status 200 to 203, a body of known length that is not empty, no
/// `Content-Encoding`, no `Cache-Control: no-transform`, at most one valid `ETag`, a
/// `Content-Type` that is not multipart and is one of `compression type` (backend's, else
/// frontend's) when there is such a list (a response without one then is not compressed).
pub(crate) fn compressible(
    fe: Option<&Compression>,
    be: Option<&Compression>,
    req: RequestFacts,
    status: u16,
    v11: bool,
    headers: &HeaderMap,
) -> bool {
    if !req.v11 || !v11 || req.head || !(200..=203).contains(&status) {
        return false;
    }
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // A body of known length (`HTTP_MSGF_XFER_LEN`), and not an empty one (`BODYLESS`).
    if length == Some(0) || (length.is_none() && !headers.contains_key(TRANSFER_ENCODING)) {
        return false;
    }
    if headers.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let no_transform = headers.get_all(CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|w| trim_lws(w).eq_ignore_ascii_case(b"no-transform"))
    });
    if no_transform {
        return false;
    }
    let mut etags = headers.get_all(ETAG).iter();
    if let Some(etag) = etags.next()
        && (!valid_etag(etag.as_bytes()) || etags.next().is_some())
    {
        return false;
    }
    let types = [be, fe]
        .into_iter()
        .flatten()
        .map(|c| &c.types)
        .find(|t| !t.is_empty());
    match headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes) {
        Some(ct) if ct.len() >= 9 && ct[..9].eq_ignore_ascii_case(b"multipart") => false,
        Some(ct) => types.is_none_or(|types| {
            types
                .iter()
                .any(|t| ct.len() >= t.len() && ct[..t.len()].eq_ignore_ascii_case(t.as_bytes()))
        }),
        None => types.is_none(),
    }
}

/// `"..."` or `W/"..."` (`http_get_etag_type()`).
fn valid_etag(v: &[u8]) -> bool {
    let v = trim_lws(v);
    let v = v.strip_prefix(b"W/").unwrap_or(v);
    v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"'
}

/// The head of a compressed response (`set_compression_response_header()`): the
/// `Content-Encoding` (not for `identity`), no `Content-Length` (the body is chunked), a weak
/// `ETag`, and `Vary: Accept-Encoding` added.
pub(crate) fn compressed_head(algo: CompAlgo, headers: &mut HeaderMap) {
    if algo != CompAlgo::Identity {
        headers.append(CONTENT_ENCODING, HeaderValue::from_static(algo.token()));
    }
    headers.remove(CONTENT_LENGTH);
    if let Some(etag) = headers.get_mut(ETAG)
        && etag.as_bytes().first() == Some(&b'"')
    {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(etag.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&weak) {
            *etag = v;
        }
    }
    headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
}

/// A compressor writing into a buffer.
enum Encoder {
    Identity,
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    Raw(DeflateEncoder<Vec<u8>>),
}

impl Encoder {
    fn new(algo: CompAlgo) -> Self {
        let level = Level::new(1);
        match algo {
            CompAlgo::Identity => Self::Identity,
            CompAlgo::Gzip => Self::Gzip(GzEncoder::new(Vec::new(), level)),
            CompAlgo::Deflate => Self::Zlib(ZlibEncoder::new(Vec::new(), level)),
            CompAlgo::RawDeflate => Self::Raw(DeflateEncoder::new(Vec::new(), level)),
        }
    }

    /// Compresses `data` and flushes: what is ready to send.
    fn chunk(&mut self, data: &[u8]) -> std::io::Result<Bytes> {
        fn step<W: std::io::Write>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
            w.write_all(data)?;
            w.flush()
        }
        let out = match self {
            Self::Identity => return Ok(Bytes::copy_from_slice(data)),
            Self::Gzip(e) => {
                step(e, data)?;
                e.get_mut()
            }
            Self::Zlib(e) => {
                step(e, data)?;
                e.get_mut()
            }
            Self::Raw(e) => {
                step(e, data)?;
                e.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// The end of the stream (the format's trailer).
    fn finish(self) -> std::io::Result<Bytes> {
        Ok(Bytes::from(match self {
            Self::Identity => Vec::new(),
            Self::Gzip(e) => e.finish()?,
            Self::Zlib(e) => e.finish()?,
            Self::Raw(e) => e.finish()?,
        }))
    }
}

/// A response body compressed as it streams.
pub(crate) struct Compressed {
    inner: Body,
    encoder: Option<Encoder>,
    /// Trailers held until the compressed end is out.
    trailers: Option<HeaderMap>,
}

impl std::fmt::Debug for Compressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed").finish_non_exhaustive()
    }
}

impl Compressed {
    /// `inner` compressed with `algo`.
    pub(crate) fn new(inner: Body, algo: CompAlgo) -> Self {
        Self {
            inner,
            encoder: Some(Encoder::new(algo)),
            trailers: None,
        }
    }
}

impl http_body::Body for Compressed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.encoder.is_none() {
                return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let encoder = self.encoder.as_mut().expect("checked above");
                        let out = encoder.chunk(&data)?;
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                    }
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let encoder = self.encoder.take().expect("checked above");
                    let out = encoder.finish()?;
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn comp(algos: &[CompAlgo], types: &[&str], offload: bool) -> Compression {
        Compression {
            algos: algos.to_vec(),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            offload,
        }
    }

    fn ae(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, value.parse().unwrap());
        h
    }

    #[test]
    fn chooses_as_haproxy() {
        // The list is in HAProxy's order: the last `algo` written first.
        let c = comp(&[CompAlgo::Gzip, CompAlgo::Deflate], &[], false);
        assert_eq!(
            select_request(Some(&c), None, &mut ae("gzip, deflate")),
            Some(CompAlgo::Gzip)
        );
        assert_eq!(
            select_request(Some(&c), None, &mut ae("deflate")),
            Some(CompAlgo::Deflate)
        );
        assert_eq!(
            select_request(Some(&c), None, &mut ae("gzip;q=0.5, deflate;q=0.8")),
            Some(CompAlgo::Deflate)
        );
        assert_eq!(select_request(Some(&c), None, &mut ae("br")), None);
        assert_eq!(
            select_request(Some(&c), None, &mut ae("*")),
            Some(CompAlgo::Gzip)
        );
        assert_eq!(select_request(Some(&c), None, &mut ae("gzip;q=0")), None);
        let off = comp(&[CompAlgo::Gzip], &[], true);
        let mut h = ae("gzip");
        assert_eq!(
            select_request(None, Some(&off), &mut h),
            Some(CompAlgo::Gzip)
        );
        assert!(!h.contains_key(ACCEPT_ENCODING));
    }

    #[tokio::test]
    async fn compresses_as_it_streams() {
        let text = "hello hello hello hello hello\n".repeat(100);
        for algo in [CompAlgo::Gzip, CompAlgo::Deflate, CompAlgo::RawDeflate] {
            let chunks: Vec<Result<Frame<Bytes>, BoxError>> = text
                .as_bytes()
                .chunks(700)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let inner = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
            let body = Compressed::new(inner.boxed(), algo);
            let out = body.collect().await.unwrap().to_bytes();
            let mut plain = String::new();
            use std::io::Read as _;
            match algo {
                CompAlgo::Gzip => flate2::read::GzDecoder::new(&out[..]).read_to_string(&mut plain),
                CompAlgo::Deflate => {
                    flate2::read::ZlibDecoder::new(&out[..]).read_to_string(&mut plain)
                }
                _ => flate2::read::DeflateDecoder::new(&out[..]).read_to_string(&mut plain),
            }
            .unwrap();
            assert_eq!(plain, text);
            assert!(out.len() < text.len() / 4, "{algo:?}: {}", out.len());
        }
    }
}
