//! HELLO and DISCONNECT payloads as typed structs, and the handshake's
//! negotiation rules as pure functions.

use std::fmt;

use crate::data::TypedData;
use crate::kv::{Kv, find};
use crate::status::Status;

/// The smallest max-frame-size both sides must accept.
pub const MIN_FRAME_SIZE: u32 = 256;
/// The max-frame-size HAProxy offers with its default `tune.bufsize` (16384 - 4).
pub const HAPROXY_DEFAULT_FRAME_SIZE: u32 = 16380;

/// A SPOP version, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major number (non-zero).
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl Version {
    /// SPOP 2.0, the only version HAProxy 2.x and 3.x speak.
    pub const V2_0: Self = Self { major: 2, minor: 0 };

    /// Parses `MAJOR.MINOR` with surrounding spaces allowed (HAProxy's
    /// `spoe_str_to_vsn`). A zero major is invalid.
    pub fn parse(s: &str) -> Option<Self> {
        let (maj, min) = s.trim().split_once('.')?;
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        if !digits(maj) || !digits(min) {
            return None;
        }
        let major: u16 = maj.parse().ok()?;
        let minor: u16 = min.parse().ok()?;
        (major != 0).then_some(Self { major, minor })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The versions this crate speaks.
pub const SUPPORTED_VERSIONS: &[Version] = &[Version::V2_0];

/// Picks the highest version of `supported_versions` (a comma list such as
/// `"2.0"` or `" 1.0, 2.0"`) that this crate speaks. Entries that do not parse
/// are skipped.
pub fn choose_version(supported_versions: &str) -> Result<Version, HandshakeError> {
    let mut any = false;
    let mut best = None;
    for v in supported_versions
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        any = true;
        if let Some(v) = Version::parse(v).filter(|v| SUPPORTED_VERSIONS.contains(v)) {
            best = best.max(Some(v));
        }
    }
    match best {
        Some(v) => Ok(v),
        None if any => Err(HandshakeError::BadVersion {
            offered: supported_versions.to_owned(),
        }),
        None => Err(HandshakeError::NoVersion),
    }
}

/// The agent's side of max-frame-size negotiation: the engine offers `offered`,
/// the agent answers `min(ours, offered)`. An offer below 256 is refused.
pub fn negotiate_max_frame_size(ours: u32, offered: u32) -> Result<u32, HandshakeError> {
    if offered < MIN_FRAME_SIZE {
        return Err(HandshakeError::BadFrameSize {
            value: u64::from(offered),
            min: MIN_FRAME_SIZE,
            max: ours,
        });
    }
    Ok(ours.min(offered).max(MIN_FRAME_SIZE))
}

/// The engine's check of the agent's answer: it must lie in `[256, offered]`.
pub fn check_agent_frame_size(offered: u32, answered: u64) -> Result<u32, HandshakeError> {
    u32::try_from(answered)
        .ok()
        .filter(|a| (MIN_FRAME_SIZE..=offered).contains(a))
        .ok_or(HandshakeError::BadFrameSize {
            value: answered,
            min: MIN_FRAME_SIZE,
            max: offered,
        })
}

/// SPOP capabilities. Parsing is tolerant: spaces around names and unknown
/// names are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `pipelining`: several NOTIFY in flight on one connection.
    pub pipelining: bool,
    /// `async`: ACKs may come back on another connection (HAProxy <= 3.0).
    pub async_: bool,
    /// `fragmentation`: the announcing side accepts fragmented frames (HAProxy <= 3.0).
    pub fragmentation: bool,
}

impl Capabilities {
    /// Parses a comma list such as `"pipelining,async"`.
    pub fn parse(s: &str) -> Self {
        let mut caps = Self::default();
        for word in s.split(',').map(str::trim) {
            match word {
                "pipelining" => caps.pipelining = true,
                "async" => caps.async_ = true,
                "fragmentation" => caps.fragmentation = true,
                _ => {}
            }
        }
        caps
    }

    /// Capabilities both sides announced.
    pub fn intersect(self, other: Self) -> Self {
        Self {
            pipelining: self.pipelining && other.pipelining,
            async_: self.async_ && other.async_,
            fragmentation: self.fragmentation && other.fragmentation,
        }
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = [
            (self.pipelining, "pipelining"),
            (self.async_, "async"),
            (self.fragmentation, "fragmentation"),
        ];
        let mut sep = "";
        for (_, w) in words.iter().filter(|(on, _)| *on) {
            write!(f, "{sep}{w}")?;
            sep = ",";
        }
        Ok(())
    }
}

