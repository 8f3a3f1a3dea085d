//! `spoe decode`: hex in, one JSON line per frame out, errors with the byte
//! offset in the whole input and exit code 1.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use bytes::{Bytes, BytesMut};
use spop::{
    Action, AgentHello, Body, Capabilities, Disconnect, Flags, Frame, FrameHeader, FrameType,
    HaproxyHello, Kv, Message, Status, TypedData, VarScope, Version,
};

/// NOTIFY, stream 0, frame 1: message `check` with `ip` = IPV4 127.0.0.1
/// (the example of `spop-reference.md`'s layout, written by hand).
const NOTIFY_HEX: &str = "00000016 03 00000001 00 01 05 636865636b 01 02 6970 06 7f000001";
const NOTIFY_LEN: usize = 26;
const NOTIFY_JSON: &str = r#"{"type":"NOTIFY","fin":true,"abort":false,"stream_id":0,"frame_id":1,"messages":[{"name":"check","args":[{"name":"ip","type":"IPV4","value":"127.0.0.1"}]}]}"#;

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

fn spoe(args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spoe"));
    cmd.arg("decode").args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spoe");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for spoe");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

fn ok(args: &[&str]) -> Vec<String> {
    let run = spoe(args, None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    run.lines().into_iter().map(str::to_owned).collect()
}

fn hex_of(frames: &[Frame]) -> String {
    let mut b = BytesMut::new();
    frames.iter().for_each(|f| f.encode(&mut b));
    hex::encode(b)
}

fn decode_one(frame: &Frame) -> String {
    let lines = ok(&[&hex_of(std::slice::from_ref(frame))]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

#[test]
fn notify_from_an_argument() {
    assert_eq!(ok(&[NOTIFY_HEX]), [NOTIFY_JSON]);
}

#[test]
fn notify_from_stdin_upper_case_and_split_anywhere() {
    let hex = NOTIFY_HEX.to_uppercase().replace(' ', "\n  \t");
    let hex = format!("{}\r\n{}\n", &hex[..5], &hex[5..]);
    let run = spoe(&[], Some(&hex));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), [NOTIFY_JSON]);
    let run = spoe(&["-"], Some(&hex));
    assert_eq!(run.lines(), [NOTIFY_JSON]);
}

#[test]
fn haproxy_hello() {
    let hello = HaproxyHello {
        supported_versions: "2.0".into(),
        max_frame_size: 16380,
        capabilities: Capabilities::parse("pipelining,async"),
        healthcheck: true,
        engine_id: Some("498eb551-28cd-4fcd-ad4b-81d57b35fa64".into()),
    };
    assert_eq!(
        decode_one(&Frame::haproxy_hello(&hello)),
        concat!(
            r#"{"type":"HAPROXY-HELLO","fin":true,"abort":false,"stream_id":0,"frame_id":0,"kv":["#,
            r#"{"name":"supported-versions","type":"STRING","value":"2.0"},"#,
            r#"{"name":"max-frame-size","type":"UINT32","value":16380},"#,
            r#"{"name":"capabilities","type":"STRING","value":"pipelining,async"},"#,
            r#"{"name":"healthcheck","type":"BOOL","value":true},"#,
            r#"{"name":"engine-id","type":"STRING","value":"498eb551-28cd-4fcd-ad4b-81d57b35fa64"}]}"#
        )
    );
}

#[test]
fn agent_hello() {
    let hello = AgentHello {
        version: Version::V2_0,
        max_frame_size: 16380,
        capabilities: Capabilities::parse("pipelining"),
    };
    assert_eq!(
        decode_one(&Frame::agent_hello(&hello)),
        concat!(
            r#"{"type":"AGENT-HELLO","fin":true,"abort":false,"stream_id":0,"frame_id":0,"kv":["#,
            r#"{"name":"version","type":"STRING","value":"2.0"},"#,
            r#"{"name":"max-frame-size","type":"UINT32","value":16380},"#,
            r#"{"name":"capabilities","type":"STRING","value":"pipelining"}]}"#
        )
    );
}

#[test]
fn ack_with_set_and_unset() {
    let ack = Frame::ack(
        5,
        300,
        vec![
            Action::set_var(VarScope::Session, "ip_score", 10i32),
            Action::unset_var(VarScope::Request, "tmp"),
        ],
    );
    assert_eq!(
        decode_one(&ack),
        concat!(
            r#"{"type":"ACK","fin":true,"abort":false,"stream_id":5,"frame_id":300,"actions":["#,
            r#"{"action":"SET-VAR","scope":"SESSION","name":"ip_score","type":"INT32","value":10},"#,
            r#"{"action":"UNSET-VAR","scope":"REQUEST","name":"tmp"}]}"#
        )
    );
}

#[test]
fn ack_with_an_unknown_action() {
    let ack = Frame::ack(
        1,
        2,
        vec![
            Action::set_var(VarScope::Transaction, "v", TypedData::Null),
            Action::Unknown {
                action_type: 9,
                rest: Bytes::from_static(&[1, 2, 0xab]),
            },
        ],
    );
    assert_eq!(
        decode_one(&ack),
        concat!(
            r#"{"type":"ACK","fin":true,"abort":false,"stream_id":1,"frame_id":2,"actions":["#,
            r#"{"action":"SET-VAR","scope":"TRANSACTION","name":"v","type":"NULL","value":null},"#,
            r#"{"action":"UNKNOWN(9)","rest_hex":"0102ab"}]}"#
        )
    );
}

#[test]
fn disconnects_with_status_and_message() {
    let d = Disconnect::new(Status::FRAME_TOO_BIG);
    let kv = concat!(
        r#""kv":[{"name":"status-code","type":"UINT32","value":3},"#,
        r#"{"name":"message","type":"STRING","value":"frame is too big"}],"#,
        r#""status_code":3,"message":"frame is too big"}"#
    );
    assert_eq!(
        decode_one(&Frame::agent_disconnect(&d)),
        format!(
            r#"{{"type":"AGENT-DISCONNECT","fin":true,"abort":false,"stream_id":0,"frame_id":0,{kv}"#
        )
    );
    assert_eq!(
        decode_one(&Frame::haproxy_disconnect(&d)),
        format!(
            r#"{{"type":"HAPROXY-DISCONNECT","fin":true,"abort":false,"stream_id":0,"frame_id":0,{kv}"#
        )
    );
    // Without the keys, the convenience fields are null.
    let bare = Frame {
        header: Frame::agent_disconnect(&d).header,
        body: Body::AgentDisconnect(vec![Kv::new("status-code", "x")]),
    };
    assert!(
        decode_one(&bare).ends_with(r#""status_code":null,"message":null}"#),
        "{}",
        decode_one(&bare)
    );
}

#[test]
fn every_typed_data_type() {
    let m = Message::new("all")
        .arg("null", TypedData::Null)
        .arg("t", true)
        .arg("f", false)
        .arg("i32", i32::MIN)
        .arg("u32", u32::MAX)
        .arg("i64", i64::MIN)
        .arg("neg", -42i64)
        .arg("u64", u64::MAX)
        .arg("v4", Ipv4Addr::new(10, 0, 0, 1))
        .arg("v6", "2001:db8::1".parse::<Ipv6Addr>().unwrap())
        .arg("str", "/a path?x=\"y\"")
        .arg("latin1", TypedData::Str(Bytes::from_static(b"caf\xe9")))
        .arg("bin", TypedData::binary(vec![0xca, 0xfe, 0x00]))
        .arg("", "unnamed");
    let args = concat!(
        r#"{"name":"null","type":"NULL","value":null},"#,
        r#"{"name":"t","type":"BOOL","value":true},"#,
        r#"{"name":"f","type":"BOOL","value":false},"#,
        r#"{"name":"i32","type":"INT32","value":-2147483648},"#,
        r#"{"name":"u32","type":"UINT32","value":4294967295},"#,
        r#"{"name":"i64","type":"INT64","value":-9223372036854775808},"#,
        r#"{"name":"neg","type":"INT64","value":-42},"#,
        r#"{"name":"u64","type":"UINT64","value":18446744073709551615},"#,
        r#"{"name":"v4","type":"IPV4","value":"10.0.0.1"},"#,
        r#"{"name":"v6","type":"IPV6","value":"2001:db8::1"},"#,
        r#"{"name":"str","type":"STRING","value":"/a path?x=\"y\""},"#,
        r#"{"name":"latin1","type":"STRING","hex":"636166e9","value":"caf\ufffd"},"#,
        r#"{"name":"bin","type":"BINARY","value":"cafe00"},"#,
        r#"{"name":"","type":"STRING","value":"unnamed"}"#,
    );
    let line = decode_one(&Frame::notify(u64::MAX, 239, vec![m]));
    assert_eq!(
        line,
        format!(
            r#"{{"type":"NOTIFY","fin":true,"abort":false,"stream_id":18446744073709551615,"frame_id":239,"messages":[{{"name":"all","args":[{args}]}}]}}"#
        )
        .replace("\\ufffd", "\u{fffd}")
    );
}

#[test]
fn several_frames_back_to_back() {
    let frames = [
        Frame::notify(
            1,
            1,
            vec![Message::new("a"), Message::new("b").arg("x", 1i64)],
        ),
        Frame::ack(1, 1, vec![]),
        Frame::agent_disconnect(&Disconnect::new(Status::NORMAL)),
    ];
    let lines = ok(&[&hex_of(&frames)]);
    assert_eq!(
        lines,
        [
            r#"{"type":"NOTIFY","fin":true,"abort":false,"stream_id":1,"frame_id":1,"messages":[{"name":"a","args":[]},{"name":"b","args":[{"name":"x","type":"INT64","value":1}]}]}"#,
            r#"{"type":"ACK","fin":true,"abort":false,"stream_id":1,"frame_id":1,"actions":[]}"#,
            r#"{"type":"AGENT-DISCONNECT","fin":true,"abort":false,"stream_id":0,"frame_id":0,"kv":[{"name":"status-code","type":"UINT32","value":0},{"name":"message","type":"STRING","value":"normal"}],"status_code":0,"message":"normal"}"#,
        ]
    );
}

#[test]
fn fragments_and_unknown_types_show_their_payload() {
    let frag = |t: FrameType, flags: u32, payload: &'static [u8]| Frame {
        header: FrameHeader {
            frame_type: t,
            flags: Flags(flags),
            stream_id: 4,
            frame_id: 9,
        },
        body: Body::Fragment(Bytes::from_static(payload)),
    };
    let unknown = Frame {
        header: FrameHeader {
            frame_type: FrameType(42),
            flags: Flags(0x101),
            stream_id: 0,
            frame_id: 0,
        },
        body: Body::Unknown(Bytes::from_static(b"\x00\xff")),
    };
    let lines = ok(&[&hex_of(&[
        frag(FrameType::NOTIFY, 0, b"\x05che"),
        frag(FrameType::UNSET, 3, b""),
        unknown,
    ])]);
    assert_eq!(
        lines,
        [
            r#"{"type":"NOTIFY","fin":false,"abort":false,"stream_id":4,"frame_id":9,"payload_hex":"05636865"}"#,
            r#"{"type":"UNSET","fin":true,"abort":true,"stream_id":4,"frame_id":9,"payload_hex":""}"#,
            r#"{"type":"UNKNOWN(42)","fin":true,"abort":false,"flags":257,"stream_id":0,"frame_id":0,"payload_hex":"00ff"}"#,
        ]
    );
}

#[test]
fn frames_above_the_default_max_frame_size_need_the_flag() {
    let big = Frame::notify(
        1,
        1,
        vec![Message::new("m").arg("b", TypedData::binary(vec![7u8; 17_000]))],
    );
    let hex = hex_of(std::slice::from_ref(&big));
    let len = big.frame_len();
    let run = spoe(&[&hex], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "spoe: invalid frame #1 (starting at byte 0): at byte 0: frame length {len} exceeds max-frame-size 16380 (raise --max-frame-size if the peers negotiated more)\n"
        )
    );
    let lines = ok(&["--max-frame-size", "20000", &hex]);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains(&"07".repeat(17_000)));
}

