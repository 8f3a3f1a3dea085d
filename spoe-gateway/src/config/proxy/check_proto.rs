//! The protocol check options: `option redis-check`, `ssl-hello-chk`, `smtpchk [HELO|EHLO
//! domain]`, `pgsql-check user U`, `mysql-check [user U [post-41|pre-41]]`, `ldap-check`
//! (`proxy_parse_*_opt()` in HAProxy 2.6's `src/tcpcheck.c`): each replaces the backend's
//! check type, as the last of `option httpchk|tcp-check|...` wins.

use spoe::config::reader::{Line, Modifier};

use crate::config::lower::{Lowerer, Proxy};
use crate::proto_check::{MysqlLogin, ProtoCheck};

impl Lowerer<'_, '_> {
    /// `option NAME ...` of a protocol check; `name` is the option's name.
    pub(super) fn option_proto_check(
        &mut self,
        p: &mut Proxy,
        line: &Line,
        directive: &str,
        name: &str,
    ) {
        if line.modifier != Modifier::None {
            return self.negation(line, name);
        }
        let max = match name {
            "smtpchk" | "pgsql-check" => 3,
            "mysql-check" => 4,
            _ => 1,
        };
        if self.too_many(line, max, directive) {
            return;
        }
        let arg = |i: usize| line.arg_str(i);
        let check = match name {
            "redis-check" => ProtoCheck::Redis,
            "ssl-hello-chk" => ProtoCheck::SslHello,
            "ldap-check" => ProtoCheck::Ldap,
            // Anything but `HELO|EHLO domain` is HAProxy's default command.
            "smtpchk" => ProtoCheck::Smtp {
                command: match (arg(2), arg(3)) {
                    (Some(verb @ ("HELO" | "EHLO")), Some(domain)) => format!("{verb} {domain}"),
                    _ => "HELO localhost".to_owned(),
                },
            },
            "pgsql-check" => {
                match (arg(2), arg(3)) {
                    (Some("user"), Some(user)) => ProtoCheck::Pgsql {
                        user: user.to_owned(),
                    },
                    (Some(other), Some(_)) if other != "user" => {
                        return self.diag.error_msg(
                        line.words[2].span().clone(),
                        format!("'{directive}' only supports optional values: 'user' (got '{other}')"),
                    );
                    }
                    _ => return self.missing(line, directive, "'user <username>'"),
                }
            }
            _ => match self.mysql_login(line, directive) {
                Ok(login) => ProtoCheck::Mysql { login },
                Err(()) => return,
            },
        };
        if !p.has_backend() {
            return self.not_capable(p, line.span(), directive);
        }
        p.checks.http = false;
        p.checks.proto = Some(check);
    }

    /// `[user U [post-41|pre-41]]` of `option mysql-check` (HAProxy 2.6 has no `post-80`).
    fn mysql_login(&mut self, line: &Line, directive: &str) -> Result<Option<MysqlLogin>, ()> {
        let Some(word) = line.arg(2) else {
            return Ok(None);
        };
        if word.as_str() != "user" {
            self.diag.error_msg(
                word.span().clone(),
                format!(
                    "'{directive}' only supports optional values: 'user' (got '{}')",
                    word.as_str()
                ),
            );
            return Err(());
        }
        let Some(user) = line.arg_str(3) else {
            self.missing(line, directive, "<username> after 'user'");
            return Err(());
        };
        let post41 = match line.arg(4) {
            None => true,
            Some(w) if w.as_str() == "post-41" => true,
            Some(w) if w.as_str() == "pre-41" => false,
            Some(w) => {
                self.diag.error_msg(
                    w.span().clone(),
                    format!(
                        "keyword 'user' of '{directive}' only supports 'post-41' and 'pre-41' (got '{}')",
                        w.as_str()
                    ),
                );
                return Err(());
            }
        };
        Ok(Some(MysqlLogin {
            user: user.to_owned(),
            post41,
        }))
    }
}
