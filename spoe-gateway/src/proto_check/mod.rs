//! HAProxy 2.6's protocol health checks (`option redis-check`, `ssl-hello-chk`, `smtpchk`,
//! `pgsql-check`, `mysql-check`, `ldap-check`): the bytes each sends and how it judges what
//! comes back, rule by rule as the tcp-check rule sets of `src/tcpcheck.c` do
//! (`proxy_parse_*_opt()`, `tcpcheck_eval_expect()`, the MySQL and LDAP custom expects).
//! Pure: the probe moves the bytes and owns the timeouts.

mod ldap;
mod mysql;
mod pgsql;
mod smtp;
mod ssl;
mod verdict;

use crate::stats::CheckStatus;
use ldap::ldap_bind;
pub(crate) use mysql::MysqlLogin;
use mysql::{le24, mysql_login, mysql_packet};
use pgsql::{pgsql_auth_request, pgsql_startup};
use smtp::{smtp_code, smtp_multiline_2xx};
use ssl::ssl_client_hello;
pub(crate) use verdict::{Eval, Verdict};

/// A protocol check of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtoCheck {
    /// `option redis-check`: `PING`, `+PONG` expected.
    Redis,
    /// `option ssl-hello-chk`: an SSLv3 CLIENT HELLO, a handshake or alert record expected.
    SslHello,
    /// `option smtpchk [HELO|EHLO domain]`: a 2xx greeting, the command's 2xx reply, then
    /// `QUIT` and its 2xx reply (as HAProxy 2.6.12, which has the fix that ends the SMTP
    /// session with `QUIT`).
    Smtp {
        /// `HELO localhost` unless the line gives `HELO|EHLO domain`.
        command: String,
    },
    /// `option pgsql-check user U`: a startup message, an authentication request expected.
    Pgsql {
        /// The user named in the startup message.
        user: String,
    },
    /// `option mysql-check [user U [post-41|pre-41]]`: the server's handshake (and, with a
    /// user, the answer to a login then `COM_QUIT`) must not be an error packet.
    Mysql {
        /// The login sent, if any.
        login: Option<MysqlLogin>,
    },
    /// `option ldap-check`: an anonymous simple bind, a successful bind response expected.
    Ldap,
}

/// One rule of a protocol check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Writes these bytes (and forgets what was read so far).
    Send(Vec<u8>),
    /// Judges what was read; `step` is HAProxy's step number (the rule's index + 1).
    Expect {
        /// What is expected.
        rule: Expect,
        /// HAProxy's step number, named in an empty response's description.
        step: u32,
    },
}

/// What an expect rule of a protocol check wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// `expect string "+PONG\r\n"`.
    RedisPong,
    /// `expect rbinary ^1[56] min-recv 5`: a handshake or alert record.
    SslRecord,
    /// `expect rstring ^[0-9]{3}[ \r] min-recv 4`: an SMTP reply.
    SmtpReply,
    /// `expect rstring ^2[0-9]{2}[ \r] min-recv 4`: a 2xx greeting.
    SmtpGreeting,
    /// `expect rstring ^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]`: the command's whole 2xx
    /// reply.
    SmtpCommand,
    /// `expect rstring ^2[0-9]{2}[- \r] min-recv 4`: `QUIT`'s 2xx reply.
    SmtpQuit,
    /// `expect !rstring ^E min-recv 5`: no error response.
    PgsqlNotError,
    /// `expect rbinary ^52000000(08|0A|0C)000000(00|02|03|04|05|06) min-recv 9`.
    PgsqlAuth,
    /// The MySQL packet at the start (the handshake).
    MysqlHandshake,
    /// The MySQL packet after the handshake (the login's answer).
    MysqlAnswer,
    /// `expect rbinary ^30 min-recv 14`: a BER sequence.
    LdapMessage,
    /// The bind response's result code.
    LdapBind,
}

