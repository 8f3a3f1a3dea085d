//! Reassembly of fragmented NOTIFY payloads, which HAProxy 2.x sends to agents
//! that announce `fragmentation` (`option send-frag-payload`): a NOTIFY
//! without FIN, then UNSET frames with the same ids, the last one with FIN. A
//! fragment with ABORT abandons the payload; no ACK is expected for it.

use bytes::BytesMut;

use crate::cursor::Reader;
use crate::error::DecodeError;
use crate::frame::{Body, Frame, FrameType};
use crate::status::Status;

/// What a fragment led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembly {
    /// A whole NOTIFY (unfragmented, or the last fragment arrived).
    Complete(Frame),
    /// More fragments are needed.
    Pending,
    /// The engine abandoned the payload of this stream/frame.
    Aborted {
        /// Stream-id of the abandoned NOTIFY.
        stream_id: u64,
        /// Frame-id of the abandoned NOTIFY.
        frame_id: u64,
    },
}

/// Reassembly cannot go on; `status()` is the DISCONNECT code to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// The payload grows past the configured bound.
    #[error("fragmented payload of {size} bytes exceeds the reassembly limit of {limit} bytes")]
    TooBig {
        /// The size it would reach.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A fragment of another frame arrived while one was being reassembled,
    /// or a continuation arrived with nothing to continue.
    #[error(
        "interlaced fragments: got {frame_type:?} for stream {stream_id} frame {frame_id} while {expecting}"
    )]
    Interlaced {
        /// The offending frame's type.
        frame_type: FrameType,
        /// Its stream-id.
        stream_id: u64,
        /// Its frame-id.
        frame_id: u64,
        /// What was expected instead.
        expecting: String,
    },
    /// The reassembled payload is not a valid LIST-OF-MESSAGES.
    #[error("reassembled NOTIFY payload: {0}")]
    Decode(DecodeError),
    /// Not a NOTIFY or UNSET frame.
    #[error("{0:?} frames are not reassembled here")]
    NotNotify(FrameType),
}

impl ReassemblyError {
    /// The DISCONNECT status for this error.
    pub fn status(&self) -> Status {
        match self {
            Self::TooBig { .. } => Status::FRAME_TOO_BIG,
            Self::Interlaced { .. } => Status::INTERLACED_FRAMES,
            Self::Decode(e) => e.status(),
            Self::NotNotify(_) => Status::INVALID_FRAME,
        }
    }
}

#[derive(Debug)]
struct Pending {
    stream_id: u64,
    frame_id: u64,
    buf: BytesMut,
}

/// Reassembles one fragmented NOTIFY at a time, up to `limit` bytes.
#[derive(Debug)]
pub struct Reassembler {
    limit: usize,
    pending: Option<Pending>,
}

