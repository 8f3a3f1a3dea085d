//! Where one proxy's (or one SPOE agent's) lines go: each of its `log` lines, as a sink and a
//! framing. A line is formatted once per target into a buffer the thread keeps, framed, cut at
//! the target's `len`, and handed to the sink: no allocation per line once the buffer has grown.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use spoe::config::{LogAddress, LogServer};

use super::datagram::Destination;
use super::sink::LogSink;
use super::sinks::LogSinks;
use crate::httplog::Framed;
use crate::model::{Syslog, SyslogFormat};

/// The targets of a proxy or an agent; empty when it has no `log` line, and then nothing is
/// written, as with HAProxy.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogRoute {
    targets: Arc<[Target]>,
}

#[derive(Debug)]
struct Target {
    sink: Arc<dyn LogSink>,
    syslog: Syslog,
    /// `len` as the sink counts it: the longest line written without its line feed.
    max_len: usize,
    /// `minlevel`: more severe lines are written at this level.
    min_level: u8,
    sample: Option<Sample>,
}

/// `sample RANGES:SIZE`: of every SIZE lines, those whose rank (1-based) is in RANGES.
#[derive(Debug)]
struct Sample {
    ranges: Vec<(u64, u64)>,
    size: u64,
    seen: AtomicU64,
}

impl Sample {
    fn parse(text: &str) -> Option<Self> {
        let (ranges, size) = text.rsplit_once(':')?;
        let ranges = ranges
            .split(',')
            .map(|r| {
                let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                Some((lo.parse().ok()?, hi.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            ranges,
            size: size.parse().ok().filter(|s| *s > 0)?,
            seen: AtomicU64::new(0),
        })
    }

    /// Whether the next line is one to write.
    fn take(&self) -> bool {
        let rank = self.seen.fetch_add(1, Ordering::Relaxed) % self.size + 1;
        self.ranges.iter().any(|&(lo, hi)| lo <= rank && rank <= hi)
    }
}

thread_local! {
    /// The line being formatted, reused from line to line.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl LogRoute {
    /// The route of `servers` (the `log` lines in effect, `log global` already replaced by the
    /// global section's lines), each to its sink in `sinks`. Addresses the gateway cannot write
    /// to (a ring, `tcp@`, an unresolvable host) are left out: the configuration reader
    /// refused them.
    pub(crate) fn new(servers: &[LogServer], sinks: &LogSinks) -> Self {
        let targets = servers
            .iter()
            .filter_map(|s| {
                let sink = match s.address {
                    LogAddress::Fd(1) => sinks.stdout.clone(),
                    LogAddress::Fd(2) => sinks.stderr.clone(),
                    _ => sinks.datagram(&Destination::of(&s.address).ok()??),
                };
                // HAProxy cuts a line at `len` bytes: its line feed included on a stream, added
                // after the cut in a datagram.
                let max_len = usize::from(s.max_len) - usize::from(sink.counts_line_feed());
                Some(Target {
                    sink,
                    syslog: Syslog {
                        format: s
                            .format
                            .as_deref()
                            .and_then(SyslogFormat::from_name)
                            .unwrap_or_default(),
                        facility: s.facility,
                        max_level: s.level,
                    },
                    max_len,
                    min_level: s.min_level,
                    sample: s.sample.as_deref().and_then(Sample::parse),
                })
            })
            .collect();
        Self { targets }
    }

    /// Whether no line is written.
    pub(crate) fn is_off(&self) -> bool {
        self.targets.is_empty()
    }

    /// Writes `line` at syslog `level` to every target that lets that level through.
    pub(crate) fn send(&self, level: u8, line: &dyn fmt::Display) {
        if self.targets.is_empty() {
            return;
        }
        let now = SystemTime::now();
        let mut own = Vec::new();
        LINE.with(|cell| {
            // A line formatted while another is (never expected) gets a buffer of its own.
            let mut kept = cell.try_borrow_mut();
            let buf = match kept.as_deref_mut() {
                Ok(buf) => buf,
                Err(_) => &mut own,
            };
            for t in self.targets.iter() {
                if level > t.syslog.max_level || t.sample.as_ref().is_some_and(|s| !s.take()) {
                    continue;
                }
                let level = level.max(t.min_level);
                let Some(framed) = Framed::new(&t.syslog, level, line, now) else {
                    continue;
                };
                buf.clear();
                if write!(buf, "{framed}").is_err() {
                    continue;
                }
                buf.truncate(t.max_len);
                t.sink.send(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use spoe::config::Span;

    use super::super::sink::MemorySink;
    use super::*;

    fn server(address: LogAddress, tail: impl FnOnce(&mut LogServer)) -> LogServer {
        let mut s = LogServer {
            address,
            max_len: 1024,
            format: Some("raw".to_owned()),
            sample: None,
            facility: 16,
            level: 7,
            min_level: 0,
            span: Span::file(Arc::from(Path::new("h.cfg"))),
        };
        tail(&mut s);
        s
    }

    fn sinks() -> (LogSinks, Arc<MemorySink>, Arc<MemorySink>) {
        let out = Arc::new(MemorySink::new("stdout", 100));
        let err = Arc::new(MemorySink::new("stderr", 100));
        (LogSinks::new(out.clone(), err.clone()), out, err)
    }

    #[test]
    fn each_target_gets_the_line_in_its_framing_and_length() {
        let (s, out, err) = sinks();
        let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        syslog
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let route = LogRoute::new(
            &[
                server(LogAddress::Fd(1), |_| {}),
                server(LogAddress::Fd(2), |s| {
                    s.format = Some("short".to_owned());
                    s.max_len = 80;
                }),
                server(
                    LogAddress::Net(syslog.local_addr().unwrap().to_string()),
                    |s| {
                        s.format = Some("priority".to_owned());
                        s.max_len = 80;
                    },
                ),
                server(LogAddress::Ring("buf".to_owned()), |_| {}),
            ],
            &s,
        );
        assert!(!route.is_off());
        let long = "x".repeat(100);
        route.send(6, &long);
        assert_eq!(out.lines(), std::slice::from_ref(&long));
        // `<6>` and the line, cut at 79 bytes (80 with its line feed).
        assert_eq!(err.lines(), [format!("<6>{}", &long[..76])]);
        // A datagram: cut at 80 bytes, its line feed added after the cut (HAProxy's).
        let mut got = [0u8; 200];
        let n = syslog.recv(&mut got).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got[..n]),
            format!("<134>{}\n", &long[..75])
        );
    }

    #[test]
    fn levels_minimum_levels_and_samples() {
        let (s, out, err) = sinks();
        let route = LogRoute::new(
            &[
                server(LogAddress::Fd(1), |s| {
                    s.level = 4;
                    s.format = Some("short".to_owned());
                    s.min_level = 3;
                }),
                server(LogAddress::Fd(2), |s| s.sample = Some("1,3-4:5".to_owned())),
            ],
            &s,
        );
        route.send(6, &"info");
        route.send(0, &"emerg");
        assert_eq!(
            out.lines(),
            ["<3>emerg"],
            "info is filtered, emerg raised to err"
        );
        for i in 0..8 {
            route.send(6, &i);
        }
        // Ranks 1, 3 and 4 of every 5 (the two lines above were ranks 1 and 2).
        assert_eq!(err.lines(), ["info", "0", "1", "3", "5", "6"]);
        assert!(LogRoute::new(&[], &s).is_off());
    }
}
