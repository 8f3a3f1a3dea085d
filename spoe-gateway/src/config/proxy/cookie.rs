//! `cookie NAME [insert|prefix|rewrite] [indirect] [nocache] [postonly] [preserve] [httponly]
//! [secure] [domain D] [attr A]` (`cfg_parse_listen()` in `src/cfgparse-listen.c`): cookie
//! persistence, run by `crate::cookie`. `maxidle`, `maxlife` and `dynamic` are refused by name.

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};
use crate::cookie::{CookieMode, CookiePersist};

impl Lowerer<'_, '_> {
    /// `cookie NAME [options]`: each line starts afresh, as in HAProxy.
    pub(super) fn cookie(&mut self, p: &mut Proxy, line: &Line) {
        let Some(name) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                "'cookie' expects <cookie_name> as argument.",
            );
        };
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "cookie");
        }
        let mut c = CookiePersist {
            name: name.as_str().to_owned(),
            ..CookiePersist::default()
        };
        let mut modes = Vec::new();
        let mut ok = true;
        let mut at = 2;
        while let Some(word) = line.arg(at) {
            match word.as_str() {
                m @ ("insert" | "prefix" | "rewrite") => {
                    modes.push(m);
                    c.mode = Some(match m {
                        "insert" => CookieMode::Insert,
                        "prefix" => CookieMode::Prefix,
                        _ => CookieMode::Rewrite,
                    });
                }
                "indirect" => c.indirect = true,
                "nocache" => c.nocache = true,
                "postonly" => c.postonly = true,
                "preserve" => c.preserve = true,
                "httponly" => c.httponly = true,
                "secure" => c.secure = true,
                kw @ ("domain" | "attr") => {
                    let Some(value) = line.arg(at + 1) else {
                        let what = if kw == "domain" {
                            "<domain>"
                        } else {
                            "<value>"
                        };
                        return self.diag.error_msg(
                            word.span().clone(),
                            format!("'{kw}' expects {what} as argument."),
                        );
                    };
                    let v = value.as_str();
                    if kw == "domain" {
                        if let Some(bad) = v
                            .chars()
                            .find(|ch| !(ch.is_ascii_alphanumeric() || *ch == '.' || *ch == '-'))
                        {
                            return self.diag.error_msg(
                                value.span().clone(),
                                format!("character '{bad}' is not permitted in domain name '{v}'."),
                            );
                        }
                        c.domain = Some(match c.domain.take() {
                            None => v.to_owned(),
                            Some(d) => format!("{d}; domain={v}"),
                        });
                    } else {
                        if let Some(bad) = v.bytes().find(|b| b.is_ascii_control() || *b == b';') {
                            return self.diag.error_msg(
                                value.span().clone(),
                                format!(
                                    "character '%x{bad:02X}' is not permitted in attribute value."
                                ),
                            );
                        }
                        c.attrs = Some(match c.attrs.take() {
                            None => v.to_owned(),
                            Some(a) => format!("{a}; {v}"),
                        });
                    }
                    at += 1;
                }
                kw @ ("maxidle" | "maxlife" | "dynamic") => {
                    // The dated cookies and the dynamic ones are not written by the gateway.
                    self.diag.error_msg(
                        word.span().clone(),
                        format!("'cookie' : '{kw}' is not supported by the gateway"),
                    );
                    ok = false;
                    at += usize::from(kw != "dynamic");
                }
                _ => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', \
                         'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.",
                    );
                }
            }
            at += 1;
        }
        let mut conflict = |msg: &str| {
            self.diag.error_msg(line.span().clone(), msg.to_owned());
            ok = false;
        };
        if c.indirect && modes.contains(&"rewrite") {
            conflict("cookie 'rewrite' and 'indirect' modes are incompatible.");
        }
        modes.sort_unstable();
        modes.dedup();
        if modes.len() > 1 {
            conflict("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.");
        }
        if c.preserve && c.mode != Some(CookieMode::Insert) && !c.indirect {
            conflict("cookie 'preserve' requires at least 'insert' or 'indirect'.");
        }
        if ok {
            p.cookie = Some(c);
        }
    }
}
