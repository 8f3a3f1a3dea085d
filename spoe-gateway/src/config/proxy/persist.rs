//! What chooses a server before balancing (`cfg_parse_listen()`): `stick
//! match|on|store-request|store-response PATTERN [table T] [if|unless COND]`, `use-server NAME
//! if|unless COND`, `force-persist if|unless COND`, `ignore-persist if|unless COND`,
//! `http-send-name-header [NAME]`, and the servers' `id N`, `non-stick`, `stick`; the checks
//! that need every section (`check_config_validity()`): the tables and servers named, the
//! servers' ids. What they do at run time is `crate::persist`.

use spoe::config::ConfigWarningKind;
use spoe::config::reader::{Line, Word};
use spoe::expr::{AclContext, Condition, SampleExpr};

use crate::config::actions::warn_cond_conflicts;
use crate::config::diag::Diag;
use crate::config::grammar::Kind;
use crate::config::logformat::Phase;
use crate::config::lower::{Lowerer, Proxy};
use crate::model::ServerChoice;
use crate::server_rules::{HttpReuse, PersistRule, StickKind, StickRule};

impl Lowerer<'_, '_> {
    /// Refuses the line in `defaults`, warns on a frontend; `false`: the line goes no further.
    fn backend_line(&mut self, p: &Proxy, line: &Line) -> bool {
        let kw = line.keyword();
        if p.kind == Kind::Defaults {
            self.diag.error_msg(
                line.span().clone(),
                format!("'{kw}' not allowed in 'defaults' section."),
            );
            return false;
        }
        if !p.has_backend() {
            self.not_capable(p, line.span(), kw);
            return false;
        }
        true
    }

    /// `if|unless COND` from word `at` of `line` (`None` after an error, reported).
    fn condition(
        &mut self,
        p: &mut Proxy,
        line: &Line,
        at: usize,
        site: &str,
        phase: Phase,
    ) -> Option<Condition> {
        let dir = self.acl_context_dir();
        let cx = AclContext { base_dir: &dir };
        match Condition::parse(&line.words[at..], &mut p.acls, &cx) {
            Ok((cond, warnings)) => {
                for w in warnings {
                    self.diag.warn(w.span, ConfigWarningKind::Expr(w.kind));
                }
                warn_cond_conflicts(&cond, &p.acls, phase, site, self.diag);
                Some(cond)
            }
            Err(e) => {
                self.diag.expr(
                    format!(
                        "'{}' : error detected while parsing its condition",
                        line.keyword()
                    ),
                    e,
                );
                None
            }
        }
    }

    /// `use-server NAME if|unless COND`.
    pub(super) fn use_server(&mut self, p: &mut Proxy, line: &Line) {
        if !self.backend_line(p, line) {
            return;
        }
        let Some(name) = line.arg(1) else {
            return self.missing(line, "use-server", "a server name");
        };
        if !matches!(line.arg_str(2), Some("if" | "unless")) {
            return self.diag.error_msg(
                line.span().clone(),
                "'use-server' requires either 'if' or 'unless' followed by a condition.",
            );
        }
        let Some(cond) = self.condition(p, line, 2, "backend server rule", Phase::Request) else {
            return;
        };
        p.choice.use_server.push((name.clone(), cond));
    }

    /// `force-persist if|unless COND`, `ignore-persist if|unless COND`.
    pub(super) fn persist_rule(&mut self, p: &mut Proxy, line: &Line) {
        if !self.backend_line(p, line) {
            return;
        }
        let kw = line.keyword();
        if !matches!(line.arg_str(1), Some("if" | "unless")) {
            return self.diag.error_msg(
                line.span().clone(),
                format!("'{kw}' requires either 'if' or 'unless' followed by a condition."),
            );
        }
        let Some(cond) = self.condition(p, line, 1, "backend persist rule", Phase::Request) else {
            return;
        };
        p.choice.rules.persist.push(PersistRule {
            force: kw == "force-persist",
            cond,
        });
    }

