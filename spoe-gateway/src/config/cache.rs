//! `cache NAME` sections (`cfg_parse_cache()`, `cfg_post_parse_section_cache()` in HAProxy
//! 2.6's `src/cache.c`), `filter cache NAME` (`parse_cache_flt()`), and the caches the
//! `cache-use` / `cache-store` rules name, found once every section is read
//! (`cache_store_check()`). What runs them is `crate::cache`.

use spoe::config::Span;
use spoe::config::reader::{Line, Section};

use super::diag::Diag;
use super::grammar::Kind;
use super::lower::{Lowerer, Proxy};
use crate::cache::decl::{BLOCK_SIZE, CacheDecl, DEFAULT_MAX_AGE, DEFAULT_MAX_SECONDARY_ENTRIES};
use crate::model::HttpAction;

/// The keywords of a `cache` section.
pub(super) const CACHE_KEYWORDS: &[&str] = &[
    "total-max-size",
    "max-age",
    "max-object-size",
    "process-vary",
    "max-secondary-entries",
];

/// The longest cache name; longer ones are truncated (with a warning).
const MAX_NAME: usize = 32;

impl Lowerer<'_, '_> {
    pub(super) fn cache_section(&mut self, section: &Section<Kind>) {
        let header = &section.header;
        let Some(name) = header.arg_str(1) else {
            return self
                .diag
                .error_msg(section.span().clone(), "'cache' expects a <name> argument");
        };
        if self.too_many(header, 1, "cache") {
            return;
        }
        let mut name = name.to_owned();
        if name.len() > MAX_NAME {
            name = name.chars().take(MAX_NAME).collect();
            self.diag.warn_msg(
                section.span().clone(),
                format!("cache name is limited to 32 characters, truncate to '{name}'."),
            );
        }
        if self.caches.iter().any(|(c, _)| c.name == name) {
            return self.diag.error_msg(
                section.span().clone(),
                format!("Duplicate cache name '{name}'."),
            );
        }
        let mut decl = CacheDecl {
            name,
            max_blocks: 0,
            max_object_size: 0,
            max_age: DEFAULT_MAX_AGE,
            process_vary: false,
            max_secondary_entries: DEFAULT_MAX_SECONDARY_ENTRIES,
        };
        for line in &section.lines {
            self.cache_line(&mut decl, line);
        }
        if decl.max_blocks == 0 {
            return self.diag.error_msg(
                section.span().clone(),
                format!("Size not specified for cache '{}'", decl.name),
            );
        }
        let total = decl.max_blocks * BLOCK_SIZE;
        if decl.max_object_size == 0 {
            // A 256th of the cache.
            decl.max_object_size = total >> 8;
        } else if decl.max_object_size > total / 2 {
            return self.diag.error_msg(
                section.span().clone(),
                format!(
                    "\"max-object-size\" is limited to an half of \"total-max-size\" => {}",
                    total / 2
                ),
            );
        }
        self.caches.push((decl, section.span().clone()));
    }

