//! One health check of a server, as HAProxy 2.6 runs it (`src/tcpcheck.c`): a TCP connect,
//! the TLS handshake when the server's checks are in TLS (`ssl`, `check-ssl`), then for
//! `option httpchk` the request written and the answer judged by the `http-check
//! expect` rules. The judging is pure ([`judge`]); [`run`] only moves bytes and owns the
//! timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::model::{Expect as HttpExpect, ExpectKind, HttpCheck};
use crate::proto_check::{Eval, Expect, ProtoCheck, Step, Verdict};
use crate::proxy_proto::SendProxy;
use crate::stats::{CheckReport, CheckStatus};
use crate::tls::UpstreamTls;

/// How much of an answer a check reads (HAProxy's check buffer is `tune.bufsize`).
const MAX_ANSWER: usize = 16384;

/// How a check connects, and how long each step may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `source ADDR`: the local address of the check's connection, as of the server's.
    pub(crate) source: Option<std::net::IpAddr>,
    /// The connect: `inter`, or min(`timeout connect`, `inter`) with `timeout check`.
    pub(crate) connect: Duration,
    /// The answer once connected: `timeout check`; `None`: what is left of `connect`'s
    /// (`inter`'s) time.
    pub(crate) answer: Option<Duration>,
}

/// A connection a check talks on: TCP, or TLS over it.
trait CheckIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> CheckIo for T {}

