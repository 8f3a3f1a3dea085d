//! HAProxy's TLS and HTTP/2 keywords: the `bind` options (`ssl`, `crt`,
//! `crt-list`, `alpn`, `proto h2`, ...), `crt-list` files, and the `global`
//! `crt-base`, `ca-base`, `ssl-default-bind-*` and `tune.h2.*`. The files
//! they name are read here too, so that `spoe check` reports a missing file,
//! a key that does not match its certificate or an expired certificate
//! (a warning) at the word that named it, and a reload reads renewed
//! certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spoe::config::Span;
use spoe::config::reader::Word;
use spoe::expr::SampleExpr;

use super::diag::Diag;
use super::keywords::{BIND_SOCKET_KEYWORDS, HAPROXY_BIND_KEYWORDS, OLD_TLS, arity};
use super::logformat::Phase;
use crate::model::{BindConf, H2Tunes};
use crate::tls::bind::LoadWarnings;
use crate::tls::names::{SuiteList, TlsVersion, parse_curves, parse_suites};
use crate::tls::{BindTlsSpec, CrtSpec, ServerTlsSpec, SniFilter, TlsBind, TlsOptions, Verify};

/// The TLS settings of `server` lines the gateway runs (read by [`server_option`]).
pub(super) const SERVER_TLS_SETTINGS: &[&str] = &[
    "alpn",
    "ca-file",
    "crl-file",
    "ciphers",
    "ciphersuites",
    "crt",
    "force-tlsv12",
    "force-tlsv13",
    "no-ssl",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "proto",
    "sni",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "verify",
    "verifyhost",
];

/// The `global` TLS settings read so far.
#[derive(Debug, Clone, Default)]
pub(super) struct SslGlobal {
    /// `crt-base DIR`.
    pub(super) crt_base: Option<PathBuf>,
    /// `ca-base DIR`.
    pub(super) ca_base: Option<PathBuf>,
    /// `ssl-default-bind-ciphers`, `-ciphersuites`, `-curves`, `-options`.
    pub(super) bind_defaults: TlsOptions,
    /// `ssl-default-server-ciphers`, `-ciphersuites`, `-options`, and
    /// `ssl-server-verify` (as its `verify`).
    pub(super) server_defaults: TlsOptions,
    /// `tune.ssl.cachesize`, `tune.ssl.maxrecord`, `tune.ssl.hard-maxrecord`.
    pub(super) tunes: crate::tls::TlsTunes,
    /// `ssl-default-bind-ciphers` / `-ciphersuites` strings OpenSSL refuses: as in HAProxy, an
    /// error at each TLS `bind` that uses them, none where no `bind` does.
    pub(super) bind_refused: Vec<RefusedList>,
    /// The same for `ssl-default-server-ciphers` / `-ciphersuites` and TLS `server` lines.
    pub(super) server_refused: Vec<RefusedList>,
}

/// A default cipher list that cannot be set, reported where it is used.
#[derive(Debug, Clone)]
pub(super) struct RefusedList {
    /// Which list.
    pub(super) list: SuiteList,
    /// The global keyword, for the message.
    pub(super) keyword: &'static str,
    /// Why (the message of [`parse_suites`]).
    pub(super) reason: String,
}

impl SslGlobal {
    /// The errors of the default cipher lists a TLS `bind` (or `server`, `server == true`)
    /// with the settings `own` uses: the lists it does not set itself.
    pub(super) fn refused_for(&self, own: &TlsOptions, server: bool) -> Vec<String> {
        let refused = if server {
            &self.server_refused
        } else {
            &self.bind_refused
        };
        refused
            .iter()
            .filter(|r| match r.list {
                SuiteList::Tls12 => own.ciphers.is_none(),
                SuiteList::Tls13 => own.ciphersuites.is_none(),
            })
            .map(|r| format!("{} (from '{}')", r.reason, r.keyword))
            .collect()
    }
}

