//! Byte encodings used by converters: hexadecimal, base64 (standard and URL-safe) and URL
//! decoding, with HAProxy's strictness (`src/base64.c`, `url_decode()` in `src/tools.c`).

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Upper-case hexadecimal, two digits per byte (HAProxy's `hextab`).
pub(crate) fn hex_upper(input: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(input.len() * 2);
    for &b in input {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
    out
}

fn encode(input: &[u8], table: &[u8; 64], pad: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        let keep = chunk.len() + 1;
        for (i, s) in sextets.iter().enumerate() {
            if i < keep {
                out.push(table[*s as usize]);
            } else if pad {
                out.push(b'=');
            }
        }
    }
    out
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(input: &[u8]) -> Vec<u8> {
    encode(input, STD, true)
}

/// URL-safe base64 without padding.
pub(crate) fn base64url_encode(input: &[u8]) -> Vec<u8> {
    encode(input, URL, false)
}

fn value(table: &[u8; 64], c: u8) -> Option<u32> {
    table.iter().position(|&t| t == c).map(|p| p as u32)
}

fn decode_quads(input: &[u8], table: &[u8; 64]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    for quad in input.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in quad.iter().enumerate() {
            if c == b'=' {
                // "XX==" or "XXX=": padding only in the last two positions, and continuous.
                if i < 2 {
                    return None;
                }
                pad += 1;
                n <<= 6;
            } else {
                if pad > 0 {
                    return None;
                }
                n = (n << 6) | value(table, c)?;
            }
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Strict standard base64: a multiple of 4 characters, padding only at the end.
pub(crate) fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let out = decode_quads(input, STD)?;
    // Padding anywhere but in the last quad is invalid.
    let body = input.len().saturating_sub(4);
    if input[..body].contains(&b'=') {
        return None;
    }
    Some(out)
}

/// URL-safe base64 without padding (a length of 1 modulo 4 is invalid).
pub(crate) fn base64url_decode(input: &[u8]) -> Option<Vec<u8>> {
    let pad = match input.len() % 4 {
        0 => 0,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    if input.contains(&b'=') {
        return None;
    }
    let mut padded = input.to_vec();
    padded.extend(std::iter::repeat_n(b'=', pad));
    decode_quads(&padded, URL)
}

/// `url_decode()`: `%HH` sequences; `+` becomes a space in form mode, which a `?` turns on for
/// the rest of the input. A bad `%` sequence fails. Stops at a NUL byte, as C strings do.
pub(crate) fn url_decode(input: &[u8], mut in_form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            0 => break,
            b'+' => out.push(if in_form { b' ' } else { b'+' }),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            b'?' => {
                in_form = true;
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(hex_upper(b"\x00\xab\x10"), b"00AB10");
    }

    #[test]
    fn base64_round_trips() {
        for (plain, std, url) in [
            (&b""[..], &b""[..], &b""[..]),
            (b"f", b"Zg==", b"Zg"),
            (b"fo", b"Zm8=", b"Zm8"),
            (b"foo", b"Zm9v", b"Zm9v"),
            (b"\xfb\xff", b"+/8=", b"-_8"),
        ] {
            assert_eq!(base64_encode(plain), std);
            assert_eq!(base64url_encode(plain), url);
            assert_eq!(base64_decode(std).as_deref(), Some(plain));
            assert_eq!(base64url_decode(url).as_deref(), Some(plain));
        }
        for bad in [&b"Zg="[..], b"Z===", b"Zg=a", b"Zg==Zg==", b"Z*g="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        assert_eq!(base64url_decode(b"Z"), None);
        assert_eq!(base64url_decode(b"Zg=="), None);
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode(b"a%20b+c", false).unwrap(), b"a b+c");
        assert_eq!(url_decode(b"a+b", true).unwrap(), b"a b");
        assert_eq!(url_decode(b"/p+q?x=a+b", false).unwrap(), b"/p+q?x=a b");
        assert_eq!(url_decode(b"%4", false), None);
        assert_eq!(url_decode(b"%zz", false), None);
    }
}
