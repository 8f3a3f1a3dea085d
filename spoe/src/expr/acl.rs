//! ACLs: `acl NAME CRITERION [flags] [patterns]` (`parse_acl()` and `parse_acl_expr()` in
//! `src/acl.c`), HAProxy's derived ACL keywords (`path_beg`, `hdr_sub(NAME)`...) and its
//! predefined ACLs (`TRUE`, `LOCALHOST`, `METH_GET`...).

use std::path::Path;

use crate::config::Span;
use crate::config::reader::lexer::{Word, is_name_char};

use super::error::{ExprError, ExprErrorKind, ExprWarningKind};
use super::fetch::Fetch;
use super::pattern::{MatchMethod, Pattern, strl2llrc};
use super::pattern_list::PatternList;
use super::sample::{Sample, SampleType};
use super::sample_expr::{SampleExpr, is_idchar};

/// Something an ACL parser accepts but that is probably a mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprWarning {
    /// Where.
    pub span: Span,
    /// What.
    pub kind: ExprWarningKind,
}

/// What ACL parsing needs from its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct AclContext<'a> {
    /// Directory that relative `-f` pattern files are read from.
    pub base_dir: &'a Path,
}

/// One `acl` line (or one predefined or anonymous ACL): a criterion, a match method and
/// patterns.
#[derive(Debug, Clone)]
pub struct AclExpr {
    /// The criterion as written (`path_beg`, `hdr(host)`, `src`).
    pub keyword: String,
    /// The sample expression feeding the match.
    pub criterion: SampleExpr,
    /// How samples are compared.
    pub method: MatchMethod,
    /// The patterns, grouped by flags.
    pub patterns: Vec<PatternList>,
}

impl AclExpr {
    /// Whether any value of the criterion matches any pattern.
    pub fn eval<H: Fetch + ?Sized>(&self, host: &H) -> bool {
        // A fetch of one value at most (most of them: `var()`, `path`, `req.hdr(name,occ)`)
        // is matched without the vector of `eval_all`: an allocation per evaluation, and
        // per request for each ACL of the rules.
        if !self.criterion.fetch().multi_valued() {
            return self
                .criterion
                .eval(host)
                .is_some_and(|value| self.matches(value));
        }
        self.criterion
            .eval_all(host)
            .into_iter()
            .any(|value| self.matches(value))
    }

    /// Whether one value of the criterion matches.
    fn matches(&self, value: Sample) -> bool {
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Bool => {
                matches!(value.cast(SampleType::Int), Some(Sample::Int(i)) if i != 0)
            }
            method => value.cast(method.expect_type()).is_some_and(|value| {
                self.patterns
                    .iter()
                    .any(|list| list.matches(method, &value))
            }),
        }
    }
}

/// A named ACL: every `acl` line with that name, OR'ed (anonymous ACLs have an empty name).
#[derive(Debug, Clone)]
pub struct Acl {
    /// The name (empty for `{ ... }` ACLs).
    pub name: String,
    /// Where it was first declared.
    pub span: Span,
    /// Its expressions.
    pub exprs: Vec<AclExpr>,
}

impl Acl {
    /// Whether one of the ACL's expressions matches.
    pub fn eval<H: Fetch + ?Sized>(&self, host: &H) -> bool {
        self.exprs.iter().any(|e| e.eval(host))
    }
}

/// The ACLs known in a scope (a `spoe-message`, a proxy), in declaration order; conditions
/// refer to them by index.
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    acls: Vec<Acl>,
    unique_ids: Vec<i64>,
}

/// `(name, criterion and patterns)` of HAProxy's predefined ACLs (`default_acl_list[]`).
const PREDEFINED: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("LOCALHOST", &["src", "127.0.0.1/8", "::1"]),
    ("HTTP", &["req.proto_http"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("HTTP_CONTENT", &["req.hdr_val(content-length)", "gt", "0"]),
    ("RDP_COOKIE", &["req.rdp_cookie_cnt", "gt", "0"]),
    ("REQ_CONTENT", &["req.len", "gt", "0"]),
    ("WAIT_END", &["wait_end"]),
];

/// Names of HAProxy's predefined ACLs.
pub fn predefined_acl_names() -> impl Iterator<Item = &'static str> {
    PREDEFINED.iter().map(|(n, _)| *n)
}

