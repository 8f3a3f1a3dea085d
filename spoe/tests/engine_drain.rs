//! `Engine::drain` is a flag, not a message: it cannot be lost.

use std::time::Duration;

use futures_util::FutureExt;
use spoe::{Engine, EngineSettings};
use spop::Message;

/// On a current-thread runtime the dispatcher does not run until the test
/// yields, so one message fills a queue of one; the drain asked for then
/// must still happen (it used to be a queued command, dropped when full).
#[tokio::test(start_paused = true)]
async fn a_drain_is_not_lost_when_the_queue_is_full() {
    let mut s = EngineSettings::new("agent", Vec::new(), Duration::from_secs(1));
    s.max_queue = 1;
    let engine = Engine::start(s);
    let msg = [Message::new("m").arg("a", 1i64)];
    // Polled once: queued, then given up (its caller went away).
    assert!(engine.process(&msg).now_or_never().is_none());
    engine.drain();
    tokio::time::timeout(Duration::from_secs(60), engine.drained())
        .await
        .expect("the drain asked for while the queue was full never happened");
    assert_eq!(engine.stats().connections(), 0);
}
