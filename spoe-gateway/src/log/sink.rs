//! Sinks: where framed log lines are queued, and the thread that writes them.
//!
//! A sink takes a line and returns at once, whatever its reader does: the line is copied into a
//! bounded queue, or dropped and counted when the queue is full. HAProxy writes to a `log
//! stdout` target the same way (a non-blocking write; a line that would block is dropped and
//! counted in `dropped_logs`), so a stuck log shipper, a full pipe or a blocking container log
//! driver costs lines, never requests.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

/// Somewhere log lines go: a stream (stdout, stderr), or syslog over UDP or a Unix socket
/// ([`DatagramSink`](super::DatagramSink)).
pub trait LogSink: Send + Sync + fmt::Debug {
    /// Queues one line (without its line feed). Never waits: a line that does not fit in the
    /// sink's bound is dropped and counted, and `false` is returned.
    fn send(&self, line: &[u8]) -> bool;

    /// What the sink is called in messages and metrics (`stdout`, `stderr`).
    fn name(&self) -> &str;

    /// Lines written and dropped so far.
    fn counts(&self) -> SinkCounts;

    /// Waits at most `within` for every line queued so far to be written; whether they were.
    /// Used when the process exits: a reader that never reads again costs that bound, no more.
    fn flush(&self, within: Duration) -> bool;

    /// Whether a line's `len` counts its line feed: it does on a stream (HAProxy's
    /// `fd_write_frag_line()`), not in a datagram, where HAProxy adds it after the cut.
    fn counts_line_feed(&self) -> bool {
        true
    }
}

/// A sink's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Lines handed to the writer's output (accepted by the pipe, file or terminal).
    pub written: u64,
    /// Lines dropped: the queue was full, or the output failed.
    pub dropped: u64,
}

/// The bytes a [`StreamSink`] holds before it drops lines: what a reader that stalls for a
/// moment may catch up on (about a quarter of a second of HAProxy's httplog lines at 40,000
/// requests/s). The queue grows to it only when lines wait; two such buffers at most (the one
/// being filled and the one being written).
pub const DEFAULT_QUEUE_BYTES: usize = 2 << 20;

/// How long the writer lets lines gather after a write before it writes again: one system call
/// (and at most one wake-up of the writer) carries every line of that time.
const GATHER: Duration = Duration::from_millis(1);

/// A sink writing lines to a byte stream (stdout, stderr, a file) from a thread of its own.
///
/// [`send`](LogSink::send) copies the line and its line feed into a queue bounded by a byte
/// count and returns; the thread takes the whole queue at once, writes it, and comes back for
/// more. Neither the queue nor the thread waits for anything but the output: while the output
/// blocks, lines fill the queue up to its bound, then are dropped and counted.
pub struct StreamSink {
    name: String,
    shared: Arc<Shared>,
    writer: Thread,
}

impl fmt::Debug for StreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSink")
            .field("name", &self.name)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled by the writer after each batch (for [`LogSink::flush`]).
    batch_done: Condvar,
    limit: usize,
    written: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    lines: u64,
    /// The writer holds a batch it has not finished writing.
    writing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StreamSink {
    /// A sink called `name` writing to `out` from a new thread, holding at most `limit` bytes
    /// of lines waiting to be written.
    pub fn spawn(
        name: &str,
        out: impl Write + Send + 'static,
        limit: usize,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            batch_done: Condvar::new(),
            limit,
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let thread = thread::Builder::new()
            .name(format!("spoe-log-{name}"))
            .spawn({
                let shared = shared.clone();
                move || write_loop(&shared, out)
            })?;
        Ok(Self {
            name: name.to_owned(),
            shared,
            writer: thread.thread().clone(),
        })
    }
}

/// The writer thread: takes every queued line at once, writes them with one call, and sleeps
/// (parked) while there is nothing to write. The thread ends with the process: it is never
/// joined, since it may be blocked in a write that never returns.
fn write_loop(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let lines = {
            let mut q = shared.lock();
            if q.bytes.is_empty() {
                q.writing = false;
                drop(q);
                shared.batch_done.notify_all();
                // Woken by the first line queued (see `send`).
                thread::park();
                continue;
            }
            q.writing = true;
            std::mem::swap(&mut q.bytes, &mut batch);
            std::mem::take(&mut q.lines)
        };
        let ok = out.write_all(&batch).and_then(|()| out.flush()).is_ok();
        let counter = if ok { &shared.written } else { &shared.dropped };
        counter.fetch_add(lines, Ordering::Relaxed);
        // Keeps its capacity: the queue and this batch swap buffers without allocating.
        batch.clear();
        shared.batch_done.notify_all();
        // Lines queued meanwhile wake nobody (the writer is not parked): they gather for a
        // moment and go out together.
        thread::sleep(GATHER);
    }
}

