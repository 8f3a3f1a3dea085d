//! ACL match methods and patterns (`src/pattern.c`): how `-m str`, `-m beg`, `-m ip`, integer
//! ranges and the other methods parse their patterns and match a sample.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use regex::bytes::Regex;

use super::args::{parse_mask4, prefix_mask_u128};
use super::converter::compile_regex;
use super::fetch::parse_hex;
use super::sample::{Sample, SampleType};

/// How an ACL compares samples with its patterns (`-m METHOD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchMethod {
    /// `found`: the sample exists; patterns are ignored.
    Found,
    /// `bool`: the sample, as an integer, is not zero; patterns are ignored.
    Bool,
    /// `int`: integer ranges (`5`, `1:10`, `:3`, `8:`), with the `eq|lt|le|gt|ge` operators.
    Int,
    /// `ip`: IPv4/IPv6 addresses with optional masks.
    Ip,
    /// `bin`: exact bytes, written in hexadecimal.
    Bin,
    /// `len`: the string's length, as integer ranges.
    Len,
    /// `str`: exact string.
    Str,
    /// `beg`: prefix.
    Beg,
    /// `sub`: substring.
    Sub,
    /// `dir`: a `/`-delimited component (`?` also delimits).
    Dir,
    /// `dom`: a `.`-delimited component (`/`, `?`, `:` also delimit).
    Dom,
    /// `end`: suffix.
    End,
    /// `reg`: regular expression (unanchored search).
    Reg,
}

impl MatchMethod {
    /// Every method, with the name `-m` takes.
    pub const ALL: [(Self, &'static str); 13] = [
        (Self::Found, "found"),
        (Self::Bool, "bool"),
        (Self::Int, "int"),
        (Self::Ip, "ip"),
        (Self::Bin, "bin"),
        (Self::Len, "len"),
        (Self::Str, "str"),
        (Self::Beg, "beg"),
        (Self::Sub, "sub"),
        (Self::Dir, "dir"),
        (Self::Dom, "dom"),
        (Self::End, "end"),
        (Self::Reg, "reg"),
    ];

    /// The method named `name` (`regm` is taken as `reg`).
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "regm" {
            return Some(Self::Reg);
        }
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(m, _)| *m)
    }

    /// The method's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("?", |(_, n)| n)
    }

    /// The type samples are cast to before matching (`pat_match_types[]`).
    pub fn expect_type(self) -> SampleType {
        match self {
            Self::Found | Self::Bool | Self::Int => SampleType::Int,
            Self::Ip => SampleType::Addr,
            Self::Bin => SampleType::Bin,
            _ => SampleType::Str,
        }
    }

    /// The default method for a criterion of type `t`, if HAProxy has one.
    pub(crate) fn default_for(t: SampleType) -> Option<Self> {
        match t {
            SampleType::Bool => Some(Self::Bool),
            SampleType::Int => Some(Self::Int),
            SampleType::Addr | SampleType::Ipv4 | SampleType::Ipv6 => Some(Self::Ip),
            SampleType::Str => Some(Self::Str),
            _ => None,
        }
    }

    /// Whether patterns are integer ranges (and the `eq|lt|le|gt|ge` operators apply).
    pub(crate) fn takes_ranges(self) -> bool {
        matches!(self, Self::Int | Self::Len)
    }
}

impl fmt::Display for MatchMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One parsed pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Nothing to compare (`found`, `bool`).
    Nothing,
    /// An integer range, bounds included; `None` is unbounded.
    Range {
        /// Lower bound.
        min: Option<i64>,
        /// Upper bound.
        max: Option<i64>,
    },
    /// An IPv4 network.
    Ipv4 {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Ipv4Addr,
    },
    /// An IPv6 network.
    Ipv6 {
        /// Address.
        addr: Ipv6Addr,
        /// Prefix length.
        prefix: u32,
    },
    /// Bytes to compare (string methods and `bin`).
    Bytes(Bytes),
    /// A compiled regular expression.
    Regex(Regex),
}

impl Pattern {
    /// Parses `text` for `method`, the way HAProxy's `pat_parse_*` functions do; the error is
    /// HAProxy's wording.
    pub fn parse(method: MatchMethod, text: &str, ignore_case: bool) -> Result<Self, String> {
        Self::parse_with(method, text, ignore_case, false)
    }

