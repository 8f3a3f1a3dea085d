//! Decoding and encoding errors, and the DISCONNECT status each one maps to.

use crate::status::Status;

/// A frame could not be decoded.
///
/// `offset` counts bytes from the start of the frame's 4-byte length prefix,
/// so a tool can point at the faulty byte in a capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Byte offset of the failure, from the start of the frame (length prefix included).
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        Self { offset, kind }
    }

    /// The status code a peer should be sent in its DISCONNECT frame.
    pub fn status(&self) -> Status {
        self.kind.status()
    }

    /// Shifts the offset by `by` bytes (used when frames are decoded one after
    /// another from a larger capture).
    #[must_use]
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset = self.offset.saturating_add(by);
        self
    }
}

/// The reason a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The length prefix announces more than the negotiated max-frame-size.
    #[error("frame length {len} exceeds max-frame-size {max}")]
    FrameTooBig {
        /// The announced length.
        len: u32,
        /// The negotiated limit.
        max: u32,
    },
    /// A zero length prefix: a frame holds at least a type, flags and two ids.
    #[error("frame length 0 is invalid: a frame holds at least a type, 4 flag bytes and two ids")]
    EmptyFrame,
    /// The frame ended in the middle of a field.
    #[error("{what} is truncated: {needed} byte(s) needed, {available} left in the frame")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A varint that runs past 10 bytes.
    #[error("{what}: varint longer than 10 bytes")]
    VarintTooLong {
        /// The field being read.
        what: &'static str,
    },
    /// A varint whose value does not fit in 64 bits.
    #[error("{what}: varint overflows 64 bits")]
    VarintOverflow {
        /// The field being read.
        what: &'static str,
    },
    /// A typed-data byte whose type is reserved (10..=15).
    #[error("unknown data type {} in type byte {byte:#04x}: expected 0..=9", byte & 0x0f)]
    UnknownDataType {
        /// The whole type byte (flags in the high nibble).
        byte: u8,
    },
    /// An integer does not fit the type it was sent as.
    #[error("{data_type} value {value:#x} is out of range")]
    IntOutOfRange {
        /// The spec's type name.
        data_type: &'static str,
        /// The varint as decoded.
        value: u64,
    },
    /// A known action whose NB-ARGS is wrong.
    #[error("{action} action with {nb_args} argument(s): expected {expected}")]
    BadActionArgs {
        /// SET-VAR or UNSET-VAR.
        action: &'static str,
        /// NB-ARGS as sent.
        nb_args: u8,
        /// The count the spec requires.
        expected: u8,
    },
    /// A variable scope outside 0..=4.
    #[error("unknown variable scope {scope}: expected 0..=4 (PROCESS..RESPONSE)")]
    UnknownScope {
        /// The scope byte.
        scope: u8,
    },
    /// HELLO and DISCONNECT frames carry stream-id and frame-id 0.
    #[error("{frame} frame with stream-id {stream_id} and frame-id {frame_id}: both must be 0")]
    NonZeroIds {
        /// The frame type's name.
        frame: &'static str,
        /// Stream-id as sent.
        stream_id: u64,
        /// Frame-id as sent.
        frame_id: u64,
    },
    /// A HELLO or DISCONNECT frame without FIN (they are never fragmented).
    #[error("{frame} frame without the FIN flag: this frame type cannot be fragmented")]
    FragmentedControlFrame {
        /// The frame type's name.
        frame: &'static str,
    },
}

impl DecodeErrorKind {
    /// The DISCONNECT status for this error.
    pub fn status(&self) -> Status {
        match self {
            Self::FrameTooBig { .. } => Status::FRAME_TOO_BIG,
            _ => Status::INVALID_FRAME,
        }
    }
}

/// A frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded frame would exceed the negotiated max-frame-size.
    #[error("encoded frame is {len} bytes, over max-frame-size {max}")]
    FrameTooBig {
        /// The frame's length (prefix excluded).
        len: usize,
        /// The negotiated limit.
        max: u32,
    },
    /// A message or action carries more than 255 arguments (NB-ARGS is one byte).
    #[error("{what} has {count} arguments: at most 255 fit in NB-ARGS")]
    TooManyArgs {
        /// The message or action.
        what: &'static str,
        /// The count.
        count: usize,
    },
}
