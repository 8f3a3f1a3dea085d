//! Events per second over a sliding one-second window, estimated the way
//! HAProxy's `freq_ctr` does: the current period's count plus the previous
//! period's, weighted by how much of it still overlaps the window.

use std::time::Duration;

use tokio::time::Instant;

const PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct RateCounter {
    period_start: Instant,
    current: u64,
    previous: u64,
}

impl RateCounter {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            period_start: now,
            current: 0,
            previous: 0,
        }
    }

    fn rotate(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.period_start);
        if elapsed >= PERIOD * 2 {
            self.previous = 0;
            self.current = 0;
            self.period_start = now;
        } else if elapsed >= PERIOD {
            self.previous = self.current;
            self.current = 0;
            self.period_start += PERIOD;
        }
    }

    pub(crate) fn add(&mut self, now: Instant) {
        self.rotate(now);
        self.current = self.current.saturating_add(1);
    }

    /// Estimated events in the last second.
    pub(crate) fn rate(&mut self, now: Instant) -> u64 {
        self.rotate(now);
        let into = now
            .saturating_duration_since(self.period_start)
            .as_secs_f64()
            .min(1.0);
        self.current + (self.previous as f64 * (1.0 - into)).round() as u64
    }

    /// When the rate will next drop below `max` if nothing else happens (at
    /// the latest when the window has slid past every recorded event).
    pub(crate) fn next_room(&self) -> Instant {
        self.period_start + PERIOD
    }
}

/// At most one log line per `interval`; counts the lines held back so that
/// the next one written can say how many there were.
#[derive(Debug, Clone)]
pub(crate) struct LogLimiter {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be written now (`n` lines were held back
    /// since the previous one), `None` when this one is held back.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|t| now < t + self.interval) {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_interval_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(Duration::from_secs(10));
        assert_eq!(l.admit(t0), Some(0));
        for ms in [1, 500, 9_999] {
            assert_eq!(l.admit(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(l.admit(t0 + Duration::from_secs(10)), Some(3));
        assert_eq!(l.admit(t0 + Duration::from_secs(11)), None);
        assert_eq!(l.admit(t0 + Duration::from_secs(60)), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn window_slides() {
        let t0 = Instant::now();
        let mut r = RateCounter::new(t0);
        for _ in 0..10 {
            r.add(t0);
        }
        assert_eq!(r.rate(t0), 10);
        assert_eq!(
            r.rate(t0 + Duration::from_millis(1500)),
            5,
            "half of the previous second still counts"
        );
        assert_eq!(r.rate(t0 + Duration::from_millis(2500)), 0);
    }
}
