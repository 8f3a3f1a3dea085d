//! The sinks `log` lines name, and the report of what they dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use super::datagram::{DatagramSink, Destination};
use super::sink::{DEFAULT_QUEUE_BYTES, LogSink, MemorySink, StreamSink};

/// How often, at most, a line on stderr says how many log lines were dropped.
pub const DROP_REPORT_EVERY: Duration = Duration::from_secs(5);

/// The sinks `log` targets name: `stdout` (`fd@1`), `stderr` (`fd@2`), and one
/// [`DatagramSink`] per syslog address, opened by the first configuration naming it and kept
/// for the process's life (its counters survive reloads).
#[derive(Debug, Clone)]
pub struct LogSinks {
    /// `log stdout`.
    pub stdout: Arc<dyn LogSink>,
    /// `log stderr`.
    pub stderr: Arc<dyn LogSink>,
    /// `log HOST:PORT`, `log /dev/log`...: by destination.
    datagrams: Arc<Mutex<HashMap<Destination, Arc<dyn LogSink>>>>,
}

impl LogSinks {
    /// `stdout` and `stderr` as given, and no syslog address opened yet.
    pub fn new(stdout: Arc<dyn LogSink>, stderr: Arc<dyn LogSink>) -> Self {
        Self {
            stdout,
            stderr,
            datagrams: Arc::default(),
        }
    }

    /// The sink sending to `to`, opened on first use. A socket that cannot be opened (no file
    /// descriptor left) gives a sink that drops every line and counts it, reported once.
    pub fn datagram(&self, to: &Destination) -> Arc<dyn LogSink> {
        let mut open = self
            .datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.entry(to.clone())
            .or_insert_with(|| match DatagramSink::open(to) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::warn!(sink = %to, error = %e, "cannot open a socket to send log lines to {to}: {e}; its lines are dropped and counted");
                    Arc::new(MemorySink::new(&to.to_string(), 0))
                }
            })
            .clone()
    }

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
                let sinks = Self::new(
                    stream("stdout", Box::new(std::io::stdout())),
                    stream("stderr", Box::new(std::io::stderr())),
                );
                report_drops(sinks.clone(), DROP_REPORT_EVERY);
                sinks
            })
            .clone()
    }

    /// Every sink: stdout, stderr, then the syslog addresses opened so far.
    pub fn all(&self) -> Vec<Arc<dyn LogSink>> {
        let mut all = vec![self.stdout.clone(), self.stderr.clone()];
        all.extend(
            self.datagrams
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        all
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
            let mut seen: HashMap<String, u64> = HashMap::new();
            loop {
                std::thread::sleep(every);
                for sink in sinks.all() {
                    let reported = seen.entry(sink.name().to_owned()).or_default();
                    let dropped = sink.counts().dropped;
                    if dropped > *reported {
                        tracing::warn!(
                            sink = sink.name(),
                            dropped = dropped - *reported,
                            total = dropped,
                            "{} log line(s) dropped on {} in the last {:?}: its reader does not keep up ({dropped} since start)",
                            dropped - *reported,
                            sink.name(),
                            every,
                        );
                        *reported = dropped;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the thread that reports dropped log lines");
    }
}
