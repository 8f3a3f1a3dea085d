//! Accept rates, counted and bounded as HAProxy 2.6 does in `listener_accept()` (`src/listener.c`)
//! with its frequency counters (`src/freq_ctr.c`): `maxconnrate` and `maxsessrate` for the
//! process, `maxsslrate` for TLS listeners, `rate-limit sessions` for a frontend. The rate is the
//! current second's count plus the previous second's, weighted by what is left of the current
//! one; a listener whose rate reached its bound accepts nothing until it falls below, and the
//! connections wait in the listen backlog meanwhile, as in HAProxy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::model::GatewayConfig;

const PERIOD: Duration = Duration::from_secs(1);

/// Events of the current and the previous second.
#[derive(Debug)]
struct Window {
    start: Instant,
    curr: u64,
    prev: u64,
}

impl Window {
    /// Moves the window to the second `now` is in.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < PERIOD {
            return;
        }
        self.prev = if elapsed < 2 * PERIOD { self.curr } else { 0 };
        self.curr = 0;
        let periods = elapsed.as_nanos() / PERIOD.as_nanos();
        self.start += PERIOD * u32::try_from(periods).unwrap_or(u32::MAX);
    }

    /// How long until the rate is below `max`, at `now` (zero: it is).
    fn wait(&self, max: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.start).min(PERIOD);
        let left = PERIOD - elapsed;
        // curr + prev * left / PERIOD < max
        let weighted = u128::from(self.prev) * left.as_nanos() / PERIOD.as_nanos();
        if u128::from(self.curr) + weighted < u128::from(max) {
            return Duration::ZERO;
        }
        if self.curr >= max {
            // Not before the next second, when this one's count starts to fade.
            let fade = PERIOD.mul_f64(1.0 - max as f64 / self.curr.max(1) as f64);
            return left + fade.max(Duration::from_millis(1));
        }
        // prev * left' / PERIOD < max - curr
        let room = (max - self.curr) as f64 / self.prev as f64;
        let target = PERIOD.mul_f64(room.min(1.0));
        left.saturating_sub(target).max(Duration::from_millis(1))
    }
}

/// One accept rate and its bound (0: none).
#[derive(Debug)]
pub(crate) struct Rate {
    max: std::sync::atomic::AtomicU64,
    window: Mutex<Window>,
}

impl Default for Rate {
    fn default() -> Self {
        Self {
            max: std::sync::atomic::AtomicU64::new(0),
            window: Mutex::new(Window {
                start: Instant::now(),
                curr: 0,
                prev: 0,
            }),
        }
    }
}

impl Rate {
    fn set_max(&self, max: u64) {
        self.max.store(max, std::sync::atomic::Ordering::Relaxed);
    }

    fn bounded(&self) -> Option<u64> {
        Some(self.max.load(std::sync::atomic::Ordering::Relaxed)).filter(|m| *m > 0)
    }

    /// How long until one more event is within the bound (zero: now).
    pub(crate) fn wait(&self) -> Duration {
        let Some(max) = self.bounded() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        w.roll(now);
        w.wait(max, now)
    }

    /// Counts one event.
    pub(crate) fn count(&self) {
        if self.bounded().is_none() {
            return;
        }
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        w.roll(now);
        w.curr += 1;
    }
}

/// Every accept rate, kept across reloads (a frontend's by name).
#[derive(Debug, Default)]
pub(crate) struct AcceptRates {
    /// `maxconnrate`.
    conns: Arc<Rate>,
    /// `maxsessrate`.
    sessions: Arc<Rate>,
    /// `maxsslrate`.
    tls: Arc<Rate>,
    /// `rate-limit sessions`, by frontend.
    frontends: Mutex<HashMap<String, Arc<Rate>>>,
}

/// The rates one listener's accepts count in.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListenerRates(Vec<Arc<Rate>>);

impl ListenerRates {
    /// How long until each rate has room for one more (zero: now).
    pub(crate) fn wait(&self) -> Duration {
        self.0
            .iter()
            .map(|r| r.wait())
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Counts an accepted connection.
    pub(crate) fn count(&self) {
        for r in &self.0 {
            r.count();
        }
    }
}

impl AcceptRates {
    /// The bounds `config` sets (at start, and on each reload).
    pub(crate) fn configure(&self, config: &GatewayConfig) {
        let g = &config.global;
        self.conns.set_max(g.max_conn_rate);
        self.sessions.set_max(g.max_sess_rate);
        self.tls.set_max(g.max_ssl_rate);
        let mut frontends = self
            .frontends
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        frontends.retain(|name, _| config.frontends.iter().any(|f| &f.name == name));
        for f in &config.frontends {
            frontends
                .entry(f.name.clone())
                .or_default()
                .set_max(f.sess_rate);
        }
    }

    /// The rates an accept on a listener of frontend `name` counts in (`tls`: a TLS listener).
    pub(crate) fn of(&self, name: Option<&str>, tls: bool) -> ListenerRates {
        let mut rates = Vec::new();
        for r in [&self.conns, &self.sessions] {
            if r.bounded().is_some() {
                rates.push(r.clone());
            }
        }
        if tls && self.tls.bounded().is_some() {
            rates.push(self.tls.clone());
        }
        if let Some(name) = name
            && let Some(r) = self
                .frontends
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(name)
            && r.bounded().is_some()
        {
            rates.push(r.clone());
        }
        ListenerRates(rates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `rate` lets through in `span`, each taken as soon as allowed.
    async fn accepted_within(rate: &Rate, span: Duration) -> u64 {
        let end = Instant::now() + span;
        let mut n = 0;
        loop {
            let wait = rate.wait();
            if Instant::now() + wait >= end {
                return n;
            }
            tokio::time::sleep(wait).await;
            rate.count();
            n += 1;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_bound_of_ten_lets_ten_a_second_through() {
        let rate = Rate::default();
        rate.set_max(10);
        // The first second: ten at once, then nothing.
        assert_eq!(accepted_within(&rate, Duration::from_millis(999)).await, 10);
        // Over the next ten seconds, about as many as the bound allows, spread out (a little
        // under: the sliding estimate must stay below the bound, as HAProxy's).
        let n = accepted_within(&rate, Duration::from_secs(10)).await;
        assert!((85..=100).contains(&n), "{n}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_bound_no_wait() {
        let rate = Rate::default();
        for _ in 0..1000 {
            assert_eq!(rate.wait(), Duration::ZERO);
            rate.count();
        }
    }
}
