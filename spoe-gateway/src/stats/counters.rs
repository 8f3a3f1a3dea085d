//! What the gateway counts for each frontend, backend and server: HAProxy's
//! `fe_counters`, `be_counters` and server `counters`, updated where HAProxy
//! updates them (see [`super::tally`] for a request's part) and read when
//! statistics are asked for. Lock-free on the request path: atomics, and
//! compare-and-swap loops for the rates and averages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A counter's clock: milliseconds since it was made (tokio's clock, which
/// tests pause and advance).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(Instant);

impl Default for Clock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock {
    /// Milliseconds since the clock was made, plus 1 (0 means "never").
    pub(crate) fn ms(self) -> u64 {
        u64::try_from(spoe::clock::since(self.0).as_millis()).unwrap_or(u64::MAX - 1) + 1
    }
}

/// HAProxy's `TIME_STATS_SAMPLES`: the averages are over about this many
/// requests.
const SAMPLES: u64 = 1024;

/// A sliding average over the last [`SAMPLES`] values (HAProxy's
/// `swrate_add` / `swrate_avg`).
#[derive(Debug, Default)]
pub(crate) struct SlidingAverage(AtomicU64);

impl SlidingAverage {
    pub(crate) fn add(&self, v: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                Some(sum.saturating_sub(sum.div_ceil(SAMPLES)).saturating_add(v))
            });
    }

    /// The average. Before [`SAMPLES`] values it is lower than the mean of
    /// those seen, as HAProxy's is.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed).div_ceil(SAMPLES)
    }
}

/// Events per second, and the highest count seen in one (HAProxy's
/// `freq_ctr` and its `*_max` companion): periods of one second start at the
/// first event after a quiet one, as HAProxy's do, so that a burst is
/// counted whole in one period.
#[derive(Debug, Default)]
pub(crate) struct RateMax {
    clock: Clock,
    /// The current period's start (ms on the counters' clock, wrapping, high
    /// 32 bits) and its count (low 32 bits).
    current: AtomicU64,
    /// The previous period's count.
    previous: AtomicU64,
    max: AtomicU64,
}

const PERIOD_MS: u32 = 1000;

impl RateMax {
    pub(crate) fn add(&self) {
        let now = self.clock.ms() as u32;
        let mut rotated = None;
        let mut count = 0;
        let _ = self
            .current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
                let (tick, curr) = ((packed >> 32) as u32, packed & 0xffff_ffff);
                if now.wrapping_sub(tick) < PERIOD_MS {
                    rotated = None;
                    count = curr + 1;
                    return Some(packed + 1);
                }
                // The period is over: it becomes the previous one, unless
                // more than one passed.
                let mut next = tick.wrapping_add(PERIOD_MS);
                let mut previous = curr;
                if now.wrapping_sub(next) >= PERIOD_MS {
                    next = now;
                    previous = 0;
                }
                rotated = Some(previous);
                count = 1;
                Some(u64::from(next) << 32 | 1)
            });
        if let Some(previous) = rotated {
            self.previous.store(previous, Ordering::Relaxed);
        }
        self.max.fetch_max(count, Ordering::Relaxed);
    }

    /// Events over about the last second: the current period's, and the
    /// previous one's weighted by what is left of the current period.
    pub(crate) fn rate(&self) -> u64 {
        let now = self.clock.ms() as u32;
        let packed = self.current.load(Ordering::Relaxed);
        let (tick, curr) = ((packed >> 32) as u32, packed & 0xffff_ffff);
        let elapsed = u64::from(now.wrapping_sub(tick));
        let period = u64::from(PERIOD_MS);
        if elapsed >= 2 * period {
            0
        } else if elapsed >= period {
            curr * (2 * period - elapsed) / period
        } else {
            curr + self.previous.load(Ordering::Relaxed) * (period - elapsed) / period
        }
    }

    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

/// A gauge and the highest value it reached (`scur`/`smax`, `qcur`/`qmax`).
#[derive(Debug, Default)]
pub(crate) struct GaugeMax {
    cur: AtomicU64,
    max: AtomicU64,
}

