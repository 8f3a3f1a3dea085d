//! `Authorization` fetches: `http_auth_type`, `http_auth_user`, `http_auth_pass`,
//! `http_auth_bearer`, read as HAProxy 2.6's `get_http_auth()` reads the header. The fetches
//! that check the credentials against a `userlist` (`http_auth`, `http_auth_group`) are the
//! host's, which owns the userlists; they read the credentials with [`credentials`].

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use http::HeaderMap;
use spoe::expr::Sample;

use crate::exchange::Exchange;

/// What an `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Basic`: the user and the password (each up to a NUL byte, as HAProxy's C strings).
    Basic {
        /// The user name, before the first `:`.
        user: String,
        /// The password, after it.
        pass: String,
    },
    /// `Bearer`: the token.
    Bearer(String),
}

/// HAProxy's `base64dec()`: the standard alphabet, a length multiple of 4, padding only at
/// the end; the unused bits of the last character are not checked.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The credentials of the first `Authorization` header, as `get_http_auth()` reads them: the
/// scheme is the text before the first space (not empty), compared case-insensitively with
/// `Basic` then `Bearer` over its own length (`strncasecmp`); spaces after it are skipped.
/// `None` without the header, with another scheme, or with a `Basic` value that is not
/// base64 of `user:pass`.
pub fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|&b| b == b' ').filter(|&i| i > 0)?;
    let (scheme, rest) = value.split_at(space);
    let data = &rest[rest.iter().position(|&b| b != b' ').unwrap_or(rest.len())..];
    let is = |name: &str| {
        name.as_bytes()[..scheme.len().min(name.len())].eq_ignore_ascii_case(scheme)
            && scheme.len() <= name.len()
    };
    if is("Basic") {
        let mut raw = BASE64.decode(data).ok()?;
        if let Some(nul) = raw.iter().position(|&b| b == 0) {
            raw.truncate(nul);
        }
        let colon = raw.iter().position(|&b| b == b':')?;
        let user = String::from_utf8_lossy(&raw[..colon]).into_owned();
        let pass = String::from_utf8_lossy(&raw[colon + 1..]).into_owned();
        return Some(Credentials::Basic { user, pass });
    }
    is("Bearer").then(|| Credentials::Bearer(String::from_utf8_lossy(data).into_owned()))
}

/// `http_auth_type`.
pub(super) fn auth_type(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::str(match credentials(&x.request.headers)? {
        Credentials::Basic { .. } => "Basic",
        Credentials::Bearer(_) => "Bearer",
    }))
}

/// `http_auth_user`.
pub(super) fn auth_user(x: &Exchange<'_>) -> Option<Sample> {
    match credentials(&x.request.headers)? {
        Credentials::Basic { user, .. } => Some(Sample::str(user)),
        Credentials::Bearer(_) => None,
    }
}

/// `http_auth_pass`.
pub(super) fn auth_pass(x: &Exchange<'_>) -> Option<Sample> {
    match credentials(&x.request.headers)? {
        Credentials::Basic { pass, .. } => Some(Sample::str(pass)),
        Credentials::Bearer(_) => None,
    }
}

/// `http_auth_bearer([header])`: with a header name, the value after `Bearer ` in its first
/// occurrence (empty when it is another scheme, as HAProxy 2.6); without, the token of
/// `Authorization: Bearer`.
pub(super) fn auth_bearer(x: &Exchange<'_>, header: Option<&str>) -> Option<Sample> {
    let Some(name) = header else {
        return match credentials(&x.request.headers)? {
            Credentials::Bearer(token) => Some(Sample::str(token)),
            Credentials::Basic { .. } => None,
        };
    };
    let token = x
        .request
        .headers
        .get(name)
        .and_then(|v| {
            let v = v.as_bytes();
            let space = v.iter().position(|&b| b == b' ').unwrap_or(v.len());
            let rest = &v[space..];
            let rest = &rest[rest.iter().position(|&b| b != b' ').unwrap_or(rest.len())..];
            (v[..space].eq_ignore_ascii_case(b"Bearer") && !rest.is_empty())
                .then(|| String::from_utf8_lossy(rest).into_owned())
        })
        .unwrap_or_default();
    Some(Sample::str(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(value: &str) -> Option<Credentials> {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        credentials(&h)
    }

    fn basic(user: &str, pass: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            user: user.into(),
            pass: pass.into(),
        })
    }

    #[test]
    fn reads_the_header_as_haproxy() {
        // admin:s3cret
        assert_eq!(of("Basic YWRtaW46czNjcmV0"), basic("admin", "s3cret"));
        assert_eq!(of("basic   YWRtaW46czNjcmV0"), basic("admin", "s3cret"));
        // strncasecmp over the scheme's own length: a prefix of "Basic" is Basic.
        assert_eq!(of("Bas YWRtaW46czNjcmV0"), basic("admin", "s3cret"));
        assert_eq!(of("Basicx YWRtaW46czNjcmV0"), None);
        // The password may hold colons; no colon is no credentials.
        assert_eq!(of("Basic YTpiOmM="), basic("a", "b:c"));
        assert_eq!(of("Basic YWJj"), None);
        // base64dec() wants a length multiple of 4.
        assert_eq!(of("Basic YWRtaW46czNjcmV0="), None);
        assert_eq!(of(" Basic YWRtaW46czNjcmV0"), None);
        assert_eq!(
            of("Bearer abc.def"),
            Some(Credentials::Bearer("abc.def".into()))
        );
        assert_eq!(of("Digest x"), None);
    }
}
