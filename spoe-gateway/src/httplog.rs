//! The framings of `log TARGET format F` (8 formats, as HAProxy 2.6 writes them), the levels
//! of the gateway's lines, and the dates of access lines (`crate::logline` writes the lines
//! themselves).

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

pub(crate) use crate::logtime::Timer;
use crate::logtime::{AcceptDate, Civil, MONTHS};
use crate::model::{Syslog, SyslogFormat};

/// The syslog level of access lines (`info`).
pub(crate) const ACCESS_LEVEL: u8 = 6;

/// The syslog level of access lines of errors with `option log-separate-errors` (`err`).
pub(crate) const ERROR_LEVEL: u8 = 3;

/// The syslog level of SPOE lines of a success (`notice`).
pub(crate) const SPOE_LEVEL: u8 = 5;

/// The syslog level of SPOE lines of a failure (`warning`).
pub(crate) const SPOE_ERROR_LEVEL: u8 = 4;

/// The syslog level of Lua's error lines (`err`, HAProxy's `SEND_ERR()`).
pub(crate) const LUA_ERROR_LEVEL: u8 = 3;

/// HAProxy's line for a connection that failed before its first request
/// (a TLS handshake): `CLIENT:PORT [ACCEPT-DATE] FRONTEND/LISTENER: MESSAGE`,
/// the listener being its number in the frontend.
#[derive(Debug)]
pub(crate) struct ConnError<'a> {
    pub(crate) client: SocketAddr,
    pub(crate) accepted: SystemTime,
    pub(crate) frontend: &'a str,
    pub(crate) listener: usize,
    pub(crate) message: &'a str,
}

impl fmt::Display for ConnError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} [{}] {}/{}: {}",
            self.client.ip(),
            self.client.port(),
            AcceptDate(self.accepted),
            self.frontend,
            self.listener,
            self.message
        )
    }
}

/// `2026-12-04T16:18:11.573568+00:00`.
struct IsoDate(SystemTime);

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = Civil::of(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
        )
    }
}

/// `Dec  4 16:18:08` (RFC 3164: the day padded with a space).
struct BsdDate(SystemTime);

impl fmt::Display for BsdDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = Civil::of(self.0);
        write!(
            f,
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[usize::from(c.month - 1)],
            c.day,
            c.hour,
            c.minute,
            c.second
        )
    }
}

/// The tag HAProxy writes (its program name).
const TAG: &str = "haproxy";

/// `line` framed as `log ... format F` says, written at `now`; `None` when
/// the line's `level` (a syslog level, 0 to 7) is more verbose than the `log`
/// line lets through.
pub fn frame(syslog: &Syslog, level: u8, line: &str, now: SystemTime) -> Option<String> {
    Framed::new(syslog, level, &line, now).map(|f| f.to_string())
}

/// A line in its syslog framing, written straight into the log writer.
pub(crate) struct Framed<'a> {
    syslog: &'a Syslog,
    level: u8,
    line: &'a dyn fmt::Display,
    now: SystemTime,
}

impl<'a> Framed<'a> {
    /// `None` when `level` is more verbose than the `log` line lets through.
    pub(crate) fn new(
        syslog: &'a Syslog,
        level: u8,
        line: &'a dyn fmt::Display,
        now: SystemTime,
    ) -> Option<Self> {
        (level <= syslog.max_level).then_some(Self {
            syslog,
            level,
            line,
            now,
        })
    }
}

impl fmt::Display for Framed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            syslog,
            level,
            line,
            now,
        } = self;
        let pri = u32::from(syslog.facility) * 8 + u32::from(*level);
        // Read only by the formats that print it: `getpid(2)` is a system call
        // (glibc does not cache it), and was two per request with the access
        // log on in `raw` format, which has no pid (bench/README.md, "Session 7:
        // system calls and wake-ups").
        let pid = std::process::id;
        match syslog.format {
            SyslogFormat::Raw => write!(f, "{line}"),
            SyslogFormat::Rfc3164 => {
                write!(
                    f,
                    "<{pri}>{} localhost {TAG}[{}]: {line}",
                    BsdDate(*now),
                    pid()
                )
            }
            SyslogFormat::Local => write!(f, "<{pri}>{} {TAG}[{}]: {line}", BsdDate(*now), pid()),
            SyslogFormat::Rfc5424 => {
                write!(f, "<{pri}>1 {} - {TAG} {} - - {line}", IsoDate(*now), pid())
            }
            SyslogFormat::Priority => write!(f, "<{pri}>{line}"),
            SyslogFormat::Short => write!(f, "<{level}>{line}"),
            SyslogFormat::Timed => write!(f, "<{level}>{} {line}", IsoDate(*now)),
            SyslogFormat::Iso => write!(f, "{} {line}", IsoDate(*now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    // 2026-12-04T14:45:59.092 UTC.
    const T: u64 = 1_796_395_559;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(AcceptDate(at(0, 0)).to_string(), "01/Jan/1970:00:00:00.000");
        assert_eq!(
            AcceptDate(at(951_782_400, 5_000)).to_string(),
            "29/Feb/2000:00:00:00.005"
        );
        assert_eq!(BsdDate(at(T, 0)).to_string(), "Dec  4 14:45:59");
        assert_eq!(
            IsoDate(at(T, 573_568)).to_string(),
            "2026-12-04T14:45:59.573568+00:00"
        );
    }

    #[test]
    fn every_format_frames_as_haproxy_2_6_does() {
        let pid = std::process::id();
        let now = at(T, 573_568);
        let f = |format| {
            frame(
                &Syslog {
                    format,
                    ..Syslog::default()
                },
                ACCESS_LEVEL,
                "L",
                now,
            )
            .unwrap()
        };
        assert_eq!(f(SyslogFormat::Raw), "L");
        assert_eq!(
            f(SyslogFormat::Rfc3164),
            format!("<134>Dec  4 14:45:59 localhost haproxy[{pid}]: L")
        );
        assert_eq!(
            f(SyslogFormat::Local),
            format!("<134>Dec  4 14:45:59 haproxy[{pid}]: L")
        );
        assert_eq!(
            f(SyslogFormat::Rfc5424),
            format!("<134>1 2026-12-04T14:45:59.573568+00:00 - haproxy {pid} - - L")
        );
        assert_eq!(f(SyslogFormat::Priority), "<134>L");
        assert_eq!(f(SyslogFormat::Short), "<6>L");
        assert_eq!(
            f(SyslogFormat::Timed),
            "<6>2026-12-04T14:45:59.573568+00:00 L"
        );
        assert_eq!(f(SyslogFormat::Iso), "2026-12-04T14:45:59.573568+00:00 L");
        let warnings_only = Syslog {
            max_level: 4,
            ..Syslog::default()
        };
        assert_eq!(frame(&warnings_only, ACCESS_LEVEL, "L", now), None);
    }
}