impl ProtoCheck {
    /// The rules, in order (the connect, implicit or not, is the probe's), as of `now_secs`
    /// (the Unix time written in the SSL hello).
    pub(crate) fn steps(&self, now_secs: u32) -> Vec<Step> {
        let expect = |rule, step| Step::Expect { rule, step };
        match self {
            Self::Redis => vec![
                Step::Send(b"*1\r\n$4\r\nPING\r\n".to_vec()),
                expect(Expect::RedisPong, 2),
            ],
            Self::SslHello => vec![
                Step::Send(ssl_client_hello(now_secs)),
                expect(Expect::SslRecord, 2),
            ],
            Self::Smtp { command } => vec![
                expect(Expect::SmtpReply, 2),
                expect(Expect::SmtpGreeting, 3),
                Step::Send(format!("{command}\r\n").into_bytes()),
                expect(Expect::SmtpCommand, 5),
                Step::Send(b"QUIT\r\n".to_vec()),
                expect(Expect::SmtpQuit, 7),
            ],
            Self::Pgsql { user } => vec![
                Step::Send(pgsql_startup(user)),
                expect(Expect::PgsqlNotError, 3),
                expect(Expect::PgsqlAuth, 4),
            ],
            Self::Mysql { login: None } => vec![expect(Expect::MysqlHandshake, 2)],
            Self::Mysql { login: Some(login) } => vec![
                Step::Send(mysql_login(login)),
                expect(Expect::MysqlHandshake, 3),
                expect(Expect::MysqlAnswer, 4),
            ],
            Self::Ldap => vec![
                // An anonymous simple bind, LDAPv3, message id 1.
                Step::Send(b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00".to_vec()),
                expect(Expect::LdapMessage, 2),
                expect(Expect::LdapBind, 3),
            ],
        }
    }

    /// HAProxy 2.6 counts a pass of a check ending on a custom rule (MySQL, LDAP) twice: the
    /// rule sets the status, then the end of the rule set sets it again, and each raises the
    /// server's health.
    pub(crate) fn counts_pass_twice(&self) -> bool {
        matches!(self, Self::Mysql { .. } | Self::Ldap)
    }
}

impl Expect {
    /// The status of a failure (and of an empty response) at this rule.
    pub(crate) fn error_status(self) -> CheckStatus {
        match self {
            Self::RedisPong
            | Self::SmtpGreeting
            | Self::SmtpCommand
            | Self::SmtpQuit
            | Self::PgsqlAuth => CheckStatus::L7Sts,
            Self::SslRecord => CheckStatus::L6Rsp,
            _ => CheckStatus::L7Rsp,
        }
    }

    /// The status of a timeout while this rule waits.
    pub(crate) fn timeout_status(self) -> CheckStatus {
        if self == Self::SslRecord {
            CheckStatus::L6Timeout
        } else {
            CheckStatus::L7Timeout
        }
    }

    /// Judges `buf`, all that was read since the last send; `last_read`: nothing more will
    /// come (the server closed, or the buffer is full).
    pub(crate) fn eval(self, buf: &[u8], last_read: bool) -> Eval {
        let code3 = |b: &[u8]| Some(leading_number(b.get(..3).unwrap_or(b)));
        match self {
            Self::RedisPong => Generic {
                min_recv: None,
                need: 7,
                matched: contains(buf, b"+PONG\r\n"),
                inverse: false,
            }
            .judge(buf, last_read, || {
                Verdict::new(self.error_status(), cut_crlf(buf), Some(0))
            }),
            Self::SslRecord => {
                Generic::min(5, matches!(buf, [0x15 | 0x16, ..])).judge(buf, last_read, || {
                    Verdict::new(self.error_status(), b"", None)
                })
            }
            Self::SmtpReply => {
                Generic::min(4, smtp_code(buf, b'0'..=b'9', b" \r")).judge(buf, last_read, || {
                    Verdict::new(self.error_status(), cut_crlf(buf), None)
                })
            }
            Self::SmtpGreeting | Self::SmtpCommand | Self::SmtpQuit => {
                let rule = match self {
                    Self::SmtpGreeting => Generic::min(4, smtp_code(buf, b'2'..=b'2', b" \r")),
                    Self::SmtpQuit => Generic::min(4, smtp_code(buf, b'2'..=b'2', b"- \r")),
                    _ => Generic {
                        min_recv: None,
                        need: 0,
                        matched: smtp_multiline_2xx(buf),
                        inverse: false,
                    },
                };
                rule.judge(buf, last_read, || {
                    Verdict::new(self.error_status(), after_code(buf), code3(buf))
                })
            }
            Self::PgsqlNotError => Generic {
                min_recv: Some(5),
                need: 0,
                matched: buf.first() == Some(&b'E'),
                inverse: true,
            }
            .judge(buf, last_read, || {
                Verdict::new(self.error_status(), buf.get(6..).unwrap_or_default(), None)
            }),
            Self::PgsqlAuth => {
                Generic::min(9, pgsql_auth_request(buf)).judge(buf, last_read, || {
                    Verdict::new(self.error_status(), b"PostgreSQL unknown error", Some(0))
                })
            }
            Self::MysqlHandshake => mysql_packet(buf, 0, last_read),
            Self::MysqlAnswer => {
                let handshake = 4 + le24(buf, 0).unwrap_or(0);
                mysql_packet(buf, handshake, last_read)
            }
            Self::LdapMessage => {
                Generic::min(14, buf.first() == Some(&0x30)).judge(buf, last_read, || {
                    Verdict::new(self.error_status(), b"Not LDAPv3 protocol", None)
                })
            }
            Self::LdapBind => ldap_bind(buf, last_read),
        }
    }

