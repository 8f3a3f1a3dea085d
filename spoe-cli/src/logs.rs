//! Where log lines go: stderr, except the gateway's request lines (access
//! and SPOE) when `haproxy.cfg` says `log stdout` in `global`.
//!
//! Lines are written by a thread per stream, so that a request never waits
//! for a terminal or a pipe. Lossless: when a queue is full, logging waits
//! rather than dropping lines. A thread writes every line waiting in its
//! queue, then flushes: under load one write(2) carries many lines, and no
//! line waits once the queue is empty.

use std::io::{BufWriter, IsTerminal as _, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Metadata;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;

/// The targets of the gateway's per-request lines.
const REQUEST_TARGETS: [&str; 2] = ["spoe::access", "spoe::log"];

static REQUEST_LOGS_TO_STDOUT: AtomicBool = AtomicBool::new(false);

/// Sends the gateway's request lines to stdout (`log stdout`) or stderr.
pub(crate) fn request_logs_to_stdout(yes: bool) {
    REQUEST_LOGS_TO_STDOUT.store(yes, Ordering::Relaxed);
}

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
        if REQUEST_LOGS_TO_STDOUT.load(Ordering::Relaxed)
            && REQUEST_TARGETS.contains(&meta.target())
        {
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

/// Installs the subscriber (level from `RUST_LOG`, default `info`). Lines
/// still queued are written when the returned guards drop.
pub(crate) fn init() -> [WorkerGuard; 2] {
    let (stderr, stderr_guard) = writer(std::io::stderr());
    let (stdout, stdout_guard) = writer(std::io::stdout());
    tracing_subscriber::fmt()
        .with_writer(Writers { stderr, stdout })
        .with_ansi(std::io::stderr().is_terminal() && std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    [stderr_guard, stdout_guard]
}