    /// [`parse`](Self::parse); `no_dns` is the ACL's `-n` flag, which makes HAProxy take IPv4
    /// patterns literally instead of through its resolver (which also reads `10` as
    /// `0.0.0.10`, the way `inet_aton()` does).
    pub fn parse_with(
        method: MatchMethod,
        text: &str,
        ignore_case: bool,
        no_dns: bool,
    ) -> Result<Self, String> {
        match method {
            MatchMethod::Found | MatchMethod::Bool => Ok(Self::Nothing),
            MatchMethod::Int | MatchMethod::Len => parse_range(text),
            MatchMethod::Ip => parse_ip(text, no_dns),
            MatchMethod::Bin => parse_hex(text).map(Self::Bytes),
            MatchMethod::Reg => compile_regex(text, ignore_case).map(Self::Regex),
            _ => Ok(Self::Bytes(Bytes::from(text.to_owned()))),
        }
    }

    /// Whether `sample` matches this pattern with `method`, after HAProxy's cast of the sample
    /// to the method's type (what a map lookup does with its key).
    pub fn matches_sample(&self, method: MatchMethod, ignore_case: bool, sample: Sample) -> bool {
        sample
            .cast(method.expect_type())
            .is_some_and(|s| matches(method, ignore_case, &s, self))
    }
}

/// `pat_parse_int()`: `N`, `N:M`, `N-M`, `:M`, `N:`.
fn parse_range(text: &str) -> Result<Pattern, String> {
    let not_range = || format!("'{text}' is not a valid number range");
    if text.is_empty() {
        return Err(not_range());
    }
    let Some(sep) = text.find([':', '-']) else {
        return strl2llrc(text)
            .map(|v| Pattern::Range {
                min: Some(v),
                max: Some(v),
            })
            .ok_or_else(|| format!("'{text}' is not a number"));
    };
    let (lo, hi) = (&text[..sep], &text[sep + 1..]);
    let parse = |s: &str| strl2llrc(s).ok_or_else(not_range);
    match (lo.is_empty(), hi.is_empty()) {
        (true, false) => Ok(Pattern::Range {
            min: None,
            max: Some(parse(hi)?),
        }),
        (_, true) => Ok(Pattern::Range {
            min: Some(parse(lo)?),
            max: None,
        }),
        (false, false) => {
            let (min, max) = (parse(lo)?, parse(hi)?);
            if min > max {
                return Err(not_range());
            }
            Ok(Pattern::Range {
                min: Some(min),
                max: Some(max),
            })
        }
    }
}

/// `strl2llrc()`: an optional `-`, then digits only, no overflow.
pub(crate) fn strl2llrc(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.is_empty() {
        return Some(0);
    }
    let v: i128 = digits.parse().ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// `pat_parse_ip()`: IPv4 `addr[/mask]` (dotted mask or length), else IPv6 `addr[/len]`.
/// Host names are not resolved (HAProxy resolves them when it starts).
fn parse_ip(text: &str, no_dns: bool) -> Result<Pattern, String> {
    let err = || format!("'{text}' is not a valid IPv4 or IPv6 address");
    let (addr, mask) = match text.rfind('/') {
        Some(slash) => (&text[..slash], Some(&text[slash + 1..])),
        None => (text, None),
    };
    let v4 = addr
        .parse::<Ipv4Addr>()
        .ok()
        .or_else(|| (!no_dns).then(|| inet_aton(addr)).flatten());
    if let Some(a) = v4 {
        let mask = match mask {
            Some(m) => parse_mask4(m).ok_or_else(err)?,
            None => Ipv4Addr::BROADCAST,
        };
        return Ok(Pattern::Ipv4 { addr: a, mask });
    }
    if let Ok(a) = addr.parse::<Ipv6Addr>() {
        let prefix = match mask {
            Some(m) => m
                .parse::<u32>()
                .ok()
                .filter(|&l| l <= 128)
                .ok_or_else(err)?,
            None => 128,
        };
        return Ok(Pattern::Ipv6 { addr: a, prefix });
    }
    Err(err())
}

/// The numeric forms the system resolver accepts for IPv4 (`inet_aton()`): one to four parts
/// separated by dots, each decimal, octal (`0` prefix) or hexadecimal (`0x`), the last part
/// filling the remaining bytes (`10` is `0.0.0.10`, `10.1` is `10.0.0.1`).
fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let value = if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        };
        values.push(value);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    let last_bits = 32 - 8 * head.len() as u32;
    if last_bits < 32 && *last >= 1 << last_bits {
        return None;
    }
    let mut addr = 0u32;
    for (i, &v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(addr | last))
}

