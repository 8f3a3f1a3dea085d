//! The HELLO exchange.

use spop::{Capabilities, HaproxyHello, Kv, Status, TypedData};

use super::{close_wait, connected, hello, raw_frame, until_closed};
use crate::case::{Case, Group, Verdict};
use crate::peer::{Peer, PeerError, describe};
use crate::script::{script, summary};
use crate::settings::Settings;

pub(crate) const HELLO: Case = Case {
    id: "handshake-hello",
    group: Group::Handshake,
    checks: "the selected HAProxy's HELLO gets an AGENT-HELLO HAProxy accepts (version 2.0, max-frame-size in 256..=offer, ids 0, FIN)",
    section: "3.2.4, 3.2.5",
    required: true,
    run: |s| script(s).hello().expect_answer(),
};

pub(crate) const UNKNOWN_KEY: Case = Case {
    id: "handshake-unknown-key",
    group: Group::Handshake,
    checks: "a HELLO with a key the agent does not know (HAProxy added engine-id in 1.9; more may come) is answered",
    section: "3.2.4",
    required: true,
    run: |s| {
        let mut kv = hello(s.haproxy).to_kv();
        kv.push(Kv::new("conformance-future-key", TypedData::string("x")));
        script(s)
            .offer(kv, spop::HAPROXY_DEFAULT_FRAME_SIZE)
            .expect_answer()
    },
};

fn offering(s: &Settings, max_frame_size: u32) -> Vec<Kv> {
    HaproxyHello {
        max_frame_size,
        ..hello(s.haproxy)
    }
    .to_kv()
}

pub(crate) const FRAME_SIZE_BELOW: Case = Case {
    id: "handshake-frame-size-below",
    group: Group::Handshake,
    checks: "max-frame-size 1024 offered (tune.bufsize 1028): the agent answers at most 1024",
    section: "3.2.4, 3.2.5",
    required: true,
    run: |s| script(s).offer(offering(s, 1024), 1024).expect_answer(),
};

pub(crate) const FRAME_SIZE_MINIMUM: Case = Case {
    id: "handshake-frame-size-minimum",
    group: Group::Handshake,
    checks: "max-frame-size 256 offered (the protocol's minimum): the agent answers 256",
    section: "3.2",
    required: false,
    run: |s| script(s).offer(offering(s, 256), 256).expect_answer(),
};

pub(crate) const FRAME_SIZE_ABOVE: Case = Case {
    id: "handshake-frame-size-above",
    group: Group::Handshake,
    checks: "max-frame-size 65532 offered (tune.bufsize 65536): the agent answers its own limit or less, never more than offered",
    section: "3.2.4, 3.2.5",
    required: true,
    run: |s| script(s).offer(offering(s, 65532), 65532).expect_answer(),
};

pub(crate) const FRAME_SIZE_TOO_SMALL: Case = Case {
    id: "handshake-frame-size-too-small",
    group: Group::Handshake,
    checks: "max-frame-size 255 offered (below the minimum 256): AGENT-DISCONNECT status 9",
    section: "3.2, 3.5",
    required: false,
    run: |s| {
        script(s)
            .bad_hello(offering(s, 255))
            .expect_refusal(Status::BAD_FRAME_SIZE)
    },
};

pub(crate) const VERSIONS_LIST: Case = Case {
    id: "handshake-versions-list",
    group: Group::Handshake,
    checks: "supported-versions \"1.0, 2.0\" (a list with spaces): the agent picks 2.0",
    section: "3.2.4",
    required: false,
    run: |s| {
        let h = HaproxyHello {
            supported_versions: "1.0, 2.0".to_owned(),
            ..hello(s.haproxy)
        };
        script(s).offer(h.to_kv(), h.max_frame_size).expect_answer()
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
        script(s)
            .offer(with_capabilities(s, ""), spop::HAPROXY_DEFAULT_FRAME_SIZE)
            .notify(1, 1, vec![super::message(s).arg("n", 1i64)])
            .expect_ack()
    },
};