    /// `stick match|on|store-request|store-response PATTERN [table T] [if|unless COND]`.
    pub(super) fn stick(&mut self, p: &mut Proxy, line: &Line) {
        if !self.backend_line(p, line) {
            return;
        }
        let kind = match line.arg_str(1) {
            Some("match") => StickKind::Match,
            Some("on") => StickKind::On,
            Some("store" | "store-request") => StickKind::StoreRequest,
            Some("store-response") => StickKind::StoreResponse,
            _ => {
                return self.diag.error_msg(
                    line.span().clone(),
                    "'stick' expects 'on', 'match', or 'store'.",
                );
            }
        };
        let Some(word) = line.arg(2) else {
            return self
                .diag
                .error_msg(line.span().clone(), "'stick' expects a fetch method.");
        };
        let pattern = match SampleExpr::parse(word) {
            Ok(e) => e,
            Err(e) => return self.diag.expr("'stick'", e),
        };
        let (phase, place) = match kind {
            StickKind::StoreResponse => (Phase::Response, "for 'store-response'"),
            _ => (Phase::Request, "during request"),
        };
        if !phase.provides(pattern.source()) {
            return self.diag.error_msg(
                word.span().clone(),
                format!(
                    "'stick': fetch method '{}' extracts information from '{}', none of which is available {place}.",
                    pattern.fetch_name(),
                    pattern.source().describe()
                ),
            );
        }
        let mut at = 3;
        let table = match line.arg_str(at) {
            Some("table") => {
                let Some(name) = line.arg(at + 1) else {
                    return self.missing(line, "stick ... table", "a table name");
                };
                at += 2;
                Some(name.as_str().to_owned())
            }
            _ => None,
        };
        let cond = match line.arg_str(at) {
            None => None,
            Some("if" | "unless") => {
                let site = if kind == StickKind::StoreResponse {
                    "backend store-response rule"
                } else {
                    "backend stick rule"
                };
                match self.condition(p, line, at, site, phase) {
                    Some(cond) => Some(cond),
                    None => return,
                }
            }
            Some(other) => {
                return self.diag.error_msg(
                    line.words[at].span().clone(),
                    format!("'stick': unknown keyword '{other}'."),
                );
            }
        };
        p.choice.tables.push((table.clone(), line.span().clone()));
        let rule = StickRule {
            kind,
            pattern,
            table: table.unwrap_or_else(|| p.name.clone()),
            cond,
        };
        if kind == StickKind::StoreResponse {
            p.choice.rules.stick_response.push(rule);
        } else {
            p.choice.rules.stick_request.push(rule);
        }
    }

    /// `http-send-name-header NAME`.
    pub(super) fn send_name_header(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind != Kind::Defaults && !p.has_backend() {
            return self.not_capable(p, line.span(), "http-send-name-header");
        }
        let Some(word) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'http-send-name-header' requires a header field name.",
            );
        };
        if self.too_many(line, 1, "http-send-name-header") {
            return;
        }
        match hyper::header::HeaderName::from_bytes(word.as_str().as_bytes()) {
            Ok(name) => p.choice.rules.send_name_header = Some(name),
            Err(_) => self.diag.error_msg(
                word.span().clone(),
                format!(
                    "'http-send-name-header' : '{}' is not a valid header name",
                    word.as_str()
                ),
            ),
        }
    }

    /// `http-reuse never|safe|aggressive|always`.
    pub(super) fn http_reuse(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind != Kind::Defaults && !p.has_backend() {
            return self.not_capable(p, line.span(), "http-reuse");
        }
        let reuse = match line.arg_str(1) {
            Some("never") => HttpReuse::Never,
            Some("safe" | "aggressive" | "always") => HttpReuse::Pooled,
            _ => {
                return self.diag.error_msg(
                    line.span().clone(),
                    "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'",
                );
            }
        };
        if self.too_many(line, 1, "http-reuse") {
            return;
        }
        p.choice.rules.reuse = reuse;
    }

    /// A server's `id N`, `non-stick`, `stick` at `words[*i]` (`*i` moves past a value);
    /// `false` after an error.
    pub(super) fn server_choice(
        &mut self,
        words: &[Word],
        i: &mut usize,
        label: &str,
        s: &mut ServerChoice,
    ) -> bool {
        let word = &words[*i];
        match word.as_str() {
            "non-stick" => s.non_stick = true,
            "stick" => s.non_stick = false,
            _ => {
                let Some(value) = words.get(*i + 1) else {
                    self.diag.error_msg(
                        word.span().clone(),
                        format!("'{label}' : 'id' expects an integer argument"),
                    );
                    return false;
                };
                let Some(id) = self.ranged(value, "id", 1, i32::MAX as u64) else {
                    return false;
                };
                s.id = u32::try_from(id).unwrap_or(u32::MAX);
                s.explicit_id = true;
                *i += 1;
            }
        }
        true
    }
}