// ---------------------------------------------------------------------------
// Errors

fn fails(args: &[&str], stdin: Option<&str>) -> Run {
    let run = spoe(args, stdin);
    assert_eq!(run.code, 1, "{run:?}");
    run
}

#[test]
fn invalid_hex_names_the_character() {
    let run = fails(&["00 00 0z"], None);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "spoe: invalid hex digit 'z' at character 7 of the input\n"
    );
    let run = fails(&[], Some("0x00"));
    assert_eq!(
        run.stderr,
        "spoe: invalid hex digit 'x' at character 1 of the input\n"
    );
    let run = fails(&["000"], None);
    assert_eq!(
        run.stderr,
        "spoe: odd number of hex digits (3): the last byte is missing a digit\n"
    );
}

#[test]
fn empty_input_is_an_error() {
    let run = fails(&[], Some(" \n"));
    assert_eq!(
        run.stderr,
        "spoe: no input: give the frames as hex, as an argument or on standard input\n"
    );
}

#[test]
fn huge_length_prefix_is_rejected_at_once() {
    let run = fails(&["ffffffff"], None);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "spoe: invalid frame #1 (starting at byte 0): at byte 0: frame length 4294967295 exceeds max-frame-size 16380 (raise --max-frame-size if the peers negotiated more)\n"
    );
    // After a good frame: that frame is printed, the offset counts it.
    let run = fails(&[&format!("{NOTIFY_HEX} ffffffff 00")], None);
    assert_eq!(run.lines(), [NOTIFY_JSON]);
    assert_eq!(
        run.stderr,
        format!(
            "spoe: invalid frame #2 (starting at byte {NOTIFY_LEN}): at byte {NOTIFY_LEN}: frame length 4294967295 exceeds max-frame-size 16380 (raise --max-frame-size if the peers negotiated more)\n"
        )
    );
    let run = fails(&["00000000"], None);
    assert!(
        run.stderr.starts_with(
            "spoe: invalid frame #1 (starting at byte 0): at byte 0: frame length 0 is invalid"
        ),
        "{run:?}"
    );
}

