//! `option smtpchk`: the reply codes HAProxy's SMTP rules match.

/// `^F[0-9]{2}[SEPS]` with `F` in `first`.
pub(super) fn smtp_code(buf: &[u8], first: std::ops::RangeInclusive<u8>, seps: &[u8]) -> bool {
    match buf {
        [a, b, c, sep, ..] => {
            first.contains(a) && b.is_ascii_digit() && c.is_ascii_digit() && seps.contains(sep)
        }
        _ => false,
    }
}

/// `^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]`: 2xx continuation lines, then a last 2xx line.
pub(super) fn smtp_multiline_2xx(buf: &[u8]) -> bool {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        if smtp_code(rest, b'2'..=b'2', b" \r") {
            return true;
        }
        if !smtp_code(rest, b'2'..=b'2', b"-") {
            return false;
        }
        let Some(cr) = rest[4..].iter().position(|&c| c == b'\r') else {
            return false;
        };
        if rest.get(4 + cr + 1) != Some(&b'\n') {
            return false;
        }
        at += 4 + cr + 2;
    }
}
