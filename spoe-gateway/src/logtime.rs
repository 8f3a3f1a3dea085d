//! Timers and dates of log lines, as HAProxy writes them (UTC).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A timer of the line: milliseconds, or `-1` when that step never happened
/// (HAProxy's convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer(pub(crate) Option<Duration>);

impl Timer {
    pub(crate) const NEVER: Self = Self(None);

    pub(crate) fn ms(d: Duration) -> Self {
        Self(Some(d))
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, "{}", d.as_millis()),
            None => f.write_str("-1"),
        }
    }
}

/// `dd/Mmm/yyyy:hh:mm:ss.mmm` (UTC).
pub(crate) struct AcceptDate(pub(crate) SystemTime);

impl fmt::Display for AcceptDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = Civil::of(self.0);
        write!(
            f,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
            c.day,
            MONTHS[usize::from(c.month - 1)],
            c.year,
            c.hour,
            c.minute,
            c.second,
            c.micros / 1000
        )
    }
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar time. The gateway writes UTC, whatever `TZ` says: what
/// HAProxy writes on a host whose time zone is UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u8,
    pub(crate) day: u8,
    pub(crate) hour: u8,
    pub(crate) minute: u8,
    pub(crate) second: u8,
    pub(crate) micros: u32,
}

impl Civil {
    pub(crate) fn of(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's days-to-civil.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            micros: since.subsec_micros(),
        }
    }
}
