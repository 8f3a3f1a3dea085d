//! The sections of `haproxy.cfg`, on top of the shared reader ([`spoe::config::reader`]):
//! every section keyword HAProxy 2.6 knows, so that the lines of a section the gateway does
//! not run belong to it (and are reported once, with the section).

use spoe::config::ConfigErrorKind;
use spoe::config::reader::{Grammar, Line};

use super::environ::Environ;

/// The HAProxy build features the gateway has an equivalent of: what `.if feature(NAME)`
/// finds, in `haproxy.cfg` and in the `spoe.conf` files it loads.
pub const FEATURES: &[&str] = &["GETADDRINFO", "PROMEX", "THREAD"];

/// The sections of `haproxy.cfg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    /// `peers`: only the local peer (see `config::peers`).
    Peers,
    /// `resolvers` (see `config::resolvers`).
    Resolvers,
    /// `userlist` (see `config::userlist`).
    Userlist,
    /// `cache` (see `config::cache`).
    Cache,
    /// A section HAProxy has that the gateway does not run (`userlist`, `peers`...).
    Unsupported(&'static str),
}

/// Section keywords HAProxy 2.6 has that the gateway does not run.
const UNSUPPORTED_SECTIONS: &[&str] = &[
    "mailers",
    "program",
    "http-errors",
    "ring",
    "log-forward",
    "fcgi-app",
];

/// Every section keyword, for hints.
const SECTION_KEYWORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "log-forward",
    "cache",
    "fcgi-app",
];

impl Kind {
    pub(super) fn keyword(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Defaults => "defaults",
            Self::Frontend => "frontend",
            Self::Backend => "backend",
            Self::Listen => "listen",
            Self::Peers => "peers",
            Self::Resolvers => "resolvers",
            Self::Userlist => "userlist",
            Self::Cache => "cache",
            Self::Unsupported(keyword) => keyword,
        }
    }
}

/// The grammar of `haproxy.cfg`.
#[derive(Debug, Clone, Copy)]
pub(super) struct HaproxyCfg<'a> {
    /// Whether a word is a keyword of proxy sections (the proxies' keyword table answers).
    pub(super) proxy_keyword: fn(&str) -> bool,
    /// The environment the `global` section's `setenv`... lines change as they are read.
    pub(super) environ: &'a Environ<'a>,
}

impl Grammar for HaproxyCfg<'_> {
    type Kind = Kind;

    fn section(&self, keyword: &str) -> Option<Kind> {
        Some(match keyword {
            "global" => Kind::Global,
            "defaults" => Kind::Defaults,
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            "listen" => Kind::Listen,
            "peers" => Kind::Peers,
            "resolvers" => Kind::Resolvers,
            "userlist" => Kind::Userlist,
            "cache" => Kind::Cache,
            other => Kind::Unsupported(UNSUPPORTED_SECTIONS.iter().find(|s| **s == other)?),
        })
    }

    fn section_keywords(&self) -> &[&'static str] {
        SECTION_KEYWORDS
    }

    /// A misspelt section keyword (`backnd app`) inside a proxy: one error, and the lines
    /// under it are not read as the proxy's.
    fn misplaced(&self, kind: Kind, line: &Line) -> Option<ConfigErrorKind> {
        let keyword = line.keyword();
        if !matches!(
            kind,
            Kind::Defaults | Kind::Frontend | Kind::Backend | Kind::Listen
        ) || (self.proxy_keyword)(keyword)
        {
            return None;
        }
        let hint = spoe::config::did_you_mean(keyword, SECTION_KEYWORDS.iter().copied())?;
        Some(ConfigErrorKind::Host(format!(
            "unknown keyword '{keyword}' in '{}' section; did you mean '{hint}' maybe ? (the lines up to the next section are skipped)",
            kind.keyword()
        )))
    }

    fn line_read(&self, kind: Kind, line: &Line) {
        if kind == Kind::Global {
            self.environ.apply(line);
        }
    }
}
