//! At most one log line per interval for a repeated event, with the count
//! of the lines left out.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Admits one event per `interval`; the others are counted, and the next
/// admitted line reports how many were left out. Shared between tasks
/// (a short lock, taken only when the event happens).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use spoa::LogLimiter;
///
/// static FAILURES: LogLimiter = LogLimiter::new(Duration::from_secs(10));
/// if let Some(suppressed) = FAILURES.admit() {
///     tracing::warn!(suppressed, "backend failed");
/// }
/// assert_eq!(FAILURES.admit(), None, "a second line within 10 s is counted, not written");
/// # }
/// ```
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the next line may be written; `None` before the first.
    next: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// At most one line per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State {
                next: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being the number of
    /// events left out since the previous line; `None` (and the event
    /// counted) otherwise.
    pub fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        // A panic elsewhere while holding the lock leaves a consistent state.
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match s.next {
            Some(next) if now < next => {
                s.suppressed += 1;
                None
            }
            _ => {
                s.next = Some(now + self.interval);
                Some(std::mem::take(&mut s.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_interval_with_the_count_left_out() {
        let l = LogLimiter::new(Duration::from_secs(10));
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        assert_eq!(l.admit(), None);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(l.admit(), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(l.admit(), Some(3));
        assert_eq!(l.admit(), None);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(l.admit(), Some(1));
    }
}
