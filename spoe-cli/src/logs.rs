//! Where log lines go: stderr, except the gateway's request lines (access
//! and SPOE) when `haproxy.cfg` says `log stdout` in `global`.
//!
//! The access lines of `option httplog` (`spoe::httplog`) are written as the
//! gateway framed them (HAProxy's line, in the `log` line's `format`), with
//! nothing of tracing's own format around them; so are the SPOE lines
//! (`spoe::log`) when a frontend has `option httplog`, as HAProxy writes both
//! to its log target. Every other line keeps tracing's format.
//!
//! Lines are written by a thread per stream, so that a request never waits
//! for a terminal or a pipe. Lossless: when a queue is full, logging waits
//! rather than dropping lines. A thread writes every line waiting in its
//! queue, then flushes: under load one write(2) carries many lines, and no
//! line waits once the queue is empty.

use std::io::{BufWriter, IsTerminal as _, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use spoe_gateway::config::{Syslog, SyslogFormat};
use spoe_gateway::httplog::frame;

use tracing::Metadata;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The target of the gateway's HAProxy-format access lines, written as they are.
const HTTPLOG_TARGET: &str = "spoe::httplog";

/// The targets of the gateway's per-request lines.
const REQUEST_TARGETS: [&str; 3] = ["spoe::access", SPOE_TARGET, HTTPLOG_TARGET];

static REQUEST_LOGS_TO_STDOUT: AtomicBool = AtomicBool::new(false);

/// The target of the SPOE lines.
const SPOE_TARGET: &str = "spoe::log";

/// How SPOE lines are framed, when they are (`option httplog`): 0 when not,
/// else a flag bit, the format's index in [`SYSLOG_FORMATS`], the facility
/// and the level, a byte each (read on every SPOE line: no lock).
static SPOE_FRAMING: AtomicU32 = AtomicU32::new(0);

const SYSLOG_FORMATS: [SyslogFormat; 8] = [
    SyslogFormat::Local,
    SyslogFormat::Rfc3164,
    SyslogFormat::Rfc5424,
    SyslogFormat::Priority,
    SyslogFormat::Short,
    SyslogFormat::Timed,
    SyslogFormat::Iso,
    SyslogFormat::Raw,
];

/// Frames the SPOE lines as the access lines (`Some`), or leaves them in
/// tracing's format.
pub(crate) fn frame_spoe_lines(syslog: Option<Syslog>) {
    let packed = syslog.map_or(0, |s| {
        let format = SYSLOG_FORMATS
            .iter()
            .position(|f| *f == s.format)
            .unwrap_or(1) as u32;
        1 << 24 | format << 16 | u32::from(s.facility) << 8 | u32::from(s.max_level)
    });
    SPOE_FRAMING.store(packed, Ordering::Relaxed);
}

fn spoe_framing() -> Option<Syslog> {
    let packed = SPOE_FRAMING.load(Ordering::Relaxed);
    (packed != 0).then(|| Syslog {
        format: SYSLOG_FORMATS[(packed >> 16 & 0xff) as usize % SYSLOG_FORMATS.len()],
        facility: (packed >> 8 & 0xff) as u8,
        max_level: (packed & 0xff) as u8,
    })
}

/// Sends the gateway's request lines to stdout (`log stdout`) or stderr.
pub(crate) fn request_logs_to_stdout(yes: bool) {
    REQUEST_LOGS_TO_STDOUT.store(yes, Ordering::Relaxed);
}

#[derive(Clone)]
struct Writers {
    stderr: NonBlocking,
    stdout: NonBlocking,
}

impl<'a> MakeWriter<'a> for Writers {
    type Writer = NonBlocking;

    fn make_writer(&'a self) -> NonBlocking {
        self.stderr.clone()
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> NonBlocking {
        if REQUEST_LOGS_TO_STDOUT.load(Ordering::Relaxed) && is_request_line(meta) {
            self.stdout.clone()
        } else {
            self.stderr.clone()
        }
    }
}

/// Lines a queue holds before logging waits for the writer thread: about
/// 0.2 s of two lines per request at 40k requests/s. tracing-appender's
/// default (128,000) allocates 4 MiB per queue up front.
const QUEUED_LINES: usize = 16 * 1024;

fn writer(out: impl Write + Send + 'static) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .finish(BufWriter::with_capacity(64 * 1024, out))
}

fn is_request_line(meta: &Metadata<'_>) -> bool {
    REQUEST_TARGETS.contains(&meta.target())
}

/// A line written as it is: an access line of `option httplog`, or an SPOE
/// line while those are framed.
fn is_httplog_line(meta: &Metadata<'_>) -> bool {
    meta.target() == HTTPLOG_TARGET || (meta.target() == SPOE_TARGET && spoe_framing().is_some())
}

/// The syslog level of a tracing level.
fn syslog_level(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// Writes an event's message and a newline, nothing else.
struct MessageOnly;

impl<S, N> FormatEvent<S, N> for MessageOnly
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        struct Message<'w, 'a>(&'w mut format::Writer<'a>, std::fmt::Result);
        impl tracing::field::Visit for Message<'_, '_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.1 = write!(self.0, "{value:?}");
                }
            }
        }
        let meta = event.metadata();
        if meta.target() == SPOE_TARGET
            && let Some(syslog) = spoe_framing()
        {
            // Framed here, as the gateway frames its access lines.
            let mut text = String::new();
            let mut m = Message(&mut format::Writer::new(&mut text), Ok(()));
            event.record(&mut m);
            m.1?;
            return match frame(
                &syslog,
                syslog_level(*meta.level()),
                &text,
                std::time::SystemTime::now(),
            ) {
                Some(line) => writeln!(writer, "{line}"),
                None => Ok(()),
            };
        }
        let mut m = Message(&mut writer, Ok(()));
        event.record(&mut m);
        m.1?;
        writeln!(writer)
    }
}