/// Whether `sample` (already cast to `method.expect_type()`) matches `pattern`.
pub(crate) fn matches(
    method: MatchMethod,
    ignore_case: bool,
    sample: &Sample,
    pattern: &Pattern,
) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match (method, pattern) {
        (MatchMethod::Found, _) => true,
        (MatchMethod::Bool, _) => match sample {
            Sample::Int(i) => *i != 0,
            Sample::Bool(b) => *b,
            _ => false,
        },
        (MatchMethod::Int, Pattern::Range { min, max }) => match sample {
            Sample::Int(v) => in_range(*v, *min, *max),
            Sample::Bool(b) => in_range(i64::from(*b), *min, *max),
            _ => false,
        },
        (MatchMethod::Len, Pattern::Range { min, max }) => sample
            .as_bytes()
            .is_some_and(|b| in_range(b.len() as i64, *min, *max)),
        (MatchMethod::Ip, _) => match_ip(sample, pattern),
        (MatchMethod::Bin, Pattern::Bytes(p)) => sample.as_bytes().is_some_and(|b| b == p),
        (MatchMethod::Reg, Pattern::Regex(re)) => sample.as_bytes().is_some_and(|b| re.is_match(b)),
        (_, Pattern::Bytes(p)) => {
            let Some(s) = sample.as_bytes() else {
                return false;
            };
            match method {
                MatchMethod::Str => eq(s, p),
                MatchMethod::Beg => s.len() >= p.len() && eq(&s[..p.len()], p),
                MatchMethod::End => s.len() >= p.len() && eq(&s[s.len() - p.len()..], p),
                MatchMethod::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq(w, p)),
                MatchMethod::Dir => match_word(s, p, ignore_case, b"/?"),
                MatchMethod::Dom => match_word(s, p, ignore_case, b"/?.:"),
                _ => false,
            }
        }
        _ => false,
    }
}

fn in_range(v: i64, min: Option<i64>, max: Option<i64>) -> bool {
    min.is_none_or(|m| m <= v) && max.is_none_or(|m| v <= m)
}

/// `match_word()`: the pattern (without its leading and trailing delimiters) appears in the
/// sample between delimiters or the sample's ends.
fn match_word(s: &[u8], pattern: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_delim = |c: u8| delims.contains(&c);
    let start = pattern
        .iter()
        .position(|&c| !is_delim(c))
        .unwrap_or(pattern.len());
    let end = pattern
        .iter()
        .rposition(|&c| !is_delim(c))
        .map_or(start, |p| p + 1);
    let p = &pattern[start..end];
    if p.len() > s.len() {
        return false;
    }
    let last = s.len() - p.len();
    let mut may_match = true;
    for c in 0..=last {
        // Past the end, C sees the terminating NUL: not a delimiter.
        let ch = s.get(c).copied().unwrap_or(0);
        if is_delim(ch) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        let candidate = &s[c..c + p.len()];
        let same = if icase {
            candidate.eq_ignore_ascii_case(p)
        } else {
            candidate == p
        };
        let first_ok = p.first().is_none_or(|&f| {
            if icase {
                f.eq_ignore_ascii_case(&ch)
            } else {
                f == ch
            }
        }) && (!p.is_empty() || ch == 0);
        if first_ok && same && (c == last || s.get(c + p.len()).is_some_and(|&n| is_delim(n))) {
            return true;
        }
        may_match = false;
    }
    false
}