/// Where relative paths start, for one `bind` line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bases<'a> {
    /// The configuration's directory (`default-path`).
    pub(super) dir: &'a Path,
    /// The `global` settings.
    pub(super) global: &'a SslGlobal,
}

impl Bases<'_> {
    fn resolve(&self, base: Option<&PathBuf>, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_owned();
        }
        match base {
            Some(b) => self.dir.join(b).join(p),
            None => self.dir.join(p),
        }
    }
}

/// Reads one TLS setting keyword of `words` at `*i` (advancing past its
/// argument) into `opts`. `Ok(false)`: not a TLS setting. `ca-file` is
/// resolved against `ca-base`.
fn tls_setting(
    words: &[Word],
    i: &mut usize,
    opts: &mut TlsOptions,
    bases: Bases<'_>,
    diag: &mut Diag,
    context: &str,
) -> bool {
    let Some(kw) = words.get(*i) else {
        return false;
    };
    let name = kw.as_str();
    let takes_arg = matches!(
        name,
        "alpn"
            | "ssl-min-ver"
            | "ssl-max-ver"
            | "ciphers"
            | "ciphersuites"
            | "curves"
            | "ecdhe"
            | "ca-file"
            | "crl-file"
            | "verify"
    );
    if takes_arg {
        let Some(arg) = words.get(*i + 1) else {
            diag.error_msg(
                kw.span().clone(),
                format!("{context} : '{name}' : missing argument"),
            );
            *i += 1;
            return true;
        };
        *i += 2;
        let text = arg.as_str();
        let bad = |diag: &mut Diag, msg: String| {
            diag.error_msg(arg.span().clone(), format!("{context} : '{name}' : {msg}"));
        };
        match name {
            "alpn" => {
                let list: Vec<Vec<u8>> = text
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.as_bytes().to_vec())
                    .collect();
                if list.is_empty() || list.iter().any(|p| p.len() > 255) {
                    bad(diag, format!("invalid protocol list '{text}'"));
                } else {
                    opts.alpn = Some(list);
                }
            }
            "ssl-min-ver" | "ssl-max-ver" => match TlsVersion::parse(text) {
                Ok(v) if name == "ssl-min-ver" => opts.min_ver = Some(v),
                Ok(v) => opts.max_ver = Some(v),
                Err(e) => bad(diag, e),
            },
            "ciphers" | "ciphersuites" => {
                let list = if name == "ciphers" {
                    SuiteList::Tls12
                } else {
                    SuiteList::Tls13
                };
                match parse_suites(text, list) {
                    Ok(parsed) => {
                        if let Some(w) = parsed.left_out_warning() {
                            diag.warn_msg(
                                arg.span().clone(),
                                format!("{context} : '{name}' : {w}"),
                            );
                        }
                        if list == SuiteList::Tls12 {
                            opts.ciphers = Some(parsed.suites);
                        } else {
                            opts.ciphersuites = Some(parsed.suites);
                        }
                    }
                    Err(e) => bad(diag, e),
                }
            }
            "curves" => match parse_curves(text) {
                Ok(c) => opts.curves = Some(c),
                Err(e) => bad(diag, e),
            },
            // HAProxy 2.6 with OpenSSL 3 sets `ecdhe` as the curves list when none is set.
            "ecdhe" => match parse_curves(text) {
                Ok(c) => opts.ecdhe = Some(c),
                Err(e) => bad(diag, e),
            },
            "ca-file" => {
                opts.ca_file = Some(bases.resolve(bases.global.ca_base.as_ref(), text));
            }
            "crl-file" => {
                opts.crl_file = Some(bases.resolve(bases.global.ca_base.as_ref(), text));
            }
            _ => match Verify::parse(text) {
                Some(v) => opts.verify = Some(v),
                None => bad(
                    diag,
                    format!("expects 'none', 'optional' or 'required', got '{text}'"),
                ),
            },
        }
        return true;
    }
    match name {
        "no-tls-tickets" => opts.no_tls_tickets = true,
        "prefer-client-ciphers" => opts.prefer_client_ciphers = true,
        // Versions the gateway never speaks: turning them off changes nothing.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
        "no-tlsv12" => opts.no_tls12 = true,
        "no-tlsv13" => opts.no_tls13 = true,
        "force-tlsv12" => {
            opts.min_ver = Some(TlsVersion::Tls12);
            opts.max_ver = Some(TlsVersion::Tls12);
        }
        "force-tlsv13" => {
            opts.min_ver = Some(TlsVersion::Tls13);
            opts.max_ver = Some(TlsVersion::Tls13);
        }
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => {
            diag.error_msg(
                kw.span().clone(),
                format!(
                    "{context} : '{name}' is not supported by the gateway (its TLS library, rustls, speaks TLSv1.2 and TLSv1.3 only)"
                ),
            );
        }
        _ => return false,
    }
    *i += 1;
    true
}

