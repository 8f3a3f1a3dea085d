//! Log lines that never make a request wait.
//!
//! ```text
//!   request ends ──> LogRoute (the proxy's `log` lines) ──frame, cut at `len`──> LogSink::send
//!                                                                                  │ bounded queue
//!                                                  writer thread <─────────────────┘ (drop + count)
//!                                                        └──> stdout / stderr (may block: only it waits)
//! ```
//!
//! - A proxy writes its access lines, and an SPOE agent its SPOE lines, only to the `log` lines
//!   it has (its `LogRoute`); without one, nothing is formatted or written, as with HAProxy.
//! - A [`LogSink`] never blocks: a full queue drops the line and counts it. Dropped lines show in
//!   the metric `haproxy_process_dropped_logs_total` (HAProxy's name) and in one line on stderr
//!   every [`DROP_REPORT_EVERY`] at most.
//! - The process's stdout and stderr are sinks ([`LogSinks::process`]); the `spoe` command sends
//!   all its tracing output through the stderr one, so no message of the gateway can block it
//!   either.
//! - Syslog over UDP or a Unix socket is a [`DatagramSink`] per address: one non-blocking
//!   `sendmsg()` per line from the thread writing it, as HAProxy sends; a full socket buffer
//!   drops the line and counts it.

mod datagram;
mod route;
mod sink;
mod sinks;

pub use datagram::{DatagramSink, Destination, SYSLOG_PORT};
pub(crate) use route::LogRoute;
pub use sink::{DEFAULT_QUEUE_BYTES, LogSink, MemorySink, SinkCounts, StreamSink};
pub use sinks::{DROP_REPORT_EVERY, LogSinks};