/// A handshake cannot go on; `status()` is the DISCONNECT code to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// No version key, or an empty one.
    #[error("version value not found")]
    NoVersion,
    /// No max-frame-size key.
    #[error("max-frame-size value not found")]
    NoFrameSize,
    /// No capabilities key.
    #[error("capabilities value not found")]
    NoCapabilities,
    /// No version in common.
    #[error("unsupported version {offered:?}: this side speaks 2.0")]
    BadVersion {
        /// What the peer sent.
        offered: String,
    },
    /// max-frame-size outside the allowed range.
    #[error("max-frame-size {value} is outside {min}..={max}")]
    BadFrameSize {
        /// The value sent.
        value: u64,
        /// The lower bound (256).
        min: u32,
        /// The upper bound.
        max: u32,
    },
    /// A known key with a value of the wrong type.
    #[error("{key} must be {expected}, got {got}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// What the key needs.
        expected: &'static str,
        /// The type that came.
        got: &'static str,
    },
}

impl HandshakeError {
    /// The DISCONNECT status for this error.
    pub fn status(&self) -> Status {
        match self {
            Self::NoVersion => Status::NO_VERSION,
            Self::NoFrameSize => Status::NO_FRAME_SIZE,
            Self::NoCapabilities => Status::NO_CAPABILITIES,
            Self::BadVersion { .. } => Status::BAD_VERSION,
            Self::BadFrameSize { .. } => Status::BAD_FRAME_SIZE,
            Self::BadValue { .. } => Status::INVALID_FRAME,
        }
    }
}

fn type_name(v: &TypedData) -> &'static str {
    v.data_type().name().unwrap_or("reserved")
}

fn string_value(list: &[Kv], key: &'static str) -> Result<Option<String>, HandshakeError> {
    match find(list, key) {
        None => Ok(None),
        Some(TypedData::Str(b)) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
        Some(other) => Err(HandshakeError::BadValue {
            key,
            expected: "a STRING",
            got: type_name(other),
        }),
    }
}

fn int_value(list: &[Kv], key: &'static str) -> Result<Option<u64>, HandshakeError> {
    match find(list, key) {
        None => Ok(None),
        Some(TypedData::Int32(v)) => Ok(Some(*v as u64)),
        Some(TypedData::Uint32(v)) => Ok(Some(u64::from(*v))),
        Some(TypedData::Int64(v)) => Ok(Some(*v as u64)),
        Some(TypedData::Uint64(v)) => Ok(Some(*v)),
        Some(other) => Err(HandshakeError::BadValue {
            key,
            expected: "an integer",
            got: type_name(other),
        }),
    }
}

/// HAPROXY-HELLO: what the engine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyHello {
    /// `supported-versions`, a comma list.
    pub supported_versions: String,
    /// `max-frame-size`.
    pub max_frame_size: u32,
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `healthcheck`: the connection is an `spop-check` probe.
    pub healthcheck: bool,
    /// `engine-id`, when sent.
    pub engine_id: Option<String>,
}

impl HaproxyHello {
    /// Reads a HAPROXY-HELLO KV list, as an agent does. Unknown keys are ignored.
    /// A max-frame-size above `u32::MAX` is clamped (the agent answers the
    /// minimum of both anyway); one below 256 is refused.
    pub fn from_kv(list: &[Kv]) -> Result<Self, HandshakeError> {
        let supported_versions =
            string_value(list, "supported-versions")?.ok_or(HandshakeError::NoVersion)?;
        let mfs = int_value(list, "max-frame-size")?.ok_or(HandshakeError::NoFrameSize)?;
        let max_frame_size = u32::try_from(mfs).unwrap_or(u32::MAX);
        if max_frame_size < MIN_FRAME_SIZE {
            return Err(HandshakeError::BadFrameSize {
                value: mfs,
                min: MIN_FRAME_SIZE,
                max: u32::MAX,
            });
        }
        let capabilities =
            string_value(list, "capabilities")?.ok_or(HandshakeError::NoCapabilities)?;
        let healthcheck = match find(list, "healthcheck") {
            None => false,
            Some(TypedData::Bool(b)) => *b,
            Some(other) => {
                return Err(HandshakeError::BadValue {
                    key: "healthcheck",
                    expected: "a BOOL",
                    got: type_name(other),
                });
            }
        };
        Ok(Self {
            supported_versions,
            max_frame_size,
            capabilities: Capabilities::parse(&capabilities),
            healthcheck,
            engine_id: string_value(list, "engine-id")?,
        })
    }

    /// The KV list, in the order HAProxy sends it.
    pub fn to_kv(&self) -> Vec<Kv> {
        let mut kv = vec![
            Kv::new("supported-versions", self.supported_versions.clone()),
            Kv::new("max-frame-size", self.max_frame_size),
            Kv::new("capabilities", self.capabilities.to_string()),
        ];
        if self.healthcheck {
            kv.push(Kv::new("healthcheck", true));
        }
        if let Some(id) = &self.engine_id {
            kv.push(Kv::new("engine-id", id.clone()));
        }
        kv
    }
}