/// Reads the options of a `bind` line (`words` from the first option on)
/// and loads its certificates; `maxconn`, `name`, `v6only` and `v4v6` are
/// left to the caller, at the indexes returned.
pub(super) fn bind_options(
    words: &[Word],
    bases: Bases<'_>,
    diag: &mut Diag,
) -> (BindConf, Vec<usize>) {
    let mut left_at = Vec::new();
    let mut spec = BindTlsSpec {
        tunes: bases.global.tunes,
        ..BindTlsSpec::default()
    };
    let mut ssl: Option<&Word> = None;
    let mut h2 = false;
    let mut i = 0;
    while let Some(word) = words.get(i) {
        let kw = word.as_str();
        if kw.is_empty() {
            break;
        }
        if tls_setting(words, &mut i, &mut spec.options, bases, diag, "'bind'") {
            continue;
        }
        let arg = words.get(i + 1);
        match kw {
            "ssl" => ssl = Some(word),
            "strict-sni" => spec.strict_sni = true,
            "maxconn" | "name" => {
                left_at.push(i);
                i += 1;
            }
            "v6only" | "v4v6" | "accept-proxy" => left_at.push(i),
            "crt" | "crt-list" | "proto" => {
                let Some(arg) = arg else {
                    diag.error_msg(
                        word.span().clone(),
                        format!("'bind' : '{kw}' : missing argument"),
                    );
                    i += 1;
                    continue;
                };
                i += 1;
                match kw {
                    "crt" => spec.certs.push(CrtSpec {
                        path: bases.resolve(bases.global.crt_base.as_ref(), arg.as_str()),
                        filters: Vec::new(),
                        options: None,
                        origin: arg.span().clone(),
                    }),
                    "crt-list" => crt_list(arg, bases, diag, &mut spec.certs),
                    _ => match arg.as_str() {
                        "h2" => h2 = true,
                        "h1" => {}
                        other => diag.error_msg(
                            arg.span().clone(),
                            format!(
                                "'bind' : 'proto' : unknown protocol '{other}' (the gateway serves 'h1' and 'h2')"
                            ),
                        ),
                    },
                }
            }
            other if let Some(n) = arity(BIND_SOCKET_KEYWORDS, other) => {
                left_at.push(i);
                i += n;
            }
            other => {
                // HAProxy's other options are refused by name, their arguments skipped so
                // that every one on the line is reported; after an unknown word, nothing
                // can be told apart.
                let Some(n) = arity(HAPROXY_BIND_KEYWORDS, other) else {
                    diag.error_msg(
                        word.span().clone(),
                        format!("'bind' : unknown keyword '{other}'"),
                    );
                    break;
                };
                diag.error_msg(
                    word.span().clone(),
                    format!(
                        "'bind' : option '{other}' is not supported by the gateway{}",
                        old_tls(other)
                    ),
                );
                i += n;
            }
        }
        i += 1;
    }
    let tls = match ssl {
        None => {
            if let Some(c) = spec.certs.first() {
                diag.warn_msg(
                    c.origin.clone(),
                    "'bind' : certificates are given but 'ssl' is not set: the listener serves clear text",
                );
            }
            None
        }
        Some(ssl_word) => load(&spec, ssl_word.span(), bases, diag),
    };
    (
        BindConf {
            tls,
            h2,
            accept_proxy: false,
        },
        left_at,
    )
}