impl LogSink for StreamSink {
    fn send(&self, line: &[u8]) -> bool {
        let shared = &self.shared;
        let mut q = shared.lock();
        if q.bytes.len() + line.len() + 1 > shared.limit {
            drop(q);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let was_empty = q.bytes.is_empty();
        q.bytes.extend_from_slice(line);
        q.bytes.push(b'\n');
        q.lines += 1;
        drop(q);
        if was_empty {
            // A system call only when the writer is parked: while it writes or gathers, this
            // leaves a token its next park returns on.
            self.writer.unpark();
        }
        true
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn counts(&self) -> SinkCounts {
        SinkCounts {
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }

    fn flush(&self, within: Duration) -> bool {
        let shared = &self.shared;
        let q = shared.lock();
        let (q, _) = shared
            .batch_done
            .wait_timeout_while(q, within, |q| !q.bytes.is_empty() || q.writing)
            .unwrap_or_else(PoisonError::into_inner);
        q.bytes.is_empty() && !q.writing
    }
}

#[cfg(test)]
impl StreamSink {
    /// The writer took every queued line and has not finished writing them.
    fn blocked_in_write(&self) -> bool {
        let q = self.shared.lock();
        q.writing && q.bytes.is_empty()
    }
}

/// A sink keeping its lines in memory, for tests and for embedding (bounded the same way).
#[derive(Debug)]
pub struct MemorySink {
    name: String,
    lines: Mutex<Vec<Vec<u8>>>,
    limit: usize,
    dropped: AtomicU64,
}

impl MemorySink {
    /// A sink called `name` keeping at most `limit` lines.
    pub fn new(name: &str, limit: usize) -> Self {
        Self {
            name: name.to_owned(),
            lines: Mutex::new(Vec::new()),
            limit,
            dropped: AtomicU64::new(0),
        }
    }

    /// The lines kept so far, as text.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }
}

impl LogSink for MemorySink {
    fn send(&self, line: &[u8]) -> bool {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() >= self.limit {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        lines.push(line.to_vec());
        true
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn counts(&self) -> SinkCounts {
        SinkCounts {
            written: self
                .lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len() as u64,
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn flush(&self, _within: Duration) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::mpsc;

    use super::*;

    /// An output that blocks every write until told to go on, and keeps what it was given.
    struct Gate {
        go: mpsc::Receiver<()>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.go
                .recv()
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_output_costs_lines_never_a_wait() {
        let (go, gate) = mpsc::channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = StreamSink::spawn(
            "gate",
            Gate {
                go: gate,
                got: got.clone(),
            },
            100,
        )
        .unwrap();
        // The first line is taken by the writer, which then blocks in its write.
        assert!(sink.send(b"first"));
        while !sink.blocked_in_write() {
            // The poll interval of a wait on the writer thread's state.
            thread::sleep(Duration::from_millis(1));
        }
        assert!(
            !sink.flush(Duration::from_millis(50)),
            "the writer is blocked"
        );
        // 10 lines of 9 bytes + LF fill the 100-byte queue; the rest are dropped at once.
        let sent = (0..25)
            .filter(|i| sink.send(format!("line {i:04}").as_bytes()))
            .count();
        assert_eq!(sent, 10);
        assert_eq!(sink.counts().dropped, 15);
        // The output unblocks: everything queued is written, nothing more.
        for _ in 0..2 {
            go.send(()).unwrap();
        }
        assert!(sink.flush(Duration::from_secs(5)));
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 11, "{text}");
        assert!(text.starts_with("first\nline 0000\n"), "{text}");
        assert!(text.ends_with("line 0009\n"), "{text}");
        assert_eq!(
            sink.counts(),
            SinkCounts {
                written: 11,
                dropped: 15
            }
        );
    }

    #[test]
    fn a_failing_output_counts_its_lines_as_dropped() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = StreamSink::spawn("broken", Broken, 1 << 16).unwrap();
        for _ in 0..3 {
            assert!(sink.send(b"x"));
        }
        assert!(sink.flush(Duration::from_secs(5)));
        assert_eq!(
            sink.counts(),
            SinkCounts {
                written: 0,
                dropped: 3
            }
        );
    }
}
