//! At most one log line per interval for a repeated event, and the count
//! of the lines left out, said when the interval ends.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::instrument::WithSubscriber as _;

/// Admits one event per `interval`. The others are counted, and the count
/// is logged (one WARN line naming what was left out) when the interval
/// ends, whether or not another event comes; without a tokio runtime, the
/// next admitted line reports it instead. Shared between tasks (a short
/// lock, taken only when the event happens).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::LazyLock;
/// use std::time::Duration;
/// use spoa::LogLimiter;
///
/// static FAILURES: LazyLock<LogLimiter> =
///     LazyLock::new(|| LogLimiter::named(Duration::from_secs(10), "backend failed"));
/// if let Some(suppressed) = FAILURES.admit() {
///     tracing::warn!(suppressed, "backend failed");
/// }
/// // A second line within 10 s is counted, not written: at the end of the
/// // 10 s, one line says "backend failed: 1 more in the last 10s, not logged
/// // one by one".
/// assert_eq!(FAILURES.admit(), None);
/// # }
/// ```
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    what: Cow<'static, str>,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// When the next line may be written; `None` before the first.
    next: Option<Instant>,
    suppressed: u64,
    /// The task that logs the count when the interval ends.
    flush: Option<JoinHandle<()>>,
}

impl LogLimiter {
    /// At most one line per `interval`, for events of any kind.
    pub fn new(interval: Duration) -> Self {
        Self::named(interval, "repeated event")
    }

    /// At most one line per `interval`; the count of the lines left out is
    /// logged as `{what}: N more in the last {interval}`.
    pub fn named(interval: Duration, what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            interval,
            what: what.into(),
            state: Arc::default(),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being the number of
    /// events left out since the previous line and not yet reported; `None`
    /// (and the event counted) otherwise.
    pub fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        // A panic elsewhere while holding the lock leaves a consistent state.
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match s.next {
            Some(next) if now < next => {
                s.suppressed += 1;
                if s.flush.is_none() {
                    s.flush = self.schedule_flush(next);
                }
                None
            }
            _ => {
                s.next = Some(now + self.interval);
                Some(std::mem::take(&mut s.suppressed))
            }
        }
    }

    /// A task that logs the count at `at`, the end of the interval, on the
    /// caller's runtime and with its subscriber; `None` outside a runtime.
    fn schedule_flush(&self, at: Instant) -> Option<JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let state = self.state.clone();
        let (what, interval) = (self.what.clone(), self.interval);
        let flush = async move {
            tokio::time::sleep_until(at).await;
            let n = {
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                s.flush = None;
                std::mem::take(&mut s.suppressed)
            };
            report(&what, n, interval);
        };
        // Owned: the handle is kept in the state and aborted on drop.
        Some(runtime.spawn(flush.with_current_subscriber()))
    }
}

fn report(what: &str, n: u64, interval: Duration) {
    if n > 0 {
        tracing::warn!(
            suppressed = n,
            "{what}: {n} more in the last {interval:?}, not logged one by one"
        );
    }
}

impl Drop for LogLimiter {
    /// Says the count left out that no interval's end reported yet.
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = s.flush.take() {
            task.abort();
        }
        report(&self.what, std::mem::take(&mut s.suppressed), self.interval);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// The tests of this module one at a time: tracing's callsite interest and level hint are
    /// process-wide, so a test's thread-local subscriber set or dropped while another test logs
    /// can leave that test's event unseen (it failed so under the whole suite's load).
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// Log lines written, as text.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Lines {
        /// The lines logged on this thread until the guard drops.
        fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
            let lines = Self::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(lines.clone())
                .with_ansi(false)
                .finish();
            (lines, tracing::subscriber::set_default(subscriber))
        }

        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_line_per_interval_with_the_count_left_out() {
        let _serial = SERIAL.lock().await;
        let l = LogLimiter::new(Duration::from_secs(10));
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        assert_eq!(l.admit(), None);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(l.admit(), None);
        // The end of the interval reported the 3, whether or not another
        // event comes: the next line does not count them again.
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        tokio::time::advance(Duration::from_secs(60)).await;
        tokio::task::yield_now().await;
        assert_eq!(l.admit(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_count_is_logged_when_the_interval_ends_without_another_event() {
        let _serial = SERIAL.lock().await;
        let (lines, _guard) = Lines::capture();
        let l = LogLimiter::named(Duration::from_secs(5), "verdict not delivered");
        assert_eq!(l.admit(), Some(0));
        for _ in 0..61_003 {
            assert_eq!(l.admit(), None);
        }
        tokio::time::advance(Duration::from_secs(4)).await;
        tokio::task::yield_now().await;
        assert_eq!(lines.text(), "", "nothing before the interval ends");
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
        let text = lines.text();
        assert!(
            text.contains("verdict not delivered: 61003 more in the last 5s")
                && text.contains("suppressed=61003"),
            "{text}"
        );
        // Counted once: a quiet interval says nothing more.
        tokio::time::advance(Duration::from_secs(30)).await;
        tokio::task::yield_now().await;
        assert_eq!(lines.text().lines().count(), 1, "{}", lines.text());
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_limiter_says_what_is_still_counted() {
        let _serial = SERIAL.lock().await;
        let (lines, _guard) = Lines::capture();
        let l = LogLimiter::named(Duration::from_secs(5), "refused");
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        drop(l);
        assert!(lines.text().contains("refused: 1 more"), "{}", lines.text());
    }

    #[test]
    fn without_a_runtime_the_next_line_reports_the_count() {
        let _serial = SERIAL.blocking_lock();
        let l = LogLimiter::new(Duration::ZERO);
        assert_eq!(l.admit(), Some(0));
        let l = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        assert_eq!(l.admit(), None);
        // Still counted (reported on drop).
        assert_eq!(l.state.lock().unwrap().suppressed, 2);
    }
}