/// Why `force-sslv3|tlsv10|tlsv11` cannot be had (empty for another keyword).
pub(super) fn old_tls(kw: &str) -> &'static str {
    if OLD_TLS.contains(&kw) {
        ": its TLS (rustls) has no protocol version below TLS 1.2"
    } else {
        ""
    }
}

/// Reads every certificate of a TLS bind line; errors and warnings point at
/// the word that named the file.
fn load(
    spec: &BindTlsSpec,
    ssl_span: &Span,
    bases: Bases<'_>,
    diag: &mut Diag,
) -> Option<Arc<TlsBind>> {
    let refused = bases.global.refused_for(&spec.options, false);
    if !refused.is_empty() {
        for r in refused {
            diag.error_msg(ssl_span.clone(), format!("'bind' : {r}"));
        }
        return None;
    }
    let mut warnings = LoadWarnings::default();
    match TlsBind::load(spec, &bases.global.bind_defaults, &mut warnings) {
        Ok(bind) => {
            for path in warnings.expired {
                let span = spec
                    .certs
                    .iter()
                    .find(|c| path.starts_with(&c.path))
                    .map_or_else(|| ssl_span.clone(), |c| c.origin.clone());
                diag.warn_msg(
                    span,
                    format!("'bind' : certificate '{}' has expired", path.display()),
                );
            }
            Some(Arc::new(bind))
        }
        Err(e) => {
            let span = match &e {
                crate::tls::TlsConfigError::Cert(c) => {
                    let path = cert_error_path(c);
                    spec.certs
                        .iter()
                        .find(|s| path.is_some_and(|p| p.starts_with(&s.path)))
                        .map_or_else(|| ssl_span.clone(), |s| s.origin.clone())
                }
                _ => ssl_span.clone(),
            };
            diag.error_msg(span, format!("'bind' : {e}"));
            None
        }
    }
}

fn cert_error_path(e: &crate::tls::certs::CertError) -> Option<&Path> {
    use crate::tls::certs::CertError as E;
    match e {
        E::Unreadable { path, .. }
        | E::NoCertificate { path }
        | E::NoKey { path }
        | E::BadKey { path, .. }
        | E::KeyMismatch { path }
        | E::BadCertificate { path, .. } => Some(path),
        // A CA or CRL file is named by `ca-file` or `crl-file`, not by a certificate entry.
        E::NoCa { .. } | E::NoCrl { .. } => None,
    }
}

/// Reads the TLS setting of a `server` (or `default-server`) line at
/// `words[*i]`, one of [`SERVER_TLS_SETTINGS`], and moves `*i` past it and
/// its argument. Files are read when the server line is complete.
/// `sni EXPR`: a constant name (`str(NAME)`), or an expression on what exists when the
/// connection to the server is made (the request: HAProxy's `SMP_VAL_BE_SRV_CON`).
fn sni(arg: &Word, tls: &mut ServerTlsSpec, diag: &mut Diag, context: &str) {
    let text = arg.as_str();
    if let Some(name) = text
        .strip_prefix("str(")
        .and_then(|t| t.strip_suffix(')'))
        .filter(|n| !n.is_empty() && !n.contains([',', '(', ')']))
    {
        tls.sni = Some(name.to_owned());
        tls.sni_expr = None;
        return;
    }
    let expr = match SampleExpr::parse(arg) {
        Ok(e) => e,
        Err(e) => return diag.expr(format!("{context} : 'sni'"), e),
    };
    if !Phase::Request.provides(expr.source()) {
        return diag.error_msg(
            arg.span().clone(),
            format!(
                "{context} : error detected while parsing sni expression :  fetch method '{}' extracts information from '{}', none of which is available here.",
                text,
                expr.source().describe()
            ),
        );
    }
    tls.sni = None;
    tls.sni_expr = Some(expr);
}

