//! Arbitrary bytes read as one typed-data value (the only argument of a
//! NOTIFY message); whatever decodes must re-encode and decode to itself.
#![no_main]

use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use spop::{Body, Frame, TypedData};

/// A NOTIFY (FIN, ids 0) whose one message `""` has one argument `""`
/// followed by `value`, without the length prefix.
fn notify_with_value(value: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(&[3, 0, 0, 0, 1, 0, 0]);
    b.put_slice(&[0, 1, 0]);
    b.put_slice(value);
    b.freeze()
}

fn single_value(frame: Bytes) -> Option<TypedData> {
    let Ok(Frame {
        body: Body::Notify(messages),
        ..
    }) = Frame::decode(frame)
    else {
        return None;
    };
    let [message] = &messages[..] else {
        return None;
    };
    let [arg] = &message.args[..] else {
        return None;
    };
    Some(arg.value.clone())
}

fuzz_target!(|data: &[u8]| {
    let Some(value) = single_value(notify_with_value(data)) else {
        return;
    };
    let mut encoded = Vec::new();
    value.encode(&mut encoded);
    assert_eq!(encoded.len(), value.encoded_len());
    assert!(
        encoded.len() <= data.len() + 9,
        "a value never grows past sign extension"
    );
    let again = single_value(notify_with_value(&encoded)).expect("re-encoded value decodes");
    assert_eq!(again, value);
});