fn match_ip(sample: &Sample, pattern: &Pattern) -> bool {
    match (sample, pattern) {
        (Sample::Ipv4(a), Pattern::Ipv4 { addr, mask }) => {
            (u32::from(*a) ^ u32::from(*addr)) & u32::from(*mask) == 0
        }
        (Sample::Ipv4(a), Pattern::Ipv6 { addr, prefix }) => {
            in_v6(&a.to_ipv6_mapped(), addr, *prefix)
        }
        (Sample::Ipv6(a), Pattern::Ipv6 { addr, prefix }) => in_v6(a, addr, *prefix),
        (Sample::Ipv6(a), Pattern::Ipv4 { addr, mask }) => {
            v6_embedded_v4(a).is_some_and(|v4| (v4 ^ u32::from(*addr)) & u32::from(*mask) == 0)
        }
        _ => false,
    }
}

fn in_v6(a: &Ipv6Addr, net: &Ipv6Addr, prefix: u32) -> bool {
    let mask = prefix_mask_u128(prefix);
    (u128::from(*a) ^ u128::from(*net)) & mask == 0
}

/// The IPv4 address inside `::ffff:a.b.c.d`, `::a.b.c.d` or a 6to4 `2002:AABB:CCDD::` address.
pub(crate) fn v6_embedded_v4(a: &Ipv6Addr) -> Option<u32> {
    let o = a.octets();
    let word = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    if o[..8] == [0; 8] && (word(8) == 0 || word(8) == 0x0000_ffff) {
        return Some(word(12));
    }
    if o[0] == 0x20 && o[1] == 0x02 {
        return Some(word(2));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::args::prefix_mask_u32;

    fn m(method: MatchMethod, icase: bool, sample: Sample, pat: &str) -> bool {
        let p = Pattern::parse(method, pat, icase).unwrap();
        let s = sample.cast(method.expect_type()).unwrap();
        matches(method, icase, &s, &p)
    }

    fn s(t: &str) -> Sample {
        Sample::str(t)
    }

    #[test]
    fn string_methods() {
        use MatchMethod as M;
        assert!(m(M::Str, false, s("/admin"), "/admin"));
        assert!(!m(M::Str, false, s("/Admin"), "/admin"));
        assert!(m(M::Str, true, s("/Admin"), "/admin"));
        assert!(!m(M::Str, false, s("/admin/"), "/admin"));
        assert!(m(M::Beg, false, s("/admin/x"), "/admin"));
        assert!(!m(M::Beg, false, s("/adm"), "/admin"));
        assert!(m(M::Beg, true, s("/ADMIN/x"), "/admin"));
        assert!(m(M::End, false, s("/x.php"), ".php"));
        assert!(m(M::End, true, s("/x.PHP"), ".php"));
        assert!(!m(M::End, false, s("/x.php5"), ".php"));
        assert!(m(M::Sub, false, s("/a/wp-admin/b"), "wp-admin"));
        assert!(m(M::Sub, true, s("/a/WP-admin/b"), "wp-admin"));
        assert!(!m(M::Sub, false, s("/a/wp"), "wp-admin"));
        assert!(m(M::Dir, false, s("/img/logo.png"), "img"));
        assert!(m(M::Dir, false, s("/a/img/"), "/img/"));
        assert!(!m(M::Dir, false, s("/images/x"), "img"));
        assert!(m(M::Dir, false, s("/x/img?y"), "img"));
        assert!(m(M::Dom, false, s("www.example.com"), "example.com"));
        assert!(m(M::Dom, false, s("example.com:8080"), "example"));
        assert!(!m(M::Dom, false, s("myexample.com"), "example.com"));
        assert!(m(M::Dom, true, s("WWW.Example.com"), "example"));
        assert!(m(M::Len, false, s("abcd"), "4"));
        assert!(m(M::Len, false, s("abcd"), "3:5"));
        assert!(!m(M::Len, false, s("abcdef"), ":5"));
        assert!(m(M::Reg, false, s("/api/v2/users"), "^/api/v[0-9]+/"));
        assert!(!m(M::Reg, false, s("/API/v2"), "^/api"));
        assert!(m(M::Reg, true, s("/API/v2"), "^/api"));
        assert!(m(M::Bin, false, Sample::bin(&b"\x01\x02"[..]), "0102"));
        assert!(!m(M::Bin, false, Sample::bin(&b"\x01\x02"[..]), "01"));
        // Numbers and addresses are matched as their text.
        assert!(m(M::Str, false, Sample::Int(42), "42"));
        assert!(m(
            M::Beg,
            false,
            Sample::Ipv4(Ipv4Addr::new(10, 1, 2, 3)),
            "10."
        ));
    }

    #[test]
    fn integer_ranges() {
        use MatchMethod as M;
        assert!(m(M::Int, false, Sample::Int(5), "5"));
        assert!(!m(M::Int, false, Sample::Int(6), "5"));
        assert!(m(M::Int, false, Sample::Int(6), "5:10"));
        assert!(m(M::Int, false, Sample::Int(6), "5-10"));
        assert!(m(M::Int, false, Sample::Int(-3), ":0"));
        assert!(m(M::Int, false, Sample::Int(100), "10:"));
        assert!(m(M::Int, false, s("7"), "7"));
        assert!(m(M::Bool, false, Sample::Int(2), ""));
        assert!(!m(M::Bool, false, Sample::Int(0), ""));
        assert!(m(M::Found, false, Sample::Int(0), "anything"));
        assert_eq!(
            Pattern::parse(M::Int, "x", false).unwrap_err(),
            "'x' is not a number"
        );
        assert_eq!(
            Pattern::parse(M::Int, "9:1", false).unwrap_err(),
            "'9:1' is not a valid number range"
        );
        assert_eq!(
            Pattern::parse(M::Int, "1:x", false).unwrap_err(),
            "'1:x' is not a valid number range"
        );
    }

    #[test]
    fn ip_networks() {
        use MatchMethod as M;
        let v4 = |a, b, c, d| Sample::Ipv4(Ipv4Addr::new(a, b, c, d));
        let v6 = |t: &str| Sample::Ipv6(t.parse().unwrap());
        assert!(m(M::Ip, false, v4(127, 0, 0, 1), "127.0.0.1/8"));
        assert!(m(M::Ip, false, v4(10, 2, 3, 4), "10.0.0.0/255.0.0.0"));
        assert!(!m(M::Ip, false, v4(11, 2, 3, 4), "10.0.0.0/8"));
        assert!(m(M::Ip, false, v4(192, 0, 2, 1), "192.0.2.1"));
        assert!(m(M::Ip, false, v6("::1"), "::1"));
        assert!(m(M::Ip, false, v6("2001:db8::5"), "2001:db8::/32"));
        assert!(!m(M::Ip, false, v6("2001:db9::5"), "2001:db8::/32"));
        assert!(m(M::Ip, false, v6("::ffff:10.0.0.1"), "10.0.0.0/8"));
        assert!(m(M::Ip, false, v6("2002:0a00:0001::"), "10.0.0.1"));
        assert!(m(M::Ip, false, v4(10, 0, 0, 1), "::ffff:10.0.0.0/104"));
        assert!(m(M::Ip, false, s("10.0.0.1"), "10.0.0.0/8"));
        assert_eq!(
            Pattern::parse(M::Ip, "example.com", false).unwrap_err(),
            "'example.com' is not a valid IPv4 or IPv6 address"
        );
        assert!(Pattern::parse(M::Ip, "10.0.0.0/33", false).is_err());
        // The resolver's numeric forms, unless `-n`.
        assert!(m(M::Ip, false, v4(0, 0, 0, 10), "10"));
        assert!(m(M::Ip, false, v4(10, 0, 0, 1), "10.1"));
        assert!(m(M::Ip, false, v4(10, 1, 0, 2), "0xa.1.2"));
        assert!(m(M::Ip, false, v4(8, 0, 0, 0), "010.0.0.0"));
        assert!(Pattern::parse_with(M::Ip, "10", false, true).is_err());
        assert!(Pattern::parse(M::Ip, "1.2.3.4.5", false).is_err());
        assert!(Pattern::parse(M::Ip, "256.1", false).is_err());
        assert!(Pattern::parse(M::Ip, "1.2.65536", false).is_err());
        assert!(Pattern::parse(M::Ip, "::/129", false).is_err());
    }

    #[test]
    fn names() {
        for (method, name) in MatchMethod::ALL {
            assert_eq!(MatchMethod::from_name(name), Some(method));
            assert_eq!(method.to_string(), name);
        }
        assert_eq!(MatchMethod::from_name("regm"), Some(MatchMethod::Reg));
        assert_eq!(MatchMethod::from_name("nope"), None);
        assert_eq!(prefix_mask_u32(8), 0xff00_0000);
    }
}
