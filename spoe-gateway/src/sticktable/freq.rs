//! HAProxy's rate counters (`struct freq_ctr`, `src/freq_ctr.c`): the events of the current
//! period and of the one before, read as a sliding window of one period. Time is a tick in
//! milliseconds that wraps as HAProxy's `now_ms` does; the caller passes it in.

/// A rate over a period: `http_req_rate(10s)` and the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FreqCtr {
    /// When the current period started (even: HAProxy keeps bit 0 as a lock).
    tick: u32,
    curr: u32,
    prev: u32,
}

impl FreqCtr {
    /// Counts `inc` events at `now` (`update_freq_ctr_period()`): the period rotates when
    /// it is over, and both are forgotten after two.
    pub(crate) fn add(&mut self, now: u32, period: u32, inc: u32) {
        if now.wrapping_sub(self.tick) < period {
            self.curr = self.curr.wrapping_add(inc);
            return;
        }
        self.prev = self.curr;
        self.curr = inc;
        let mut tick = self.tick.wrapping_add(period);
        if now.wrapping_sub(tick) >= period {
            // At least two periods were missed.
            self.prev = 0;
            tick = now;
        }
        self.tick = tick & !1;
    }

    /// The events over the last `period` at `now` (`read_freq_ctr_period()`): the current
    /// period's, plus the share of the previous one that the window still covers.
    pub(crate) fn read(&self, now: u32, period: u32) -> u32 {
        if period == 0 {
            return 0;
        }
        let (mut curr, mut past) = (u64::from(self.curr), u64::from(self.prev));
        let period64 = i64::from(period);
        let mut remain = i64::from(self.tick.wrapping_add(period).wrapping_sub(now) as i32);
        if remain < 0 {
            // Past the current period: part of it may still be in the window.
            remain += period64;
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        // HAProxy's flapping correction at very low rates.
        if curr == 0 && past <= 1 {
            return past as u32;
        }
        let total = past * remain.max(0) as u64 + curr * u64::from(period);
        (total / u64::from(period)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::FreqCtr;

    const P: u32 = 10_000;

    #[test]
    fn sliding_window_of_one_period() {
        let start = 1_000_000;
        let mut f = FreqCtr::default();
        for _ in 0..10 {
            f.add(start, P, 1);
        }
        assert_eq!(f.read(start, P), 10);
        // Half way through the next period, half of the previous one still counts.
        assert_eq!(f.read(start + P + P / 2, P), 5);
        f.add(start + P + P / 2, P, 4);
        assert_eq!(f.read(start + P + P / 2, P), 9);
        // Two periods later everything is forgotten.
        assert_eq!(f.read(start + 3 * P + 1, P), 0);
        f.add(start + 5 * P, P, 1);
        assert_eq!(f.read(start + 5 * P, P), 1);
    }

    #[test]
    fn low_rates_do_not_flap() {
        let mut f = FreqCtr::default();
        f.add(50_000, P, 1);
        assert_eq!(f.read(50_000 + P + 9_000, P), 1);
    }

    #[test]
    fn wraps_with_the_clock() {
        let mut f = FreqCtr::default();
        let near = u32::MAX - 1_000;
        f.add(near, P, 3);
        assert_eq!(f.read(near.wrapping_add(2_000), P), 3);
        f.add(near.wrapping_add(2_000), P, 2);
        assert_eq!(f.read(near.wrapping_add(2_000), P), 5);
    }
}
