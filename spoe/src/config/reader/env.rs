//! Environment variables in addresses: HAProxy's `env_expand()` (`src/tools.c`), which
//! `str2sa_range()` applies to every address it reads, so that `bind :${PORT}` works without
//! quotes.

use std::borrow::Cow;

/// Expands `$NAME` and `${NAME}` in `text` as HAProxy 2.6's `env_expand()` does: a name is made
/// of ASCII letters, digits and `_`; an unset variable expands to nothing; a `$` not followed by
/// a name disappears (`${` too, and its `}` when it follows at once). There is no default value
/// and no `[*]`: `${PORT-80}` is the value of `PORT` followed by `-80}`, as in HAProxy.
///
/// ```
/// use spoe::config::reader::env_expand;
///
/// let env = |name: &str| (name == "PORT").then(|| "8080".to_owned());
/// assert_eq!(env_expand(":${PORT}", &env), ":8080");
/// assert_eq!(env_expand("127.0.0.1:$PORT", &env), "127.0.0.1:8080");
/// assert_eq!(env_expand(":${NOPE}", &env), ":");
/// assert_eq!(env_expand(":${PORT-80}", &env), ":8080-80}");
/// assert_eq!(env_expand("a$-b", &env), "a-b");
/// assert_eq!(env_expand("plain", &env), "plain");
/// ```
pub fn env_expand<'a>(text: &'a str, env: &dyn Fn(&str) -> Option<String>) -> Cow<'a, str> {
    if !text.contains('$') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(dollar) = text[i..].find('$').map(|d| i + d) {
        out.push_str(&text[i..dollar]);
        let mut start = dollar + 1;
        let brace = bytes.get(start) == Some(&b'{');
        if brace {
            start += 1;
        }
        let mut end = start;
        while bytes
            .get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            end += 1;
        }
        // `getenv("")` is NULL: an empty name expands to nothing.
        if end > start
            && let Some(value) = env(&text[start..end])
        {
            out.push_str(&value);
        }
        i = end;
        if brace && bytes.get(end) == Some(&b'}') {
            i += 1;
        }
    }
    out.push_str(&text[i..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_quirks() {
        let env = |name: &str| match name {
            "A" => Some("x".to_owned()),
            "A_1" => Some("y".to_owned()),
            _ => None,
        };
        assert_eq!(env_expand("$A$A_1", &env), "xy");
        assert_eq!(env_expand("${A}_1", &env), "x_1");
        assert_eq!(env_expand("$A}", &env), "x}");
        assert_eq!(env_expand("${}", &env), "");
        assert_eq!(env_expand("${", &env), "");
        assert_eq!(env_expand("$", &env), "");
        assert_eq!(env_expand("é$Aé", &env), "éxé");
    }
}