/// HAProxy's derived ACL keywords: `(fetch, default method)` for `path_beg`, `hdr_sub`...
fn acl_keyword(name: &str) -> Option<(&'static str, MatchMethod)> {
    const BASES: &[(&str, &str)] = &[
        ("base", "base"),
        ("cook", "req.cook"),
        ("hdr", "req.hdr"),
        ("path", "path"),
        ("scook", "res.cook"),
        ("shdr", "res.hdr"),
        ("url", "url"),
        ("urlp", "urlp"),
    ];
    const SUFFIXES: &[(&str, MatchMethod)] = &[
        ("", MatchMethod::Str),
        ("_beg", MatchMethod::Beg),
        ("_dir", MatchMethod::Dir),
        ("_dom", MatchMethod::Dom),
        ("_end", MatchMethod::End),
        ("_len", MatchMethod::Len),
        ("_reg", MatchMethod::Reg),
        ("_sub", MatchMethod::Sub),
    ];
    match name {
        "method" => return Some(("method", MatchMethod::Str)),
        "req_ver" => return Some(("req.ver", MatchMethod::Str)),
        "resp_ver" => return Some(("res.ver", MatchMethod::Str)),
        _ => {}
    }
    BASES.iter().find_map(|(base, fetch)| {
        let suffix = name.strip_prefix(base)?;
        SUFFIXES
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, m)| (*fetch, *m))
    })
}

