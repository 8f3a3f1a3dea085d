//! Where the command's own messages go: `tracing` events, formatted by
//! tracing-subscriber, to stderr through the gateway's non-blocking stderr sink
//! (`spoe_gateway::log`): a stderr nobody reads costs messages (dropped and
//! counted), never a request or a stop. The gateway's access and SPOE lines do
//! not go through here: they go where the configuration's `log` lines say.

use std::io::IsTerminal as _;
use std::time::Duration;

use spoe_gateway::log::LogSinks;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// How long the exit waits for queued lines to be written: a reader that
/// stopped reading costs the exit this, no more.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(1);

/// Hands each formatted event to the stderr sink (tracing-subscriber formats an
/// event into its own buffer, then writes it with one `write_all`).
#[derive(Debug, Clone)]
struct ToSink(LogSinks);

impl std::io::Write for ToSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = buf.strip_suffix(b"\n").unwrap_or(buf);
        self.0.stderr.send(line);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for ToSink {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// Flushes the sinks (bounded by [`FLUSH_ON_EXIT`]) when dropped.
#[derive(Debug)]
pub(crate) struct FlushOnExit(LogSinks);

impl Drop for FlushOnExit {
    fn drop(&mut self) {
        self.0.flush(FLUSH_ON_EXIT);
    }
}

/// One line on stderr, through the sink (messages printed while the gateway
/// serves, such as a reload's configuration warnings).
pub(crate) fn stderr_line(line: &str) {
    LogSinks::process().stderr.send(line.as_bytes());
}

/// Installs the subscriber (level from `RUST_LOG`, else `default_level`).
pub(crate) fn init(default_level: &str) -> FlushOnExit {
    let sinks = LogSinks::process();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(ToSink(sinks.clone()))
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with(layer)
        .init();
    FlushOnExit(sinks)
}
