//! `option pgsql-check`: the startup message sent and the authentication request expected.

/// `^52000000(08|0A|0C)000000(00|02|03|04|05|06)` on the hex dump: an authentication request
/// (`R`, length 8, 10 or 12; ok, or a password, SASL... request).
pub(super) fn pgsql_auth_request(buf: &[u8]) -> bool {
    matches!(buf, [b'R', 0, 0, 0, 8 | 10 | 12, 0, 0, 0, 0 | 2..=6, ..])
}

/// The startup message of `option pgsql-check user U`: protocol 3.0, `user` = U.
pub(super) fn pgsql_startup(user: &str) -> Vec<u8> {
    let len = u32::try_from(15 + user.len()).unwrap_or(u32::MAX);
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(b"\x00\x03\x00\x00user\x00");
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(b"\x00\x00");
    out
}

#[cfg(test)]
mod tests {
    use super::pgsql_startup;

    #[test]
    fn the_startup_message_is_haproxys_bytes() {
        assert_eq!(
            pgsql_startup("pg"),
            b"\x00\x00\x00\x11\x00\x03\x00\x00user\x00pg\x00\x00"
        );
    }
}
