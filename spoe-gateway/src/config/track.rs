//! The stick-table actions of `http-request` and `http-response` (`src/http_act.c`,
//! `src/stick_table.c`): `track-sc0|1|2 KEY [table T]`, `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`,
//! `sc-set-gpt0(N) INT|EXPR`.

use spoe::config::reader::Word;
use spoe::expr::{STICK_COUNTERS, SampleExpr};

use super::actions::{ActionParser, Parsed, is_cond};
use crate::model::{GptValue, HttpAction};

impl ActionParser<'_, '_> {
    /// `track-scN KEY [table T]` (`parse_http_track_sc()`).
    pub(super) fn track_sc(&mut self, slot: u8) -> Parsed {
        let Some(word) = self.args.first() else {
            let span = self.at.span().clone();
            self.fail(&span, "missing fetch method");
            return None;
        };
        let key = self.sample(word)?;
        let (table, used) = match self.args.get(1).map(Word::as_str) {
            Some("table") => match self.args.get(2) {
                Some(name) => (name.as_str().to_owned(), 3),
                None => {
                    let span = self.args[1].span().clone();
                    self.fail(&span, "missing table name");
                    return None;
                }
            },
            _ => (String::new(), 1),
        };
        Some((HttpAction::TrackSc { slot, key, table }, used, None))
    }

    /// The stick counter of `sc-inc-gpc0(N)`, `sc-set-gpt0(N)`.
    fn counter_arg(&mut self, prefix: &str) -> Option<u8> {
        let inner = self
            .action
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'));
        let slot = inner
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n < STICK_COUNTERS);
        if slot.is_none() {
            let span = self.at.span().clone();
            let msg = match inner {
                None => format!("expects '{prefix}(<sc-id>)'"),
                Some(n) => format!(
                    "invalid stick table track ID '{n}'. The max allowed ID is {}",
                    STICK_COUNTERS - 1
                ),
            };
            self.fail(&span, msg);
        }
        slot
    }

    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`.
    pub(super) fn sc_inc_gpc(&mut self, which: u8) -> Parsed {
        let prefix = if which == 0 {
            "sc-inc-gpc0"
        } else {
            "sc-inc-gpc1"
        };
        let slot = self.counter_arg(prefix)?;
        Some((HttpAction::ScIncGpc { slot, which }, 0, None))
    }

    /// `sc-set-gpt0(N) INT|EXPR`.
    pub(super) fn sc_set_gpt0(&mut self) -> Parsed {
        let slot = self.counter_arg("sc-set-gpt0")?;
        let Some(word) = self.args.first().filter(|w| !is_cond(Some(w))) else {
            let span = self.at.span().clone();
            self.fail(&span, "expects an integer or a sample expression");
            return None;
        };
        let value = match word.as_str().parse::<i64>() {
            Ok(n) => GptValue::Int(n),
            Err(_) => GptValue::Expr(self.sample(word)?),
        };
        Some((HttpAction::ScSetGpt0 { slot, value }, 1, None))
    }
}

/// The tables of the configuration, once every proxy is read: each `track-sc*` without
/// `table` gets its proxy's table, and every table a rule or a fetch names must exist
/// (HAProxy's `check_trk_action()` and `smp_resolve_args()`).
pub(super) fn resolve_tables(
    proxies: &mut [super::lower::Proxy],
    diag: &mut super::diag::Diag,
) -> Vec<crate::sticktable::decl::StickTableDecl> {
    let tables: Vec<_> = proxies
        .iter()
        .filter_map(|p| p.stick_table.clone())
        .collect();
    let exists = |name: &str| tables.iter().any(|t| t.name == name);
    for p in proxies.iter_mut() {
        let own = p.stick_table.is_some();
        let rules = p.http_request.iter_mut().chain(p.http_response.iter_mut());
        for rule in rules {
            let mut exprs: Vec<&SampleExpr> = Vec::new();
            match &mut rule.action {
                HttpAction::TrackSc { slot, key, table } => {
                    if table.is_empty() {
                        table.clone_from(&p.name);
                    }
                    if !exists(table) {
                        diag.error_msg(
                            rule.span.clone(),
                            format!(
                                "'track-sc{slot}' : unable to find table '{table}' (a proxy with a 'stick-table' line)"
                            ),
                        );
                    }
                    exprs.push(key);
                }
                HttpAction::ScSetGpt0 {
                    value: GptValue::Expr(e),
                    ..
                }
                | HttpAction::SetVar { expr: e, .. } => exprs.push(e),
                _ => {}
            }
            for e in exprs {
                check_fetch(e, own, &p.name, &exists, diag);
            }
        }
        for acl in p.acls.iter() {
            for e in &acl.exprs {
                check_fetch(&e.criterion, own, &p.name, &exists, diag);
            }
        }
    }
    tables
}

/// A stick-table fetch names an existing table, or its proxy has one.
fn check_fetch(
    expr: &SampleExpr,
    own: bool,
    proxy: &str,
    exists: &dyn Fn(&str) -> bool,
    diag: &mut super::diag::Diag,
) {
    let spoe::expr::FetchKind::Counter(f) = expr.fetch() else {
        return;
    };
    let missing = match (&f.table, f.of) {
        (Some(t), _) if !exists(t) => Some(format!("unable to find table '{t}'")),
        (None, spoe::expr::CounterOf::Src | spoe::expr::CounterOf::Table) if !own => Some(format!(
            "no table in proxy '{proxy}' (name one: '{}(TABLE)')",
            expr.fetch_name()
        )),
        _ => None,
    };
    if let Some(msg) = missing {
        diag.error_msg(
            expr.span().clone(),
            format!("fetch method '{}' : {msg}", expr.fetch_name()),
        );
    }
}
