//! `spoe bench --rate`: when each message is due, and a thread that wakes on
//! time to say so.
//!
//! tokio's timer has millisecond granularity: a sender woken by it starts
//! messages up to 1 ms late, and at 1000 messages/s that lateness would be
//! counted as the agent's latency. The pacer sleeps on an OS thread instead
//! (nanosleep, tens of microseconds of slack), and the schedule is computed
//! from the message's index alone, so a late wake-up never shifts the next
//! sends. What lateness remains is measured per message and reported apart.

use std::io;
use std::thread;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// Message `i` is due at `start + i / rate` seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    start: Instant,
    rate: u64,
}

impl Schedule {
    /// `rate` messages per second from `start` (`rate` at least 1).
    pub(crate) fn new(start: Instant, rate: u64) -> Self {
        Self {
            start,
            rate: rate.max(1),
        }
    }

    /// When message `i` is due: exact integer nanoseconds, no accumulated
    /// rounding and no dependence on when earlier messages went out.
    pub(crate) fn at(&self, i: u64) -> Instant {
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.rate);
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The thread that sends each due time down a channel, on time.
#[derive(Debug)]
pub(crate) struct Pacer {
    thread: thread::JoinHandle<()>,
}

impl Pacer {
    /// Starts sending `schedule`'s due times to `due` while `take()` allows
    /// one more message. Ends when `take()` refuses or the receiver is gone.
    pub(crate) fn start(
        schedule: Schedule,
        due: UnboundedSender<Instant>,
        take: impl Fn() -> bool + Send + 'static,
    ) -> io::Result<Self> {
        let thread = thread::Builder::new()
            .name("spoe-bench-pacer".into())
            .spawn(move || {
                let mut i = 0u64;
                loop {
                    let at = schedule.at(i);
                    let now = Instant::now();
                    if at > now {
                        thread::sleep(at - now);
                    }
                    if !take() || due.send(at).is_err() {
                        break;
                    }
                    i = i.saturating_add(1);
                }
            })?;
        Ok(Self { thread })
    }

    /// Waits for the thread to end.
    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_come_from_the_index_alone() {
        let start = Instant::now();
        let s = Schedule::new(start, 3);
        assert_eq!(s.at(0), start);
        assert_eq!(s.at(1) - start, Duration::from_nanos(333_333_333));
        assert_eq!(s.at(2) - start, Duration::from_nanos(666_666_666));
        // No drift: the 3rd interval lands on the second exactly.
        assert_eq!(s.at(3) - start, Duration::from_secs(1));
        assert_eq!(s.at(3_000_000) - start, Duration::from_secs(1_000_000));
        let fast = Schedule::new(start, 1000);
        assert_eq!(fast.at(1) - start, Duration::from_micros(1000));
        assert_eq!(fast.at(1500) - start, Duration::from_millis(1500));
    }

    #[test]
    fn the_pacer_sends_every_due_time_in_order_and_stops_when_told() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let left = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(5));
        let take = {
            move || {
                left.fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            }
        };
        let schedule = Schedule::new(Instant::now(), 10_000);
        Pacer::start(schedule, tx, take).unwrap().join();
        let mut got = Vec::new();
        while let Ok(at) = rx.try_recv() {
            got.push(at);
        }
        let expected: Vec<Instant> = (0..5).map(|i| schedule.at(i)).collect();
        assert_eq!(got, expected);
    }
}