/// What a check does once connected.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Talk<'a> {
    /// Nothing: the connect (and handshake) is the check.
    Connect,
    /// `option httpchk`'s exchange; `drain_on_404`: a 404 passes conditionally (`http-check
    /// disable-on-404` on an up server).
    Http(&'a HttpCheck, bool),
    /// A protocol check's rules.
    Proto(&'a ProtoCheck),
}

/// Checks `target`: a connect (and the PROXY header of `send_proxy`), the TLS handshake with
/// `tls` when given, then what `talk` says.
pub(crate) async fn run(
    target: SocketAddr,
    send_proxy: Option<SendProxy>,
    tls: Option<&UpstreamTls>,
    talk: Talk<'_>,
    limits: Limits,
) -> CheckReport {
    let started = Instant::now();
    let (status, desc, code) = exchange(target, send_proxy, tls, talk, limits).await;
    CheckReport {
        status,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        desc,
        code,
    }
}

type Outcome = (CheckStatus, String, Option<u16>);

async fn exchange(
    target: SocketAddr,
    send_proxy: Option<SendProxy>,
    tls: Option<&UpstreamTls>,
    talk: Talk<'_>,
    limits: Limits,
) -> Outcome {
    let started = Instant::now();
    let connected =
        tokio::time::timeout(limits.connect, crate::net::connect(target, limits.source));
    let mut tcp = match connected.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return (CheckStatus::L4Con, os_error(&e), None),
        Err(_) => return (CheckStatus::L4Timeout, String::new(), None),
    };
    if let Some(spec) = send_proxy
        && let Ok(local) = tcp.local_addr()
    {
        let header = crate::proxy_proto::check_header(spec, local, target);
        if let Err(e) = tcp.write_all(&header).await {
            return (CheckStatus::L4Con, os_error(&e), None);
        }
    }
    let mut stream: Box<dyn CheckIo> = match tls {
        None => Box::new(tcp),
        Some(tls) => {
            let name = tls
                .sni
                .clone()
                .unwrap_or_else(|| ServerName::IpAddress(target.ip().into()));
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            let left = limits.connect.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, connector.connect(name, tcp)).await {
                Ok(Ok(s)) => Box::new(s),
                Ok(Err(e)) => return (CheckStatus::L6Rsp, e.to_string(), None),
                Err(_) => return (CheckStatus::L6Timeout, String::new(), None),
            }
        }
    };
    let answer = limits
        .answer
        .unwrap_or_else(|| limits.connect.saturating_sub(started.elapsed()));
    let (http, drain_on_404) = match talk {
        Talk::Connect => {
            let passed = if tls.is_some() {
                CheckStatus::L6Ok
            } else {
                CheckStatus::L4Ok
            };
            return (passed, String::new(), None);
        }
        Talk::Proto(proto) => return proto_exchange(&mut stream, proto, answer).await,
        Talk::Http(http, drain_on_404) => (http, drain_on_404),
    };
    let needs_body = http
        .expects
        .iter()
        .any(|e| matches!(e.kind, ExpectKind::String(_) | ExpectKind::RString(_)));
    let talk = async {
        stream.write_all(&http.request).await?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            if answer_complete(&buf, needs_body) || buf.len() >= MAX_ANSWER {
                break;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.truncate(MAX_ANSWER);
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(answer, talk).await {
        Err(_) => (CheckStatus::L7Timeout, String::new(), None),
        Ok(Err(e)) => (CheckStatus::L7Rsp, os_error(&e), None),
        Ok(Ok(answer)) => judge(&answer, &http.expects, drain_on_404),
    }
}

/// Runs a protocol check's rules on a connected `stream` within `limit`, as HAProxy's
/// `tcpcheck_main()`: a send forgets what was read; an expect reads once when nothing is
/// pending, and while one waits for more, the chain of expects it belongs to is judged again
/// with what came; the last rule's success is the result.
async fn proto_exchange(
    stream: &mut Box<dyn CheckIo>,
    proto: &ProtoCheck,
    limit: Duration,
) -> Outcome {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let steps = proto.steps(now);
    // The rule waiting when the time runs out says the timeout's status.
    let mut current = None;
    let result = tokio::time::timeout(limit, proto_rules(stream, &steps, &mut current)).await;
    match result {
        Ok(verdict) => (verdict.status, verdict.desc, verdict.code),
        Err(_) => {
            let status = current.map_or(CheckStatus::L7Timeout, Expect::timeout_status);
            (status, String::new(), None)
        }
    }
}

async fn proto_rules(
    stream: &mut Box<dyn CheckIo>,
    steps: &[Step],
    current: &mut Option<Expect>,
) -> Verdict {
    let fail = |status, desc: String| Verdict {
        status,
        desc,
        code: None,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let (mut must_read, mut last_read) = (true, false);
    let mut head = 0;
    let mut i = 0;
    while let Some(step) = steps.get(i) {
        match step {
            Step::Send(bytes) => {
                *current = None;
                buf.clear();
                if let Err(e) = stream.write_all(bytes).await {
                    return fail(CheckStatus::SockErr, os_error(&e));
                }
                must_read = true;
                i += 1;
            }
            Step::Expect { rule, step } => {
                *current = Some(*rule);
                if i == 0 || matches!(steps[i - 1], Step::Send(_)) {
                    head = i;
                }
                if must_read && !last_read {
                    match stream.read(&mut chunk).await {
                        Ok(0) => last_read = true,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        // A reset after some data lets the rules judge the data.
                        Err(e) if buf.is_empty() => {
                            return fail(CheckStatus::SockErr, os_error(&e));
                        }
                        Err(_) => last_read = true,
                    }
                    if buf.is_empty() && last_read {
                        let desc = format!("TCPCHK got an empty response at step {step}");
                        return fail(rule.error_status(), desc);
                    }
                    must_read = false;
                }
                let full = buf.len() >= MAX_ANSWER;
                match rule.eval(&buf, last_read || full) {
                    Eval::Wait => {
                        must_read = true;
                        i = head;
                    }
                    Eval::Pass => i += 1,
                    Eval::Fail(verdict) => return verdict,
                }
            }
        }
    }
    match steps.last() {
        Some(Step::Expect { rule, .. }) => rule.success(&buf),
        _ => fail(CheckStatus::L7Ok, String::new()),
    }
}

/// The OS error without its "(os error N)" suffix, as HAProxy's info says it.
fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split_once(" (os error")
        .map_or(text.as_str(), |(t, _)| t)
        .to_owned()
}

/// Whether `buf` holds the whole answer the rules need: its head, and its body when a rule
/// reads it (up to its `content-length`; without one, until the server closes).
fn answer_complete(buf: &[u8], needs_body: bool) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = resp.parse(buf) else {
        return false;
    };
    if !needs_body {
        return true;
    }
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    length.is_some_and(|n| buf.len() >= head + n)
}