    /// The result when the rule set ends on this rule, passed.
    pub(crate) fn success(self, buf: &[u8]) -> Verdict {
        match self {
            Self::RedisPong => Verdict::new(CheckStatus::L7Ok, b"Redis server is ok", Some(0)),
            Self::SslRecord => Verdict::new(CheckStatus::L6Ok, b"", None),
            Self::SmtpReply | Self::SmtpGreeting | Self::SmtpCommand | Self::SmtpQuit => {
                Verdict::new(
                    CheckStatus::L7Ok,
                    after_code(buf),
                    Some(leading_number(buf.get(..3).unwrap_or(buf))),
                )
            }
            Self::PgsqlNotError | Self::PgsqlAuth => {
                Verdict::new(CheckStatus::L7Ok, b"PostgreSQL server is ok", Some(0))
            }
            // The custom rule's description (the MySQL version, "Success") is replaced by the
            // rule set's empty one.
            Self::MysqlHandshake | Self::MysqlAnswer | Self::LdapMessage | Self::LdapBind => {
                Verdict::new(CheckStatus::L7Ok, b"", Some(0))
            }
        }
    }
}

/// A rule judged by `tcpcheck_eval_expect()`: wait for `min_recv` bytes (or `need`, a
/// string's length), match, wait for more on a mismatch when there is no `min_recv`.
struct Generic {
    min_recv: Option<usize>,
    need: usize,
    matched: bool,
    inverse: bool,
}

impl Generic {
    fn min(min_recv: usize, matched: bool) -> Self {
        Self {
            min_recv: Some(min_recv),
            need: 0,
            matched,
            inverse: false,
        }
    }