/// Once every proxy is read: each `stick` line's table exists and stores `server_id` (added
/// as HAProxy adds it), each `use-server` names a server of its backend, and the servers
/// without `id` get the first ids free in declaration order (HAProxy's `puid`).
pub(in crate::config) fn resolve(proxies: &mut [Proxy], diag: &mut Diag) {
    let names: Vec<String> = proxies
        .iter()
        .filter(|p| p.stick_table.is_some())
        .map(|p| p.name.clone())
        .collect();
    let mut used: Vec<String> = Vec::new();
    for p in proxies.iter_mut() {
        for (table, at) in &p.choice.tables {
            let name = table.as_deref().unwrap_or(&p.name);
            if names.iter().any(|n| n == name) {
                used.push(name.to_owned());
            } else {
                diag.error_msg(
                    at.clone(),
                    format!(
                        "{} '{}': unable to find stick-table '{name}'.",
                        p.kind.keyword(),
                        p.name
                    ),
                );
            }
        }
        let use_server = std::mem::take(&mut p.choice.use_server);
        for (name, cond) in use_server {
            match p.servers.iter().position(|(s, _)| s.name == name.as_str()) {
                Some(server) => p
                    .choice
                    .rules
                    .use_server
                    .push(crate::server_rules::UseServer { server, cond }),
                None => diag.error_msg(
                    name.span().clone(),
                    format!(
                        "{} '{}' : unable to find server '{}' referenced in a 'use-server' rule.",
                        p.kind.keyword(),
                        p.name,
                        name.as_str()
                    ),
                ),
            }
        }
        assign_ids(p, diag);
    }
    for p in proxies.iter_mut() {
        if let Some(t) = p.stick_table.as_mut()
            && used.contains(&p.name)
        {
            t.store.add(crate::sticktable::data::DataType::ServerId, 0);
        }
    }
}

/// The servers' ids: `id N` as written (twice the same is an error), the others the first
/// free from 1 up.
fn assign_ids(p: &mut Proxy, diag: &mut Diag) {
    let mut taken: Vec<(u32, String)> = Vec::new();
    for (s, at) in &p.servers {
        if !s.choice.explicit_id {
            continue;
        }
        if let Some((_, other)) = taken.iter().find(|(id, _)| *id == s.choice.id) {
            diag.error_msg(
                at.clone(),
                format!(
                    "{} '{}' : server '{}' has the same ID ({}) as server '{other}'",
                    p.kind.keyword(),
                    p.name,
                    s.name,
                    s.choice.id
                ),
            );
        }
        taken.push((s.choice.id, s.name.clone()));
    }
    let mut next = 1u32;
    for (s, _) in &mut p.servers {
        if s.choice.explicit_id {
            continue;
        }
        while taken.iter().any(|(id, _)| *id == next) {
            next += 1;
        }
        s.choice.id = next;
        taken.push((next, s.name.clone()));
    }
}

/// A server's line as its backend's `http-reuse` wants it: `never` keeps no idle connection
/// (`pool-max-conn 0`).
pub(in crate::config) fn pooled(
    s: &crate::model::Server,
    reuse: HttpReuse,
) -> crate::model::Server {
    let mut s = s.clone();
    if reuse == HttpReuse::Never {
        s.pool_max_conn = Some(0);
    }
    s
}