/// Judges an HTTP answer as HAProxy's `tcpcheck_eval_expect_http()`: every rule must pass
/// (without any, a 2xx or 3xx status); a 404 passes conditionally when `drain_on_404`.
pub(crate) fn judge(answer: &[u8], expects: &[HttpExpect], drain_on_404: bool) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = resp.parse(answer) else {
        return (CheckStatus::L7Rsp, String::new(), None);
    };
    let Some(code) = resp.code else {
        return (CheckStatus::L7Rsp, String::new(), None);
    };
    let reason = resp.reason.unwrap_or_default().to_owned();
    if drain_on_404 && code == 404 {
        return (CheckStatus::L7OkC, String::new(), Some(code));
    }
    let body = &answer[head..];
    let default = [HttpExpect {
        inverse: false,
        kind: ExpectKind::Status(vec![(200, 399)]),
    }];
    let rules = if expects.is_empty() {
        &default
    } else {
        expects
    };
    for rule in rules {
        let (matched, on_status) = match &rule.kind {
            ExpectKind::Status(codes) => (
                codes.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code)),
                true,
            ),
            ExpectKind::RStatus(re) => (re.is_match(&code.to_string()), true),
            ExpectKind::String(s) => (
                !s.is_empty() && body.windows(s.len()).any(|w| w == s.as_bytes()),
                false,
            ),
            ExpectKind::RString(re) => (re.is_match(&String::from_utf8_lossy(body)), false),
        };
        if matched == rule.inverse {
            return if on_status {
                (CheckStatus::L7Sts, reason, Some(code))
            } else {
                let desc = if rule.inverse {
                    "HTTP check matched unwanted content"
                } else {
                    "HTTP content check did not match"
                };
                (CheckStatus::L7Rsp, desc.to_owned(), Some(code))
            };
        }
    }
    (CheckStatus::L7Ok, String::new(), Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(codes: &[(u16, u16)], inverse: bool) -> HttpExpect {
        HttpExpect {
            inverse,
            kind: ExpectKind::Status(codes.to_vec()),
        }
    }

    #[test]
    fn a_wrong_status_gives_its_reason_phrase() {
        let ans = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            judge(ans, &[], false),
            (
                CheckStatus::L7Sts,
                "Service Unavailable".to_owned(),
                Some(503)
            )
        );
        let ok = b"HTTP/1.0 302 Found\r\n\r\n";
        assert_eq!(judge(ok, &[], false).0, CheckStatus::L7Ok);
        assert_eq!(
            judge(ok, &[status(&[(200, 200)], false)], false).0,
            CheckStatus::L7Sts
        );
        assert_eq!(
            judge(ok, &[status(&[(200, 200)], true)], false).0,
            CheckStatus::L7Ok
        );
    }

    #[test]
    fn a_404_drains_only_with_disable_on_404() {
        let ans = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(judge(ans, &[], true).0, CheckStatus::L7OkC);
        assert_eq!(judge(ans, &[], false).0, CheckStatus::L7Sts);
    }

    #[test]
    fn body_rules_read_the_body_and_garbage_is_invalid() {
        let ans = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\npong";
        let string = |s: &str, inverse| HttpExpect {
            inverse,
            kind: ExpectKind::String(s.to_owned()),
        };
        assert_eq!(
            judge(ans, &[string("pong", false)], false).0,
            CheckStatus::L7Ok
        );
        assert_eq!(
            judge(ans, &[string("ping", false)], false),
            (
                CheckStatus::L7Rsp,
                "HTTP content check did not match".to_owned(),
                Some(200)
            )
        );
        assert_eq!(
            judge(ans, &[string("pong", true)], false).0,
            CheckStatus::L7Rsp
        );
        assert_eq!(judge(b"SSH-2.0-x\r\n", &[], false).0, CheckStatus::L7Rsp);
        assert!(answer_complete(ans, true));
        assert!(!answer_complete(&ans[..ans.len() - 1], true));
        assert!(answer_complete(&ans[..ans.len() - 1], false));
    }
}
