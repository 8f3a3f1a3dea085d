//! `tcp-request connection` and `tcp-request content` rules (HAProxy 2.6's
//! `tcp_exec_l4_rules()` and `tcp_inspect_request()` in `src/tcp_rules.c`), and what their
//! conditions and `use_backend` read on a `mode tcp` connection ([`TcpHost`]).
//!
//! Content rules run on the bytes the client sent so far, again each time more come, for at
//! most `tcp-request inspect-delay` (or until [`BUF`] bytes are buffered, or the client's FIN):
//! a rule whose condition is false only because its contents are too short yet
//! (`req.ssl_sni` of half a ClientHello, `req.len`, `req.payload`) waits for more, as HAProxy's
//! `SMP_F_MAY_CHANGE`; once the delay is over every rule is judged on what came. Without
//! `inspect-delay`, they are judged at once. No rule matching means accept.

use std::cell::Cell;

use spoe::expr::{AclSet, Fetch, FetchKind, Polarity, Sample};
use spoe_http::ConnectionFacts;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::time::Instant;

use super::content::{self, Read};
use crate::model::{TcpAction, TcpRule, TcpRules};
use crate::tunnel::BUF;
use crate::txn::Txn;

/// What a connection's conditions read in `mode tcp`: the connection (`src`, `dst`,
/// `dst_port`, `fe_name`, `ssl_fc*`...) and the bytes inspected so far. HTTP fetches have no
/// value.
pub(crate) struct TcpHost<'a> {
    conn: &'a ConnectionFacts,
    data: &'a [u8],
    empty: hyper::http::request::Parts,
    /// A fetch found the contents too short (cleared by the caller).
    short: Cell<bool>,
}

impl<'a> TcpHost<'a> {
    pub(crate) fn new(conn: &'a ConnectionFacts, data: &'a [u8]) -> Self {
        Self {
            conn,
            data,
            empty: hyper::Request::new(()).into_parts().0,
            short: Cell::new(false),
        }
    }

    fn exchange(&self) -> spoe_http::Exchange<'_> {
        spoe_http::Exchange::new(&self.empty).conn(self.conn)
    }

    fn read<T>(&self, r: Read<T>, f: impl FnOnce(T) -> Sample) -> Option<Sample> {
        match r {
            Read::Value(v) => Some(f(v)),
            Read::No => None,
            Read::TooShort => {
                self.short.set(true);
                None
            }
        }
    }
}

/// The fetches a tcp connection answers from its connection alone.
fn of_connection(kind: &FetchKind) -> bool {
    use FetchKind as K;
    matches!(
        kind,
        K::Src
            | K::SrcPort
            | K::Dst
            | K::DstPort
            | K::FcSrc
            | K::FcSrcPort
            | K::FcDst
            | K::FcDstPort
            | K::FcRcvdProxy
            | K::FcPpAuthority
            | K::FcPpUniqueId
            | K::FeName
            | K::SslFc
            | K::SslFcSni
            | K::SslFcHasSni
            | K::SslFcProtocol
            | K::SslFcCipher
            | K::SslFcAlpn
            | K::SslFcIsResumed
            | K::SslFcHasCrt
            | K::SslCUsed
            | K::SslCVerify
            | K::SslCSDn { .. }
            | K::SslCIDn { .. }
            | K::SslCSerial
            | K::SslCSha1
            | K::SslCDer
    )
}

impl Fetch for TcpHost<'_> {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        let bytes = |b: &[u8]| Sample::Bin(bytes::Bytes::copy_from_slice(b));
        match kind {
            FetchKind::ReqLen => {
                // `req.len` may grow: HAProxy's `SMP_F_MAY_CHANGE`.
                self.short.set(true);
                Some(Sample::Int(
                    i64::try_from(self.data.len()).unwrap_or(i64::MAX),
                ))
            }
            FetchKind::ReqSslSni => self.read(content::sni(self.data), |n| {
                Sample::Str(bytes::Bytes::copy_from_slice(n))
            }),
            FetchKind::ReqSslHelloType => self.read(content::hello_type(self.data), |t| {
                Sample::Int(i64::from(t))
            }),
            FetchKind::ReqSslVer => self.read(content::ssl_version(self.data), |v| {
                Sample::Int(i64::from(v))
            }),
            FetchKind::ReqPayload { offset, length } => {
                let (o, l) = (
                    usize::try_from(*offset).unwrap_or(usize::MAX),
                    usize::try_from(*length).unwrap_or(usize::MAX),
                );
                self.read(content::payload(self.data, o, l), bytes)
            }
            k if of_connection(k) => self.exchange().fetch(k),
            _ => None,
        }
    }

    fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
        match kind {
            k if of_connection(k) => self.exchange().fetch_all(k),
            k => self.fetch(k).into_iter().collect(),
        }
    }
}

