//! The HELLO exchange.

use spop::{AgentHello, Body, Capabilities, HaproxyHello, Kv, Status, TypedData};

use super::{close_wait, connected, hello, judge_refusal, raw_frame, until_closed};
use crate::peer::{Event, Peer, PeerError, describe};
use crate::{Case, Group, Settings, Verdict};

pub(crate) const HELLO: Case = Case {
    id: "handshake-hello",
    group: Group::Handshake,
    checks: "the selected HAProxy's HELLO gets an AGENT-HELLO HAProxy accepts (version 2.0, max-frame-size in 256..=offer, ids 0, FIN)",
    section: "3.2.4, 3.2.5",
    required: true,
    run: |s| Box::pin(hello_case(s)),
};

async fn hello_case(s: &Settings) -> Result<Verdict, PeerError> {
    let (peer, answer) = connected(s).await?;
    Ok(super::with_violations(
        &peer,
        Verdict::pass(summary(&answer)),
    ))
}

fn summary(a: &AgentHello) -> String {
    format!(
        "AGENT-HELLO version {}, max-frame-size {}, capabilities {:?}",
        a.version,
        a.max_frame_size,
        a.capabilities.to_string()
    )
}

pub(crate) const UNKNOWN_KEY: Case = Case {
    id: "handshake-unknown-key",
    group: Group::Handshake,
    checks: "a HELLO with a key the agent does not know (HAProxy added engine-id in 1.9; more may come) is answered",
    section: "3.2.4",
    required: true,
    run: |s| Box::pin(unknown_key(s)),
};

async fn unknown_key(s: &Settings) -> Result<Verdict, PeerError> {
    let mut kv = hello(s.haproxy).to_kv();
    kv.push(Kv::new("conformance-future-key", TypedData::string("x")));
    offer(s, kv, spop::HAPROXY_DEFAULT_FRAME_SIZE).await
}

/// Sends `kv` as the HELLO and requires an AGENT-HELLO HAProxy accepts.
async fn offer(s: &Settings, kv: Vec<Kv>, offered: u32) -> Result<Verdict, PeerError> {
    let mut peer = Peer::connect(&s.target).await?;
    let event = peer.hello_kv(kv).await?;
    Ok(judge_answer(&event, offered))
}

fn judge_answer(event: &Event, offered: u32) -> Verdict {
    let Event::Frame(frame) = event else {
        return Verdict::fail(format!("expected AGENT-HELLO, got {event}"));
    };
    let Body::AgentHello(kv) = &frame.body else {
        return Verdict::fail(format!("expected AGENT-HELLO, got {}", describe(frame)));
    };
    match AgentHello::from_kv(kv, offered) {
        Ok(a) => Verdict::pass(summary(&a)),
        Err(e) => Verdict::fail(format!(
            "{}: {e} (HAProxy, having offered {offered}, disconnects with status {})",
            describe(frame),
            e.status().0
        )),
    }
}

fn offering(s: &Settings, max_frame_size: u32) -> HaproxyHello {
    HaproxyHello {
        max_frame_size,
        ..hello(s.haproxy)
    }
}

pub(crate) const FRAME_SIZE_BELOW: Case = Case {
    id: "handshake-frame-size-below",
    group: Group::Handshake,
    checks: "max-frame-size 1024 offered (tune.bufsize 1028): the agent answers at most 1024",
    section: "3.2.4, 3.2.5",
    required: true,
    run: |s| Box::pin(async move { offer(s, offering(s, 1024).to_kv(), 1024).await }),
};

pub(crate) const FRAME_SIZE_MINIMUM: Case = Case {
    id: "handshake-frame-size-minimum",
    group: Group::Handshake,
    checks: "max-frame-size 256 offered (the protocol's minimum): the agent answers 256",
    section: "3.2",
    required: false,
    run: |s| Box::pin(async move { offer(s, offering(s, 256).to_kv(), 256).await }),
};

pub(crate) const FRAME_SIZE_ABOVE: Case = Case {
    id: "handshake-frame-size-above",
    group: Group::Handshake,
    checks: "max-frame-size 65532 offered (tune.bufsize 65536): the agent answers its own limit or less, never more than offered",
    section: "3.2.4, 3.2.5",
    required: true,
    run: |s| Box::pin(async move { offer(s, offering(s, 65532).to_kv(), 65532).await }),
};

