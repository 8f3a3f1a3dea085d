//! ACK latency, and reading while handlers run.

use tokio::time::Instant;

use super::{connected, hello, message};
use crate::case::{Case, Group, Verdict};
use crate::peer::Peer;
use crate::settings::Settings;

pub(crate) const HELLO_BUDGET: Case = Case {
    id: "timing-hello-budget",
    group: Group::Timing,
    checks: "AGENT-HELLO comes within the ACK budget (--budget; HAProxy's `timeout hello`)",
    section: "2.2 (timeout hello)",
    required: true,
    run: |s| {
        Box::pin(async move {
            let mut peer = Peer::connect(&s.target).await?;
            let t0 = Instant::now();
            peer.handshake(&hello(s.haproxy)).await?;
            Ok(within(s, "AGENT-HELLO", t0.elapsed()))
        })
    },
};

fn within(s: &Settings, what: &str, took: std::time::Duration) -> Verdict {
    let text = format!(
        "{what} after {:.3} ms (budget {} ms)",
        took.as_secs_f64() * 1000.0,
        s.ack_budget.as_millis()
    );
    if took <= s.ack_budget {
        Verdict::pass(text)
    } else {
        Verdict::fail(text)
    }
}

pub(crate) const ACK_BUDGET: Case = Case {
    id: "timing-ack-budget",
    group: Group::Timing,
    checks: "an ACK comes within the ACK budget (--budget; HAProxy's `timeout processing`)",
    section: "2.2 (timeout processing), 3.5",
    required: true,
    run: |s| {
        Box::pin(async move {
            let (mut peer, _) = connected(s).await?;
            let t0 = Instant::now();
            peer.notify(1, 1, vec![message(s).arg("a", 1i64)]).await?;
            Ok(within(s, "the ACK", t0.elapsed()))
        })
    },
};

pub(crate) const KEEPS_READING: Case = Case {
    id: "timing-keeps-reading",
    group: Group::Timing,
    checks: "with pipelining, 20 NOTIFY in flight are handled side by side: all 20 ACKs within the budget, not 20 handler times end to end",
    section: "3.2.1",
    required: false,
    run: |s| {
        Box::pin(async move {
            let (mut peer, answer) = connected(s).await?;
            if !answer.capabilities.pipelining {
                return Ok(Verdict::skip("the agent does not announce pipelining"));
            }
            let t0 = Instant::now();
            peer.notify(1, 1, vec![message(s).arg("a", 1i64)]).await?;
            let one = t0.elapsed();
            let t1 = Instant::now();
            super::pipelining::burst(&mut peer, s, 200, 20).await?;
            let twenty = t1.elapsed();
            let text = format!(
                "20 pipelined ACKs in {:.3} ms; one alone took {:.3} ms",
                twenty.as_secs_f64() * 1000.0,
                one.as_secs_f64() * 1000.0
            );
            Ok(if twenty <= s.ack_budget {
                Verdict::pass(text)
            } else {
                Verdict::fail(format!(
                    "{text}: beyond the {} ms budget",
                    s.ack_budget.as_millis()
                ))
            })
        })
    },
};