impl AclSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ACL at `index` (as stored in a [`Condition`](super::Condition)).
    pub fn get(&self, index: usize) -> Option<&Acl> {
        self.acls.get(index)
    }

    /// The ACL named `name`.
    pub fn find(&self, name: &str) -> Option<&Acl> {
        self.acls
            .iter()
            .find(|a| !a.name.is_empty() && a.name == name)
    }

    /// Every ACL, named, predefined (once used) and anonymous.
    pub fn iter(&self) -> std::slice::Iter<'_, Acl> {
        self.acls.iter()
    }

    /// Adds the full names of the variables the ACLs' criteria read to `names` (see
    /// [`SampleExpr::var_names`]).
    pub fn var_names(&self, names: &mut std::collections::BTreeSet<String>) {
        for acl in &self.acls {
            for e in &acl.exprs {
                e.criterion.var_names(names);
            }
        }
    }

    /// How many ACLs the set holds.
    pub fn len(&self) -> usize {
        self.acls.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }

    /// Parses `acl NAME CRITERION...` (the words after `acl`), adding the expression to the
    /// ACL of that name. Returns its index and the warnings.
    pub fn parse_acl(
        &mut self,
        words: &[Word],
        cx: &AclContext<'_>,
    ) -> Result<(usize, Vec<ExprWarning>), ExprError> {
        let Some((name, rest)) = words.split_first() else {
            return Err(ExprError::new(
                span_or_default(words),
                ExprErrorKind::MissingFetch,
            ));
        };
        if let Some(ch) = name.as_str().chars().find(|&c| !is_name_char(c)) {
            return Err(ExprError::new(
                name.span().clone(),
                ExprErrorKind::AclNameChar { ch },
            ));
        }
        let mut warnings = Vec::new();
        let Some(criterion) = rest.first() else {
            return Err(ExprError::new(
                name.span_at(name.as_str().len()),
                ExprErrorKind::MissingFetch,
            ));
        };
        let expr = self.parse_expr(rest, cx, &mut warnings)?;
        if !criterion.as_str().contains('(')
            && rest.get(1).is_some_and(|w| w.as_str().starts_with('('))
        {
            warnings.push(ExprWarning {
                span: rest[1].span().clone(),
                kind: ExprWarningKind::Parenthesis {
                    acl: name.as_str().to_owned(),
                    criterion: criterion.as_str().to_owned(),
                    pattern: rest[1].as_str().to_owned(),
                },
            });
        }
        Ok((self.add(name.as_str(), name.span(), expr), warnings))
    }

    /// Adds `expr` to the ACL named `name` (a new one when it is anonymous or unknown).
    fn add(&mut self, name: &str, span: &Span, expr: AclExpr) -> usize {
        if !name.is_empty()
            && let Some(i) = self.acls.iter().position(|a| a.name == name)
        {
            self.acls[i].exprs.push(expr);
            return i;
        }
        self.acls.push(Acl {
            name: name.to_owned(),
            span: span.clone(),
            exprs: vec![expr],
        });
        self.acls.len() - 1
    }

    /// Parses an anonymous ACL (`{ CRITERION ... }` in a condition).
    pub(crate) fn parse_anonymous(
        &mut self,
        words: &[Word],
        open: &Span,
        cx: &AclContext<'_>,
        warnings: &mut Vec<ExprWarning>,
    ) -> Result<usize, ExprError> {
        if words.is_empty() {
            return Err(ExprError::new(open.clone(), ExprErrorKind::MissingFetch));
        }
        let expr = self.parse_expr(words, cx, warnings)?;
        Ok(self.add("", open, expr))
    }

    /// The index of the ACL `name`, loading HAProxy's predefined ACL of that name on first use.
    pub(crate) fn resolve(&mut self, name: &Word, cx: &AclContext<'_>) -> Result<usize, ExprError> {
        if let Some(i) = self
            .acls
            .iter()
            .position(|a| !a.name.is_empty() && a.name == name.as_str())
        {
            return Ok(i);
        }
        let Some((_, def)) = PREDEFINED.iter().find(|(n, _)| *n == name.as_str()) else {
            return Err(ExprError::new(
                name.span().clone(),
                ExprErrorKind::NoSuchAcl {
                    name: name.as_str().to_owned(),
                },
            ));
        };
        let words: Vec<Word> = def
            .iter()
            .map(|t| Word::synthetic(*t, name.span().clone()))
            .collect();
        let mut ignored = Vec::new();
        let expr = self
            .parse_expr(&words, cx, &mut ignored)
            .map_err(|e| match e.kind {
                ExprErrorKind::UnsupportedFetch { .. } | ExprErrorKind::UnknownFetch { .. } => {
                    ExprError::new(
                        name.span().clone(),
                        ExprErrorKind::UnsupportedPredefinedAcl {
                            name: name.as_str().to_owned(),
                            fetch: def[0].to_owned(),
                        },
                    )
                }
                _ => e,
            })?;
        self.acls.push(Acl {
            name: name.as_str().to_owned(),
            span: name.span().clone(),
            exprs: vec![expr],
        });
        Ok(self.acls.len() - 1)
    }

    /// `parse_acl_expr()`: criterion, flags, patterns.
    fn parse_expr(
        &mut self,
        words: &[Word],
        cx: &AclContext<'_>,
        warnings: &mut Vec<ExprWarning>,
    ) -> Result<AclExpr, ExprError> {
        let crit = &words[0];
        let text = crit.as_str();
        let kw_end = text
            .bytes()
            .position(|c| !is_idchar(c))
            .unwrap_or(text.len());
        let keyword = &text[..kw_end];
        let (criterion, mut method) = match acl_keyword(keyword) {
            Some((fetch, method)) => {
                let expr = SampleExpr::parse_as(crit, fetch)?;
                let method = if expr.converters().is_empty() {
                    Some(method)
                } else {
                    MatchMethod::default_for(expr.output_type())
                };
                (expr, method)
            }
            None => {
                let expr = SampleExpr::parse(crit)?;
                let method = MatchMethod::default_for(expr.output_type());
                (expr, method)
            }
        };
        let cur_type = criterion.output_type();
        if method.is_some()
            && cur_type != SampleType::Bool
            && words.get(1).is_none_or(Word::is_empty)
        {
            warnings.push(ExprWarning {
                span: crit.span().clone(),
                kind: ExprWarningKind::NoPattern {
                    acl: text.to_owned(),
                },
            });
        }

        let mut ignore_case = false;
        let mut no_dns = false;
        let mut loaded = false;
        let mut lists: Vec<PatternList> = Vec::new();
        let mut i = 1;
        let arg_of = |i: usize, flag: &Word| -> Result<&Word, ExprError> {
            words.get(i + 1).filter(|w| !w.is_empty()).ok_or_else(|| {
                ExprError::new(
                    flag.span().clone(),
                    ExprErrorKind::MissingFlagValue {
                        flag: flag.as_str().to_owned(),
                    },
                )
            })
        };
        while let Some(flag) = words.get(i).filter(|w| w.as_str().starts_with('-')) {
            let span = flag.span().clone();
            match flag.as_str() {
                "-i" => ignore_case = true,
                "-n" => no_dns = true,
                "-M" => {}
                "-u" => {
                    let value = arg_of(i, flag)?;
                    let id: i64 = value.as_str().parse().map_err(|_| {
                        ExprError::new(value.span().clone(), ExprErrorKind::BadUniqueId)
                    })?;
                    if self.unique_ids.contains(&id) {
                        return Err(ExprError::new(
                            value.span().clone(),
                            ExprErrorKind::UniqueIdUsed,
                        ));
                    }
                    self.unique_ids.push(id);
                    i += 1;
                }
                "-f" => {
                    let Some(m) = method else {
                        return Err(ExprError::new(
                            span,
                            ExprErrorKind::MatchRequired {
                                fetch: keyword.to_owned(),
                            },
                        ));
                    };
                    let file = arg_of(i, flag)?;
                    let map = words[1..i].iter().any(|w| w.as_str() == "-M");
                    let patterns =
                        load_pattern_file(file, cx.base_dir, m, (ignore_case, no_dns), map)?;
                    lists.push(PatternList::new(m, ignore_case, patterns));
                    loaded = true;
                    i += 1;
                }
                "-m" => {
                    if loaded {
                        return Err(ExprError::new(span, ExprErrorKind::MatchAfterFile));
                    }
                    let name = words.get(i + 1).map(Word::as_str).unwrap_or_default();
                    let name_span = words.get(i + 1).map_or(span.clone(), |w| w.span().clone());
                    let Some(m) = MatchMethod::from_name(name) else {
                        return Err(ExprError::new(
                            name_span,
                            ExprErrorKind::UnknownMatch {
                                name: name.to_owned(),
                            },
                        ));
                    };
                    if m != MatchMethod::Found && !cur_type.can_cast(m.expect_type()) {
                        return Err(ExprError::new(
                            name_span,
                            ExprErrorKind::MatchIncompatible {
                                method: name.to_owned(),
                                fetch: keyword.to_owned(),
                            },
                        ));
                    }
                    method = Some(m);
                    i += 1;
                }
                "--" => {
                    i += 1;
                    break;
                }
                other => {
                    return Err(ExprError::new(
                        span,
                        ExprErrorKind::BadAclFlag {
                            flag: other.to_owned(),
                        },
                    ));
                }
            }
            i += 1;
        }
        let Some(method) = method else {
            return Err(ExprError::new(
                crit.span().clone(),
                ExprErrorKind::MatchRequired {
                    fetch: keyword.to_owned(),
                },
            ));
        };

        let mut inline = Vec::new();
        let mut operator = "eq";
        for word in words[i..].iter().take_while(|w| !w.is_empty()) {
            let text = word.as_str();
            let bad = |reason: String| {
                ExprError::new(word.span().clone(), ExprErrorKind::BadPattern { reason })
            };
            let mut pattern_text = text.to_owned();
            if method.takes_ranges() {
                if let op @ ("eq" | "ne" | "lt" | "le" | "gt" | "ge") = text {
                    if op == "ne" {
                        warnings.push(ExprWarning {
                            span: word.span().clone(),
                            kind: ExprWarningKind::NeOperator,
                        });
                    }
                    operator = op;
                    continue;
                }
                if !text.contains([':', '-']) && !matches!(operator, "eq" | "ne") {
                    let int_part = text.split('.').next().unwrap_or_default();
                    let value = strl2llrc(int_part).ok_or_else(|| {
                        bad(format!(
                            "'{text}' is neither a number nor a supported operator"
                        ))
                    })?;
                    pattern_text = match operator {
                        "gt" => format!("{}:", value.saturating_add(1)),
                        "ge" => format!("{value}:"),
                        "lt" => format!(":{}", value.saturating_sub(1)),
                        _ => format!(":{value}"),
                    };
                }
            }
            inline.push(
                Pattern::parse_with(method, &pattern_text, ignore_case, no_dns).map_err(bad)?,
            );
        }
        lists.push(PatternList::new(method, ignore_case, inline));
        Ok(AclExpr {
            keyword: text.to_owned(),
            criterion,
            method,
            patterns: lists,
        })
    }
}

