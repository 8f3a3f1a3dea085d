//! Whatever bytes arrive, in whatever chunks, `FrameDecoder` answers `Ok` or
//! `Err` without panicking and without buffering more than one frame's worth
//! of bytes; `Reassembler` does the same for any sequence of fragments.
//!
//! The cheap main property runs 100,000 cases; the structured ones fewer.

mod strategies;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use proptest::sample::Index;
use spop::{
    Body, DecodeErrorKind, Flags, Frame, FrameDecoder, FrameHeader, FrameType, LENGTH_PREFIX,
    Reassembler, Reassembly, ReassemblyError,
};
use strategies::*;

/// Allowance over `max_frame_size + input length` for the buffer's capacity:
/// the length prefix and BytesMut's rounding.
const SLACK: usize = 64;

/// What a runtime saw when it fed `input` in chunks.
#[derive(Debug, Default)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<spop::DecodeError>,
    /// Bytes consumed before the error, or in total.
    consumed: usize,
    /// Bytes left buffered at the end (an incomplete frame).
    left: usize,
}

/// Feeds `input` to a `FrameDecoder` as a runtime would: append a chunk, then
/// decode in a loop until `Ok(None)` or `Err`. Checks the buffer's capacity
/// after every call.
fn run(input: &[u8], cuts: &[Index], max_frame_size: u32) -> Outcome {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();

    let bound = max_frame_size as usize + LENGTH_PREFIX + SLACK + input.len();
    let mut dec = FrameDecoder::new(max_frame_size);
    let mut buf = BytesMut::new();
    let mut out = Outcome::default();
    let mut start = 0;
    for end in points {
        buf.put_slice(&input[start..end]);
        start = end;
        loop {
            let before = buf.len();
            let announced = buf
                .get(..LENGTH_PREFIX)
                .map(|p| u32::from_be_bytes(p.try_into().unwrap()) as usize);
            let res = dec.decode(&mut buf);
            assert!(
                buf.capacity() <= bound,
                "capacity {} over {bound} (max-frame-size {max_frame_size}, input {} bytes)",
                buf.capacity(),
                input.len()
            );
            match res {
                Ok(Some(frame)) => {
                    let took = before - buf.len();
                    assert!(
                        took > LENGTH_PREFIX && took <= LENGTH_PREFIX + max_frame_size as usize
                    );
                    out.consumed += took;
                    // Frames stay alive, as in a runtime that is still
                    // processing them: the buffer cannot reclaim their bytes.
                    out.frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumes nothing");
                    break;
                }
                Err(e) => {
                    // The offset lies inside the frame that failed.
                    let len = announced.expect("an error needs a length prefix");
                    assert!(e.offset <= LENGTH_PREFIX + len, "{e} in a {len}-byte frame");
                    if matches!(e.kind, DecodeErrorKind::FrameTooBig { .. }) {
                        assert_eq!(e.offset, 0);
                    }
                    let _ = e.to_string();
                    let _ = e.status();
                    out.error = Some(e);
                    out.left = buf.len();
                    return out;
                }
            }
        }
    }
    out.left = buf.len();
    out
}

/// Every decoded frame re-encodes to bytes that decode to the same frame.
fn assert_reencodes(frames: &[Frame]) {
    for f in frames {
        let mut b = BytesMut::new();
        f.encode(&mut b);
        assert_eq!(b.len(), f.encoded_len());
        let again = FrameDecoder::new(u32::MAX)
            .decode(&mut b)
            .expect("a decoded frame re-encodes validly")
            .expect("whole");
        assert_eq!(&again, f);
        assert!(b.is_empty());
    }
}

fn max_frame_size() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => Just(16380u32),
        2 => 256u32..1024,
        1 => 0u32..64,
        1 => Just(u32::from(u16::MAX)),
    ]
}

/// Cheap inputs: noise, and noise behind plausible length prefixes.
fn cheap_input() -> impl Strategy<Value = Vec<u8>> {
    let framed = prop::collection::vec(
        (0u32..320, prop::collection::vec(any::<u8>(), 0..300)),
        1..4,
    )
    .prop_map(|parts| {
        let mut out = Vec::new();
        for (len, body) in parts {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend(body);
        }
        out
    });
    // A header the decoder accepts followed by noise: reaches the payload parsers.
    let headed = (
        prop::sample::select(KNOWN_TYPES.to_vec()),
        prop_oneof![Just(1u32), Just(0u32), any::<u32>()],
        0u8..3,
        0u8..3,
        prop::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
    )
        .prop_map(|(t, flags, sid, fid, payload, honest_len)| {
            let len = 7 + payload.len() + usize::from(!honest_len);
            let mut out = (len as u32).to_be_bytes().to_vec();
            out.push(t);
            out.extend(flags.to_be_bytes());
            out.extend([sid, fid]);
            out.extend(payload);
            out
        });
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256),
        3 => framed,
        3 => headed,
    ]
}

