//! The floor: the least work any proxy can do per request in `bench/gateway.sh`'s c50 scenarios,
//! to bound what a proxy can reach on this machine. Not a proxy anyone should run.
//!
//! Per request it does only what the kernel makes every proxy do: read the request from the
//! client's socket, (with SPOE) write a NOTIFY to the agent and read its ACK, and write the
//! response. It parses nothing but the end of the request head and the ACK's ids, evaluates no
//! rule, sets no variable, and sends one fixed NOTIFY (the same message, arguments and values as
//! `write_bench_spoe_conf` makes HAProxy send for wrk's requests). Each thread is an event loop
//! on its own epoll with its own listener (SO_REUSEPORT) and one pipelined agent connection; all
//! NOTIFYs of one loop iteration go out in one write, as the gateway and HAProxy batch them.
//!
//! Usage: floor LISTEN_ADDR AGENT_ADDR THREADS spoe|nospoe

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use spop::{
    Capabilities, Flags, Frame, FrameDecoder, FrameEncoder, FrameHeader, FrameType, HaproxyHello,
    TypedData, encode_arg, encode_message_head,
};

const LISTENER: Token = Token(0);
const AGENT: Token = Token(1);
const FIRST_CLIENT: usize = 2;
const MAX_FRAME_SIZE: u32 = 16380;
/// What `http-request return status 200 content-type text/plain string "ok"` answers.
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";

struct Client {
    stream: TcpStream,
    /// Tells a reused slot's ACKs from its previous connection's (the NOTIFY's frame-id).
    serial: u64,
    input: Vec<u8>,
    output: Vec<u8>,
}

struct Loop {
    poll: Poll,
    listener: TcpListener,
    agent: TcpStream,
    agent_in: BytesMut,
    agent_out: BytesMut,
    /// The NOTIFY's messages, encoded once: only the ids change per request.
    notify_payload: Vec<u8>,
    spoe: bool,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    serial: u64,
    dirty: Vec<usize>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (|| -> Option<(SocketAddr, SocketAddr, usize, bool)> {
        let [_, listen, agent, threads, mode] = args.as_slice() else {
            return None;
        };
        let spoe = match mode.as_str() {
            "spoe" => true,
            "nospoe" => false,
            _ => return None,
        };
        Some((
            listen.parse().ok()?,
            agent.parse().ok()?,
            threads.parse().ok()?,
            spoe,
        ))
    })();
    let Some((listen, agent, threads, spoe)) = parsed else {
        eprintln!("usage: floor LISTEN_ADDR AGENT_ADDR THREADS spoe|nospoe");
        return ExitCode::from(2);
    };
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| std::thread::spawn(move || run(listen, agent, spoe)))
        .collect();
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("floor: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    ExitCode::SUCCESS
}

fn run(listen: SocketAddr, agent: SocketAddr, spoe: bool) -> io::Result<()> {
    let mut lp = Loop::new(listen, agent, spoe)?;
    let mut events = Events::with_capacity(256);
    loop {
        lp.poll.poll(&mut events, None)?;
        for event in events.iter() {
            match event.token() {
                LISTENER => lp.accept()?,
                AGENT => {
                    if event.is_readable() {
                        lp.read_agent()?;
                    }
                }
                Token(slot) => {
                    if event.is_readable() {
                        lp.read_client(slot);
                    }
                    if event.is_writable() {
                        lp.dirty.push(slot);
                    }
                }
            }
        }
        lp.flush()?;
    }
}