/// AGENT-HELLO: what the agent accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentHello {
    /// `version`.
    pub version: Version,
    /// `max-frame-size`.
    pub max_frame_size: u32,
    /// `capabilities`.
    pub capabilities: Capabilities,
}

impl AgentHello {
    /// The agent's answer to `hello`: version 2.0, `min(max_frame_size,
    /// offered)`, and the capabilities `ours` shares with the engine's offer
    /// (pipelining and async only count when both announce them; fragmentation
    /// is announced as ours, since it says what this side can receive).
    pub fn answer(
        hello: &HaproxyHello,
        max_frame_size: u32,
        ours: Capabilities,
    ) -> Result<Self, HandshakeError> {
        let version = choose_version(&hello.supported_versions)?;
        let max_frame_size = negotiate_max_frame_size(max_frame_size, hello.max_frame_size)?;
        let mut capabilities = ours.intersect(hello.capabilities);
        capabilities.fragmentation = ours.fragmentation;
        Ok(Self {
            version,
            max_frame_size,
            capabilities,
        })
    }

    /// Reads an AGENT-HELLO KV list, as an engine that offered
    /// `offered_frame_size` does (HAProxy's rules: a missing capabilities key
    /// means none; unknown keys are ignored).
    pub fn from_kv(list: &[Kv], offered_frame_size: u32) -> Result<Self, HandshakeError> {
        let v = string_value(list, "version")?.ok_or(HandshakeError::NoVersion)?;
        let version = Version::parse(&v)
            .filter(|v| SUPPORTED_VERSIONS.contains(v))
            .ok_or(HandshakeError::BadVersion { offered: v })?;
        let mfs = int_value(list, "max-frame-size")?.ok_or(HandshakeError::NoFrameSize)?;
        let max_frame_size = check_agent_frame_size(offered_frame_size, mfs)?;
        let capabilities =
            Capabilities::parse(&string_value(list, "capabilities")?.unwrap_or_default());
        Ok(Self {
            version,
            max_frame_size,
            capabilities,
        })
    }

    /// The KV list.
    pub fn to_kv(&self) -> Vec<Kv> {
        vec![
            Kv::new("version", self.version.to_string()),
            Kv::new("max-frame-size", self.max_frame_size),
            Kv::new("capabilities", self.capabilities.to_string()),
        ]
    }
}

/// HAPROXY-DISCONNECT or AGENT-DISCONNECT payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// `status-code`.
    pub status: Status,
    /// `message`: a human-readable reason.
    pub message: String,
}

