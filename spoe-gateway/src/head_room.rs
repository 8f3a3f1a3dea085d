//! How much of `tune.bufsize` a request head may take, measured as HAProxy 2.6 measures it:
//! in its internal form (HTX), where each header costs its name and value and an 8-byte block,
//! the start line its three parts and a 40-byte block, and the end of headers one block. A head
//! that does not fit in the buffer less `tune.maxrewrite` (at most half the buffer, as HAProxy
//! lowers it at start) is refused with a 400, as HAProxy's parser refuses it.

use hyper::http::request::Parts;

/// Bytes of the buffer HAProxy 2.6.12 keeps for its own structure ahead of a head's blocks
/// (measured: `spoe-cli/tests/gateway_sockopts.rs` finds the same largest head on both).
const HTX_RESERVED: usize = 37;

/// An HTX block's header.
const BLOCK: usize = 8;

/// The start line's block: its header and `struct htx_sl`.
const START_LINE: usize = BLOCK + 32;

/// What a request head may take, in HTX bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) room: usize,
}

impl HeadLimits {
    /// As `global` sets them.
    pub(crate) fn of(global: &crate::model::Global) -> Self {
        Self {
            room: limit(global.bufsize, global.maxrewrite),
        }
    }

    /// No limit (tests of other checks).
    #[cfg(test)]
    pub(crate) const NONE: Self = Self { room: usize::MAX };

    /// Whether HAProxy's parser would take the head.
    pub(crate) fn fit(&self, parts: &Parts) -> bool {
        htx_size(parts) <= self.room
    }
}

/// hyper's bound on a request's header lines for `tune.http.maxhdr` (which counts the start
/// line too), or `None` for HAProxy's default, 101, which is hyper's own 100: hyper keeps
/// them on the stack then, and on the heap for any other bound (some 5% more per request).
pub(crate) fn read_headers(max_headers: usize) -> Option<usize> {
    (max_headers != crate::model::DEFAULT_MAX_HEADERS).then(|| max_headers.saturating_sub(1).max(1))
}

/// The most HTX bytes a request head may take with `bufsize` and `maxrewrite`.
pub(crate) fn limit(bufsize: usize, maxrewrite: usize) -> usize {
    bufsize
        .saturating_sub(maxrewrite.min(bufsize / 2))
        .saturating_sub(HTX_RESERVED)
}

/// The HTX size of a request head.
pub(crate) fn htx_size(parts: &Parts) -> usize {
    let target = parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + parts.uri.authority().map_or(0, |a| {
            a.as_str().len() + parts.uri.scheme_str().map_or(0, |s| s.len() + 3)
        });
    let start = START_LINE + parts.method.as_str().len() + target + "HTTP/1.1".len();
    let headers: usize = parts
        .headers
        .iter()
        .map(|(n, v)| BLOCK + n.as_str().len() + v.len())
        .sum();
    start + headers + BLOCK
}

/// The read buffer hyper may fill with a head before it gives up on it (431): large enough
/// that every head HAProxy would take, and a margin of those it refuses, reach
/// [`htx_size`]'s check (hyper's own minimum is 8 KiB).
pub(crate) fn read_limit(bufsize: usize) -> usize {
    bufsize.saturating_mul(2).max(8192)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(head: &str) -> Parts {
        let mut h = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut h);
        req.parse(head.as_bytes()).expect("head");
        let mut b = hyper::Request::builder()
            .method(req.method.expect("method"))
            .uri(req.path.expect("path"));
        for h in req.headers.iter() {
            b = b.header(h.name, h.value);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn the_largest_head_haproxy_takes_fits_and_one_byte_more_does_not() {
        // HAProxy 2.6.12 with `tune.bufsize 16384` and `tune.maxrewrite 1024` answers a
        // `GET /` with `Host: x` and one `X-Pad` header of up to 15237 bytes, not 15238.
        let head = |pad: usize| {
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
                "a".repeat(pad)
            )
        };
        let room = limit(16384, 1024);
        assert!(htx_size(&parts(&head(15237))) <= room);
        assert!(htx_size(&parts(&head(15238))) > room);
    }

    #[test]
    fn maxrewrite_is_at_most_half_the_buffer() {
        assert_eq!(limit(16384, 100_000), 8192 - HTX_RESERVED);
    }
}
