//! `http-request` and `http-response` rules: `ACTION [ARGS...] [if|unless COND]`
//! (`parse_http_req_cond()` in `src/http_rules.c`, the action parsers of `src/http_act.c`,
//! `src/http_htx.c`, `src/vars.c` and `src/flt_spoe.c`).

use spoe::config::reader::Word;
use spoe::config::{ConfigWarningKind, Span, Spanned};
use spoe::expr::{AclContext, AclSet, Condition, SampleExpr, VarRef};

use super::diag::Diag;
use super::logformat::{Phase, parse_log_format};
use crate::model::{AddrPart, HttpAction, LinePart, LogFormat, Rule};
use spoe::config::reader::Line;

/// The `http-request` actions the gateway runs (`set-var` stands for `set-var(<var-name>)`).
pub(super) const REQUEST_ACTIONS: &[&str] = &[
    "deny",
    "return",
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-var",
    "send-spoe-group",
    "set-log-level",
    "redirect",
    "use-service",
    "silent-drop",
    "allow",
    "set-method",
    "set-path",
    "set-pathq",
    "set-query",
    "set-uri",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "capture",
    "auth",
    "tarpit",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "cache-use",
];

/// The `http-response` actions the gateway runs.
pub(super) const RESPONSE_ACTIONS: &[&str] = &[
    "deny",
    "return",
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "set-var",
    "send-spoe-group",
    "set-log-level",
    "redirect",
    "silent-drop",
    "allow",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "capture",
    "cache-store",
];

/// The `http-after-response` actions the gateway runs.
pub(super) const AFTER_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "set-var",
    "allow",
];

/// The actions of HAProxy 2.6's `http-after-response` the gateway does not run (with
/// `set-var-fmt(...)` and `unset-var(...)`).
pub(super) const AFTER_OTHER_ACTIONS: &[&str] = &["capture", "strict-mode"];

/// The actions of HAProxy 2.6's `http-request` and `http-response` the gateway does not run.
pub(super) const OTHER_ACTIONS: &[&str] = &[
    "add-acl",
    "del-acl",
    "del-map",
    "disable-l7-retry",
    "do-resolve",
    "early-hint",
    "normalize-uri",
    "reject",
    "sc-inc-gpc",
    "sc-set-gpt",
    "set-map",
    "set-mark",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-timeout",
    "set-tos",
    "strict-mode",
    "wait-for-body",
    "wait-for-handshake",
];

/// The actions the gateway runs for the rule keyword `kw`.
fn actions_of(kw: &str) -> &'static [&'static str] {
    match kw {
        "http-request" => REQUEST_ACTIONS,
        "http-response" => RESPONSE_ACTIONS,
        _ => AFTER_ACTIONS,
    }
}

/// A `send-spoe-group ENGINE GROUP` to check once every filter is known.
#[derive(Debug, Clone)]
pub(super) struct GroupRef {
    pub(super) engine: Spanned<String>,
    pub(super) group: Spanned<String>,
    pub(super) phase: Phase,
    /// Where the rule is.
    pub(super) span: Span,
}

/// What a `capture` rule asks of its proxy's slots (see `proxy::capture`).
#[derive(Debug, Clone, Copy)]
pub(super) enum SlotRef {
    /// `len N`: a new request slot of N bytes, declared by the rule.
    New(usize),
    /// `id N`: an existing slot.
    Id(usize),
}

