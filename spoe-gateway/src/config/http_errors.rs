//! `http-errors NAME` sections of `errorfile CODE FILE` lines (`cfg_parse_http_errors()` in
//! HAProxy 2.6's `src/http_htx.c`), and how a proxy's error pages come out of its
//! `errorfile`, `errorloc*`, `errorfiles` and `http-error` lines: in the order they are
//! written, `defaults`' first, the last one for a status winning (`proxy_check_errors()`). A
//! section may be declared after the proxies that name it, so the names are resolved once
//! every section is read ([`Lowerer::resolve_error_pages`]), as are the `errorfiles NAME`
//! arguments of `deny`/`return` rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use spoe::config::reader::Section;

use super::error_pages::{ErrorLine, HttpErrors, PendingReply};
use super::grammar::Kind;
use super::http_reply::load_message;
use super::lower::{Lowerer, Proxy};
use crate::errorfile::{ErrorFile, STATUSES};
use crate::model::{HttpAction, Reply, Rule};

impl Lowerer<'_, '_> {
    pub(super) fn http_errors_section(&mut self, section: &Section<Kind>) {
        let header = &section.header;
        let Some(name) = header.arg(1) else {
            return self.diag.error_msg(
                section.span().clone(),
                "missing name for http-errors section.",
            );
        };
        self.check_name(name, "http-errors");
        if let Some(first) = self.http_errors.iter().find(|s| s.name == name.as_str()) {
            let msg = format!(
                "http-errors section '{}' already exists (declared at {}:{}).",
                name.as_str(),
                first.span.file.display(),
                first.span.line
            );
            self.diag.error_msg(section.span().clone(), msg);
        }
        let mut pages = BTreeMap::new();
        for line in &section.lines {
            if line.keyword() != "errorfile" {
                self.diag.error_msg(
                    line.span().clone(),
                    format!(
                        "unknown keyword '{}' in 'http-errors' section",
                        line.keyword()
                    ),
                );
                continue;
            }
            let (Some(code), Some(file)) = (line.arg(1), line.arg(2)) else {
                self.diag.error_msg(
                    line.span().clone(),
                    "errorfile: expects <status_code> and <file> as arguments.",
                );
                continue;
            };
            let Some(status) = self.error_status(code, "errorfile") else {
                continue;
            };
            if let Some(page) = self.error_message(file, "errorfile") {
                pages.insert(status, page);
            }
        }
        self.http_errors.push(HttpErrors {
            name: name.as_str().to_owned(),
            span: section.span().clone(),
            pages,
        });
    }

    /// The error message file `file` names, read as HAProxy reads it (errors say `kw`).
    pub(super) fn error_message(
        &mut self,
        file: &spoe::config::reader::Word,
        kw: &str,
    ) -> Option<Arc<ErrorFile>> {
        let name = file.as_str();
        let path = self.base_dir.join(name);
        match load_message(&path, name, self.global.bufsize) {
            Ok((page, warning)) => {
                if let Some(w) = warning {
                    self.diag.warn_msg(file.span().clone(), w);
                }
                Some(Arc::new(page))
            }
            Err(e) => {
                self.diag
                    .error_msg(file.span().clone(), format!("{kw} : {e}"));
                None
            }
        }
    }

    /// Every proxy's error pages from its lines in order, and the `errorfiles NAME` replies
    /// of its rules, now that every `http-errors` section is known.
    pub(super) fn resolve_error_pages(&mut self) {
        let mut proxies = std::mem::take(&mut self.proxies);
        for p in &mut proxies {
            p.errorfiles = self.pages_of(p);
            for pending in std::mem::take(&mut p.pending_replies) {
                self.resolve_reply(p, &pending);
            }
        }
        self.proxies = proxies;
    }

    fn section(&self, name: &str) -> Option<&HttpErrors> {
        self.http_errors.iter().find(|s| s.name == name)
    }

    fn pages_of(&mut self, p: &Proxy) -> BTreeMap<u16, Arc<ErrorFile>> {
        let mut pages = BTreeMap::new();
        for line in &p.error_lines {
            match line {
                ErrorLine::Page(status, Some(page)) => {
                    pages.insert(*status, page.clone());
                }
                ErrorLine::Page(status, None) => {
                    pages.remove(status);
                }
                ErrorLine::Section { name, codes, span } => {
                    let Some(section) = self.section(name) else {
                        let msg =
                            format!("proxy '{}': unknown http-errors section '{name}'", p.name);
                        self.diag.error_msg(span.clone(), msg);
                        continue;
                    };
                    let all: Vec<u16>;
                    let wanted = if codes.is_empty() {
                        all = STATUSES.to_vec();
                        &all
                    } else {
                        codes
                    };
                    let mut missing = Vec::new();
                    for status in wanted {
                        match section.pages.get(status) {
                            Some(page) => {
                                pages.insert(*status, page.clone());
                            }
                            None if !codes.is_empty() => missing.push(*status),
                            None => {}
                        }
                    }
                    for status in missing {
                        let msg = format!(
                            "proxy '{}' : status '{status}' not declared in http-errors section '{name}'",
                            p.name
                        );
                        self.diag.warn_msg(span.clone(), msg);
                    }
                }
            }
        }
        pages
    }

    /// A rule's `errorfiles NAME`: the section's page for the status, or an empty reply
    /// with the status when the section has none (`http_check_http_reply()`, then
    /// `http_reply_to_htx()` on its `NULL` indirect reply).
    fn resolve_reply(&mut self, p: &mut Proxy, pending: &PendingReply) {
        let page = match self.section(&pending.name) {
            Some(section) => section.pages.get(&pending.status).cloned(),
            None => {
                let msg = format!(
                    "Proxy '{}': unknown http-errors section '{}' referenced by an http reply",
                    p.name, pending.name
                );
                return self.diag.error_msg(pending.span.clone(), msg);
            }
        };
        let Some(page) = page else {
            let msg = format!(
                "Proxy '{}': status '{}' referenced by an http reply not declared in http-errors section '{}'",
                p.name, pending.status, pending.name
            );
            return self.diag.warn_msg(pending.span.clone(), msg);
        };
        let rules: &mut Vec<Rule> = if pending.list == 0 {
            &mut p.http_request
        } else {
            &mut p.http_response
        };
        if let Some(rule) = rules.get_mut(pending.index)
            && let HttpAction::Deny { reply, .. }
            | HttpAction::Tarpit { reply, .. }
            | HttpAction::Return { reply, .. } = &mut rule.action
        {
            **reply = Reply::Message(page);
        }
    }
}