impl Loop {
    fn new(listen: SocketAddr, agent: SocketAddr, spoe: bool) -> io::Result<Self> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(listen),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&listen.into())?;
        socket.listen(1024)?;
        socket.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(socket.into());
        let mut agent = handshake(agent)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        poll.registry()
            .register(&mut agent, AGENT, Interest::READABLE | Interest::WRITABLE)?;

        let mut notify_payload = Vec::new();
        encode_message_head(b"bench", 4, &mut notify_payload);
        encode_arg(
            b"src",
            &TypedData::Ipv4(Ipv4Addr::LOCALHOST),
            &mut notify_payload,
        );
        encode_arg(
            b"path",
            &TypedData::Str("/bench".into()),
            &mut notify_payload,
        );
        encode_arg(
            b"method",
            &TypedData::Str("GET".into()),
            &mut notify_payload,
        );
        encode_arg(b"hdr", &TypedData::Str("wrk".into()), &mut notify_payload);
        Ok(Self {
            poll,
            listener,
            agent,
            agent_in: BytesMut::with_capacity(64 * 1024),
            agent_out: BytesMut::with_capacity(64 * 1024),
            notify_payload,
            spoe,
            clients: Vec::new(),
            free: Vec::new(),
            serial: 0,
            dirty: Vec::new(),
        })
    }

    fn accept(&mut self) -> io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            stream.set_nodelay(true)?;
            let slot = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            self.poll.registry().register(
                &mut stream,
                Token(slot + FIRST_CLIENT),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            self.serial += 1;
            self.clients[slot] = Some(Client {
                stream,
                serial: self.serial,
                input: Vec::with_capacity(1024),
                output: Vec::with_capacity(1024),
            });
        }
    }

    fn read_client(&mut self, token: usize) {
        let slot = token - FIRST_CLIENT;
        let Some(Some(client)) = self.clients.get_mut(slot) else {
            return;
        };
        let mut buf = [0u8; 4096];
        let mut open = true;
        loop {
            match client.stream.read(&mut buf) {
                Ok(0) => {
                    open = false;
                    break;
                }
                Ok(n) => client.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    open = false;
                    break;
                }
            }
        }
        while let Some(end) = client.input.windows(4).position(|w| w == b"\r\n\r\n") {
            client.input.drain(..end + 4);
            if self.spoe {
                let header = FrameHeader {
                    frame_type: FrameType::NOTIFY,
                    flags: Flags::FIN,
                    stream_id: slot as u64,
                    frame_id: client.serial,
                };
                header.encode_with_payload(&self.notify_payload, &mut self.agent_out);
            } else {
                client.output.extend_from_slice(RESPONSE);
                self.dirty.push(token);
            }
        }
        if !open {
            self.close(slot);
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut client) = self.clients[slot].take() {
            let _ = self.poll.registry().deregister(&mut client.stream);
            self.free.push(slot);
        }
    }

    fn read_agent(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 16384];
        loop {
            match self.agent.read(&mut buf) {
                Ok(0) => return Err(io::Error::other("the agent closed its connection")),
                Ok(n) => self.agent_in.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        while self.agent_in.len() >= 4 {
            let len = u32::from_be_bytes([
                self.agent_in[0],
                self.agent_in[1],
                self.agent_in[2],
                self.agent_in[3],
            ]) as usize;
            if self.agent_in.len() < 4 + len {
                break;
            }
            let frame = &self.agent_in[4..4 + len];
            if frame.first() != Some(&FrameType::ACK.0) {
                return Err(io::Error::other(format!(
                    "the agent sent frame type {:?}",
                    frame.first()
                )));
            }
            let ids = frame.get(5..).unwrap_or_default();
            let (stream_id, used) = spop::varint::decode(ids)
                .map_err(|e| io::Error::other(format!("ACK ids: {e:?}")))?;
            let (frame_id, _) = spop::varint::decode(&ids[used..])
                .map_err(|e| io::Error::other(format!("ACK ids: {e:?}")))?;
            if let Some(Some(client)) = self.clients.get_mut(stream_id as usize)
                && client.serial == frame_id
            {
                client.output.extend_from_slice(RESPONSE);
                self.dirty.push(stream_id as usize + FIRST_CLIENT);
            }
            self.agent_in.advance(4 + len);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.agent_out.is_empty() {
            match self.agent.write(&self.agent_out) {
                Ok(n) => self.agent_out.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let dirty = std::mem::take(&mut self.dirty);
        for token in &dirty {
            let slot = token - FIRST_CLIENT;
            let Some(Some(client)) = self.clients.get_mut(slot) else {
                continue;
            };
            let mut failed = false;
            while !client.output.is_empty() {
                match client.stream.write(&client.output) {
                    Ok(n) => {
                        client.output.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                self.close(slot);
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
        Ok(())
    }
}

/// Connects to the agent and exchanges HELLOs (blocking, bounded by a 5 s timeout).
fn handshake(agent: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = std::net::TcpStream::connect_timeout(&agent, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let hello = HaproxyHello {
        supported_versions: "2.0".into(),
        max_frame_size: MAX_FRAME_SIZE,
        capabilities: Capabilities::parse("pipelining"),
        healthcheck: false,
        engine_id: None,
    };
    let mut out = BytesMut::new();
    FrameEncoder::new(MAX_FRAME_SIZE)
        .encode(&Frame::haproxy_hello(&hello), &mut out)
        .map_err(|e| io::Error::other(format!("ACK ids: {e:?}")))?;
    stream.write_all(&out)?;
    let mut decoder = FrameDecoder::new(MAX_FRAME_SIZE);
    let mut input = BytesMut::new();
    let mut buf = [0u8; 4096];
    let frame = loop {
        if let Some(frame) = decoder.decode(&mut input).map_err(io::Error::other)? {
            break frame;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other(
                "the agent closed its connection during the handshake",
            ));
        }
        input.extend_from_slice(&buf[..n]);
    };
    if frame.header.frame_type != FrameType::AGENT_HELLO {
        return Err(io::Error::other(format!(
            "the agent answered HELLO with {:?}",
            frame.header.frame_type
        )));
    }
    stream.set_read_timeout(None)?;
    stream.set_nonblocking(true)?;
    Ok(TcpStream::from_std(stream))
}
