//! `http-request` and `http-response` rules: `ACTION [ARGS...] [if|unless COND]`
//! (`parse_http_req_cond()` in `src/http_rules.c`, the action parsers of `src/http_act.c`,
//! `src/http_htx.c`, `src/vars.c` and `src/flt_spoe.c`).

use spoe::config::reader::Word;
use spoe::config::{ConfigWarningKind, Span, Spanned};
use spoe::expr::{AclContext, AclSet, Condition, SampleExpr, VarRef};

use super::diag::Diag;
use super::logformat::{Phase, parse_log_format};
use crate::model::{HttpAction, LogFormat, LogFormatPart, RedirectKind, ReturnBody, Rule};
use spoe::config::reader::Line;

/// Statuses HAProxy has a built-in error page for (`http_err_codes[]` in `src/http.c`): the
/// only ones `deny_status` accepts.
const ERROR_PAGE_STATUSES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// The `http-request` actions the gateway runs (`set-var` stands for `set-var(<var-name>)`).
pub(super) const REQUEST_ACTIONS: &[&str] = &[
    "deny",
    "return",
    "set-header",
    "add-header",
    "del-header",
    "set-var",
    "send-spoe-group",
    "set-log-level",
    "redirect",
    "use-service",
];

/// The `http-response` actions the gateway runs.
pub(super) const RESPONSE_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "set-var",
    "send-spoe-group",
    "set-log-level",
];

/// The actions of HAProxy 2.6's `http-request` and `http-response` the gateway does not run.
pub(super) const OTHER_ACTIONS: &[&str] = &[
    "add-acl",
    "allow",
    "auth",
    "cache-store",
    "cache-use",
    "capture",
    "del-acl",
    "del-map",
    "disable-l7-retry",
    "do-resolve",
    "early-hint",
    "normalize-uri",
    "reject",
    "replace-header",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "replace-value",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt",
    "sc-set-gpt0",
    "set-dst",
    "set-dst-port",
    "set-map",
    "set-mark",
    "set-method",
    "set-nice",
    "set-path",
    "set-pathq",
    "set-priority-class",
    "set-priority-offset",
    "set-query",
    "set-src",
    "set-src-port",
    "set-status",
    "set-timeout",
    "set-tos",
    "set-uri",
    "silent-drop",
    "strict-mode",
    "tarpit",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "wait-for-body",
    "wait-for-handshake",
];

/// A `send-spoe-group ENGINE GROUP` to check once every filter is known.
#[derive(Debug, Clone)]
pub(super) struct GroupRef {
    pub(super) engine: Spanned<String>,
    pub(super) group: Spanned<String>,
    pub(super) phase: Phase,
    /// Where the rule is.
    pub(super) span: Span,
}

/// A parsed rule and what the proxy must remember about it.
#[derive(Debug)]
pub(super) struct ParsedRule {
    pub(super) rule: Rule,
    pub(super) group: Option<GroupRef>,
    /// The action ends the rule list (`deny`, `return`, `redirect`, `use-service`).
    pub(super) is_final: bool,
}

/// Where a rule is, for HAProxy's wording of conflicts ("frontend http-request header rule").
#[derive(Debug, Clone, Copy)]
pub(super) struct RuleSite<'a> {
    /// `frontend` or `backend`.
    pub(super) side: &'a str,
    pub(super) phase: Phase,
}

/// What a proxy's rules resolve against.
#[derive(Debug)]
pub(super) struct RuleScope<'a, 'b> {
    pub(super) acls: &'a mut AclSet,
    pub(super) acl_cx: &'a AclContext<'b>,
    pub(super) site: RuleSite<'a>,
    /// What the Lua files registered (`lua.NAME` actions and services).
    pub(super) lua: Option<&'a spoe_lua::Registered>,
}