impl GaugeMax {
    pub(crate) fn inc(&self) {
        let now = self.cur.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn dec(&self) {
        let _ = self
            .cur
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub(crate) fn cur(&self) -> u64 {
        self.cur.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

/// A counter of events.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A latest value in milliseconds and the highest one.
#[derive(Debug, Default)]
pub(crate) struct TimeStats {
    avg: SlidingAverage,
    max: AtomicU64,
}

impl TimeStats {
    pub(crate) fn add(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.avg.add(ms);
        self.max.fetch_max(ms, Ordering::Relaxed);
    }

    pub(crate) fn avg_ms(&self) -> u64 {
        self.avg.get()
    }

    pub(crate) fn max_ms(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

/// The last health check's result: HAProxy's check statuses for what the
/// gateway's checks do (a TCP connect: layer 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckStatus {
    /// No check has run yet.
    #[default]
    Unknown,
    /// `L4OK`: the connection was accepted.
    L4Ok,
    /// `L4TOUT`: the connection did not complete within `inter`.
    L4Timeout,
    /// `L4CON`: the connection was refused or failed (the OS error says why).
    L4Con,
    /// `SOCKERR`: no socket could be made.
    SockErr,
    /// `L6OK`: the TLS handshake succeeded (`ssl` or `check-ssl`).
    L6Ok,
    /// `L6TOUT`: the TLS handshake did not complete within `inter`.
    L6Timeout,
    /// `L6RSP`: the TLS handshake failed (the error says why).
    L6Rsp,
    /// `L7OK`: the HTTP answer passed every `http-check expect`.
    L7Ok,
    /// `L7OKC`: a 404 with `http-check disable-on-404` (the server drains).
    L7OkC,
    /// `L7STS`: the HTTP status was not the expected one.
    L7Sts,
    /// `L7RSP`: no valid HTTP answer, or its body did not match.
    L7Rsp,
    /// `L7TOUT`: connected, but no answer in time.
    L7Timeout,
}

impl CheckStatus {
    /// HAProxy's name (`check_status` in `show stat`, the `state` label of
    /// `haproxy_server_check_status`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNK",
            Self::L4Ok => "L4OK",
            Self::L4Timeout => "L4TOUT",
            Self::L4Con => "L4CON",
            Self::SockErr => "SOCKERR",
            Self::L6Ok => "L6OK",
            Self::L6Timeout => "L6TOUT",
            Self::L6Rsp => "L6RSP",
            Self::L7Ok => "L7OK",
            Self::L7OkC => "L7OKC",
            Self::L7Sts => "L7STS",
            Self::L7Rsp => "L7RSP",
            Self::L7Timeout => "L7TOUT",
        }
    }

    /// HAProxy's words for it in a health change's log line.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::L4Ok => "Layer4 check passed",
            Self::L4Timeout => "Layer4 timeout",
            Self::L4Con => "Layer4 connection problem",
            Self::SockErr => "Socket error",
            Self::L6Ok => "Layer6 check passed",
            Self::L6Timeout => "Layer6 timeout",
            Self::L6Rsp => "Layer6 invalid response",
            Self::L7Ok => "Layer7 check passed",
            Self::L7OkC => "Layer7 check conditionally passed",
            Self::L7Sts => "Layer7 wrong status",
            Self::L7Rsp => "Layer7 invalid response",
            Self::L7Timeout => "Layer7 timeout",
        }
    }

    /// Whether the check passed (fully or conditionally).
    pub const fn passed(self) -> bool {
        matches!(self, Self::L4Ok | Self::L6Ok | Self::L7Ok | Self::L7OkC)
    }
}

/// A server's or backend's UP/DOWN history: when it last changed, how often
/// it went down, how long it was down.
#[derive(Debug, Default)]
struct Transitions {
    /// When the state last changed (ms on the counters' clock).
    last_change: u64,
    /// While down: since when.
    down_since: Option<u64>,
    /// Down time of past down periods, in ms.
    downtime: u64,
}

/// The last health check of a server.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckReport {
    pub(crate) status: CheckStatus,
    pub(crate) duration_ms: u64,
    /// What the check saw (the OS error of a failed connect, the reason phrase of a wrong
    /// status).
    pub(crate) desc: String,
    /// The HTTP status of an HTTP check's answer (`check_code`).
    pub(crate) code: Option<u16>,
}

