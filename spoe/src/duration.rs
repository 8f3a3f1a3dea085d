//! HAProxy's durations: a number with an optional unit, `us ms s m h d`; a
//! bare number is milliseconds (`500`, `500ms`, `2s`, `1m`).

use std::time::Duration;

/// A duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a duration such as 500ms, 2s or 1m (units us, ms, s, m, h, d; a bare number is milliseconds), got {got:?}"
)]
pub struct DurationError {
    /// The text that was given.
    pub got: String,
}

/// Parses `text` the way HAProxy does.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        got: text.to_owned(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(err());
    }
    let n: u64 = digits.parse().map_err(|_| err())?;
    let d = match unit {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(err)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(err)?),
        "d" => Duration::from_secs(n.checked_mul(86400).ok_or_else(err)?),
        _ => return Err(err()),
    };
    Ok(d)
}

/// A timer value read the way HAProxy's `parse_time_err()` reads configuration timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerValue {
    /// The value in milliseconds, rounded up (`1500us` is 2 ms); at most `i32::MAX`.
    pub millis: u32,
    /// The first character after a valid unit, which HAProxy 2.6 ignores with a warning
    /// (`1sx` is one second).
    pub trailing: Option<char>,
}

impl TimerValue {
    /// The value as a [`Duration`].
    pub fn duration(self) -> Duration {
        Duration::from_millis(u64::from(self.millis))
    }
}

/// Why [`parse_timer`] rejected a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// No leading digit, or an unknown unit: the offending character (`None` at the end).
    #[error("unexpected character {0:?}")]
    Invalid(Option<char>),
    /// 2^31 ms or more.
    #[error("timer overflow, maximum value is 2147483647 ms (~24.8 days)")]
    Overflow,
}

/// Parses a configuration timeout as HAProxy does: digits, then nothing (milliseconds), `us`,
/// `ms`, `s`, `m`, `h` or `d`; the result is rounded up to whole milliseconds and must stay
/// below 2^31 ms. Characters after a valid unit are ignored (reported in
/// [`TimerValue::trailing`]), as HAProxy 2.6 does with a warning.
pub fn parse_timer(text: &str) -> Result<TimerValue, TimerError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(TimerError::Invalid(text.chars().next()));
    }
    let mut value: u64 = 0;
    for d in text.bytes().take(digits) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(TimerError::Overflow)?;
    }
    let rest = &text[digits..];
    // (multiplier, divisor) to milliseconds, and how many unit characters were used.
    let ((mul, div), used) = match rest.as_bytes() {
        [] => ((1, 1), 0),
        [b'u', b's', ..] => ((1, 1000), 2),
        [b'm', b's', ..] => ((1, 1), 2),
        [b's', ..] => ((1000, 1), 1),
        [b'm', ..] => ((60_000, 1), 1),
        [b'h', ..] => ((3_600_000, 1), 1),
        [b'd', ..] => ((86_400_000, 1), 1),
        _ => return Err(TimerError::Invalid(rest.chars().next())),
    };
    let millis = value
        .checked_mul(mul)
        .map(|v| v.div_ceil(div))
        .ok_or(TimerError::Overflow)?;
    let millis = u32::try_from(millis)
        .ok()
        .filter(|&m| m < 0x8000_0000)
        .ok_or(TimerError::Overflow)?;
    Ok(TimerValue {
        millis,
        trailing: rest[used..].chars().next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_units() {
        assert_eq!(parse_duration("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        for bad in ["", "s", "5x", "-1s", "1.5s", " 1s", "1 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .to_string()
                .contains("\"5x\"")
        );
    }

    #[test]
    fn haproxy_timers() {
        let ms = |t: &str| parse_timer(t).map(|v| (v.millis, v.trailing));
        assert_eq!(ms("500"), Ok((500, None)));
        assert_eq!(ms("500ms"), Ok((500, None)));
        assert_eq!(ms("2s"), Ok((2000, None)));
        assert_eq!(ms("2m"), Ok((120_000, None)));
        assert_eq!(ms("1h"), Ok((3_600_000, None)));
        assert_eq!(ms("1d"), Ok((86_400_000, None)));
        assert_eq!(ms("1500us"), Ok((2, None)));
        assert_eq!(ms("0"), Ok((0, None)));
        assert_eq!(ms("1sx"), Ok((1000, Some('x'))));
        assert_eq!(ms("5mx"), Ok((300_000, Some('x'))));
        assert_eq!(ms("5x"), Err(TimerError::Invalid(Some('x'))));
        assert_eq!(ms("x"), Err(TimerError::Invalid(Some('x'))));
        assert_eq!(ms(""), Err(TimerError::Invalid(None)));
        assert_eq!(ms("5u"), Err(TimerError::Invalid(Some('u'))));
        assert_eq!(ms("2147483647"), Ok((2_147_483_647, None)));
        assert_eq!(ms("2147483648"), Err(TimerError::Overflow));
        assert_eq!(ms("25d"), Err(TimerError::Overflow));
        assert_eq!(ms("99999999999999999999999"), Err(TimerError::Overflow));
        assert_eq!(
            parse_timer("2s").unwrap().duration(),
            Duration::from_secs(2)
        );
    }
}