/// Installs the subscriber (level from `RUST_LOG`, else `default_level`).
/// Lines still queued are written when the returned guards drop.
///
/// Two formatters, same format: the request lines skip tracing-subscriber's
/// escaping of terminal control characters, which goes through the line one
/// `char` at a time and cost about 1 us per request (two lines) under load.
/// Their text needs none: numbers, names from the configuration, and the
/// request's method and URI, which hyper and `http` only accept as visible
/// ASCII. Every other line (agents' and peers' words among them) stays escaped.
pub(crate) fn init(default_level: &str) -> [WorkerGuard; 2] {
    let (stderr, stderr_guard) = writer(std::io::stderr());
    let (stdout, stdout_guard) = writer(std::io::stdout());
    let ansi = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
    let writers = Writers { stderr, stdout };
    let requests = tracing_subscriber::fmt::layer()
        .with_writer(writers.clone())
        .with_ansi(ansi)
        .with_ansi_sanitization(false)
        .with_filter(filter_fn(|meta| {
            is_request_line(meta) && !is_httplog_line(meta)
        }));
    let httplog = tracing_subscriber::fmt::layer()
        .with_writer(writers.clone())
        .with_ansi(false)
        .event_format(MessageOnly)
        .with_filter(filter_fn(is_httplog_line));
    let others = tracing_subscriber::fmt::layer()
        .with_writer(writers)
        .with_ansi(ansi)
        .with_filter(filter_fn(|meta| !is_request_line(meta)));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with(requests)
        .with(httplog)
        .with(others)
        .init();
    [stderr_guard, stdout_guard]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spoe_framing_survives_its_packing() {
        for format in SYSLOG_FORMATS {
            let s = Syslog {
                format,
                facility: 23,
                max_level: 4,
            };
            frame_spoe_lines(Some(s));
            assert_eq!(spoe_framing(), Some(s));
        }
        frame_spoe_lines(None);
        assert_eq!(spoe_framing(), None);
    }
}
