//! Allocations per SPOE event on the engine's side: the filter evaluates and
//! encodes the message, the engine sends it on a warm connection, the ACK comes
//! back and becomes variable updates. A counting allocator counts what the
//! test's thread allocates (the filter, the engine and its connection task all
//! run there, on a current-thread runtime); the agent runs on threads of its
//! own and is not counted.
//!
//! The bound is what the path needs once warm; a change that adds an allocation
//! per event fails here before it shows in `bench/gateway.sh`'s allocations per
//! request.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "the agent is a blocking thread that ends with the test process"
)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spoe::config::{Event, SpoeConfig};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe::{Addr, AgentBackend, ProcessStatus, SpoeFilter, StreamState, VarUpdate};
use spop::{
    Action, AgentHello, Capabilities, Frame, FrameDecoder, FrameHeader, FrameType, HaproxyHello,
    VarScope,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn allocations() -> usize {
    let s = GLOBAL.stats();
    s.allocations + s.reallocations
}

/// An agent that allocates nothing once it runs: every NOTIFY gets the same
/// ACK (the four variables `spoe agent --example echo` would set for the
/// request below), built once, written with the NOTIFY's ids from a reused
/// buffer. The counts of the process are then the engine's.
fn agent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || serve(conn));
        }
    });
    addr
}

fn serve(mut conn: TcpStream) {
    let mut ack = BytesMut::new();
    for a in [
        Action::set_var(VarScope::Transaction, "src", Ipv4Addr::new(192, 0, 2, 7)),
        Action::set_var(VarScope::Transaction, "path", "/api/items"),
        Action::set_var(VarScope::Transaction, "method", "GET"),
        Action::set_var(VarScope::Transaction, "hdr", "wrk"),
    ] {
        a.encode(&mut ack);
    }
    let mut buf = BytesMut::with_capacity(1 << 16);
    let mut out = BytesMut::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    let mut decoder = FrameDecoder::new(16380);
    loop {
        let Ok(n) = conn.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Ok(Some(f)) = spop::view::split_frame(&buf, 16380) {
            let (header, len) = (f.header, f.len);
            match header.frame_type {
                FrameType::HAPROXY_HELLO => {
                    let Ok(Some(Frame {
                        body: spop::Body::HaproxyHello(kv),
                        ..
                    })) = decoder.decode(&mut buf)
                    else {
                        return;
                    };
                    let hello = HaproxyHello::from_kv(&kv).unwrap();
                    let caps = Capabilities {
                        pipelining: true,
                        ..Capabilities::default()
                    };
                    let answer = AgentHello::answer(&hello, 16380, caps).unwrap();
                    Frame::agent_hello(&answer).encode(&mut out);
                }
                FrameType::NOTIFY => {
                    let h = FrameHeader {
                        frame_type: FrameType::ACK,
                        ..header
                    };
                    h.encode_with_payload(&ack, &mut out);
                    let _ = buf.split_to(len);
                }
                _ => return,
            }
        }
        if conn.write_all(&out).is_err() {
            return;
        }
        out.clear();
        buf.reserve(1 << 15);
    }
}

/// `bench/`'s message (`bench/lib.sh`): src, path, method and a header, echoed back by
/// the agent as four variables, with `set-on-error`.
const SPOE_CONF: &str = "\
[bench]
spoe-agent bench-agent
    messages bench
    option var-prefix bench
    option set-on-error err
    option force-set-var
    timeout hello 2s
    timeout idle 30s
    timeout processing 5s
    use-backend agents

spoe-message bench
    args src=src path=path method=method hdr=req.hdr(x-bench)
    event on-frontend-http-request
";

/// A request whose fetches allocate nothing (static strings), so that only the
/// SPOE path is counted.
struct Host;

impl Fetch for Host {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::Src => Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 7))),
            FetchKind::Path => Some(Sample::Str(Bytes::from_static(b"/api/items"))),
            FetchKind::Method => Some(Sample::Str(Bytes::from_static(b"GET"))),
            FetchKind::ReqHdr { .. } => Some(Sample::Str(Bytes::from_static(b"wrk"))),
            _ => None,
        }
    }
}

/// Allocations the thread made for one event, averaged over `n` events.
async fn per_event(f: &SpoeFilter, n: u32) -> f64 {
    let before = allocations();
    for _ in 0..n {
        let mut stream = StreamState::default();
        let prepared = f
            .prepare_event(Event::OnFrontendHttpRequest, &Host, &stream)
            .expect("the message is sent on every request");
        let done = f.process(prepared, &mut stream).await;
        assert_eq!(done.outcome.status, ProcessStatus::OK);
        // The four echoed arguments, as the gateway applies them.
        assert_eq!(done.updates.len(), 4, "{:?}", done.updates);
        assert!(done.updates.iter().any(|u| matches!(
            u,
            VarUpdate::Set { name, .. } if &name[..] == "txn.bench.hdr"
        )));
        drop(done);
    }
    (allocations() - before) as f64 / f64::from(n)
}

#[test]
fn a_warm_event_allocates_at_most_a_few_times() {
    let addr = agent();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per = rt.block_on(async {
        let (config, _) = SpoeConfig::parse_str(SPOE_CONF, "spoe.conf", Some("bench")).unwrap();
        let f = SpoeFilter::start(
            config,
            &AgentBackend {
                servers: vec![Addr::Tcp(addr)],
                timeout_connect: Duration::from_secs(2),
                max_connections_per_server: 1,
                health_check: None,
            },
        );
        // Warm-up: the connection, its buffers, the tables.
        per_event(&f, 300).await;
        let per = per_event(&f, 2000).await;
        f.engine().shutdown().await;
        per
    });
    println!("allocations per SPOE event (filter and engine, warm): {per:.2}");
    assert!(
        per <= 12.0,
        "{per:.2} allocations per event: the warm SPOE path allocates more than it needs"
    );
}