pub(crate) const FRAME_SIZE_TOO_SMALL: Case = Case {
    id: "handshake-frame-size-too-small",
    group: Group::Handshake,
    checks: "max-frame-size 255 offered (below the minimum 256): AGENT-DISCONNECT status 9",
    section: "3.2, 3.5",
    required: false,
    run: |s| {
        Box::pin(refused_hello(
            s,
            offering(s, 255).to_kv(),
            Status::BAD_FRAME_SIZE,
        ))
    },
};

/// A HELLO the agent must refuse with `expected`.
async fn refused_hello(s: &Settings, kv: Vec<Kv>, expected: Status) -> Result<Verdict, PeerError> {
    let mut peer = Peer::connect(&s.target).await?;
    peer.send(&crate::peer::hello_frame(kv), "HAPROXY-HELLO")
        .await?;
    Ok(judge_refusal(&mut peer, s, expected).await)
}

pub(crate) const VERSIONS_LIST: Case = Case {
    id: "handshake-versions-list",
    group: Group::Handshake,
    checks: "supported-versions \"1.0, 2.0\" (a list with spaces): the agent picks 2.0",
    section: "3.2.4",
    required: false,
    run: |s| {
        Box::pin(async move {
            let h = HaproxyHello {
                supported_versions: "1.0, 2.0".to_owned(),
                ..hello(s.haproxy)
            };
            offer(s, h.to_kv(), h.max_frame_size).await
        })
    },
};

fn with_capabilities(s: &Settings, caps: &str) -> Vec<Kv> {
    hello(s.haproxy)
        .to_kv()
        .into_iter()
        .map(|kv| {
            if kv.name.as_ref() == b"capabilities" {
                Kv::new("capabilities", TypedData::string(caps))
            } else {
                kv
            }
        })
        .collect()
}

pub(crate) const CAPABILITIES_EMPTY: Case = Case {
    id: "handshake-capabilities-empty",
    group: Group::Handshake,
    checks: "capabilities \"\" (no option pipelining, no option async): answered, and the agent works without pipelining",
    section: "3.2.1, 3.2.4",
    required: true,
    run: |s| {
        Box::pin(async move {
            let mut peer = Peer::connect(&s.target).await?;
            let event = peer.hello_kv(with_capabilities(s, "")).await?;
            let verdict = judge_answer(&event, spop::HAPROXY_DEFAULT_FRAME_SIZE);
            if verdict.outcome != crate::Outcome::Pass {
                return Ok(verdict);
            }
            peer.notify(1, 1, vec![super::message(s).arg("n", 1i64)])
                .await?;
            Ok(Verdict::pass(format!(
                "{}; then a NOTIFY got its ACK",
                verdict.seen
            )))
        })
    },
};

pub(crate) const CAPABILITIES_UNKNOWN: Case = Case {
    id: "handshake-capabilities-unknown",
    group: Group::Handshake,
    checks: "capabilities with an unknown name (\"pipelining,async,conformance-x\") are answered; unknown names are ignored",
    section: "3.2.1",
    required: true,
    run: |s| {
        Box::pin(async move {
            let caps = Capabilities {
                pipelining: true,
                async_: true,
                fragmentation: false,
            };
            let kv = with_capabilities(s, &format!("{caps},conformance-x"));
            offer(s, kv, spop::HAPROXY_DEFAULT_FRAME_SIZE).await
        })
    },
};

pub(crate) const CAPABILITIES_SPACES: Case = Case {
    id: "handshake-capabilities-spaces",
    group: Group::Handshake,
    checks: "capabilities \" pipelining , async \" (spaces must be ignored) are answered",
    section: "3.2.4",
    required: false,
    run: |s| {
        Box::pin(async move {
            // Only an agent that announces pipelining to the plain offer can
            // be seen misreading the spaced one.
            let (_, plain) = connected(s).await?;
            let mut peer = Peer::connect(&s.target).await?;
            let event = peer
                .hello_kv(with_capabilities(s, " pipelining , async "))
                .await?;
            let verdict = judge_answer(&event, spop::HAPROXY_DEFAULT_FRAME_SIZE);
            if let Event::Frame(f) = &event
                && let Body::AgentHello(kv) = &f.body
                && let Ok(a) = AgentHello::from_kv(kv, spop::HAPROXY_DEFAULT_FRAME_SIZE)
                && plain.capabilities.pipelining
                && !a.capabilities.pipelining
            {
                return Ok(Verdict::warn(format!(
                    "{}: pipelining not announced when offered with spaces",
                    verdict.seen
                )));
            }
            Ok(verdict)
        })
    },
};