    fn cache_line(&mut self, decl: &mut CacheDecl, line: &Line) {
        let kw = line.keyword();
        if CACHE_KEYWORDS.contains(&kw) && self.too_many(line, 1, kw) {
            return;
        }
        let arg = line.arg_str(1).unwrap_or_default();
        let span = line
            .arg(1)
            .map_or_else(|| line.span().clone(), |w| w.span().clone());
        match kw {
            "total-max-size" => match arg.parse::<u64>() {
                Ok(mb) if mb <= u64::from(u32::MAX >> 20) => {
                    decl.max_blocks = mb * 1024 * 1024 / BLOCK_SIZE;
                }
                Ok(_) => self.diag.error_msg(
                    span,
                    format!(
                        "\"total-max-size\" ({arg}) must not be greater than {}",
                        u32::MAX >> 20
                    ),
                ),
                Err(_) => self
                    .diag
                    .error_msg(span, format!("total-max-size wrong value '{arg}'")),
            },
            // `atoi()`: what is not a number is 0.
            "max-age" => {
                if arg.is_empty() {
                    self.diag
                        .warn_msg(span, "'max-age' expects an age parameter in seconds.");
                }
                decl.max_age = atoi(arg);
            }
            "max-object-size" => match arg.parse::<u32>() {
                Ok(n) => decl.max_object_size = u64::from(n),
                Err(_) => self
                    .diag
                    .error_msg(span, format!("max-object-size wrong value '{arg}'")),
            },
            "process-vary" => match arg {
                "on" => decl.process_vary = true,
                "off" => decl.process_vary = false,
                _ => self.diag.warn_msg(
                    span,
                    "'process-vary' expects \"on\" or \"off\" (enable or disable vary processing).",
                ),
            },
            "max-secondary-entries" => match arg.parse::<usize>() {
                Ok(n) if n > 0 => decl.max_secondary_entries = n,
                _ => self
                    .diag
                    .error_msg(span, format!("max-secondary-entries wrong value '{arg}'")),
            },
            other => self.diag.error_msg(
                line.span().clone(),
                format!("unknown keyword '{other}' in 'cache' section"),
            ),
        }
    }

    /// `filter cache NAME`: the cache filter declared explicitly (needed beside other
    /// filters).
    pub(super) fn cache_filter(&mut self, p: &mut Proxy, line: &Line) {
        let Some(name) = line.arg(2) else {
            return self
                .diag
                .error_msg(line.span().clone(), "cache : expects a <name> argument");
        };
        if p.cache_filters.iter().any(|(n, _)| n == name.as_str()) {
            return self.diag.error_msg(
                name.span().clone(),
                format!(
                    "{}: multiple explicit declarations of the cache filter '{}'",
                    p.name,
                    name.as_str()
                ),
            );
        }
        p.cache_filters
            .push((name.as_str().to_owned(), line.span().clone()));
    }
}

/// C's `atoi()`: leading digits (after an optional sign), 0 without any.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (sign, digits) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    sign * digits[..n].parse::<i64>().unwrap_or(0)
}

/// The caches, once every proxy is read: each cache a rule or a `filter cache` names must
/// exist, and a proxy with other filters must declare the cache filter it uses.
pub(super) fn resolve(
    caches: Vec<(CacheDecl, Span)>,
    proxies: &[Proxy],
    diag: &mut Diag,
) -> Vec<CacheDecl> {
    for p in proxies.iter().filter(|p| p.kind != Kind::Defaults) {
        let rules = p.http_request.iter().chain(&p.http_response);
        let used = rules.filter_map(|r| match &r.action {
            HttpAction::CacheUse { cache } | HttpAction::CacheStore { cache } => {
                Some((cache, &r.span, false))
            }
            _ => None,
        });
        let declared = p.cache_filters.iter().map(|(n, s)| (n, s, true));
        let mut reported: Vec<&str> = Vec::new();
        for (name, span, explicit) in declared.chain(used) {
            if reported.contains(&name.as_str()) {
                continue;
            }
            if !caches.iter().any(|(c, _)| c.name == *name) {
                reported.push(name);
                diag.error_msg(
                    span.clone(),
                    format!(
                        "{} '{}': unable to find the cache '{name}' referenced by the filter 'cache'.",
                        p.kind.keyword(),
                        p.name
                    ),
                );
            } else if !explicit
                && !p.filters.is_empty()
                && !p.cache_filters.iter().any(|(n, _)| n == name)
            {
                reported.push(name);
                diag.error_msg(
                    span.clone(),
                    format!(
                        "{} '{}': require an explicit filter declaration to use the cache '{name}'.",
                        p.kind.keyword(),
                        p.name
                    ),
                );
            }
        }
    }
    caches.into_iter().map(|(c, _)| c).collect()
}