/// The first rule whose condition holds decides; `None`: a rule must wait for more bytes
/// (only when `partial` is false). No rule: accept.
fn judge<'r>(
    rules: &'r [TcpRule],
    acls: &AclSet,
    host: &TcpHost<'_>,
    partial: bool,
) -> Option<&'r TcpAction> {
    for rule in rules {
        // `set-var` decides nothing (the configuration refuses it in `mode tcp`).
        if matches!(rule.action, TcpAction::SetVar { .. }) {
            continue;
        }
        let Some(cond) = &rule.cond else {
            return Some(&rule.action);
        };
        host.short.set(false);
        let holds = cond.eval(host, acls);
        if host.short.get() && !partial && (!holds || cond.polarity == Polarity::Unless) {
            return None;
        }
        if holds {
            return Some(&rule.action);
        }
    }
    Some(&TcpAction::Accept)
}

/// What the `tcp-request connection` rules said of a connection just accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionVerdict {
    /// It goes on; `expect_proxy`: an `expect-proxy layer4` rule matched first.
    Accept { expect_proxy: bool },
    /// `reject`.
    Reject,
}

/// Runs the `tcp-request connection` rules on a connection just accepted, in order, as
/// HAProxy's `tcp_exec_l4_rules()`: `accept` and `reject` end them, `expect-proxy` goes on.
pub(crate) fn connection_rules(
    rules: &TcpRules,
    acls: &AclSet,
    conn: &ConnectionFacts,
) -> ConnectionVerdict {
    let mut expect_proxy = false;
    if rules.connection.is_empty() {
        return ConnectionVerdict::Accept { expect_proxy };
    }
    let host = TcpHost::new(conn, &[]);
    for rule in &rules.connection {
        if !rule.cond.as_ref().is_none_or(|c| c.eval(&host, acls)) {
            continue;
        }
        match rule.action {
            TcpAction::ExpectProxy => expect_proxy = true,
            TcpAction::Accept => break,
            TcpAction::Reject => return ConnectionVerdict::Reject,
            // A content rule's action only (see the configuration).
            TcpAction::SetVar { .. } => {}
        }
    }
    ConnectionVerdict::Accept { expect_proxy }
}

/// Runs the `tcp-request content` rules of a `mode http` frontend on one request, as
/// HAProxy 2.6 does for each stream (analyser `AN_REQ_INSPECT_FE`, before the request's HTTP
/// analysers): the request is whole by then, so every rule is judged at once, in order;
/// `set-var` sets and goes on, `accept` or `reject` ends them, none means accept. `true`:
/// `reject`.
pub(crate) fn http_content_rejects(rules: &TcpRules, acls: &AclSet, txn: &mut Txn) -> bool {
    for rule in &rules.content {
        if !rule.cond.as_ref().is_none_or(|c| c.eval(&*txn, acls)) {
            continue;
        }
        match &rule.action {
            TcpAction::SetVar { var, expr } => {
                let v = expr.eval(&*txn);
                txn.vars.set_ref(var, v);
            }
            TcpAction::Reject => return true,
            // `expect-proxy` is a connection rule's action only (see the configuration).
            TcpAction::Accept | TcpAction::ExpectProxy => return false,
        }
    }
    false
}

/// How the inspection of a connection's first bytes ended.
#[derive(Debug)]
pub(crate) enum Inspected {
    /// The rules accept: what was read goes to the server first.
    Accept(Vec<u8>),
    /// A rule rejected the connection (`PR`), after reading this many bytes.
    Reject(Vec<u8>),
    /// The client failed while being inspected (`CR`).
    ClientError,
}

