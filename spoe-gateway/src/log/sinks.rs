//! The sinks `log` lines name, and the report of what they dropped.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::sink::{DEFAULT_QUEUE_BYTES, LogSink, MemorySink, StreamSink};

/// How often, at most, a line on stderr says how many log lines were dropped.
pub const DROP_REPORT_EVERY: Duration = Duration::from_secs(5);

/// The sinks `log` targets name: `stdout` (`fd@1`) and `stderr` (`fd@2`).
#[derive(Debug, Clone)]
pub struct LogSinks {
    /// `log stdout`.
    pub stdout: Arc<dyn LogSink>,
    /// `log stderr`.
    pub stderr: Arc<dyn LogSink>,
}

impl LogSinks {
    /// The process's standard output and error, each behind a [`StreamSink`] of
    /// [`DEFAULT_QUEUE_BYTES`], made on the first call; the first call also starts the thread
    /// that reports dropped lines. Falls back to sinks that drop everything (and count it) if a
    /// thread cannot be started.
    pub fn process() -> Self {
        static PROCESS: OnceLock<LogSinks> = OnceLock::new();
        PROCESS
            .get_or_init(|| {
                let stream = |name: &str, out: Box<dyn std::io::Write + Send>| {
                    StreamSink::spawn(name, out, DEFAULT_QUEUE_BYTES).map_or_else(
                        |_| Arc::new(MemorySink::new(name, 0)) as Arc<dyn LogSink>,
                        |s| Arc::new(s) as Arc<dyn LogSink>,
                    )
                };
                let sinks = Self {
                    stdout: stream("stdout", Box::new(std::io::stdout())),
                    stderr: stream("stderr", Box::new(std::io::stderr())),
                };
                report_drops(sinks.clone(), DROP_REPORT_EVERY);
                sinks
            })
            .clone()
    }

    /// Every sink.
    pub fn all(&self) -> [&Arc<dyn LogSink>; 2] {
        [&self.stdout, &self.stderr]
    }

    /// Lines dropped so far, all sinks together.
    pub fn dropped(&self) -> u64 {
        self.all().iter().map(|s| s.counts().dropped).sum()
    }

    /// Waits at most `within` for every sink to write what it holds.
    pub fn flush(&self, within: Duration) {
        for s in self.all() {
            s.flush(within);
        }
    }
}

/// Starts a thread that writes, every `every` in which lines were dropped, one warning saying
/// how many, per sink (through `tracing`, so on stderr for the `spoe` command).
fn report_drops(sinks: LogSinks, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("spoe-log-drops".to_owned())
        .spawn(move || {
            let mut seen = [0u64; 2];
            loop {
                std::thread::sleep(every);
                for (sink, seen) in sinks.all().into_iter().zip(&mut seen) {
                    let dropped = sink.counts().dropped;
                    if dropped > *seen {
                        tracing::warn!(
                            sink = sink.name(),
                            dropped = dropped - *seen,
                            total = dropped,
                            "{} log line(s) dropped on {} in the last {:?}: its reader does not keep up ({dropped} since start)",
                            dropped - *seen,
                            sink.name(),
                            every,
                        );
                        *seen = dropped;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the thread that reports dropped log lines");
    }
}
