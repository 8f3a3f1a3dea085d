//! `option ssl-hello-chk`: the SSLv3 CLIENT HELLO HAProxy sends.

/// The SSLv3 CLIENT HELLO of `option ssl-hello-chk`: 39 common cipher suites, the time in
/// the random's first 4 bytes, `HAPROXYSSLCHK\n` twice after it.
pub(super) fn ssl_client_hello(now_secs: u32) -> Vec<u8> {
    let mut out = vec![
        0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00,
    ];
    out.extend_from_slice(&now_secs.to_be_bytes());
    out.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    out.extend_from_slice(&[0x00, 0x00, 0x4e]);
    for suite in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        out.extend_from_slice(&suite.to_be_bytes());
    }
    out.extend_from_slice(&[0x01, 0x00]);
    out
}

#[cfg(test)]
mod tests {
    use super::ssl_client_hello;

    #[test]
    fn the_hello_is_haproxys_bytes() {
        let hello = ssl_client_hello(0x0102_0304);
        assert_eq!(hello.len(), 5 + 0x79);
        assert_eq!(&hello[11..15], &[1, 2, 3, 4]);
        assert_eq!(&hello[hello.len() - 4..], &[0x00, 0x3a, 0x01, 0x00]);
    }
}