    fn judge(self, buf: &[u8], last_read: bool, fail: impl FnOnce() -> Verdict) -> Eval {
        if !last_read && (buf.len() < self.need || buf.len() < self.min_recv.unwrap_or(0)) {
            return Eval::Wait;
        }
        if !self.matched && !last_read && self.min_recv.is_none() {
            return Eval::Wait;
        }
        if self.matched != self.inverse {
            Eval::Pass
        } else {
            Eval::Fail(fail())
        }
    }
}

/// What follows an SMTP reply's code, spaces and line end left out.
fn after_code(b: &[u8]) -> &[u8] {
    cut_crlf(ltrim_spaces(b.get(4..).unwrap_or_default()))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Up to the first CR or LF (the `cut_crlf` converter).
fn cut_crlf(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == b'\r' || c == b'\n');
    &b[..end.unwrap_or(b.len())]
}

/// Without leading spaces (the `ltrim(' ')` converter).
fn ltrim_spaces(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    &b[start..]
}

/// A string's leading digits as a number, as HAProxy's string-to-integer cast reads them.
fn leading_number(b: &[u8]) -> u16 {
    b.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u16, |n, c| {
            n.saturating_mul(10).saturating_add(u16::from(c - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::verdict::fail;
    use super::*;

    #[test]
    fn redis_waits_for_pong_and_reports_the_first_line_of_anything_else() {
        let e = Expect::RedisPong;
        assert_eq!(e.eval(b"+PO", false), Eval::Wait);
        assert_eq!(e.eval(b"+PONG\r\n", false), Eval::Pass);
        // A mismatch waits for more until the server closes.
        assert_eq!(e.eval(b"-LOADING loading\r\n", false), Eval::Wait);
        assert_eq!(
            e.eval(b"-LOADING loading\r\n", true),
            fail(CheckStatus::L7Sts, "-LOADING loading", Some(0))
        );
        assert_eq!(e.success(b"+PONG\r\n").desc, "Redis server is ok");
    }

    #[test]
    fn smtp_judges_the_greeting_then_the_reply() {
        assert_eq!(Expect::SmtpReply.eval(b"220", false), Eval::Wait);
        assert_eq!(
            Expect::SmtpReply.eval(b"hello\r\n", false),
            fail(CheckStatus::L7Rsp, "hello", None)
        );
        assert_eq!(
            Expect::SmtpGreeting.eval(b"554 go away\r\n", false),
            fail(CheckStatus::L7Sts, "go away", Some(554))
        );
        // The whole reply to EHLO, continuation lines first.
        assert_eq!(
            Expect::SmtpCommand.eval(b"250-mx.example ready\r\n", false),
            Eval::Wait
        );
        assert_eq!(
            Expect::SmtpCommand.eval(b"250-mx.example ready\r\n250 8BITMIME\r\n", false),
            Eval::Pass
        );
        assert_eq!(
            Expect::SmtpCommand.eval(b"250-mx.example ready\r\n550 no\r\n", true),
            fail(CheckStatus::L7Sts, "mx.example ready", Some(250))
        );
        let ok = Expect::SmtpQuit.success(b"221 2.0.0 Bye\r\n");
        assert_eq!((ok.desc.as_str(), ok.code), ("2.0.0 Bye", Some(221)));
    }

    #[test]
    fn pgsql_wants_an_authentication_request() {
        let err = b"E\x00\x00\x00\x30SFATAL\x00VFATAL\x00C28000\x00";
        assert_eq!(
            Expect::PgsqlNotError.eval(err, false),
            fail(CheckStatus::L7Rsp, "FATAL", None)
        );
        let md5 = b"R\x00\x00\x00\x0c\x00\x00\x00\x05salt";
        assert_eq!(Expect::PgsqlNotError.eval(md5, false), Eval::Pass);
        assert_eq!(Expect::PgsqlAuth.eval(md5, false), Eval::Pass);
        assert_eq!(Expect::PgsqlAuth.eval(&md5[..8], false), Eval::Wait);
        assert_eq!(
            Expect::PgsqlAuth.eval(b"R\x00\x00\x00\x08\x00\x00\x00\x07", false),
            fail(CheckStatus::L7Sts, "PostgreSQL unknown error", Some(0))
        );
    }

    #[test]
    fn mysql_reads_whole_packets_and_fails_on_an_error_packet() {
        let hs = b"\x05\x00\x00\x00\x0a8.0\x00";
        assert_eq!(Expect::MysqlHandshake.eval(&hs[..6], false), Eval::Wait);
        assert_eq!(Expect::MysqlHandshake.eval(hs, false), Eval::Pass);
        assert_eq!(
            Expect::MysqlHandshake.eval(&hs[..6], true),
            fail(CheckStatus::L7Rsp, "", None)
        );
        let mut both = hs.to_vec();
        both.extend_from_slice(b"\x0c\x00\x00\x02\xff\x15\x04#28000denied");
        assert_eq!(
            Expect::MysqlAnswer.eval(&both, false),
            fail(CheckStatus::L7Sts, "#28000denied", Some(1045))
        );
        assert!(ProtoCheck::Mysql { login: None }.counts_pass_twice());
    }

    #[test]
    fn ldap_wants_a_successful_bind_response() {
        let ok = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00";
        assert_eq!(Expect::LdapMessage.eval(ok, false), Eval::Pass);
        assert_eq!(Expect::LdapBind.eval(ok, false), Eval::Pass);
        let refused = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00";
        let Eval::Fail(v) = Expect::LdapBind.eval(refused, false) else {
            panic!("a refused bind passed");
        };
        assert_eq!((v.status, v.code), (CheckStatus::L7Sts, Some(0x31)));
        assert_eq!(
            Expect::LdapMessage.eval(b"HTTP/1.1 400 Bad Request\r\n", false),
            fail(CheckStatus::L7Rsp, "Not LDAPv3 protocol", None)
        );
    }
}
