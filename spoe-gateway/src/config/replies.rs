//! The actions that answer instead of the server: `deny`, `return` (HAProxy's http replies,
//! `http_parse_http_reply()` in `src/http_htx.c`) and `redirect` (`http_parse_redirect_rule()`
//! in `src/http_rules.c`).

use spoe::config::reader::Word;

use super::actions::{ActionParser, Parsed, is_cond};
use super::logformat::Phase;
use crate::model::{HttpAction, LogFormat, LogFormatPart, RedirectKind, Reply};

/// Statuses HAProxy has a built-in error page for (`http_err_codes[]` in `src/http.c`): the
/// only ones `deny_status` accepts without a custom reply.
const ERROR_PAGE_STATUSES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

impl ActionParser<'_, '_> {
    /// `deny [deny_status N]` with HAProxy's error page, or `deny [deny_status|status N]
    /// [content-type T] [hdr NAME FMT]... [string S | lf-string FMT]`, a custom reply (403 by
    /// default on a request, 502 on a response, as `parse_http_deny()`).
    pub(super) fn deny(&mut self) -> Parsed {
        let default_status = match self.phase {
            Phase::Request => 403,
            Phase::Response => 502,
        };
        self.deny_with(default_status)
    }

    /// `deny`'s arguments, `default_status` without `deny_status`.
    fn deny_with(&mut self, default_status: u16) -> Parsed {
        let first = self.args.first();
        if is_cond(first) {
            let action = HttpAction::Deny {
                status: default_status,
                reply: Box::new(Reply::ProxyPage),
            };
            return Some((action, 0, None));
        }
        if first.map(Word::as_str) == Some("deny_status") && is_cond(self.args.get(2)) {
            let word = self.value(1, "deny_status", "<status_code>")?;
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
            return Some((
                HttpAction::Deny {
                    status,
                    reply: Box::new(Reply::ProxyPage),
                },
                2,
                None,
            ));
        }
        let parsed = self.http_reply(default_status, true)?;
        let used = parsed.used;
        let action = HttpAction::Deny {
            status: parsed.status,
            reply: Box::new(self.keep_section(parsed)),
        };
        Some((action, used, None))
    }

    /// `tarpit`: `deny`'s arguments, 500 by default (`parse_http_deny()` with
    /// `ACT_HTTP_REQ_TARPIT`).
    pub(super) fn tarpit(&mut self) -> Parsed {
        let (action, used, group) = self.deny_with(500)?;
        let HttpAction::Deny { status, reply } = action else {
            return None;
        };
        Some((HttpAction::Tarpit { status, reply }, used, group))
    }

    /// `auth [realm R]` (`parse_http_auth()`).
    pub(super) fn auth(&mut self) -> Parsed {
        if self.args.first().map(Word::as_str) != Some("realm") {
            return Some((
                HttpAction::Auth {
                    realm: String::new(),
                },
                0,
                None,
            ));
        }
        let realm = self
            .args
            .get(1)
            .map(Word::as_str)
            .filter(|r| !r.is_empty() && !is_cond(self.args.get(1)));
        let Some(realm) = realm else {
            let span = self.at.span().clone();
            self.fail(&span, "missing realm value.");
            return None;
        };
        Some((
            HttpAction::Auth {
                realm: realm.to_owned(),
            },
            2,
            None,
        ))
    }

    /// `return [status N] [content-type T] [hdr NAME FMT]... [PAYLOAD]`.
    pub(super) fn return_(&mut self) -> Parsed {
        let parsed = self.http_reply(200, false)?;
        let used = parsed.used;
        let action = HttpAction::Return {
            status: parsed.status,
            reply: Box::new(self.keep_section(parsed)),
        };
        Some((action, used, None))
    }

    /// The reply of `parsed`, its `errorfiles NAME` kept for the proxy to resolve.
    fn keep_section(&mut self, parsed: super::http_reply::ParsedReply) -> Reply {
        self.section = parsed
            .section
            .map(|(name, span)| (name, span, parsed.status));
        parsed.reply
    }

    /// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash]`
    /// (`http_parse_redirect_rule()`), an action or the proxy keyword.
    pub(super) fn redirect(&mut self) -> Parsed {
        let mut kind: Option<(RedirectKind, &Word)> = None;
        let mut code = 302;
        let (mut drop_query, mut append_slash) = (false, false);
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
                "drop-query" => {
                    drop_query = true;
                    i += 1;
                }
                "append-slash" => {
                    append_slash = true;
                    i += 1;
                }
                o @ ("set-cookie" | "clear-cookie" | "ignore-empty") => {
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
        // A prefix of "/" adds nothing: the request's own path is the location (HAProxy's
        // self-redirection).
        let target = if kind == RedirectKind::Prefix && target_word.as_str() == "/" {
            LogFormat(Vec::new())
        } else if self.kw == "redirect" {
            // The proxy keyword's target is taken as it is written (no log-format).
            LogFormat(vec![LogFormatPart::Text(target_word.as_str().to_owned())])
        } else {
            self.log_format(target_word)?
        };
        let action = HttpAction::Redirect {
            kind,
            target,
            code,
            drop_query,
            append_slash,
        };
        Some((action, i, None))
    }
}