/// Reads the client's first bytes and runs the `tcp-request content` rules on them.
pub(crate) async fn inspect<C>(
    client: &mut C,
    rules: &TcpRules,
    acls: &AclSet,
    conn: &ConnectionFacts,
) -> Inspected
where
    C: AsyncRead + Unpin,
{
    let deadline = rules.inspect_delay.map(|d| Instant::now() + d);
    let mut data = Vec::with_capacity(if deadline.is_some() { BUF } else { 0 });
    let mut ended = false;
    loop {
        let expired = deadline.is_none_or(|d| d <= Instant::now());
        let partial = expired || ended || data.len() >= BUF;
        let host = TcpHost::new(conn, &data);
        if let Some(action) = judge(&rules.content, acls, &host, partial) {
            return match action {
                // `expect-proxy` is a connection rule's action only (see the configuration).
                TcpAction::Accept | TcpAction::ExpectProxy | TcpAction::SetVar { .. } => {
                    Inspected::Accept(data)
                }
                TcpAction::Reject => Inspected::Reject(data),
            };
        }
        let Some(deadline) = deadline else {
            unreachable!("without inspect-delay, every judgement is final")
        };
        let mut chunk = [0u8; 4096];
        let room = (BUF - data.len()).min(chunk.len());
        tokio::select! {
            r = client.read(&mut chunk[..room]) => match r {
                Ok(0) => ended = true,
                Ok(n) => data.extend_from_slice(&chunk[..n]),
                Err(_) => return Inspected::ClientError,
            },
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::time::Duration;

    use spoe::config::reader::Word;
    use spoe::expr::{AclContext, AclSet, Condition};
    use spoe_http::ConnectionFacts;
    use tokio::io::AsyncWriteExt as _;

    use super::{ConnectionVerdict, Inspected, connection_rules, inspect};
    use crate::model::{TcpAction, TcpRule, TcpRules};

    fn rule(action: TcpAction, cond: &str, acls: &mut AclSet) -> TcpRule {
        let span = spoe::config::Span::file(std::sync::Arc::from(Path::new("t.cfg")));
        let words: Vec<Word> = cond
            .split(' ')
            .map(|w| Word::synthetic(w, span.clone()))
            .collect();
        let cx = AclContext {
            base_dir: Path::new("."),
        };
        let (cond, _) = Condition::parse(&words, acls, &cx).unwrap();
        TcpRule {
            action,
            cond: Some(cond),
            span,
        }
    }

    fn conn() -> ConnectionFacts {
        let client: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        ConnectionFacts::tcp(client, "127.0.0.1:443".parse().unwrap())
    }

    #[test]
    fn connection_rules_read_the_source() {
        let mut acls = AclSet::new();
        let rules = TcpRules {
            connection: vec![rule(TcpAction::Reject, "if { src 10.0.0.0/8 }", &mut acls)],
            ..TcpRules::default()
        };
        assert_eq!(
            connection_rules(&rules, &acls, &conn()),
            ConnectionVerdict::Reject
        );
        let mut acls = AclSet::new();
        let rules = TcpRules {
            connection: vec![rule(
                TcpAction::Reject,
                "unless { src 10.0.0.0/8 }",
                &mut acls,
            )],
            ..TcpRules::default()
        };
        let accept = ConnectionVerdict::Accept {
            expect_proxy: false,
        };
        assert_eq!(connection_rules(&rules, &acls, &conn()), accept);
    }

    #[test]
    fn expect_proxy_goes_on_to_the_next_rules_and_accept_ends_them() {
        let mut acls = AclSet::new();
        let rules = TcpRules {
            connection: vec![
                rule(TcpAction::ExpectProxy, "if { src 10.0.0.0/8 }", &mut acls),
                rule(TcpAction::Accept, "if { src 10.1.0.0/16 }", &mut acls),
                rule(TcpAction::Reject, "if { always_true }", &mut acls),
            ],
            ..TcpRules::default()
        };
        assert_eq!(
            connection_rules(&rules, &acls, &conn()),
            ConnectionVerdict::Accept { expect_proxy: true }
        );
        let rules = TcpRules {
            connection: vec![
                rule(TcpAction::Accept, "if { src 10.1.0.0/16 }", &mut acls),
                rule(TcpAction::ExpectProxy, "if { always_true }", &mut acls),
            ],
            ..TcpRules::default()
        };
        assert_eq!(
            connection_rules(&rules, &acls, &conn()),
            ConnectionVerdict::Accept {
                expect_proxy: false
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn content_rules_wait_for_a_whole_client_hello_within_the_delay() {
        let mut acls = AclSet::new();
        let rules = TcpRules {
            content: vec![
                rule(TcpAction::Accept, "if { req.ssl_hello_type 1 }", &mut acls),
                rule(TcpAction::Reject, "if { always_true }", &mut acls),
            ],
            inspect_delay: Some(Duration::from_secs(5)),
            ..TcpRules::default()
        };
        let hello = super::super::content::client_hello("a.example");
        let (mut client, mut gw) = tokio::io::duplex(64 * 1024);
        let (first, rest) = hello.split_at(10);
        client.write_all(first).await.unwrap();
        let writer = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            client.write_all(rest).await.unwrap();
        };
        let facts = conn();
        let (got, ()) = tokio::join!(inspect(&mut gw, &rules, &acls, &facts), writer);
        match got {
            Inspected::Accept(data) => assert_eq!(data, hello),
            other => panic!("{other:?}"),
        }
        // Bytes that are no hello: rejected once the delay is over.
        let (mut client, mut gw) = tokio::io::duplex(1024);
        client.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let start = tokio::time::Instant::now();
        assert!(matches!(
            inspect(&mut gw, &rules, &acls, &conn()).await,
            Inspected::Reject(_)
        ));
        assert_eq!(start.elapsed(), Duration::ZERO, "not a hello: no wait");
    }
}