/// Parses an `http-request` / `http-response` line (errors and warnings go to `diag`).
pub(super) fn parse_rule(
    line: &Line,
    scope: &mut RuleScope<'_, '_>,
    diag: &mut Diag,
) -> Option<ParsedRule> {
    let kw = line.keyword();
    let phase = scope.site.phase;
    let Some(action_word) = line.arg(1) else {
        diag.error_msg(
            line.span().clone(),
            format!(
                "'{kw}' expects {}, but got '' (missing argument)",
                supported(phase)
            ),
        );
        return None;
    };
    let action = action_word.as_str();
    let args = &line.words[2..];
    let mut p = ActionParser {
        kw,
        action,
        at: action_word,
        args,
        phase,
        diag,
    };
    let parsed = match (phase, action) {
        (Phase::Request, "deny") => p.deny(),
        (Phase::Request, "return") => p.return_(),
        (_, "set-header") => p.set_header(false),
        (_, "add-header") => p.set_header(true),
        (_, "del-header") => p.del_header(),
        (_, a) if a.starts_with("set-var-fmt") || a.starts_with("unset-var") => {
            p.unsupported();
            None
        }
        (_, a) if a.starts_with("set-var") => p.set_var(),
        (_, "send-spoe-group") => p.send_spoe_group(),
        (_, "set-log-level") => p.set_log_level(),
        (Phase::Request, "redirect") => p.redirect(),
        (Phase::Request, "use-service")
            if args.first().is_some_and(|w| w.as_str().starts_with("lua.")) =>
        {
            match super::lua::service(scope.lua, args[0].as_str()) {
                Ok(action) => Some((action, 1, None)),
                Err(msg) => {
                    p.diag.error_msg(args[0].span().clone(), msg);
                    None
                }
            }
        }
        (Phase::Request, "use-service") => p.use_service(),
        (_, a) if a.starts_with("lua.") => match super::lua::action(scope.lua, phase, a, args) {
            Ok((action, used)) => Some((action, used, None)),
            Err(msg) => {
                p.diag.error_msg(action_word.span().clone(), msg);
                None
            }
        },
        (_, "deny" | "return" | "redirect" | "use-service") => {
            p.unsupported();
            None
        }
        (_, a) if OTHER_ACTIONS.contains(&a) => {
            p.unsupported();
            None
        }
        (_, a) => {
            p.diag.error_msg(
                action_word.span().clone(),
                format!("'{kw}' expects {}, but got '{a}'", supported(phase)),
            );
            None
        }
    };
    let (action_value, used, group) = parsed?;
    let is_final = matches!(
        action_value,
        HttpAction::Deny { .. }
            | HttpAction::Return { .. }
            | HttpAction::Redirect { .. }
            | HttpAction::PrometheusExporter
            | HttpAction::LuaService { .. }
    );
    let rest = &args[used..];
    let cond = match rest.first().map(Word::as_str) {
        None => None,
        Some("if" | "unless") => match Condition::parse(rest, scope.acls, scope.acl_cx) {
            Ok((cond, warnings)) => {
                for w in warnings {
                    diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                }
                let site = format!("{} {kw} header rule", scope.site.side);
                warn_cond_conflicts(&cond, scope.acls, phase, &site, diag);
                Some(cond)
            }
            Err(e) => {
                diag.expr(
                    format!("error detected while parsing an '{kw} {action}' condition"),
                    e,
                );
                return None;
            }
        },
        Some(other) => {
            diag.error_msg(
                rest[0].span().clone(),
                format!(
                    "'{kw} {action}' expects either 'if' or 'unless' followed by a condition but found '{other}'"
                ),
            );
            return None;
        }
    };
    Some(ParsedRule {
        rule: Rule {
            action: action_value,
            cond,
            span: line.span().clone(),
        },
        group,
        is_final,
    })
}

/// HAProxy's warning for an ACL that never matches where it is used: all its criteria read
/// data that does not exist there.
pub(super) fn warn_cond_conflicts(
    cond: &Condition,
    acls: &AclSet,
    phase: Phase,
    site: &str,
    diag: &mut Diag,
) {
    let mut seen: Vec<usize> = Vec::new();
    for term in cond.suites.iter().flatten() {
        if seen.contains(&term.acl) {
            continue;
        }
        seen.push(term.acl);
        let Some(acl) = acls.get(term.acl) else {
            continue;
        };
        if acl.exprs.is_empty()
            || acl
                .exprs
                .iter()
                .any(|e| phase.provides(e.criterion.source()))
        {
            continue;
        }
        let msg = if acl.name.is_empty() {
            format!(
                "anonymous acl will never match because it uses keyword '{}' which is incompatible with '{site}'",
                acl.exprs[0].keyword.split('(').next().unwrap_or_default()
            )
        } else {
            format!(
                "acl '{}' will never match because it only involves keywords that are incompatible with '{site}'",
                acl.name
            )
        };
        diag.warn_msg(cond.span.clone(), msg);
    }
}

