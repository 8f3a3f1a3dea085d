//! The time of a task's turn: one clock read per poll of a task, shared by
//! everything that poll does.
//!
//! HAProxy reads the clock once per turn of its event loop and stamps
//! everything that turn does with it (`now_ms`): the SPOE message's queue,
//! wait and processing times, the log line's timers, the deadlines it sets.
//! Without this the gateway read the clock about 16 times per request
//! (bench/README.md, "Session 8: HTTP/1 user time"), each a vDSO call.
//!
//! A task's future wrapped in [`Stamped`] opens a turn at each poll; the
//! first [`now`] of the turn reads tokio's clock (so that tests that pause
//! and advance it see their time) and the later ones return that reading,
//! until the poll returns. Outside a stamped poll, [`now`] reads the clock
//! each time. A poll lasts microseconds, so a time taken from its turn is
//! that much early at most: a deadline set from it can only come sooner,
//! never later, and a duration within one turn is zero, as HAProxy's.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// Where the current thread is: in no stamped poll, or in one, its clock read
/// or not yet.
#[derive(Debug, Clone, Copy)]
enum Turn {
    Outside,
    Unread,
    Read(Instant),
}

thread_local! {
    static TURN: Cell<Turn> = const { Cell::new(Turn::Outside) };
}

/// The time of the current turn (see the module's documentation): tokio's
/// clock, read at most once per poll of a [`Stamped`] future.
#[must_use]
pub fn now() -> Instant {
    TURN.try_with(|turn| match turn.get() {
        Turn::Read(at) => at,
        Turn::Unread => {
            let at = Instant::now();
            turn.set(Turn::Read(at));
            at
        }
        Turn::Outside => Instant::now(),
    })
    // The thread is ending (its locals are gone): read the clock.
    .unwrap_or_else(|_| Instant::now())
}

/// The time from `since` to the current turn's [`now`] (zero if `since` is
/// later).
#[must_use]
pub fn since(since: Instant) -> Duration {
    now().saturating_duration_since(since)
}

pin_project_lite::pin_project! {
    /// A future whose every poll is a turn: [`now`] within it reads the
    /// clock once. Made with [`stamped`]; as large as the future it wraps.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Stamped<F> {
        #[pin]
        inner: F,
    }
}

/// Wraps `future` (a task's whole future) so that each of its polls reads
/// the clock at most once.
pub fn stamped<F: Future>(future: F) -> Stamped<F> {
    Stamped { inner: future }
}

/// Puts the thread's turn back as it was when dropped: after the poll, also
/// when it panics (tokio catches a task's panic and goes on polling other
/// tasks on this thread, which must not see this turn's time).
struct Restore(Turn);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = TURN.try_with(|turn| turn.set(self.0));
    }
}

impl<F: Future> Future for Stamped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _restore = Restore(
            TURN.try_with(|turn| turn.replace(Turn::Unread))
                .unwrap_or(Turn::Outside),
        );
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_turn_reads_the_clock_once_and_outside_each_time() {
        let (a, b) = stamped(async {
            let a = now();
            // The clock moves on; the turn's time does not.
            while Instant::now() == a {
                std::hint::spin_loop();
            }
            (a, now())
        })
        .await;
        assert_eq!(a, b);
        // Outside a stamped poll the clock is read each time.
        let before = now();
        while Instant::now() == before {
            std::hint::spin_loop();
        }
        assert!(now() > before);
    }

    #[tokio::test(start_paused = true)]
    async fn each_poll_is_a_new_turn() {
        let (a, b) = stamped(async {
            let a = now();
            // Sleeping returns Pending: the next poll is another turn.
            tokio::time::sleep(Duration::from_millis(7)).await;
            (a, now())
        })
        .await;
        assert_eq!(b - a, Duration::from_millis(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_nested_turn_gives_the_outer_one_back() {
        let outer = stamped(async {
            let a = now();
            let inner = stamped(async { now() }).await;
            (a, inner, now())
        })
        .await;
        assert_eq!(outer.0, outer.1);
        assert_eq!(outer.0, outer.2);
    }

    #[test]
    fn a_panicking_poll_ends_its_turn() {
        let polled = std::panic::catch_unwind(|| {
            futures_util::FutureExt::now_or_never(stamped(async {
                let _ = now();
                panic!("in the turn");
            }))
        });
        assert!(polled.is_err());
        assert!(matches!(TURN.with(Cell::get), Turn::Outside));
    }
}