fn span_or_default(words: &[Word]) -> Span {
    words.first().map_or_else(
        || Span::file(std::sync::Arc::from(Path::new(""))),
        |w| w.span().clone(),
    )
}

/// `-f FILE`: one pattern per line; `#` in the first column starts a comment; leading blanks are
/// skipped; a line ends at CR or LF. With `-M`, only the first word (the map key) is used.
fn load_pattern_file(
    file: &Word,
    base_dir: &Path,
    method: MatchMethod,
    (ignore_case, no_dns): (bool, bool),
    map: bool,
) -> Result<Vec<Pattern>, ExprError> {
    let path = base_dir.join(file.as_str());
    let content = std::fs::read(&path).map_err(|e| {
        ExprError::new(
            file.span().clone(),
            ExprErrorKind::PatternFile {
                path: file.as_str().to_owned(),
                error: e.to_string(),
            },
        )
    })?;
    let content = String::from_utf8_lossy(&content);
    let mut patterns = Vec::new();
    for line in content.split('\n') {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim_start_matches([' ', '\t']);
        let line = line.split(['\r', '\0']).next().unwrap_or_default();
        let line = if map {
            line.split([' ', '\t']).next().unwrap_or_default()
        } else {
            line
        };
        if line.is_empty() {
            continue;
        }
        let pattern = Pattern::parse_with(method, line, ignore_case, no_dns).map_err(|reason| {
            ExprError::new(
                file.span().clone(),
                ExprErrorKind::BadPattern {
                    reason: format!("{reason} in pattern file <{}>", file.as_str()),
                },
            )
        })?;
        patterns.push(pattern);
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::Diagnostics;
    use crate::config::reader::lexer::{LexContext, LexedLine, lex_line};
    use crate::expr::{Condition, FetchKind};

    fn words(line: &str) -> Vec<Word> {
        let file: Arc<Path> = Arc::from(Path::new("t.conf"));
        let cx = LexContext {
            file: &file,
            env: &|_| None,
            section: None,
        };
        let mut diags = Diagnostics::default();
        match lex_line(line, 1, &cx, &mut diags) {
            LexedLine::Words(w) => w,
            other => panic!("{other:?}"),
        }
    }

    /// `GET /Static/app.JS?x=1` from 10.1.2.3, two `x-forwarded-for` values, a 12-byte body.
    struct Req;

    impl Fetch for Req {
        fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
            match kind {
                FetchKind::Src => Some(Sample::Ipv4(Ipv4Addr::new(10, 1, 2, 3))),
                FetchKind::SrcPort => Some(Sample::Int(5555)),
                FetchKind::Method => Some(Sample::str("GET")),
                FetchKind::Path => Some(Sample::str("/Static/app.JS")),
                FetchKind::Url => Some(Sample::str("/Static/app.JS?x=1")),
                FetchKind::ReqVer => Some(Sample::str("1.1")),
                FetchKind::ReqProtoHttp => Some(Sample::Bool(true)),
                FetchKind::ReqBodyLen => Some(Sample::Int(12)),
                FetchKind::ReqBody => Some(Sample::bin(&b"hello world!"[..])),
                FetchKind::ReqHdr { name: Some(n), occ } if n == "x-forwarded-for" => match occ {
                    Some(1) => Some(Sample::str("192.0.2.1")),
                    _ => Some(Sample::str("10.0.0.9")),
                },
                FetchKind::ReqHdr { name: Some(n), .. } if n == "host" => {
                    Some(Sample::str("www.Example.com:8080"))
                }
                FetchKind::ReqHdrVal { name: Some(n), .. } if n == "content-length" => {
                    Some(Sample::Int(12))
                }
                FetchKind::Var { var, .. } if var.name() == "score" => Some(Sample::str("42")),
                _ => None,
            }
        }

        fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
            match kind {
                FetchKind::ReqHdr {
                    name: Some(n),
                    occ: None,
                } if n == "x-forwarded-for" => {
                    vec![Sample::str("192.0.2.1"), Sample::str("10.0.0.9")]
                }
                _ => self.fetch(kind).into_iter().collect(),
            }
        }
    }

    fn acl(line: &str) -> bool {
        let mut set = AclSet::new();
        let cx = AclContext {
            base_dir: Path::new("."),
        };
        let (i, _) = set.parse_acl(&words(line), &cx).unwrap();
        set.get(i).unwrap().eval(&Req)
    }

    fn acl_err(line: &str) -> String {
        let mut set = AclSet::new();
        let cx = AclContext {
            base_dir: Path::new("."),
        };
        set.parse_acl(&words(line), &cx)
            .unwrap_err()
            .kind
            .to_string()
    }

    fn cond(acls: &[&str], line: &str) -> bool {
        let mut set = AclSet::new();
        let cx = AclContext {
            base_dir: Path::new("."),
        };
        for a in acls {
            set.parse_acl(&words(a), &cx).unwrap();
        }
        let (c, _) = Condition::parse(&words(line), &mut set, &cx).unwrap();
        c.eval(&Req, &set)
    }

    #[test]
    fn derived_keywords() {
        assert!(acl("x path /Static/app.JS"));
        assert!(!acl("x path /static/app.js"));
        assert!(acl("x path -i /static/app.js"));
        assert!(acl("x path_beg /Static/ /other/"));
        assert!(acl("x path_end .JS"));
        assert!(acl("x path_end -i .js .css"));
        assert!(acl("x path_sub app"));
        assert!(acl("x path_dir Static"));
        assert!(!acl("x path_dir Stat"));
        assert!(acl("x path_reg ^/Static/[a-z]+\\.JS$"));
        assert!(acl("x path_reg -i ^/static/"));
        assert!(acl("x path_len 14"));
        assert!(acl("x path_len gt 10"));
        assert!(acl("x url_sub x=1"));
        assert!(acl("x url_beg /"));
        assert!(acl("x hdr(host) -i www.example.com:8080"));
        assert!(acl("x hdr_dom(host) -i example.com"));
        assert!(!acl("x hdr_dom(host) example.com"));
        assert!(acl("x hdr_beg(host) -i www."));
        assert!(acl("x hdr_end(host) :8080"));
        assert!(acl("x hdr_sub(host) Example"));
        assert!(acl("x hdr_len(host) 20"));
        assert!(acl("x method GET HEAD"));
        assert!(!acl("x method POST"));
        assert!(acl("x req_ver 1.1"));
    }

    #[test]
    fn fetches_as_criteria_and_match_methods() {
        assert!(acl("x src 10.0.0.0/8"));
        assert!(acl("x src 192.0.2.0/24 10.1.2.3"));
        assert!(!acl("x src 192.0.2.0/24"));
        assert!(acl("x src -m str 10.1.2.3"));
        assert!(acl("x src -m beg 10."));
        assert!(acl("x src_port 5555"));
        assert!(acl("x src_port 1024:65535"));
        assert!(acl("x src_port ge 5555"));
        assert!(!acl("x src_port gt 5555"));
        assert!(acl("x src_port lt 5556"));
        assert!(acl("x src_port le 5555"));
        assert!(acl("x src_port eq 5555"));
        assert!(
            acl("x src_port gt 1 lt 2"),
            "operators stay in force for later values"
        );
        assert!(acl("x req.body_len -m int 1:20"));
        assert!(acl("x req.proto_http"));
        assert!(
            acl("x req.hdr(x-forwarded-for) 10.0.0.9"),
            "iterates over values"
        );
        assert!(acl("x req.hdr(x-forwarded-for) -m ip 192.0.2.0/24"));
        assert!(
            !acl("x req.hdr(x-forwarded-for,1) 10.0.0.9"),
            "one occurrence"
        );
        assert!(acl("x req.hdr(host) -m found"));
        assert!(!acl("x req.hdr(absent) -m found"));
        assert!(!acl("x req.hdr(absent),length -m int 0"));
        assert!(acl("x req.body -m bin 68656c6c6f20776f726c6421"));
        assert!(acl("x req.body -m sub world"));
        assert!(acl("x req.body -m len 12"));
        assert!(acl("x req.hdr(host),lower -m dom example.com"));
        assert!(acl("x var(txn.score) -m int gt 40"));
        assert!(acl("x var(txn.score),add(8) 50"));
        assert!(acl("x int(1) -m bool"));
        assert!(!acl("x int(0) -m bool"));
        assert!(acl("x always_true"));
        assert!(!acl("x always_false"));
        assert!(acl("x str(a-b) -- a-b"));
        assert!(acl("x path -m reg -i STATIC"));
        assert!(acl("x src -n -u 7 10.1.2.3"));
    }

    #[test]
    fn pattern_files() {
        let dir = std::env::temp_dir().join(format!("spoe-acl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("nets.lst"),
            "# comment\n  10.0.0.0/8\n\n192.0.2.0/24\r\n",
        )
        .unwrap();
        std::fs::write(dir.join("paths.map"), "/static/ backend1\n/api/ backend2\n").unwrap();
        let cx = AclContext { base_dir: &dir };
        let mut set = AclSet::new();
        let (i, _) = set.parse_acl(&words("x src -f nets.lst"), &cx).unwrap();
        assert!(set.get(i).unwrap().eval(&Req));
        let (i, _) = set
            .parse_acl(&words("y path_beg -i -M -f paths.map"), &cx)
            .unwrap();
        assert!(set.get(i).unwrap().eval(&Req));
        let e = set
            .parse_acl(&words("z path -m str -f nets.lst -m beg"), &cx)
            .unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            "'-m' must only be specified before patterns and files in parsing ACL expression"
        );
        std::fs::write(dir.join("bad.lst"), "not-an-ip\n").unwrap();
        let e = set.parse_acl(&words("w src -f bad.lst"), &cx).unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            "'not-an-ip' is not a valid IPv4 or IPv6 address in pattern file <bad.lst>"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flag_and_pattern_errors() {
        assert_eq!(
            acl_err("x path -q /"),
            "'-q' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"
        );
        assert_eq!(
            acl_err("x path -m nope /"),
            "unknown matching method 'nope' when parsing ACL expression"
        );
        assert_eq!(
            acl_err("x req.body /"),
            "matching method must be specified first (using '-m') when using a sample fetch of this type ('req.body')"
        );
        assert_eq!(
            acl_err("x var(txn.a) -f x.lst"),
            "matching method must be specified first (using '-m') when using a sample fetch of this type ('var')"
        );
        assert_eq!(
            acl_err("x req.hdrs -m ip 1"),
            "matching method 'ip' cannot be used with fetch keyword 'req.hdrs'"
        );
        assert_eq!(
            acl_err("x src 300.0.0.1"),
            "'300.0.0.1' is not a valid IPv4 or IPv6 address"
        );
        assert_eq!(
            acl_err("x src_port 1:x"),
            "'1:x' is not a valid number range"
        );
        assert_eq!(
            acl_err("x path -m bin 0g"),
            "an hex digit is expected (found 'g')"
        );
        assert!(acl_err("x path_reg (").starts_with("failed to compile regex '('"));
        assert_eq!(
            acl_err("x path -u x /"),
            "the argument of -u must be an integer"
        );
        assert_eq!(
            acl_err("x path -m"),
            "unknown matching method '' when parsing ACL expression"
        );
        assert_eq!(acl_err("x nope 1"), "unknown fetch method 'nope'");
        assert_eq!(acl_err("a/b path /"), "invalid character in ACL name : '/'");
    }

    #[test]
    fn warnings() {
        let mut set = AclSet::new();
        let cx = AclContext {
            base_dir: Path::new("."),
        };
        let (_, w) = set.parse_acl(&words("x path"), &cx).unwrap();
        assert!(matches!(w[0].kind, ExprWarningKind::NoPattern { .. }));
        let (_, w) = set.parse_acl(&words("x path --"), &cx).unwrap();
        assert!(w.is_empty());
        let (_, w) = set.parse_acl(&words("x req.proto_http"), &cx).unwrap();
        assert!(w.is_empty());
        let (_, w) = set.parse_acl(&words("x hdr (host)"), &cx).unwrap();
        assert!(matches!(w[0].kind, ExprWarningKind::Parenthesis { .. }));
        let (_, w) = set.parse_acl(&words("x src_port ne 5"), &cx).unwrap();
        assert!(matches!(w[0].kind, ExprWarningKind::NeOperator));
    }

    #[test]
    fn named_acls_merge_and_conditions_combine() {
        let api = "api path_beg /api/";
        let css = "static path_end .css";
        let js = "static path_end .JS";
        assert!(cond(&[css, js], "if static"), "two lines, one ACL: OR");
        assert!(!cond(&[api], "if api"));
        assert!(cond(&[api], "unless api"));
        assert!(cond(&[api], "if !api"));
        assert!(!cond(&[api], "if !!api"));
        assert!(cond(&[api, js], "if api || static"));
        assert!(cond(&[api, js], "if api or static"));
        assert!(!cond(&[api, js], "if api static"), "implicit AND");
        assert!(cond(&[js], "if static METH_GET HTTP_1.1 TRUE"));
        assert!(!cond(&[js], "if static FALSE"));
        assert!(cond(&[], "if { src 10.0.0.0/8 } { method GET }"));
        assert!(cond(&[], "if ! { src 192.0.2.0/24 }"));
        assert!(cond(&[], "unless LOCALHOST"));
        assert!(cond(&[], "if HTTP HTTP_URL_SLASH HTTP_CONTENT"));
        assert!(!cond(
            &[],
            "if METH_POST || HTTP_URL_ABS || HTTP_URL_STAR || HTTP_2.0"
        ));
        assert!(!cond(&[], "if"), "an empty condition is false");
        assert!(cond(&[], "unless"));
        assert!(cond(&[], "if ! FALSE"));
    }

    #[test]
    fn condition_errors() {
        let mut set = AclSet::new();
        let cx = AclContext {
            base_dir: Path::new("."),
        };
        let err = |set: &mut AclSet, line: &str| {
            let e = Condition::parse(&words(line), set, &cx).unwrap_err();
            format!("{}: {}", e.span.col, e.kind)
        };
        assert_eq!(err(&mut set, "if nope"), "4: no such ACL : 'nope'");
        assert_eq!(err(&mut set, "if !nope"), "5: no such ACL : 'nope'");
        assert_eq!(
            err(&mut set, "if { src"),
            "4: missing closing '}' in condition"
        );
        assert_eq!(
            err(&mut set, "when x"),
            "1: conditions must start with either 'if' or 'unless'"
        );
        assert_eq!(
            err(&mut set, "if { bogus }"),
            "6: unknown fetch method 'bogus'"
        );
        assert_eq!(
            err(&mut set, "if RDP_COOKIE"),
            "4: predefined ACL 'RDP_COOKIE' uses 'req.rdp_cookie_cnt', which is not supported by this engine"
        );
        let (c, _) = Condition::parse(&words("if WAIT_END !REQ_CONTENT"), &mut set, &cx).unwrap();
        assert!(c.eval(&Req, &set));
        // A predefined ACL can be redefined before use.
        set.parse_acl(&words("TRUE always_false"), &cx).unwrap();
        let (c, _) = Condition::parse(&words("if TRUE"), &mut set, &cx).unwrap();
        assert!(!c.eval(&Req, &set));
        assert_eq!(predefined_acl_names().count(), 22);
    }
}