pub(super) fn server_option(
    words: &[Word],
    i: &mut usize,
    (tls, proto_h2): (&mut ServerTlsSpec, &mut bool),
    bases: Bases<'_>,
    diag: &mut Diag,
    label: &str,
) {
    let word = &words[*i];
    let kw = word.as_str();
    let context = format!("'{label}'");
    match kw {
        "ssl" => tls.ssl = true,
        "no-ssl" => tls.ssl = false,
        "crt" | "sni" | "verifyhost" | "proto" => {
            let Some(arg) = words.get(*i + 1) else {
                diag.error_msg(
                    word.span().clone(),
                    format!("{context} : '{kw}' : missing argument"),
                );
                *i += 1;
                return;
            };
            *i += 1;
            let text = arg.as_str();
            match kw {
                "crt" => {
                    tls.crt = Some(bases.resolve(bases.global.crt_base.as_ref(), text));
                }
                "sni" => sni(arg, tls, diag, &context),
                "verifyhost" => tls.verifyhost = Some(text.to_owned()),
                _ => match text {
                    "h2" => *proto_h2 = true,
                    "h1" => *proto_h2 = false,
                    other => diag.error_msg(
                        arg.span().clone(),
                        format!(
                            "{context} : 'proto' : unknown protocol '{other}' (the gateway speaks 'h1' and 'h2' to servers)"
                        ),
                    ),
                },
            }
        }
        "verify" if words.get(*i + 1).is_some_and(|w| w.as_str() == "optional") => {
            let arg = &words[*i + 1];
            diag.error_msg(
                arg.span().clone(),
                format!("{context} : 'verify' : expects 'none' or 'required', got 'optional'"),
            );
            *i += 1;
        }
        _ => {
            if tls_setting(words, i, &mut tls.options, bases, diag, &context) {
                return;
            }
        }
    }
    *i += 1;
}

/// Reads a `crt-list` file: `CRT [\[SETTINGS...\]] [[!]SNI ...]` per line,
/// `#` comments and empty lines skipped.
fn crt_list(word: &Word, bases: Bases<'_>, diag: &mut Diag, out: &mut Vec<CrtSpec>) {
    let path = bases.resolve(bases.global.crt_base.as_ref(), word.as_str());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return diag.error_msg(
                word.span().clone(),
                format!(
                    "'bind' : 'crt-list' : unable to read '{}': {e}",
                    path.display()
                ),
            );
        }
    };
    let file: Arc<Path> = Arc::from(path.as_path());
    for (n, line) in text.lines().enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Words with their columns; `[` and `]` stand alone.
        let mut words: Vec<Word> = Vec::new();
        let mut start = None;
        let spaced = line.replace('[', " [ ").replace(']', " ] ");
        // Columns are those of the original line: map through the padding.
        let mut col_of = Vec::with_capacity(spaced.len());
        let mut col = 0u32;
        for c in line.chars() {
            col += 1;
            match c {
                '[' | ']' => col_of.extend([col, col, col]),
                _ => col_of.extend(std::iter::repeat_n(col, c.len_utf8())),
            }
        }
        for (at, c) in spaced
            .char_indices()
            .chain(std::iter::once((spaced.len(), ' ')))
        {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(at),
                (true, Some(s)) => {
                    let span =
                        Span::new(file.clone(), line_no, col_of.get(s).copied().unwrap_or(1));
                    words.push(Word::synthetic(&spaced[s..at], span));
                    start = None;
                }
                _ => {}
            }
        }
        let Some(crt) = words.first() else { continue };
        let mut spec = CrtSpec {
            path: bases.resolve(bases.global.crt_base.as_ref(), crt.as_str()),
            filters: Vec::new(),
            options: None,
            origin: crt.span().clone(),
        };
        let mut i = 1;
        if words.get(1).is_some_and(|w| w.as_str() == "[") {
            let mut opts = TlsOptions::default();
            i = 2;
            loop {
                match words.get(i).map(Word::as_str) {
                    None => {
                        diag.error_msg(
                            crt.span().clone(),
                            "'crt-list' : missing ']' after the settings",
                        );
                        break;
                    }
                    Some("]") => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        if !tls_setting(&words, &mut i, &mut opts, bases, diag, "'crt-list'") {
                            let w = &words[i];
                            diag.error_msg(
                                w.span().clone(),
                                format!(
                                    "'crt-list' : setting '{}' is not supported by the gateway",
                                    w.as_str()
                                ),
                            );
                            i += 1;
                        }
                    }
                }
            }
            spec.options = Some(opts);
        }
        for w in &words[i.min(words.len())..] {
            let text = w.as_str().to_ascii_lowercase();
            let (negative, name) = match text.strip_prefix('!') {
                Some(n) => (true, n.to_owned()),
                None => (false, text),
            };
            spec.filters.push(SniFilter { negative, name });
        }
        out.push(spec);
    }
}

