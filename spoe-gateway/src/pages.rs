//! HAProxy 2.6's own pages (`http_err_msgs[]` in `src/http.c`): the reason phrase and the HTML
//! it sends for each status it answers itself (a refused request, `monitor-uri`, no server),
//! so that a client, a monitor or a test sees the same bytes from the gateway.

/// The reason phrase and the body of HAProxy's page for `status`; `None` for a status it has
/// no page for.
pub(crate) fn haproxy_page(status: u16) -> Option<(&'static str, &'static str)> {
    Some(match status {
        200 => ("OK", "Service ready."),
        400 => ("Bad request", "Your browser sent an invalid request."),
        401 => (
            "Unauthorized",
            "You need a valid user and password to access this content.",
        ),
        403 => ("Forbidden", "Request forbidden by administrative rules."),
        404 => ("Not Found", "The resource could not be found."),
        405 => (
            "Method Not Allowed",
            "A request was made of a resource using a request method not supported by that \
             resource",
        ),
        407 => (
            "Unauthorized",
            "You need a valid user and password to access this content.",
        ),
        408 => (
            "Request Time-out",
            "Your browser didn't send a complete request in time.",
        ),
        410 => (
            "Gone",
            "The resource is no longer available and will not be available again.",
        ),
        413 => (
            "Payload Too Large",
            "The request entity exceeds the maximum allowed.",
        ),
        421 => (
            "Misdirected Request",
            "Request sent to a non-authoritative server.",
        ),
        422 => (
            "Unprocessable Content",
            "The server cannot process the contained instructions.",
        ),
        425 => ("Too Early", "Your browser sent early data."),
        429 => (
            "Too Many Requests",
            "You have sent too many requests in a given amount of time.",
        ),
        500 => (
            "Internal Server Error",
            "An internal server error occurred.",
        ),
        501 => (
            "Not Implemented",
            ".The server does not support the functionality required to fulfill the request.",
        ),
        502 => (
            "Bad Gateway",
            "The server returned an invalid or incomplete response.",
        ),
        503 => (
            "Service Unavailable",
            "No server is available to handle this request.",
        ),
        504 => ("Gateway Time-out", "The server didn't respond in time."),
        _ => return None,
    })
}

/// The HTML of HAProxy's page: `<h1>STATUS REASON</h1>` and its sentence.
pub(crate) fn page_html(status: u16, reason: &str, text: &str) -> String {
    format!("<html><body><h1>{status} {reason}</h1>\n{text}\n</body></html>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_have_haproxys_lengths() {
        // The Content-length values HAProxy 2.6 declares for its pages.
        for (status, len) in [(200, 58), (400, 90), (403, 93), (408, 110), (503, 107)] {
            let (reason, text) = haproxy_page(status).unwrap();
            assert_eq!(page_html(status, reason, text).len(), len, "{status}");
        }
    }
}