/// How a valid encoding is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    Xor(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Xor(i, x)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &[Mutation]) {
    for m in m {
        if bytes.is_empty() {
            return;
        }
        match *m {
            Mutation::Xor(ref i, x) => {
                let at = i.index(bytes.len());
                bytes[at] ^= x;
            }
            Mutation::Set(ref i, b) => {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            Mutation::Insert(ref i, b) => bytes.insert(i.index(bytes.len() + 1), b),
            Mutation::Remove(ref i) => {
                bytes.remove(i.index(bytes.len()));
            }
            Mutation::Truncate(ref i) => bytes.truncate(i.index(bytes.len())),
        }
    }
}

proptest! {
    #![proptest_config(config(100_000))]

    /// The main property: any bytes, any chunking, any bound.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in cheap_input(),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
        max in max_frame_size(),
    ) {
        let out = run(&input, &cuts, max);
        prop_assert!(out.consumed + out.left <= input.len());
    }
}

proptest! {
    #![proptest_config(config(4096))]

    /// Valid frames with a few bytes damaged: decoding stays deep in the
    /// payload parsers. Whatever decodes re-encodes to the same frame.
    #[test]
    fn mutated_frames_never_panic(
        frames in prop::collection::vec(small_frame(), 1..4),
        mutations in prop::collection::vec(mutation(), 0..4),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
        max in prop_oneof![Just(u32::from(u16::MAX)), 256u32..4096],
    ) {
        let mut bytes = BytesMut::new();
        frames.iter().for_each(|f| f.encode(&mut bytes));
        let mut bytes = bytes.to_vec();
        mutate(&mut bytes, &mutations);
        let out = run(&bytes, &cuts, max);
        assert_reencodes(&out.frames);
        if mutations.is_empty() && out.error.is_none() {
            prop_assert_eq!(out.frames, frames);
        }
    }

    /// Unmutated frames split anywhere decode to themselves, and leave no
    /// more than one frame's bytes buffered.
    #[test]
    fn valid_frames_split_anywhere(
        frames in prop::collection::vec(small_frame(), 1..4),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut bytes = BytesMut::new();
        frames.iter().for_each(|f| f.encode(&mut bytes));
        let max = frames.iter().map(Frame::frame_len).max().unwrap_or(0);
        let out = run(&bytes, &cuts, u32::try_from(max).unwrap());
        prop_assert!(out.error.is_none(), "{:?}", out.error);
        prop_assert_eq!(out.left, 0);
        prop_assert_eq!(out.frames, frames);
    }
}

#[test]
fn huge_length_prefix_is_refused_before_buffering() {
    for prefix in [[0xff; 4], [0x80, 0, 0, 0], [0, 0, 0x40, 0]] {
        let out = run(&prefix, &[], 16380);
        let e = out.error.expect("refused");
        assert!(matches!(e.kind, DecodeErrorKind::FrameTooBig { .. }), "{e}");
        assert_eq!(e.offset, 0);
    }
}

// ---------------------------------------------------------------------------
// Reassembler

/// A frame as the decoder would hand it to the reassembler.
fn through_decoder(f: &Frame) -> Option<Frame> {
    let mut b = BytesMut::new();
    f.encode(&mut b);
    FrameDecoder::new(u32::MAX).decode(&mut b).ok().flatten()
}