impl Reassembler {
    /// A reassembler that refuses payloads above `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            pending: None,
        }
    }

    /// True while a fragmented payload is incomplete.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds a NOTIFY or UNSET frame.
    pub fn push(&mut self, frame: Frame) -> Result<Reassembly, ReassemblyError> {
        let h = frame.header;
        let interlaced = |expecting: String| ReassemblyError::Interlaced {
            frame_type: h.frame_type,
            stream_id: h.stream_id,
            frame_id: h.frame_id,
            expecting,
        };
        let busy =
            |p: &Pending| format!("stream {} frame {} is incomplete", p.stream_id, p.frame_id);
        match (h.frame_type, frame.body) {
            (FrameType::NOTIFY, body @ Body::Notify(_)) => match &self.pending {
                Some(p) => Err(interlaced(busy(p))),
                None => Ok(Reassembly::Complete(Frame { header: h, body })),
            },
            (FrameType::NOTIFY, Body::Fragment(payload)) => {
                if let Some(p) = &self.pending {
                    return Err(interlaced(busy(p)));
                }
                if h.flags.abort() {
                    return Ok(Reassembly::Aborted {
                        stream_id: h.stream_id,
                        frame_id: h.frame_id,
                    });
                }
                self.check_size(0, payload.len())?;
                self.pending = Some(Pending {
                    stream_id: h.stream_id,
                    frame_id: h.frame_id,
                    buf: BytesMut::from(&payload[..]),
                });
                Ok(Reassembly::Pending)
            }
            (FrameType::UNSET, Body::Fragment(payload)) => {
                let Some(p) = self.pending.as_ref() else {
                    return Err(interlaced("no fragmented NOTIFY is in progress".into()));
                };
                if (p.stream_id, p.frame_id) != (h.stream_id, h.frame_id) {
                    return Err(interlaced(busy(p)));
                }
                if h.flags.abort() {
                    self.pending = None;
                    return Ok(Reassembly::Aborted {
                        stream_id: h.stream_id,
                        frame_id: h.frame_id,
                    });
                }
                self.check_size(p.buf.len(), payload.len())?;
                let Some(p) = self.pending.as_mut() else {
                    return Err(interlaced("no fragmented NOTIFY is in progress".into()));
                };
                p.buf.extend_from_slice(&payload);
                if !h.flags.fin() {
                    return Ok(Reassembly::Pending);
                }
                let Some(p) = self.pending.take() else {
                    return Err(interlaced("no fragmented NOTIFY is in progress".into()));
                };
                let mut r = Reader::new(p.buf.freeze(), 0);
                let messages =
                    crate::message::decode_list(&mut r).map_err(ReassemblyError::Decode)?;
                Ok(Reassembly::Complete(Frame::notify(
                    p.stream_id,
                    p.frame_id,
                    messages,
                )))
            }
            (t, _) => Err(ReassemblyError::NotNotify(t)),
        }
    }

    fn check_size(&self, have: usize, more: usize) -> Result<(), ReassemblyError> {
        let size = have.saturating_add(more);
        if size > self.limit {
            return Err(ReassemblyError::TooBig {
                size,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::frame::{Flags, FrameHeader};
    use crate::message::Message;

    fn frag(t: FrameType, flags: u32, sid: u64, fid: u64, payload: &[u8]) -> Frame {
        Frame {
            header: FrameHeader {
                frame_type: t,
                flags: Flags(flags),
                stream_id: sid,
                frame_id: fid,
            },
            body: Body::Fragment(Bytes::copy_from_slice(payload)),
        }
    }

    fn payload() -> Vec<u8> {
        let msg = Message::new("check").arg("path", "/a/long/path");
        let mut v = Vec::new();
        msg.encode(&mut v);
        v
    }

    #[test]
    fn reassembles_three_fragments() {
        let p = payload();
        let mut r = Reassembler::new(1024);
        assert_eq!(
            r.push(frag(FrameType::NOTIFY, 0, 4, 9, &p[..3])),
            Ok(Reassembly::Pending)
        );
        assert_eq!(
            r.push(frag(FrameType::UNSET, 0, 4, 9, &p[3..10])),
            Ok(Reassembly::Pending)
        );
        let done = r.push(frag(FrameType::UNSET, 1, 4, 9, &p[10..])).unwrap();
        assert_eq!(
            done,
            Reassembly::Complete(Frame::notify(
                4,
                9,
                vec![Message::new("check").arg("path", "/a/long/path")]
            ))
        );
        assert!(!r.is_pending());
    }

    #[test]
    fn abort_drops_the_payload() {
        let p = payload();
        let mut r = Reassembler::new(1024);
        r.push(frag(FrameType::NOTIFY, 0, 4, 9, &p[..3])).unwrap();
        assert_eq!(
            r.push(frag(FrameType::UNSET, 3, 4, 9, &[])),
            Ok(Reassembly::Aborted {
                stream_id: 4,
                frame_id: 9
            })
        );
        assert!(!r.is_pending());
    }

    #[test]
    fn refusals() {
        let p = payload();
        let mut r = Reassembler::new(8);
        r.push(frag(FrameType::NOTIFY, 0, 4, 9, &p[..3])).unwrap();
        let e = r
            .push(frag(FrameType::UNSET, 0, 4, 9, &p[3..]))
            .unwrap_err();
        assert_eq!(e.status(), Status::FRAME_TOO_BIG);

        let mut r = Reassembler::new(1024);
        r.push(frag(FrameType::NOTIFY, 0, 4, 9, &p[..3])).unwrap();
        let e = r
            .push(frag(FrameType::UNSET, 1, 5, 9, &p[3..]))
            .unwrap_err();
        assert_eq!(e.status(), Status::INTERLACED_FRAMES);
        let e = r.push(Frame::notify(6, 1, vec![])).unwrap_err();
        assert_eq!(e.status(), Status::INTERLACED_FRAMES);

        let mut r = Reassembler::new(1024);
        let e = r.push(frag(FrameType::UNSET, 1, 5, 9, &p)).unwrap_err();
        assert_eq!(e.status(), Status::INTERLACED_FRAMES);

        let mut r = Reassembler::new(1024);
        r.push(frag(FrameType::NOTIFY, 0, 4, 9, &[5, b'a']))
            .unwrap();
        let e = r.push(frag(FrameType::UNSET, 1, 4, 9, &[])).unwrap_err();
        assert_eq!(e.status(), Status::INVALID_FRAME);
    }
}