fn without(s: &Settings, key: &str) -> Vec<Kv> {
    hello(s.haproxy)
        .to_kv()
        .into_iter()
        .filter(|kv| kv.name.as_ref() != key.as_bytes())
        .collect()
}

pub(crate) const MISSING_VERSION: Case = Case {
    id: "handshake-missing-version",
    group: Group::Handshake,
    checks: "a HELLO without supported-versions: AGENT-DISCONNECT status 5",
    section: "3.2.4, 3.5",
    required: false,
    run: |s| {
        Box::pin(refused_hello(
            s,
            without(s, "supported-versions"),
            Status::NO_VERSION,
        ))
    },
};

pub(crate) const MISSING_FRAME_SIZE: Case = Case {
    id: "handshake-missing-frame-size",
    group: Group::Handshake,
    checks: "a HELLO without max-frame-size: AGENT-DISCONNECT status 6",
    section: "3.2.4, 3.5",
    required: false,
    run: |s| {
        Box::pin(refused_hello(
            s,
            without(s, "max-frame-size"),
            Status::NO_FRAME_SIZE,
        ))
    },
};

pub(crate) const UNSUPPORTED_VERSION: Case = Case {
    id: "handshake-unsupported-version",
    group: Group::Handshake,
    checks: "supported-versions \"1.0\" only: AGENT-DISCONNECT status 8",
    section: "3.2.5, 3.5",
    required: false,
    run: |s| {
        Box::pin(async move {
            let h = HaproxyHello {
                supported_versions: "1.0".to_owned(),
                ..hello(s.haproxy)
            };
            refused_hello(s, h.to_kv(), Status::BAD_VERSION).await
        })
    },
};

pub(crate) const HEALTHCHECK: Case = Case {
    id: "handshake-healthcheck",
    group: Group::Handshake,
    checks: "a health-check HELLO (healthcheck=true, option spop-check) gets an AGENT-HELLO; the agent may then close",
    section: "3.2.3, 3.2.4",
    required: true,
    run: |s| Box::pin(healthcheck(s)),
};

async fn healthcheck(s: &Settings) -> Result<Verdict, PeerError> {
    let h = HaproxyHello {
        capabilities: Capabilities::default(),
        healthcheck: true,
        engine_id: None,
        ..hello(s.haproxy)
    };
    let mut peer = Peer::connect(&s.target).await?;
    let event = peer.hello_kv(h.to_kv()).await?;
    let verdict = judge_answer(&event, h.max_frame_size);
    if verdict.outcome != crate::Outcome::Pass {
        return Ok(verdict);
    }
    let (frames, end) = until_closed(&mut peer, close_wait(s)).await;
    let after = match (frames.first(), end) {
        (Some(f), _) => format!("then {}", describe(f)),
        (None, Some(e)) => format!("then {e}"),
        (None, None) => "the connection stayed open (HAProxy closes it)".to_owned(),
    };
    Ok(Verdict::pass(format!("{}; {after}", verdict.seen)))
}

pub(crate) const NOTIFY_FIRST: Case = Case {
    id: "handshake-notify-first",
    group: Group::Handshake,
    checks: "a NOTIFY before any HELLO is refused: AGENT-DISCONNECT status 4 (invalid frame), no ACK",
    section: "3.2.3",
    required: false,
    run: |s| {
        Box::pin(async move {
            let mut peer = Peer::connect(&s.target).await?;
            let payload = super::notify_payload(&[super::message(s).arg("n", 1i64)]);
            let frame = raw_frame(spop::FrameType::NOTIFY, spop::Flags::FIN, 1, 1, &payload);
            peer.send_raw(&frame, "NOTIFY").await?;
            Ok(judge_refusal(&mut peer, s, Status::INVALID_FRAME).await)
        })
    },
};
