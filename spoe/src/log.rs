//! The SPOE log line, in HAProxy's format:
//! `SPOE: [AGENT] <EVENT:name> sid=N st=S reqT/qT/wT/resT/pT idles/applets sending/waiting errors/processed`.

use std::fmt;
use std::time::Duration;

use crate::engine::outcome::{ProcessStatus, Timings};

/// What was processed: an event's messages or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed<'a> {
    /// `<EVENT:on-frontend-http-request>`.
    Event(&'a str),
    /// `<GROUP:name>` (`send-spoe-group`).
    Group(&'a str),
}

/// Engine-wide counters printed at the end of the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// Idle agent connections.
    pub idles: u64,
    /// Agent connections.
    pub applets: u64,
    /// Messages waiting to be sent.
    pub sending: u64,
    /// Messages waiting for their ACK.
    pub waiting: u64,
    /// Events that failed so far.
    pub errors: u64,
    /// Events processed so far.
    pub processed: u64,
}

/// One SPOE log line. `Display` renders HAProxy's format; times are in ms,
/// -1 for a phase not reached.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// The agent's id.
    pub agent: &'a str,
    /// The event or group.
    pub what: Processed<'a>,
    /// The stream's id.
    pub sid: u64,
    /// The outcome's status.
    pub status: ProcessStatus,
    /// The outcome's timings.
    pub timings: Timings,
    /// Time spent encoding the messages (ACLs and samples included).
    pub request: Duration,
    /// Time spent applying the ACK.
    pub response: Option<Duration>,
    /// Engine counters.
    pub counters: LogCounters,
}

impl LogLine<'_> {
    /// HAProxy logs success at NOTICE and failures at WARNING.
    pub fn is_error(&self) -> bool {
        self.status != ProcessStatus::OK
    }
}

fn ms(d: Option<Duration>) -> i64 {
    d.map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl fmt::Display for LogLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = match self.what {
            Processed::Event(n) => ("EVENT", n),
            Processed::Group(n) => ("GROUP", n),
        };
        let t = &self.timings;
        let c = &self.counters;
        write!(
            f,
            "SPOE: [{}] <{kind}:{name}> sid={} st={} {}/{}/{}/{}/{} {}/{} {}/{} {}/{}",
            self.agent,
            self.sid,
            self.status.0,
            ms(Some(self.request)),
            ms(t.queue),
            ms(t.wait),
            ms(self.response),
            ms(Some(
                self.request + t.total + self.response.unwrap_or_default()
            )),
            c.idles,
            c.applets,
            c.sending,
            c.waiting,
            c.errors,
            c.processed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::outcome::Outcome;

    #[test]
    fn haproxy_format() {
        let outcome = Outcome {
            status: ProcessStatus::TIMEOUT,
            actions: vec![],
            timings: Timings {
                queue: Some(Duration::from_millis(0)),
                wait: None,
                total: Duration::from_millis(500),
            },
        };
        let line = LogLine {
            agent: "iprep-agent",
            what: Processed::Event("on-frontend-http-request"),
            sid: 7,
            status: outcome.status,
            timings: outcome.timings,
            request: Duration::ZERO,
            response: None,
            counters: LogCounters {
                idles: 1,
                applets: 2,
                sending: 0,
                waiting: 3,
                errors: 4,
                processed: 10,
            },
        };
        assert_eq!(
            line.to_string(),
            "SPOE: [iprep-agent] <EVENT:on-frontend-http-request> sid=7 st=1 0/0/-1/-1/500 1/2 0/3 4/10"
        );
        assert!(line.is_error());
    }
}
