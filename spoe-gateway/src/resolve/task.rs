//! The resolution of one name for the servers that use it (`process_resolvers()`,
//! `resolv_process_responses()` in `src/resolvers.c`, `snr_update_srv_status()` in
//! `src/server.c`), as a task of its own: one query in flight at a time, sent to every
//! nameserver of the section.
//!
//! A resolution tries `resolve_retries` times, each try waiting `timeout retry` for its
//! answers. The first valid answer wins; errors wait for every nameserver. When the
//! preferred family has no answer (every nameserver answered with an error), the other
//! family is asked at once, without using a try. After the last try, the error stands: NX,
//! refused, timeout (no answer at all) or other. The next resolution starts `timeout resolve`
//! after the end of this one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::answer::{Answers, Choice};
use super::slot::Slot;
use super::wire::{Qtype, Reply, query, reply};
use super::{Prefer, Resolvers, ServerDns};

/// HAProxy's `DNS_HEADER_SIZE` and `DNS_MIN_RECORD_SIZE`: the most records an answer of
/// `accepted_payload_size` bytes can hold.
const HEADER_SIZE: usize = 12;
const MIN_RECORD_SIZE: usize = 16;

/// A server of the name, as the resolution sees it.
pub(crate) trait Requester: Send + Sync {
    /// Whether it is in maintenance for want of an address (`SRV_ADMF_RMAINT`).
    fn resolution_maint(&self) -> bool;
    /// Puts it into that maintenance, or takes it out.
    fn set_resolution_maint(&self, on: bool);
}

/// One server of the name.
pub(crate) struct Member {
    /// `backend/server`, for the log lines.
    pub(crate) label: String,
    /// The server.
    pub(crate) server: Arc<dyn Requester>,
    /// Where its address goes.
    pub(crate) slot: Arc<Slot>,
    /// Its settings.
    pub(crate) dns: ServerDns,
    /// Its backend (servers of one backend do not share a record without `allow-dup-ip`).
    pub(crate) backend: usize,
}

/// How a resolution ended (`RSLV_STATUS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Nx,
    Refused,
    Timeout,
    Other,
}

impl Status {
    fn hold(self, r: &Resolvers) -> Duration {
        match self {
            Self::Nx => r.hold.nx,
            Self::Refused => r.hold.refused,
            Self::Timeout => r.hold.timeout,
            Self::Other => r.hold.other,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::Nx => "DNS NX status",
            Self::Refused => "DNS refused status",
            Self::Timeout => "DNS timeout status",
            Self::Other => "unspecified DNS error",
        }
    }
}

/// Resolves `fqdn` for `members` (all with the same preference) until the generation ends.
pub(crate) async fn run(section: Arc<Resolvers>, members: Vec<Member>) {
    let Some(first) = members.first() else {
        return;
    };
    let fqdn = first.dns.fqdn.clone();
    let preferred = match first.dns.prefer {
        Prefer::V4 => Qtype::A,
        Prefer::V6 => Qtype::Aaaa,
    };
    let sockets = match Sockets::bind(&section.nameservers).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(resolvers = %section.name, error = %e, "cannot open a UDP socket for the resolvers; '{fqdn}' is not resolved");
            return;
        }
    };
    let max = (usize::from(section.payload).saturating_sub(HEADER_SIZE)) / MIN_RECORD_SIZE;
    let mut answers = Answers::new(members.len(), max);
    let backends: Vec<usize> = members.iter().map(|m| m.backend).collect();
    let mut last_valid = Instant::now();
    let mut buf = vec![0u8; usize::from(section.payload.max(512))];
    loop {
        let outcome = resolve(&section, &sockets, &fqdn, preferred, &mut buf).await;
        let now = Instant::now();
        match outcome {
            Ok(ips) => {
                last_valid = now;
                answers.merge(&ips, now, section.hold.obsolete);
                for (i, m) in members.iter().enumerate() {
                    let current = m.slot.ip();
                    match answers.choose(i, current, &m.dns, &backends) {
                        Choice::Keep => valid(m, current.is_some()),
                        Choice::Move(ip) => {
                            m.slot.set(Some(ip));
                            let from =
                                current.map_or_else(|| "(none)".to_owned(), |c| c.to_string());
                            tracing::warn!(
                                "{}: IP changed from '{from}' to '{ip}' by 'DNS answer'.",
                                m.label
                            );
                            valid(m, true);
                        }
                        Choice::NoAddress => valid(m, false),
                    }
                }
            }
            Err(status) => {
                let expired = last_valid + status.hold(&section) <= now;
                for (i, m) in members.iter().enumerate() {
                    if expired && !m.server.resolution_maint() {
                        into_maint(m, status.reason());
                        answers.detach(i);
                    }
                }
                if members.iter().all(|m| m.server.resolution_maint()) {
                    answers.purge();
                }
            }
        }
        tokio::time::sleep(section.resolve).await;
    }
}