/// Every counter of one frontend, backend or server, kept by name across
/// configuration generations (HAProxy's counters live as long as its worker
/// process; the gateway's process outlives its generations). Each object
/// type uses the counters HAProxy keeps for it.
#[derive(Debug)]
pub struct Counters {
    pub(crate) sessions: GaugeMax,
    pub(crate) queue: GaugeMax,
    pub(crate) cum_sess: Count,
    pub(crate) cum_conn: Count,
    pub(crate) bytes_in: Count,
    pub(crate) bytes_out: Count,
    pub(crate) denied_req: Count,
    /// Connections closed by `tcp-request connection reject` (HAProxy's `dcon`).
    pub(crate) denied_conn: Count,
    /// `http-response deny` answers (HAProxy's `dresp`).
    pub(crate) denied_resp: Count,
    pub(crate) failed_req: Count,
    pub(crate) failed_conns: Count,
    pub(crate) failed_resp: Count,
    pub(crate) cli_aborts: Count,
    pub(crate) srv_aborts: Count,
    pub(crate) intercepted: Count,
    pub(crate) failed_rewrites: Count,
    pub(crate) internal_errors: Count,
    pub(crate) connect: Count,
    /// Requests sent to a server (the rest of those a server was chosen
    /// for failed before); those that opened no connection reused one.
    pub(crate) forwards: Count,
    pub(crate) cum_lbconn: Count,
    pub(crate) cum_req: Count,
    /// HTTP responses by class: other, 1xx, 2xx, 3xx, 4xx, 5xx (HAProxy's
    /// `rsp[0..6]`).
    pub(crate) rsp: [Count; 6],
    pub(crate) sess_rate: RateMax,
    pub(crate) req_rate: RateMax,
    pub(crate) conn_rate: RateMax,
    /// When a session last came (ms on the counters' clock; 0: never).
    pub(crate) last_sess: AtomicU64,
    pub(crate) q_time: TimeStats,
    pub(crate) c_time: TimeStats,
    pub(crate) d_time: TimeStats,
    pub(crate) t_time: TimeStats,
    pub(crate) chk_fail: Count,
    pub(crate) chk_down: Count,
    /// Connection attempts retried on the same server (`wretr`).
    pub(crate) retries: Count,
    /// Requests sent to another server after a failed connection (`wredis`).
    pub(crate) redispatches: Count,
    /// Connections open to a server (idle in a pool, or in use).
    pub(crate) conns_open: GaugeMax,
    clock: Clock,
    transitions: Mutex<Transitions>,
    check: Mutex<CheckReport>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            sessions: GaugeMax::default(),
            queue: GaugeMax::default(),
            cum_sess: Count::default(),
            cum_conn: Count::default(),
            bytes_in: Count::default(),
            bytes_out: Count::default(),
            denied_req: Count::default(),
            denied_conn: Count::default(),
            denied_resp: Count::default(),
            failed_req: Count::default(),
            failed_conns: Count::default(),
            failed_resp: Count::default(),
            cli_aborts: Count::default(),
            srv_aborts: Count::default(),
            intercepted: Count::default(),
            failed_rewrites: Count::default(),
            internal_errors: Count::default(),
            connect: Count::default(),
            forwards: Count::default(),
            cum_lbconn: Count::default(),
            cum_req: Count::default(),
            rsp: Default::default(),
            sess_rate: RateMax::default(),
            req_rate: RateMax::default(),
            conn_rate: RateMax::default(),
            last_sess: AtomicU64::new(0),
            q_time: TimeStats::default(),
            c_time: TimeStats::default(),
            d_time: TimeStats::default(),
            t_time: TimeStats::default(),
            chk_fail: Count::default(),
            chk_down: Count::default(),
            retries: Count::default(),
            redispatches: Count::default(),
            conns_open: GaugeMax::default(),
            clock: Clock::default(),
            transitions: Mutex::new(Transitions {
                last_change: 1,
                ..Transitions::default()
            }),
            check: Mutex::default(),
        }
    }
}