#[test]
fn truncated_frames_say_how_much_is_missing() {
    // The last three bytes of the second frame are missing.
    let cut = &NOTIFY_HEX.replace(' ', "")[..(NOTIFY_LEN - 3) * 2];
    let run = fails(&[NOTIFY_HEX, cut], None);
    assert_eq!(run.lines(), [NOTIFY_JSON]);
    assert_eq!(
        run.stderr,
        format!("spoe: truncated frame at byte {NOTIFY_LEN}: need 3 more bytes\n")
    );
    // Half a length prefix.
    let run = fails(&[NOTIFY_HEX, "0000"], None);
    assert_eq!(run.lines(), [NOTIFY_JSON]);
    assert_eq!(
        run.stderr,
        format!(
            "spoe: truncated frame at byte {NOTIFY_LEN}: need 2 more bytes to complete its 4-byte length prefix\n"
        )
    );
}

#[test]
fn invalid_typed_data_names_its_offset_in_the_whole_input() {
    // NOTIFY: message "m", one argument "a" whose type byte is 0x0c (reserved),
    // at byte 16 of this frame.
    let bad = "0000000d 03 00000001 00 01 01 6d 01 01 61 0c";
    let run = fails(&[NOTIFY_HEX, bad], None);
    assert_eq!(run.lines(), [NOTIFY_JSON]);
    let at = NOTIFY_LEN + 16;
    assert_eq!(
        run.stderr,
        format!(
            "spoe: invalid frame #2 (starting at byte {NOTIFY_LEN}): at byte {at}: unknown data type 12 in type byte 0x0c: expected 0..=9\n"
        )
    );
    // A typed value cut short by the end of its frame.
    let short = "0000000d 03 00000001 00 01 01 6d 01 01 61 06";
    let run = fails(&[short], None);
    assert_eq!(
        run.stderr,
        "spoe: invalid frame #1 (starting at byte 0): at byte 17: IPV4 value is truncated: 4 byte(s) needed, 0 left in the frame\n"
    );
}