/// `'deny', 'return' ... or 'use-service'`: the actions of `phase` the gateway runs.
fn supported(phase: Phase) -> String {
    let names = match phase {
        Phase::Request => REQUEST_ACTIONS,
        Phase::Response => RESPONSE_ACTIONS,
    };
    let quoted: Vec<String> = names
        .iter()
        .map(|a| match *a {
            "set-var" => "'set-var(<var-name>)'".to_owned(),
            a => format!("'{a}'"),
        })
        .collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// An action, the number of argument words it used, and its `send-spoe-group` reference.
type Parsed = Option<(HttpAction, usize, Option<GroupRef>)>;

struct ActionParser<'a, 'd> {
    kw: &'a str,
    action: &'a str,
    at: &'a Word,
    /// The words after the action.
    args: &'a [Word],
    phase: Phase,
    diag: &'d mut Diag,
}

fn is_cond(word: Option<&Word>) -> bool {
    word.is_none_or(|w| w.as_str() == "if" || w.as_str() == "unless")
}

impl<'a> ActionParser<'a, '_> {
    /// `'http-request ACTION' : msg` at `span`.
    fn fail(&mut self, span: &Span, msg: impl std::fmt::Display) {
        self.diag.error_msg(
            span.clone(),
            format!("'{} {}' : {msg}", self.kw, self.action),
        );
    }

    fn unsupported(&mut self) {
        self.diag.error_msg(
            self.at.span().clone(),
            format!(
                "'{} {}' is not supported by the gateway (supported: {})",
                self.kw,
                self.action,
                supported(self.phase)
            ),
        );
    }

    /// The argument at `i`, or an error naming what `after` expects.
    fn value(&mut self, i: usize, after: &str, expects: &str) -> Option<&'a Word> {
        match self.args.get(i) {
            Some(w) => Some(w),
            None => {
                let span = self
                    .args
                    .get(i.wrapping_sub(1))
                    .unwrap_or(self.at)
                    .span()
                    .clone();
                self.fail(&span, format!("'{after}' expects {expects} as argument"));
                None
            }
        }
    }

    fn status(&mut self, word: &Word, min: u16, max: u16) -> Option<u16> {
        let text = word.as_str();
        match text.parse::<u16>() {
            Ok(s) if (min..=max).contains(&s) && text.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s)
            }
            _ => {
                self.fail(word.span(), format!("Unexpected status code '{text}'"));
                None
            }
        }
    }

    fn log_format(&mut self, word: &Word) -> Option<LogFormat> {
        let what = format!("{} {}", self.kw, self.action);
        parse_log_format(word, self.phase, &what, self.diag)
    }

    /// `deny [deny_status N]`.
    fn deny(&mut self) -> Parsed {
        let first = self.args.first();
        if is_cond(first) {
            return Some((HttpAction::Deny { status: 403 }, 0, None));
        }
        let first = first?;
        match first.as_str() {
            "deny_status" => {
                let word = self.value(1, "deny_status", "<status_code>")?;
                if !is_cond(self.args.get(2)) {
                    let extra = &self.args[2];
                    self.fail(
                        extra.span(),
                        format!(
                            "custom replies ('{}') are not supported by the gateway; use 'http-request return'",
                            extra.as_str()
                        ),
                    );
                    return None;
                }
                let status = self.status(word, 200, 599)?;
                if !ERROR_PAGE_STATUSES.contains(&status) {
                    self.fail(
                        word.span(),
                        format!(
                            "status code '{status}' not handled by default with 'default-errorfiles' argument"
                        ),
                    );
                    return None;
                }
                Some((HttpAction::Deny { status }, 2, None))
            }
            "status" | "content-type" | "hdr" | "string" | "lf-string" | "file" | "lf-file"
            | "errorfile" | "errorfiles" | "default-errorfiles" => {
                self.fail(
                    first.span(),
                    format!(
                        "custom replies ('{}') are not supported by the gateway; use 'http-request return'",
                        first.as_str()
                    ),
                );
                None
            }
            // Anything else is reported as an unexpected word before a condition.
            _ => Some((HttpAction::Deny { status: 403 }, 0, None)),
        }
    }

    /// `return [status N] [content-type T] [hdr NAME FMT]... [string S | lf-string FMT]`.
    fn return_(&mut self) -> Parsed {
        let mut status = 200;
        let mut content_type: Option<(String, Span)> = None;
        let mut headers = Vec::new();
        let mut body: Option<(ReturnBody, &'static str, bool)> = None;
        let mut i = 0;
        let mut ok = true;
        while let Some(word) = self.args.get(i) {
            match word.as_str() {
                "status" => {
                    let value = self.value(i + 1, "status", "<status_code>")?;
                    status = self.status(value, 200, 599)?;
                    i += 2;
                }
                "content-type" => {
                    let value = self.value(i + 1, "content-type", "<ctype>")?;
                    content_type = Some((value.as_str().to_owned(), value.span().clone()));
                    i += 2;
                }
                "hdr" => {
                    let (Some(name), Some(value)) = (self.args.get(i + 1), self.args.get(i + 2))
                    else {
                        self.fail(word.span(), "'hdr' expects <name> and <value> as arguments");
                        return None;
                    };
                    let lower = name.as_str().to_ascii_lowercase();
                    if ["content-length", "transfer-encoding", "content-type"]
                        .contains(&lower.as_str())
                    {
                        self.diag.ignored(
                            name.span().clone(),
                            format!("hdr {}", name.as_str()),
                            "the http reply always sets this header itself (HAProxy ignores it too)",
                        );
                    } else {
                        match self.log_format(value) {
                            Some(f) => headers.push((name.as_str().to_owned(), f)),
                            None => ok = false,
                        }
                    }
                    i += 3;
                }
                kind @ ("string" | "lf-string") => {
                    let kind: &'static str = if kind == "string" {
                        "string"
                    } else {
                        "lf-string"
                    };
                    if let Some((_, previous, _)) = &body {
                        let msg =
                            format!("unexpected '{kind}' argument, '{previous}' already defined");
                        self.fail(word.span(), msg);
                        return None;
                    }
                    let expects = if kind == "string" { "<str>" } else { "<fmt>" };
                    let value = self.value(i + 1, kind, expects)?;
                    let parsed = if kind == "string" {
                        Some(ReturnBody::String(value.as_str().to_owned()))
                    } else {
                        self.log_format(value).map(ReturnBody::LogFormat)
                    };
                    match parsed {
                        Some(b) => body = Some((b, kind, value.as_str().is_empty())),
                        None => ok = false,
                    }
                    i += 2;
                }
                other
                @ ("file" | "lf-file" | "errorfile" | "errorfiles" | "default-errorfiles") => {
                    self.fail(
                        word.span(),
                        format!(
                            "'{other}' is not supported by the gateway; use 'string' or 'lf-string'"
                        ),
                    );
                    return None;
                }
                _ => break,
            }
        }
        if !ok {
            return None;
        }
        let at = self.at.span().clone();
        match &body {
            Some((_, kind, empty)) => {
                if status == 204 || status == 304 {
                    self.fail(&at, format!("No body expected for {status} responses"));
                    return None;
                }
                if content_type.is_none() {
                    let msg = if *kind == "lf-string" {
                        "a content type must be defined with a log-format payload"
                    } else if !empty {
                        "a content type must be defined when non-empty payload is configured"
                    } else {
                        ""
                    };
                    if !msg.is_empty() {
                        self.fail(&at, msg);
                        return None;
                    }
                }
            }
            None => {
                if let Some((ctype, span)) = content_type.take() {
                    self.diag.ignored(
                        span,
                        format!("content-type {ctype}"),
                        "the http reply has no payload (HAProxy ignores it too)",
                    );
                }
            }
        }
        Some((
            HttpAction::Return {
                status,
                content_type: content_type.map(|(c, _)| c),
                headers,
                body: body.map(|(b, _, _)| b),
            },
            i,
            None,
        ))
    }

    /// `set-header NAME FMT` / `add-header NAME FMT`.
    fn set_header(&mut self, add: bool) -> Parsed {
        let (Some(name), Some(value)) = (self.args.first(), self.args.get(1)) else {
            let span = self.at.span().clone();
            self.fail(&span, "expects exactly 2 arguments");
            return None;
        };
        let name = name.as_str().to_owned();
        let value = self.log_format(value)?;
        let action = if add {
            HttpAction::AddHeader { name, value }
        } else {
            HttpAction::SetHeader { name, value }
        };
        Some((action, 2, None))
    }

    /// `del-header NAME [-m str]`.
    fn del_header(&mut self) -> Parsed {
        let Some(name) = self.args.first() else {
            let span = self.at.span().clone();
            self.fail(&span, "expects at least 1 argument");
            return None;
        };
        let name = name.as_str().to_owned();
        if self.args.get(1).map(Word::as_str) != Some("-m") {
            return Some((HttpAction::DelHeader { name }, 1, None));
        }
        let Some(method) = self.args.get(2) else {
            let span = self.args[1].span().clone();
            self.fail(&span, "-m flag expects exactly 1 argument");
            return None;
        };
        match method.as_str() {
            "str" => Some((HttpAction::DelHeader { name }, 3, None)),
            m @ ("beg" | "end" | "sub" | "reg") => {
                let msg = format!("'-m {m}' is not supported by the gateway (only '-m str')");
                self.fail(method.span(), msg);
                None
            }
            m => {
                let msg = format!("-m with unsupported matching method '{m}'");
                self.fail(method.span(), msg);
                None
            }
        }
    }

    /// `set-log-level LEVEL|silent` (`stream_parse_set_log_level()`).
    fn set_log_level(&mut self) -> Parsed {
        let level = match self.args.first().map(Word::as_str) {
            Some("silent") => None,
            Some(name) => match spoe::config::LEVELS.iter().position(|l| *l == name) {
                Some(i) => u8::try_from(i).ok(),
                None => return self.bad_log_level(),
            },
            None => return self.bad_log_level(),
        };
        Some((HttpAction::SetLogLevel { level }, 1, None))
    }

    fn bad_log_level(&mut self) -> Parsed {
        let span = self.args.first().unwrap_or(self.at).span().clone();
        self.fail(
            &span,
            "expects exactly 1 argument (log level name or 'silent')",
        );
        None
    }

    /// `set-var(NAME) EXPR`.
    fn set_var(&mut self) -> Parsed {
        let action = self.action;
        let expects =
            "Expects 'set-var(<var-name>)', 'set-var-fmt(<var-name>)' or 'unset-var(<var-name>)'";
        let at = self.at.span().clone();
        let inner = &action["set-var".len()..];
        let Some(inner) = inner.strip_prefix('(') else {
            self.fail(
                &at,
                format!("invalid or incomplete action '{action}'. {expects}"),
            );
            return None;
        };
        let Some(inner) = inner.strip_suffix(')') else {
            self.fail(
                &at,
                format!("incomplete argument after action '{action}'. {expects}"),
            );
            return None;
        };
        let (name, conditions) = match inner.split_once(',') {
            Some((n, c)) => (n, Some(c)),
            None => (inner, None),
        };
        if let Some(conditions) = conditions {
            let msg =
                format!("set-var conditions ('{conditions}') are not supported by the gateway");
            self.fail(&self.at.span_at("set-var(".len() + name.len() + 1), msg);
            return None;
        }
        let var = match VarRef::parse(name) {
            Ok(v) => v,
            Err(msg) => {
                self.fail(&self.at.span_at("set-var(".len()), msg);
                return None;
            }
        };
        let Some(word) = self.args.first() else {
            self.fail(&at, "expects a sample expression");
            return None;
        };
        let expr = match SampleExpr::parse(word) {
            Ok(e) => e,
            Err(e) => {
                self.diag.expr(format!("'{} {action}'", self.kw), e);
                return None;
            }
        };
        if !self.phase.provides(expr.source()) {
            let msg = format!(
                "fetch method '{}' extracts information from '{}', none of which is available here",
                expr.fetch_name(),
                expr.source().describe()
            );
            self.fail(word.span(), msg);
            return None;
        }
        Some((HttpAction::SetVar { var, expr }, 1, None))
    }

    /// `send-spoe-group ENGINE GROUP`.
    fn send_spoe_group(&mut self) -> Parsed {
        let (Some(engine), Some(group)) = (self.args.first(), self.args.get(1)) else {
            let span = self.at.span().clone();
            self.fail(&span, "expects 2 arguments: <engine-id> <group-id>");
            return None;
        };
        if !is_cond(self.args.get(2)) {
            let span = self.args[2].span().clone();
            self.fail(&span, "expects 2 arguments: <engine-id> <group-id>");
            return None;
        }
        let group_ref = GroupRef {
            engine: engine.spanned(),
            group: group.spanned(),
            phase: self.phase,
            span: self.at.span().clone(),
        };
        Some((
            HttpAction::SendSpoeGroup {
                engine: engine.as_str().to_owned(),
                group: group.as_str().to_owned(),
            },
            2,
            Some(group_ref),
        ))
    }

    /// `redirect location|prefix|scheme TARGET [code N]` (`http_parse_redirect_rule()`).
    fn redirect(&mut self) -> Parsed {
        let mut kind: Option<(RedirectKind, &Word)> = None;
        let mut code = 302;
        let mut i = 0;
        while let Some(word) = self.args.get(i) {
            match word.as_str() {
                "if" | "unless" => break,
                t @ ("location" | "prefix" | "scheme") => {
                    let value = self.value(i + 1, t, "<target>")?;
                    let k = match t {
                        "location" => RedirectKind::Location,
                        "prefix" => RedirectKind::Prefix,
                        _ => RedirectKind::Scheme,
                    };
                    kind = Some((k, value));
                    i += 2;
                }
                "code" => {
                    let value = self.value(i + 1, "code", "<code>")?;
                    match value.as_str().parse::<u16>() {
                        Ok(c @ (301..=303 | 307 | 308))
                            if value.as_str().bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            code = c;
                        }
                        _ => {
                            let msg = format!(
                                "'code': unsupported HTTP code '{}' (must be one of 301, 302, 303, 307 or 308)",
                                value.as_str()
                            );
                            self.fail(value.span(), msg);
                            return None;
                        }
                    }
                    i += 2;
                }
                o @ ("drop-query" | "append-slash" | "set-cookie" | "clear-cookie"
                | "ignore-empty") => {
                    let msg = format!("'{o}' is not supported by the gateway");
                    self.fail(word.span(), msg);
                    return None;
                }
                other => {
                    let msg = format!(
                        "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '{other}')"
                    );
                    self.fail(word.span(), msg);
                    return None;
                }
            }
        }
        let Some((kind, target_word)) = kind else {
            let at = self.at.span().clone();
            self.fail(
                &at,
                "redirection type expected ('prefix', 'location', or 'scheme')",
            );
            return None;
        };
        let target = if kind == RedirectKind::Prefix && target_word.as_str() == "/" {
            LogFormat(vec![LogFormatPart::Text("/".to_owned())])
        } else {
            self.log_format(target_word)?
        };
        Some((HttpAction::Redirect { kind, target, code }, i, None))
    }

    /// `use-service prometheus-exporter`.
    fn use_service(&mut self) -> Parsed {
        let Some(name) = self.args.first() else {
            let at = self.at.span().clone();
            self.fail(&at, "expects a service name");
            return None;
        };
        match name.as_str() {
            "prometheus-exporter" => Some((HttpAction::PrometheusExporter, 1, None)),
            other => {
                let msg = format!(
                    "service '{other}' is not supported by the gateway (only 'prometheus-exporter')"
                );
                self.fail(name.span(), msg);
                None
            }
        }
    }
}