fn fragment(t: FrameType, flags: u32, sid: u64, fid: u64, payload: &[u8]) -> Frame {
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

/// One step fed to the reassembler.
fn reassembly_step() -> BoxedStrategy<Vec<Frame>> {
    let small_id = || 0u64..3;
    // A well-formed fragmented NOTIFY: NOTIFY without FIN, UNSETs, last with FIN.
    let sequence = (
        prop::collection::vec(small_message(), 0..3),
        prop::collection::vec(any::<Index>(), 0..4),
        small_id(),
        small_id(),
        any::<bool>(),
    )
        .prop_map(|(messages, cuts, sid, fid, abort_at_end)| {
            let mut payload = Vec::new();
            messages.iter().for_each(|m| m.encode(&mut payload));
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            points.sort_unstable();
            points.push(payload.len());
            let mut frames = Vec::new();
            let mut start = 0;
            for (n, end) in points.iter().copied().enumerate() {
                let t = if n == 0 {
                    FrameType::NOTIFY
                } else {
                    FrameType::UNSET
                };
                let last = n + 1 == points.len() && n > 0;
                let flags = match (last, abort_at_end) {
                    (true, true) => 3,
                    (true, false) => 1,
                    _ => 0,
                };
                frames.push(fragment(t, flags, sid, fid, &payload[start..end]));
                start = end;
            }
            frames
        });
    let single = prop_oneof![
        (
            prop::sample::select(vec![FrameType::NOTIFY, FrameType::UNSET]),
            0u32..4,
            small_id(),
            small_id(),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(t, flags, sid, fid, p)| fragment(t, flags, sid, fid, &p)),
        (
            small_id(),
            small_id(),
            prop::collection::vec(small_message(), 0..2)
        )
            .prop_map(|(sid, fid, m)| Frame::notify(sid, fid, m)),
        small_frame(),
    ]
    .prop_map(|f| vec![f]);
    prop_oneof![2 => sequence, 3 => single]
        .prop_map(|frames| frames.iter().filter_map(through_decoder).collect())
        .boxed()
}

/// What the reassembler should answer, from the protocol's rules.
#[derive(Debug, Default)]
struct Model {
    pending: Option<(u64, u64, Vec<u8>)>,
}

#[derive(Debug, PartialEq)]
enum Expect {
    Complete(Frame),
    Pending,
    Aborted(u64, u64),
    TooBig,
    Interlaced,
    Decode,
    NotNotify,
}

impl Model {
    fn push(&mut self, f: &Frame, limit: usize) -> Expect {
        let h = f.header;
        let abort = h.flags.abort();
        match (&f.body, h.frame_type) {
            (Body::Notify(_), FrameType::NOTIFY) => match self.pending {
                Some(_) => Expect::Interlaced,
                None => Expect::Complete(f.clone()),
            },
            (Body::Fragment(p), FrameType::NOTIFY) => {
                if self.pending.is_some() {
                    Expect::Interlaced
                } else if abort {
                    Expect::Aborted(h.stream_id, h.frame_id)
                } else if p.len() > limit {
                    Expect::TooBig
                } else {
                    self.pending = Some((h.stream_id, h.frame_id, p.to_vec()));
                    Expect::Pending
                }
            }
            (Body::Fragment(p), FrameType::UNSET) => {
                let Some((sid, fid, buf)) = self.pending.as_mut() else {
                    return Expect::Interlaced;
                };
                if (*sid, *fid) != (h.stream_id, h.frame_id) {
                    return Expect::Interlaced;
                }
                if abort {
                    self.pending = None;
                    return Expect::Aborted(h.stream_id, h.frame_id);
                }
                if buf.len() + p.len() > limit {
                    return Expect::TooBig;
                }
                buf.extend_from_slice(p);
                if !h.flags.fin() {
                    return Expect::Pending;
                }
                let (sid, fid, payload) = self.pending.take().unwrap();
                // Decode the whole payload as an unfragmented NOTIFY would be.
                let mut frame = vec![3, 0, 0, 0, 1];
                spop::varint::encode(sid, &mut frame);
                spop::varint::encode(fid, &mut frame);
                frame.extend(payload);
                match Frame::decode(Bytes::from(frame)) {
                    Ok(Frame {
                        body: Body::Notify(m),
                        ..
                    }) => Expect::Complete(Frame::notify(sid, fid, m)),
                    _ => Expect::Decode,
                }
            }
            _ => Expect::NotNotify,
        }
    }
}

fn observed(r: Result<Reassembly, ReassemblyError>) -> Expect {
    match r {
        Ok(Reassembly::Complete(f)) => Expect::Complete(f),
        Ok(Reassembly::Pending) => Expect::Pending,
        Ok(Reassembly::Aborted {
            stream_id,
            frame_id,
        }) => Expect::Aborted(stream_id, frame_id),
        Err(e) => {
            let _ = (e.to_string(), e.status());
            match e {
                ReassemblyError::TooBig { size, limit } => {
                    assert!(size > limit);
                    Expect::TooBig
                }
                ReassemblyError::Interlaced { .. } => Expect::Interlaced,
                ReassemblyError::Decode(_) => Expect::Decode,
                ReassemblyError::NotNotify(_) => Expect::NotNotify,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(4096))]

    /// Any sequence of frames: no panic, the answers follow the rules, and the
    /// pending payload never exceeds the limit. Feeding goes on after errors
    /// (a runtime would close the connection; the reassembler must still not
    /// panic).
    #[test]
    fn reassembler_follows_the_rules(
        steps in prop::collection::vec(reassembly_step(), 0..8),
        limit in prop_oneof![0usize..64, Just(256usize), Just(16380usize)],
    ) {
        let mut r = Reassembler::new(limit);
        let mut model = Model::default();
        for f in steps.into_iter().flatten() {
            let want = model.push(&f, limit);
            let got = observed(r.push(f.clone()));
            prop_assert_eq!(&got, &want, "after {:?}", f);
            prop_assert_eq!(r.is_pending(), model.pending.is_some());
            if let Some((_, _, buf)) = &model.pending {
                prop_assert!(buf.len() <= limit);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..Default::default() })]

    /// The in-place reader never panics either, and agrees with the owned
    /// decoder on what is valid.
    #[test]
    fn view_never_panics_and_agrees(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (mut m, mut a) = (Vec::new(), Vec::new());
        let view = spop::view::split_frame(&bytes, 16380);
        let owned = FrameDecoder::new(16380).decode(&mut BytesMut::from(&bytes[..]));
        // A frame the in-place reader refuses is refused by the owned decoder too.
        if view.is_err() {
            prop_assert!(owned.is_err());
        }
        if let Ok(Some(f)) = view {
            let r = spop::view::decode_messages(f.payload, f.payload_offset, &mut m, &mut a);
            if f.header.frame_type == FrameType::NOTIFY && f.header.flags == Flags::FIN {
                let owned_ok = matches!(owned, Ok(Some(ref fr)) if matches!(fr.body, Body::Notify(_)));
                prop_assert_eq!(r.is_ok(), owned_ok);
            }
        }
    }
}