/// A parsed rule and what the proxy must remember about it.
#[derive(Debug)]
pub(super) struct ParsedRule {
    pub(super) rule: Rule,
    pub(super) group: Option<GroupRef>,
    /// The action ends the rule list (`deny`, `return`, `redirect`, `use-service`).
    pub(super) is_final: bool,
    /// A `capture` rule's slot, for its proxy to declare or check.
    pub(super) capture: Option<SlotRef>,
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
    // The proxy keyword `redirect` is its own action, its arguments right after it.
    let first = usize::from(kw != "redirect");
    let Some(action_word) = line.words.get(first) else {
        diag.error_msg(
            line.span().clone(),
            format!(
                "'{kw}' expects {}, but got '' (missing argument)",
                supported(kw)
            ),
        );
        return None;
    };
    let action = if first == 0 {
        "redirect"
    } else {
        action_word.as_str()
    };
    let args = &line.words[first + 1..];
    let mut p = ActionParser {
        kw,
        action,
        at: action_word,
        args,
        phase,
        diag,
        capture: None,
    };
    let after = kw == "http-after-response";
    let parsed = match (phase, action) {
        (_, a) if after && !AFTER_ACTIONS.contains(&a) && !a.starts_with("set-var(") => {
            if AFTER_OTHER_ACTIONS.contains(&a)
                || a.starts_with("set-var-fmt")
                || a.starts_with("unset-var")
            {
                p.unsupported();
            } else {
                p.diag.error_msg(
                    action_word.span().clone(),
                    format!("'{kw}' expects {}, but got '{a}'", supported(kw)),
                );
            }
            None
        }
        (_, "deny") => p.deny(),
        (Phase::Request, "auth") => p.auth(),
        (Phase::Request, "tarpit") => p.tarpit(),
        (_, "return") => p.return_(),
        (_, "set-header") => p.set_header(false),
        (_, "add-header") => p.set_header(true),
        (_, "del-header") => p.del_header(),
        (_, "replace-header") => p.replace_header(false),
        (_, "replace-value") => p.replace_header(true),
        (_, "silent-drop") => Some((HttpAction::SilentDrop, 0, None)),
        (_, "allow") => Some((HttpAction::Allow, 0, None)),
        (Phase::Response, "set-status") => p.set_status(),
        (Phase::Request, "set-method") => p.set_line(LinePart::Method),
        (Phase::Request, "set-path") => p.set_line(LinePart::Path),
        (Phase::Request, "set-pathq") => p.set_line(LinePart::PathQuery),
        (Phase::Request, "set-query") => p.set_line(LinePart::Query),
        (Phase::Request, "set-uri") => p.set_line(LinePart::Uri),
        (Phase::Request, "replace-path") => p.replace_line(LinePart::Path),
        (Phase::Request, "replace-pathq") => p.replace_line(LinePart::PathQuery),
        (Phase::Request, "replace-uri") => p.replace_line(LinePart::Uri),
        (Phase::Request, "set-src") => p.set_addr(AddrPart::Src),
        (Phase::Request, "set-src-port") => p.set_addr(AddrPart::SrcPort),
        (Phase::Request, "set-dst") => p.set_addr(AddrPart::Dst),
        (Phase::Request, "set-dst-port") => p.set_addr(AddrPart::DstPort),
        (_, a) if a.starts_with("set-var-fmt") || a.starts_with("unset-var") => {
            p.unsupported();
            None
        }
        (_, a) if a.starts_with("set-var") => p.set_var(),
        (_, "send-spoe-group") => p.send_spoe_group(),
        (_, "track-sc0") => p.track_sc(0),
        (_, "track-sc1") => p.track_sc(1),
        (_, "track-sc2") => p.track_sc(2),
        (_, a) if a.starts_with("sc-inc-gpc0(") => p.sc_inc_gpc(0),
        (_, a) if a.starts_with("sc-inc-gpc1(") => p.sc_inc_gpc(1),
        (_, a) if a.starts_with("sc-set-gpt0(") => p.sc_set_gpt0(),
        (_, "set-log-level") => p.set_log_level(),
        (Phase::Request, "cache-use") => p.cache_rule(|cache| HttpAction::CacheUse { cache }),
        (Phase::Response, "cache-store") => p.cache_rule(|cache| HttpAction::CacheStore { cache }),
        (_, "capture") => p.capture(),
        (_, "redirect") => p.redirect(),
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
        (_, a) if OTHER_ACTIONS.contains(&a) || REQUEST_ACTIONS.contains(&a) => {
            p.unsupported();
            None
        }
        (_, a) => {
            p.diag.error_msg(
                action_word.span().clone(),
                format!("'{kw}' expects {}, but got '{a}'", supported(kw)),
            );
            None
        }
    };
    let (action_value, used, group) = parsed?;
    let capture = p.capture;
    let is_final = matches!(
        action_value,
        HttpAction::Deny { .. }
            | HttpAction::Auth { .. }
            | HttpAction::Tarpit { .. }
            | HttpAction::Return { .. }
            | HttpAction::Redirect { .. }
            | HttpAction::SilentDrop
            | HttpAction::Allow
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
        capture,
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

/// `'deny', 'return' ... or 'allow'`: the actions of the rule keyword `kw` the gateway runs.
fn supported(kw: &str) -> String {
    let quoted: Vec<String> = actions_of(kw)
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
pub(super) type Parsed = Option<(HttpAction, usize, Option<GroupRef>)>;

pub(super) struct ActionParser<'a, 'd> {
    pub(super) kw: &'a str,
    pub(super) action: &'a str,
    pub(super) at: &'a Word,
    /// The words after the action.
    pub(super) args: &'a [Word],
    pub(super) phase: Phase,
    pub(super) diag: &'d mut Diag,
    /// What a `capture` action asks of the proxy's slots.
    pub(super) capture: Option<SlotRef>,
}

pub(super) fn is_cond(word: Option<&Word>) -> bool {
    word.is_none_or(|w| w.as_str() == "if" || w.as_str() == "unless")
}

impl<'a> ActionParser<'a, '_> {
    /// `'http-request ACTION' : msg` at `span`.
    pub(super) fn fail(&mut self, span: &Span, msg: impl std::fmt::Display) {
        let what = if self.kw == self.action {
            self.kw.to_owned()
        } else {
            format!("{} {}", self.kw, self.action)
        };
        self.diag
            .error_msg(span.clone(), format!("'{what}' : {msg}"));
    }

    pub(super) fn unsupported(&mut self) {
        self.diag.error_msg(
            self.at.span().clone(),
            format!(
                "'{} {}' is not supported by the gateway (supported: {})",
                self.kw,
                self.action,
                supported(self.kw)
            ),
        );
    }

    /// The argument at `i`, or an error naming what `after` expects.
    pub(super) fn value(&mut self, i: usize, after: &str, expects: &str) -> Option<&'a Word> {
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

    pub(super) fn status(&mut self, word: &Word, min: u16, max: u16) -> Option<u16> {
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

    pub(super) fn log_format(&mut self, word: &Word) -> Option<LogFormat> {
        let what = format!("{} {}", self.kw, self.action);
        parse_log_format(word, self.phase, &what, self.diag)
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

    /// `cache-use NAME` / `cache-store NAME` (`parse_cache_rule()` in `src/cache.c`); the
    /// cache is found once every section is read (`config::cache`).
    fn cache_rule(&mut self, action: fn(String) -> HttpAction) -> Parsed {
        match self.args.first().map(Word::as_str) {
            Some(name) if name != "if" && name != "unless" => {
                Some((action(name.to_owned()), 1, None))
            }
            _ => {
                self.fail(&self.at.span().clone(), "expects a cache name");
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
    pub(super) fn set_var(&mut self) -> Parsed {
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
        let expr = self.sample(word)?;
        Some((HttpAction::SetVar { var, expr }, 1, None))
    }

    /// The sample expression `word`, which must read what exists in this rule's phase.
    pub(super) fn sample(&mut self, word: &Word) -> Option<SampleExpr> {
        let expr = match SampleExpr::parse(word) {
            Ok(e) => e,
            Err(e) => {
                self.diag.expr(format!("'{} {}'", self.kw, self.action), e);
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
        Some(expr)
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