impl Counters {
    /// A session (HAProxy's stream) starts on this object: `stot`, the
    /// session rate and `lastsess`; `scur` until [`Counters::session_ends`].
    pub(crate) fn session_starts(&self) {
        self.cum_sess.inc();
        self.sess_rate.add();
        self.sessions.inc();
        self.last_sess.store(self.clock.ms(), Ordering::Relaxed);
    }

    pub(crate) fn session_ends(&self) {
        self.sessions.dec();
    }

    /// An HTTP response with `status` ends a request on this object; `None`
    /// when nothing was sent (`hrsp_other`, as HAProxy counts `-1`).
    pub(crate) fn response(&self, status: Option<u16>) {
        let class = match status.map(|s| s / 100) {
            Some(c @ 1..=5) => usize::from(c),
            _ => 0,
        };
        self.rsp[class].inc();
    }

    /// Seconds since a session last came; `None` when none ever did.
    pub(crate) fn last_session_age(&self) -> Option<u64> {
        match self.last_sess.load(Ordering::Relaxed) {
            0 => None,
            at => Some(self.clock.ms().saturating_sub(at) / 1000),
        }
    }

    /// Records a change to UP (`up`) or DOWN: `lastchg`, and for a change
    /// to DOWN `chkdown` and the start of a down period.
    pub(crate) fn state_changed(&self, up: bool) {
        let now = self.clock.ms();
        let mut t = self
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        t.last_change = now;
        match (up, t.down_since) {
            (false, None) => {
                self.chk_down.inc();
                t.down_since = Some(now);
            }
            (true, Some(since)) => {
                t.downtime += now.saturating_sub(since);
                t.down_since = None;
            }
            _ => {}
        }
    }

    /// Seconds since the last change of state.
    pub(crate) fn last_change_age(&self) -> u64 {
        let t = self
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.clock.ms().saturating_sub(t.last_change) / 1000
    }

    /// Seconds spent DOWN, the current down period included.
    pub(crate) fn downtime(&self) -> u64 {
        let t = self
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = t
            .down_since
            .map_or(0, |s| self.clock.ms().saturating_sub(s));
        (t.downtime + current) / 1000
    }

    /// Records a health check's result (`chkfail` is counted by the
    /// checker: HAProxy counts only the failures that lower the health).
    pub(crate) fn checked(&self, report: CheckReport) {
        *self.check.lock().unwrap_or_else(PoisonError::into_inner) = report;
    }

    /// The last health check's result.
    pub(crate) fn check(&self) -> CheckReport {
        self.check
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sliding_average_is_haproxys() {
        let a = SlidingAverage::default();
        assert_eq!(a.get(), 0);
        for _ in 0..5000 {
            a.add(10);
        }
        // Converges on the value from below, as swrate does.
        assert!((9..=10).contains(&a.get()), "{}", a.get());
        for _ in 0..10_000 {
            a.add(0);
        }
        assert_eq!(a.get(), 0);
    }

    #[test]
    fn a_gauge_remembers_its_highest_value_and_never_goes_below_zero() {
        let g = GaugeMax::default();
        g.inc();
        g.inc();
        g.dec();
        g.dec();
        g.dec();
        assert_eq!((g.cur(), g.max()), (0, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_is_per_second_and_its_maximum_stays() {
        let r = RateMax::default();
        // A burst counts whole in the period its first event starts.
        for _ in 0..6 {
            r.add();
            tokio::time::advance(Duration::from_millis(150)).await;
        }
        assert_eq!(r.max(), 6);
        // Half-way through the next period, half of the previous one counts.
        tokio::time::advance(Duration::from_millis(1000 + 500 - 900)).await;
        r.add();
        // This one, and (about) half of the 6 before.
        assert!((1 + 2..=1 + 3).contains(&r.rate()), "{}", r.rate());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!((r.rate(), r.max()), (0, 6));
    }

    #[tokio::test(start_paused = true)]
    async fn downtime_and_state_changes_are_counted() {
        let c = Counters::default();
        c.state_changed(false);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!((c.downtime(), c.chk_down.get()), (3, 1));
        c.state_changed(true);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!((c.downtime(), c.last_change_age()), (3, 2));
    }
}