impl Disconnect {
    /// A DISCONNECT with HAProxy's text for `status`.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            message: status
                .reason()
                .unwrap_or("an unknown error occurred")
                .to_owned(),
        }
    }

    /// Reads a DISCONNECT KV list. A missing `status-code` is an unknown error
    /// (99); a missing `message` is empty.
    pub fn from_kv(list: &[Kv]) -> Result<Self, HandshakeError> {
        let status = match int_value(list, "status-code")? {
            Some(code) => Status(u32::try_from(code).unwrap_or(Status::UNKNOWN.0)),
            None => Status::UNKNOWN,
        };
        Ok(Self {
            status,
            message: string_value(list, "message")?.unwrap_or_default(),
        })
    }

    /// The KV list.
    pub fn to_kv(&self) -> Vec<Kv> {
        vec![
            Kv::new("status-code", self.status.0),
            Kv::new("message", self.message.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parsing_follows_haproxy() {
        assert_eq!(Version::parse("2.0"), Some(Version::V2_0));
        assert_eq!(Version::parse("  2.0 "), Some(Version::V2_0));
        assert_eq!(Version::parse("0.5"), None);
        assert_eq!(Version::parse("2"), None);
        assert_eq!(Version::parse("2.x"), None);
        assert_eq!(choose_version("1.0, 2.0"), Ok(Version::V2_0));
        assert_eq!(choose_version(" 2.0 ,3.1"), Ok(Version::V2_0));
        assert!(matches!(
            choose_version("1.0"),
            Err(HandshakeError::BadVersion { .. })
        ));
        assert_eq!(choose_version(""), Err(HandshakeError::NoVersion));
        assert_eq!(
            choose_version("1.0").unwrap_err().status(),
            Status::BAD_VERSION
        );
    }

    #[test]
    fn frame_size_bounds() {
        assert_eq!(negotiate_max_frame_size(16380, 16380), Ok(16380));
        assert_eq!(negotiate_max_frame_size(4096, 16380), Ok(4096));
        assert_eq!(negotiate_max_frame_size(65535, 16380), Ok(16380));
        assert_eq!(
            negotiate_max_frame_size(16380, 255).unwrap_err().status(),
            Status::BAD_FRAME_SIZE
        );
        assert_eq!(check_agent_frame_size(16380, 16380), Ok(16380));
        assert_eq!(check_agent_frame_size(16380, 256), Ok(256));
        assert!(check_agent_frame_size(16380, 16381).is_err());
        assert!(check_agent_frame_size(16380, 255).is_err());
        assert!(check_agent_frame_size(16380, u64::MAX).is_err());
    }

    #[test]
    fn capabilities_are_tolerant() {
        let c = Capabilities::parse(" pipelining , async,foo,, fragmentation");
        assert!(c.pipelining && c.async_ && c.fragmentation);
        assert_eq!(Capabilities::parse(""), Capabilities::default());
        assert_eq!(Capabilities::parse("pipeliningx"), Capabilities::default());
        assert_eq!(c.to_string(), "pipelining,async,fragmentation");
    }

    fn haproxy_kv() -> Vec<Kv> {
        vec![
            Kv::new("supported-versions", "2.0"),
            Kv::new("max-frame-size", 16380u32),
            Kv::new("capabilities", "pipelining,async"),
            Kv::new("engine-id", "0bd5bc4a-5b39-4c3a-9bd7-c56b0d2d45e8"),
        ]
    }

    #[test]
    fn haproxy_hello_round_trip_and_answer() {
        let h = HaproxyHello::from_kv(&haproxy_kv()).unwrap();
        assert_eq!(h.max_frame_size, 16380);
        assert!(h.capabilities.pipelining && h.capabilities.async_);
        assert!(!h.healthcheck);
        assert_eq!(HaproxyHello::from_kv(&h.to_kv()).unwrap(), h);
        let ours = Capabilities {
            pipelining: true,
            async_: false,
            fragmentation: true,
        };
        let a = AgentHello::answer(&h, 65536, ours).unwrap();
        assert_eq!(a.max_frame_size, 16380);
        assert_eq!(a.capabilities.to_string(), "pipelining,fragmentation");
        assert_eq!(AgentHello::from_kv(&a.to_kv(), 16380).unwrap(), a);
    }

    #[test]
    fn haproxy_hello_refusals_map_to_statuses() {
        let without = |key: &str| -> Vec<Kv> {
            haproxy_kv()
                .into_iter()
                .filter(|kv| kv.name != key.as_bytes())
                .collect()
        };
        let status = |kv: &[Kv]| HaproxyHello::from_kv(kv).unwrap_err().status();
        assert_eq!(status(&without("supported-versions")), Status(5));
        assert_eq!(status(&without("max-frame-size")), Status(6));
        assert_eq!(status(&without("capabilities")), Status(7));
        let mut small = without("max-frame-size");
        small.push(Kv::new("max-frame-size", 100u32));
        assert_eq!(status(&small), Status(9));
        let mut wrong = without("supported-versions");
        wrong.push(Kv::new("supported-versions", 2u32));
        assert_eq!(status(&wrong), Status(4));
    }

    #[test]
    fn agent_hello_checks_like_haproxy() {
        let ok = |kv: Vec<Kv>| AgentHello::from_kv(&kv, 16380);
        let a = ok(vec![
            Kv::new("version", "2.0"),
            Kv::new("max-frame-size", 16380u32),
        ])
        .unwrap();
        assert_eq!(
            a.capabilities,
            Capabilities::default(),
            "missing capabilities mean none"
        );
        assert_eq!(
            ok(vec![Kv::new("max-frame-size", 16380u32)])
                .unwrap_err()
                .status(),
            Status(5)
        );
        assert_eq!(
            ok(vec![
                Kv::new("version", "3.0"),
                Kv::new("max-frame-size", 16380u32)
            ])
            .unwrap_err()
            .status(),
            Status(8)
        );
        assert_eq!(
            ok(vec![Kv::new("version", "2.0")]).unwrap_err().status(),
            Status(6)
        );
        assert_eq!(
            ok(vec![
                Kv::new("version", "2.0"),
                Kv::new("max-frame-size", 16381u32)
            ])
            .unwrap_err()
            .status(),
            Status(9)
        );
    }

    #[test]
    fn disconnect_round_trip() {
        let d = Disconnect::new(Status::FRAME_TOO_BIG);
        assert_eq!(d.message, "frame is too big");
        assert_eq!(Disconnect::from_kv(&d.to_kv()).unwrap(), d);
        assert_eq!(Disconnect::from_kv(&[]).unwrap().status, Status::UNKNOWN);
    }
}