pub(crate) const CAPABILITIES_UNKNOWN: Case = Case {
    id: "handshake-capabilities-unknown",
    group: Group::Handshake,
    checks: "capabilities with an unknown name (\"pipelining,async,conformance-x\") are answered; unknown names are ignored",
    section: "3.2.1",
    required: true,
    run: |s| {
        let caps = Capabilities {
            pipelining: true,
            async_: true,
            fragmentation: false,
        };
        script(s)
            .offer(
                with_capabilities(s, &format!("{caps},conformance-x")),
                spop::HAPROXY_DEFAULT_FRAME_SIZE,
            )
            .expect_answer()
    },
};

pub(crate) const CAPABILITIES_SPACES: Case = Case {
    id: "handshake-capabilities-spaces",
    group: Group::Handshake,
    checks: "capabilities \" pipelining , async \" (spaces must be ignored) are answered",
    section: "3.2.4",
    required: false,
    run: |s| Box::pin(capabilities_spaces(s)),
};

async fn capabilities_spaces(s: &Settings) -> Result<Verdict, PeerError> {
    // Only an agent that announces pipelining to the plain offer can be seen
    // misreading the spaced one.
    let (_, plain) = connected(s).await?;
    let mut peer = Peer::connect(&s.target).await?;
    let spaced = match peer
        .handshake_kv(
            &hello(s.haproxy),
            with_capabilities(s, " pipelining , async "),
        )
        .await
    {
        Ok(a) => a,
        Err(PeerError::Unexpected { got, .. }) => return Ok(Verdict::fail(got)),
        Err(e) => return Err(e),
    };
    Ok(
        if plain.capabilities.pipelining && !spaced.capabilities.pipelining {
            Verdict::warn(format!(
                "{}: pipelining not announced when offered with spaces",
                summary(&spaced)
            ))
        } else {
            Verdict::pass(summary(&spaced))
        },
    )
}

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
        script(s)
            .bad_hello(without(s, "supported-versions"))
            .expect_refusal(Status::NO_VERSION)
    },
};

pub(crate) const MISSING_FRAME_SIZE: Case = Case {
    id: "handshake-missing-frame-size",
    group: Group::Handshake,
    checks: "a HELLO without max-frame-size: AGENT-DISCONNECT status 6",
    section: "3.2.4, 3.5",
    required: false,
    run: |s| {
        script(s)
            .bad_hello(without(s, "max-frame-size"))
            .expect_refusal(Status::NO_FRAME_SIZE)
    },
};

pub(crate) const UNSUPPORTED_VERSION: Case = Case {
    id: "handshake-unsupported-version",
    group: Group::Handshake,
    checks: "supported-versions \"1.0\" only: AGENT-DISCONNECT status 8",
    section: "3.2.5, 3.5",
    required: false,
    run: |s| {
        let h = HaproxyHello {
            supported_versions: "1.0".to_owned(),
            ..hello(s.haproxy)
        };
        script(s)
            .bad_hello(h.to_kv())
            .expect_refusal(Status::BAD_VERSION)
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
    let answer = match peer.handshake(&h).await {
        Ok(a) => a,
        Err(PeerError::Unexpected { got, .. }) => return Ok(Verdict::fail(got)),
        Err(e) => return Err(e),
    };
    let (frames, end) = until_closed(&mut peer, close_wait(s)).await;
    let after = match (frames.first(), end) {
        (Some(f), _) => format!("then {}", describe(f)),
        (None, Some(e)) => format!("then {e}"),
        (None, None) => "the connection stayed open (HAProxy closes it)".to_owned(),
    };
    Ok(Verdict::pass(format!("{}; {after}", summary(&answer))))
}

pub(crate) const NOTIFY_FIRST: Case = Case {
    id: "handshake-notify-first",
    group: Group::Handshake,
    checks: "a NOTIFY before any HELLO is refused: AGENT-DISCONNECT status 4 (invalid frame), no ACK",
    section: "3.2.3",
    required: false,
    run: |s| {
        let payload = super::notify_payload(&[super::message(s).arg("n", 1i64)]);
        let frame = raw_frame(spop::FrameType::NOTIFY, spop::Flags::FIN, 1, 1, &payload);
        script(s)
            .raw(frame, "NOTIFY")
            .expect_refusal(Status::INVALID_FRAME)
    },
};
