//! SPOP status codes, carried in DISCONNECT frames.

use std::fmt;

/// A DISCONNECT `status-code`. Unknown codes round-trip unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(pub u32);

impl Status {
    /// 0: normal (no error).
    pub const NORMAL: Self = Self(0);
    /// 1: I/O error.
    pub const IO: Self = Self(1);
    /// 2: a timeout occurred.
    pub const TIMEOUT: Self = Self(2);
    /// 3: frame is too big.
    pub const FRAME_TOO_BIG: Self = Self(3);
    /// 4: invalid frame received.
    pub const INVALID_FRAME: Self = Self(4);
    /// 5: version value not found.
    pub const NO_VERSION: Self = Self(5);
    /// 6: max-frame-size value not found.
    pub const NO_FRAME_SIZE: Self = Self(6);
    /// 7: capabilities value not found.
    pub const NO_CAPABILITIES: Self = Self(7);
    /// 8: unsupported version.
    pub const BAD_VERSION: Self = Self(8);
    /// 9: max-frame-size too big or too small.
    pub const BAD_FRAME_SIZE: Self = Self(9);
    /// 10: fragmentation not supported.
    pub const FRAGMENTATION_NOT_SUPPORTED: Self = Self(10);
    /// 11: invalid interlaced frames.
    pub const INTERLACED_FRAMES: Self = Self(11);
    /// 12: frame-id not found.
    pub const FRAME_ID_NOT_FOUND: Self = Self(12);
    /// 13: resource allocation error.
    pub const RESOURCE: Self = Self(13);
    /// 99: an unknown error occurred.
    pub const UNKNOWN: Self = Self(99);

    /// HAProxy's text for this code (`spop_err_reasons` in `mux_spop.c`),
    /// or `None` for a code HAProxy does not define.
    pub fn reason(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "normal",
            1 => "I/O error",
            2 => "a timeout occurred",
            3 => "frame is too big",
            4 => "invalid frame received",
            5 => "version value not found",
            6 => "max-frame-size value not found",
            7 => "capabilities value not found",
            8 => "unsupported version",
            9 => "max-frame-size too big or too small",
            10 => "fragmentation not supported",
            11 => "invalid interlaced frames",
            12 => "frame-id not found",
            13 => "resource allocation error",
            99 => "an unknown error occurred",
            _ => return None,
        })
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "Status({} {r:?})", self.0),
            None => write!(f, "Status({})", self.0),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.0,
            self.reason().unwrap_or("unknown status")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defined_code_has_haproxy_text() {
        for code in (0..=13).chain([99]) {
            assert!(Status(code).reason().is_some(), "code {code}");
        }
        assert_eq!(Status(14).reason(), None);
        assert_eq!(Status::FRAME_TOO_BIG.to_string(), "3 (frame is too big)");
        assert_eq!(Status(7777).to_string(), "7777 (unknown status)");
    }
}
