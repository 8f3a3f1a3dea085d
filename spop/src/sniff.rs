//! What a peer's first bytes are, when they cannot start an SPOP frame: an
//! HTTP server, a TLS endpoint, SSH, Redis... answering on an agent's
//! address. Both ends use it to say why a handshake failed (the engine's
//! log, `spoe notify`'s diagnosis) instead of only "frame too big".

/// What `first` looks like, when it cannot be the start of an SPOP frame (a
/// length prefix above 16 MiB, or the bytes of a known text protocol).
/// `None` for fewer than 4 bytes, or a plausible length prefix.
pub fn sniff(first: &[u8]) -> Option<&'static str> {
    // Judged on the 4 bytes that would be a frame's length prefix.
    let head = first.get(..4)?;
    let starts = |p: &[u8]| head.eq_ignore_ascii_case(p);
    if starts(b"HTTP") || starts(b"<!DO") || starts(b"<htm") {
        return Some("HTTP");
    }
    if matches!(head, [0x15 | 0x16, 0x03, ..]) {
        return Some("TLS");
    }
    if starts(b"SSH-") {
        return Some("SSH");
    }
    if starts(b"-ERR") || head.starts_with(b"+OK") {
        return Some("Redis (RESP)");
    }
    // A first byte other than 0 announces a frame above 16 MiB: not SPOP.
    match head {
        [0, ..] => None,
        _ if head.iter().all(|c| c.is_ascii_graphic() || *c == b' ') => Some("text"),
        _ => Some("binary data that is not SPOP"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_tls_and_text_are_named() {
        assert_eq!(sniff(b"HTTP/1.1 400 Bad Request\r\n"), Some("HTTP"));
        assert_eq!(sniff(b"<!DOCTYPE HTML>"), Some("HTTP"));
        assert_eq!(sniff(b"\x15\x03\x01\x00\x02"), Some("TLS"));
        assert_eq!(sniff(b"SSH-2.0-OpenSSH"), Some("SSH"));
        assert_eq!(sniff(b"hello"), Some("text"));
        // A real frame's length prefix starts with a zero byte.
        assert_eq!(sniff(b"\x00\x00\x00\x30\x65"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"HT"), None);
    }
}