/// `ssl-default-bind-options OPT...`, `-ciphers`, `-ciphersuites`,
/// `-curves`, `crt-base`, `ca-base`. `false`: not one of them.
pub(super) fn global_line(
    kw: &str,
    args: &[Word],
    span: &Span,
    bases_dir: &Path,
    ssl: &mut SslGlobal,
    diag: &mut Diag,
) -> bool {
    let one = |diag: &mut Diag| -> Option<&Word> {
        match args {
            [w] => Some(w),
            [] => {
                diag.error_msg(span.clone(), format!("'{kw}' expects an argument"));
                None
            }
            [_, extra, ..] => {
                diag.error_msg(
                    extra.span().clone(),
                    format!("'{kw}' takes one argument, got '{}' too", extra.as_str()),
                );
                None
            }
        }
    };
    match kw {
        "crt-base" | "ca-base" => {
            if let Some(w) = one(diag) {
                let dir = bases_dir.join(w.as_str());
                if kw == "crt-base" {
                    ssl.crt_base = Some(dir);
                } else {
                    ssl.ca_base = Some(dir);
                }
            }
        }
        "ssl-default-bind-ciphers"
        | "ssl-default-bind-ciphersuites"
        | "ssl-default-server-ciphers"
        | "ssl-default-server-ciphersuites" => {
            // Checked where a TLS bind or server uses it, as HAProxy does (its OpenSSL context
            // is made there); what rustls lacks is warned about here, once.
            if let Some(w) = one(diag) {
                let keyword: &'static str = match kw {
                    "ssl-default-bind-ciphers" => "ssl-default-bind-ciphers",
                    "ssl-default-bind-ciphersuites" => "ssl-default-bind-ciphersuites",
                    "ssl-default-server-ciphers" => "ssl-default-server-ciphers",
                    _ => "ssl-default-server-ciphersuites",
                };
                let list = if kw.ends_with("ciphers") {
                    SuiteList::Tls12
                } else {
                    SuiteList::Tls13
                };
                let (target, refused) = if kw.starts_with("ssl-default-bind-") {
                    (&mut ssl.bind_defaults, &mut ssl.bind_refused)
                } else {
                    (&mut ssl.server_defaults, &mut ssl.server_refused)
                };
                refused.retain(|r| r.list != list);
                let slot = match list {
                    SuiteList::Tls12 => &mut target.ciphers,
                    SuiteList::Tls13 => &mut target.ciphersuites,
                };
                match parse_suites(w.as_str(), list) {
                    Ok(parsed) => {
                        if let Some(warning) = parsed.left_out_warning() {
                            diag.warn_msg(w.span().clone(), format!("'{kw}' : {warning}"));
                        }
                        *slot = Some(parsed.suites);
                    }
                    Err(reason) => {
                        *slot = None;
                        refused.push(RefusedList {
                            list,
                            keyword,
                            reason,
                        });
                    }
                }
            }
        }
        "ssl-default-bind-curves" => {
            if let Some(w) = one(diag) {
                match parse_curves(w.as_str()) {
                    Ok(c) => ssl.bind_defaults.curves = Some(c),
                    Err(e) => diag.error_msg(w.span().clone(), format!("'{kw}' : {e}")),
                }
            }
        }
        "ssl-server-verify" => {
            if let Some(w) = one(diag) {
                match w.as_str() {
                    "none" => ssl.server_defaults.verify = Some(Verify::None),
                    "required" => ssl.server_defaults.verify = Some(Verify::Required),
                    other => diag.error_msg(
                        w.span().clone(),
                        format!("'{kw}' : expects 'none' or 'required', got '{other}'"),
                    ),
                }
            }
        }
        "ssl-default-bind-options" | "ssl-default-server-options" => {
            let global = SslGlobal::default();
            let bases = Bases {
                dir: bases_dir,
                global: &global,
            };
            let server = kw == "ssl-default-server-options";
            let context = format!("'{kw}'");
            let mut opts = if server {
                ssl.server_defaults.clone()
            } else {
                ssl.bind_defaults.clone()
            };
            let mut i = 0;
            while let Some(w) = args.get(i) {
                let allowed = (!server || w.as_str() != "prefer-client-ciphers")
                    && matches!(
                        w.as_str(),
                        "ssl-min-ver"
                            | "ssl-max-ver"
                            | "no-tls-tickets"
                            | "prefer-client-ciphers"
                            | "no-sslv3"
                            | "no-tlsv10"
                            | "no-tlsv11"
                            | "no-tlsv12"
                            | "no-tlsv13"
                            | "force-sslv3"
                            | "force-tlsv10"
                            | "force-tlsv11"
                            | "force-tlsv12"
                            | "force-tlsv13"
                    );
                if !allowed || !tls_setting(args, &mut i, &mut opts, bases, diag, &context) {
                    diag.error_msg(
                        w.span().clone(),
                        format!(
                            "{context} : option '{}' is not supported by the gateway",
                            w.as_str()
                        ),
                    );
                    i += 1;
                }
            }
            if server {
                ssl.server_defaults = opts;
            } else {
                ssl.bind_defaults = opts;
            }
        }
        _ => return false,
    }
    true
}

