//! Lua failures made visible: every one counted by what failed and why (the host exports the
//! counts), and a log line in HAProxy's words (`Lua function 'NAME': execution timeout.`), at
//! most one per kind of message per second with the count of those left out, written where
//! HAProxy writes it: the log of the proxy running the transaction (`SEND_ERR(px, ...)`), the
//! global log for tasks, and the process's stderr.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::exec::ExecError;
use crate::host::TxnView;

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An action (`http-request lua.NAME`...).
    Action,
    /// A sample fetch (`lua.NAME` in an expression).
    Fetch,
    /// A converter (`,lua.NAME`).
    Converter,
    /// An HTTP service (`use-service lua.NAME`).
    Service,
    /// A task (`core.register_task`).
    Task,
}

/// Why it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// A Lua error (`error()`, a nil indexed, a bad argument...).
    Runtime,
    /// The call ran past its timeout (`tune.lua.session-timeout`...).
    Timeout,
    /// The state's memory limit (`tune.lua.maxmem`).
    Memory,
    /// A yield where none is allowed, a registered name missing, a service that never
    /// answered.
    Other,
}

impl ErrorKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Action,
        Self::Fetch,
        Self::Converter,
        Self::Service,
        Self::Task,
    ];

    /// Its name as a metric label (`action`, `sample-fetch`...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Fetch => "sample-fetch",
            Self::Converter => "converter",
            Self::Service => "service",
            Self::Task => "task",
        }
    }
}

impl ErrorReason {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Runtime, Self::Timeout, Self::Memory, Self::Other];

    /// Its name as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::Runtime => "runtime",
            Self::Timeout => "timeout",
            Self::Memory => "memory",
            Self::Other => "other",
        }
    }

    pub(crate) fn of(e: &ExecError) -> Self {
        match e {
            ExecError::Runtime(_) => Self::Runtime,
            ExecError::Timeout => Self::Timeout,
            ExecError::NoMem => Self::Memory,
            ExecError::Yield => Self::Other,
        }
    }
}

/// Lua failures by kind and reason. The host keeps one for the whole process (a counter
/// must not go back when a reload starts a new configuration) and exports it.
#[derive(Debug, Default)]
pub struct ErrorCounts {
    counts: [[AtomicU64; 4]; 5],
}

impl ErrorCounts {
    /// Failures of `kind` for `reason` so far.
    pub fn get(&self, kind: ErrorKind, reason: ErrorReason) -> u64 {
        self.counts[kind as usize][reason as usize].load(Ordering::Relaxed)
    }

    /// All failures so far.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .flatten()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    fn add(&self, kind: ErrorKind, reason: ErrorReason) {
        self.counts[kind as usize][reason as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// A line that no transaction carries (a task's failure): HAProxy sends it to the global
/// `log` lines.
pub type GlobalLog = Arc<dyn Fn(&str) + Send + Sync>;

/// Where a started configuration's Lua reports its failures.
#[derive(Clone, Default)]
pub struct Reporting {
    /// The counters.
    pub counts: Arc<ErrorCounts>,
    /// Where the lines of failures outside a transaction go, besides stderr.
    pub global_log: Option<GlobalLog>,
}

impl std::fmt::Debug for Reporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporting")
            .field("counts", &self.counts)
            .field("global_log", &self.global_log.is_some())
            .finish()
    }
}

/// How often one kind of line is written at most.
const EVERY: Duration = Duration::from_secs(1);

/// The lines written at most once per [`EVERY`] each; more keys than this and the oldest
/// are forgotten (a script whose messages all differ cannot grow the table without bound).
const MAX_KEYS: usize = 1024;

/// Counts and rate-limits the failures of one started configuration.
#[derive(Debug, Default)]
pub(crate) struct ErrorLog {
    reporting: Reporting,
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl ErrorLog {
    pub(crate) fn new(reporting: Reporting) -> Self {
        Self {
            reporting,
            last: Mutex::default(),
        }
    }

    /// Counts a failure; returns the line to write now (`None`: one like it was written less
    /// than a second ago), ending with how many like it were left out since the last one.
    fn admit(&self, kind: ErrorKind, reason: ErrorReason, line: &str) -> Option<String> {
        self.reporting.counts.add(kind, reason);
        // The message's head is the key: failures of one call site share it.
        let key: String = line.chars().take(80).collect();
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() >= MAX_KEYS && !last.contains_key(&key) {
            last.retain(|_, (at, _)| now.duration_since(*at) < EVERY);
            if last.len() >= MAX_KEYS {
                return None;
            }
        }
        let entry = last.entry(key).or_insert((now, 0));
        if entry.1 > 0 && now.duration_since(entry.0) < EVERY {
            entry.1 += 1;
            return None;
        }
        let skipped = entry.1.saturating_sub(1);
        *entry = (now, 1);
        Some(if skipped > 0 {
            format!("{line}. ({skipped} similar lines left out)")
        } else {
            format!("{line}.")
        })
    }

    /// Counts a failure and writes its line to stderr and to the transaction's proxy log
    /// (`txn`), or to the global log without one.
    pub(crate) fn report(
        &self,
        kind: ErrorKind,
        reason: ErrorReason,
        line: &str,
        txn: Option<&dyn TxnView>,
    ) {
        match txn {
            Some(txn) => self.report_to(kind, reason, line, Some(&|l: &str| txn.log_error(l))),
            None => self.report_to(kind, reason, line, None),
        }
    }

    /// [`report`](Self::report), the proxy's log being `log`.
    pub(crate) fn report_to(
        &self,
        kind: ErrorKind,
        reason: ErrorReason,
        line: &str,
        log: Option<&dyn Fn(&str)>,
    ) {
        let Some(line) = self.admit(kind, reason, line) else {
            return;
        };
        tracing::error!(target: "spoe::lua", "{line}");
        match (log, &self.reporting.global_log) {
            (Some(log), _) => log(&line),
            (None, Some(global)) => global(&line),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_second_per_message_with_the_count_left_out() {
        let log = ErrorLog::default();
        let (k, r) = (ErrorKind::Action, ErrorReason::Timeout);
        let line = "Lua function 'spin': execution timeout";
        assert_eq!(
            log.admit(k, r, line).as_deref(),
            Some("Lua function 'spin': execution timeout.")
        );
        assert_eq!(log.admit(k, r, line), None);
        assert_eq!(log.admit(k, r, line), None);
        // Another message is not held back by the first.
        assert!(
            log.admit(
                ErrorKind::Fetch,
                ErrorReason::Runtime,
                "Lua sample-fetch 'f': x"
            )
            .is_some()
        );
        tokio::time::advance(EVERY).await;
        assert_eq!(
            log.admit(k, r, line).as_deref(),
            Some("Lua function 'spin': execution timeout. (2 similar lines left out)")
        );
        let counts = &log.reporting.counts;
        assert_eq!(counts.get(k, r), 4);
        assert_eq!(counts.get(ErrorKind::Fetch, ErrorReason::Runtime), 1);
        assert_eq!(counts.total(), 5);
    }
}