/// A valid answer for `m`: out of maintenance with an address, into it without.
fn valid(m: &Member, has_address: bool) {
    if !has_address {
        if !m.server.resolution_maint() {
            into_maint(m, "No IP for server ");
        }
        return;
    }
    if m.server.resolution_maint() {
        m.server.set_resolution_maint(false);
        tracing::warn!(
            "Server {} administratively READY thanks to valid DNS answer.",
            m.label
        );
    }
}

fn into_maint(m: &Member, reason: &str) {
    m.server.set_resolution_maint(true);
    m.slot.set(None);
    tracing::warn!(
        "Server {} is going DOWN for maintenance ({reason}).",
        m.label
    );
}

/// One resolution: its tries, the fallback to the other family; the addresses or the error.
async fn resolve(
    section: &Resolvers,
    sockets: &Sockets,
    fqdn: &str,
    preferred: Qtype,
    buf: &mut [u8],
) -> Result<Vec<IpAddr>, Status> {
    let max_records = (buf.len().saturating_sub(HEADER_SIZE) / MIN_RECORD_SIZE).max(1);
    let mut tries = section.retries.max(1) - 1;
    let mut qtype = preferred;
    loop {
        let id: u16 = fastrand::u16(..);
        let Some(message) = query(id, fqdn, qtype, section.payload) else {
            return Err(Status::Other);
        };
        let mut sent = 0usize;
        for (_, ns) in &section.nameservers {
            if sockets.send(&message, *ns).await {
                sent += 1;
            }
        }
        let deadline = Instant::now() + section.retry;
        let mut responses = 0usize;
        let mut last_error = Status::Timeout;
        let mut fell_back = false;
        while responses < sent {
            let got = tokio::time::timeout_at(deadline, sockets.recv(buf)).await;
            let Ok(Ok((n, from))) = got else {
                break;
            };
            if !section.nameservers.iter().any(|(_, ns)| *ns == from) {
                continue;
            }
            let Some(answer) = reply(&buf[..n], id, fqdn, qtype, max_records) else {
                continue;
            };
            responses += 1;
            last_error = match answer {
                Reply::Valid(ips) => return Ok(ips),
                Reply::Nx => Status::Nx,
                Reply::Refused => Status::Refused,
                Reply::Other => Status::Other,
            };
            if responses < sent {
                continue;
            }
            // Every nameserver answered with an error.
            if qtype == preferred {
                qtype = preferred.other();
                fell_back = true;
                break;
            }
            if tries == 0 {
                return Err(last_error);
            }
        }
        if fell_back {
            continue;
        }
        // `timeout retry` ran out (or every answer was an error after the fallback).
        tokio::time::sleep_until(deadline).await;
        if tries == 0 {
            return Err(if responses == 0 {
                Status::Timeout
            } else {
                last_error
            });
        }
        if responses == 0 || qtype != preferred {
            qtype = preferred;
            tries -= 1;
        } else {
            qtype = preferred.other();
        }
    }
}

/// The sockets a resolution asks from: one per address family of the nameservers.
struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl Sockets {
    async fn bind(nameservers: &[(String, SocketAddr)]) -> std::io::Result<Self> {
        let v4 = match nameservers.iter().any(|(_, a)| a.is_ipv4()) {
            true => Some(UdpSocket::bind("0.0.0.0:0").await?),
            false => None,
        };
        let v6 = match nameservers.iter().any(|(_, a)| a.is_ipv6()) {
            true => Some(UdpSocket::bind("[::]:0").await?),
            false => None,
        };
        Ok(Self { v4, v6 })
    }

    async fn send(&self, message: &[u8], to: SocketAddr) -> bool {
        let socket = if to.is_ipv4() { &self.v4 } else { &self.v6 };
        match socket {
            Some(s) => s.send_to(message, to).await.is_ok(),
            None => false,
        }
    }

    async fn recv(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match (&self.v4, &self.v6) {
            (Some(a), Some(b)) => loop {
                tokio::select! {
                    r = a.readable() => r?,
                    r = b.readable() => r?,
                }
                for s in [a, b] {
                    match s.try_recv_from(buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        r => return r,
                    }
                }
            },
            (Some(s), None) | (None, Some(s)) => s.recv_from(buf).await,
            (None, None) => std::future::pending().await,
        }
    }
}