/// `tune.h2.*`: `false` when `kw` is not one of them. HAProxy 2.6's bounds.
pub(super) fn tune_h2(
    kw: &str,
    args: &[Word],
    span: &Span,
    h2: &mut H2Tunes,
    diag: &mut Diag,
) -> bool {
    let (slot, min, max): (&mut u32, u32, u32) = match kw {
        "tune.h2.header-table-size" => (&mut h2.header_table_size, 0, 65536),
        "tune.h2.initial-window-size" => (&mut h2.initial_window_size, 0, i32::MAX as u32),
        "tune.h2.max-concurrent-streams" => (&mut h2.max_concurrent_streams, 0, u32::MAX),
        "tune.h2.max-frame-size" => (&mut h2.max_frame_size, 16384, 16_777_215),
        _ => return false,
    };
    match args {
        [w] => match w.as_str().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => *slot = n,
            _ => diag.error_msg(
                w.span().clone(),
                format!(
                    "'{kw}' expects a number between {min} and {max}, got '{}'",
                    w.as_str()
                ),
            ),
        },
        [] => diag.error_msg(span.clone(), format!("'{kw}' expects a numeric value")),
        [_, extra, ..] => diag.error_msg(
            extra.span().clone(),
            format!("'{kw}' takes one argument, got '{}' too", extra.as_str()),
        ),
    }
    true
}
