//! The cases judge what they see: scripted agents that break HAProxy in
//! known ways fail the matching cases, and a stuck agent fails each case at
//! its deadline without stopping the run.

#![allow(
    clippy::disallowed_methods,
    reason = "each scripted agent is a task that ends with the test's runtime"
)]

use std::time::Duration;

use spoe_conformance::{Addr, Haproxy, Outcome, Settings, cases, run, run_case};
use spop::{Body, Flags, Frame, FrameHeader, FrameType, Kv, TypedData};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

async fn listen() -> (TcpListener, Addr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, Addr::Tcp(addr))
}

fn case(id: &str) -> &'static spoe_conformance::Case {
    cases().iter().find(|c| c.id == id).unwrap()
}

/// An agent written the naive way: it always answers max-frame-size 16380,
/// writes its ACKs without FIN, and ignores HAPROXY-DISCONNECT.
async fn sloppy_connection(s: TcpStream) {
    let (mut rd, mut wr) = spop_io::split(s, 1 << 20);
    loop {
        let Ok(Some(frame)) = rd.next().await else {
            return;
        };
        match frame.body {
            Body::HaproxyHello(_) => wr.queue(&Frame {
                header: FrameHeader {
                    frame_type: FrameType::AGENT_HELLO,
                    flags: Flags::FIN,
                    stream_id: 0,
                    frame_id: 0,
                },
                body: Body::AgentHello(vec![
                    Kv::new("version", TypedData::string("2.0")),
                    Kv::new("max-frame-size", 16380u32),
                    Kv::new("capabilities", TypedData::string("")),
                ]),
            }),
            Body::Notify(_) => wr.queue(&Frame {
                header: FrameHeader {
                    flags: Flags(0),
                    ..Frame::ack(frame.header.stream_id, frame.header.frame_id, vec![]).header
                },
                body: Body::Fragment(bytes::Bytes::new()),
            }),
            _ => continue,
        }
        if wr.flush().await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_sloppy_agent_fails_the_cases_it_breaks() {
    let (l, target) = listen().await;
    let agent = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let (s, _) = l.accept().await.unwrap();
            conns.spawn(sloppy_connection(s));
        }
    });
    let mut settings = Settings::new(target, Haproxy::V3_1);
    settings.case_timeout = Duration::from_secs(2);
    let outcome = |r: spoe_conformance::CaseResult| (r.outcome, r.seen);

    let (o, seen) = outcome(run_case(case("handshake-hello"), &settings).await);
    assert_eq!(o, Outcome::Pass, "{seen}");
    let (o, seen) = outcome(run_case(case("handshake-frame-size-below"), &settings).await);
    assert_eq!(o, Outcome::Fail, "{seen}");
    assert!(
        seen.contains("max-frame-size 16380 is outside 256..=1024"),
        "{seen}"
    );
    let (o, seen) = outcome(run_case(case("versions-fin-on-every-frame"), &settings).await);
    assert_eq!(o, Outcome::Fail, "{seen}");
    assert!(seen.contains("FIN"), "{seen}");
    let (o, seen) = outcome(run_case(case("teardown-disconnect"), &settings).await);
    assert_eq!(o, Outcome::Fail, "{seen}");
    assert!(seen.contains("no AGENT-DISCONNECT and no close"), "{seen}");
    // An optional case's failure is a warning.
    let (o, seen) = outcome(run_case(case("handshake-missing-version"), &settings).await);
    assert_eq!(o, Outcome::Warn, "{seen}");
    agent.abort();
}

#[tokio::test]
async fn a_stuck_agent_fails_each_case_at_its_deadline_and_the_run_goes_on() {
    let (l, target) = listen().await;
    // Accepts and reads, never answers.
    let agent = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            conns.spawn(async move {
                let mut sink = [0u8; 4096];
                while s.read(&mut sink).await.unwrap_or(0) > 0 {}
            });
        }
    });
    let mut settings = Settings::new(target, Haproxy::V2_6);
    settings.case_timeout = Duration::from_millis(200);
    let report = run(&settings, Some(spoe_conformance::Group::Handshake)).await;
    let handshake = cases()
        .iter()
        .filter(|c| c.group == spoe_conformance::Group::Handshake)
        .count();
    assert_eq!(report.cases.len(), handshake);
    assert!(!report.passed());
    for c in &report.cases {
        assert_ne!(c.outcome, Outcome::Pass, "{c:?}");
        let expected = if c.required {
            Outcome::Fail
        } else {
            Outcome::Warn
        };
        assert_eq!(c.outcome, expected, "{c:?}");
    }
    let hello = &report.cases[0];
    assert!(
        hello
            .seen
            .contains("no conclusion within the case's 200 ms deadline"),
        "{hello:?}"
    );
    agent.abort();
}

#[test]
fn there_are_at_least_25_cases_in_every_group_the_issue_lists() {
    use std::collections::HashSet;
    let all = cases();
    assert!(all.len() >= 25, "{}", all.len());
    let ids: HashSet<&str> = all.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), all.len(), "case ids are unique");
    for g in spoe_conformance::Group::ALL {
        assert!(all.iter().any(|c| c.group == g), "no case in {g}");
    }
    for c in all {
        assert!(
            c.id.starts_with(c.group.name()),
            "{} is in {}",
            c.id,
            c.group
        );
        assert!(!c.section.is_empty() && !c.checks.is_empty());
    }
}
