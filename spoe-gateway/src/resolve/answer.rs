//! The records of a name's answers and which one each server takes
//! (`resolv_get_ip_from_response()` in `src/resolvers.c`).
//!
//! HAProxy keeps an answer's records in a tree ordered by the XXH32 of their data (seeded with
//! the record type), and a server keeps the record it was given while the record is in the
//! answers. A server without one takes the record with the best score: 8 for the preferred
//! family, 4 for an address in a `resolve-net` network, 2 for a record no other server of the
//! backend has (a taken one is skipped unless `allow-dup-ip`), 1 for the server's current
//! address; the first in the tree's order among equals. So the servers of a
//! `server-template` take distinct addresses in that order, and those left without one wait
//! in maintenance.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::{Prefer, ServerDns};

/// One A or AAAA record of the answers.
#[derive(Debug, Clone)]
struct Record {
    /// XXH32 of the address, seeded with the record type (HAProxy's tree key).
    key: u32,
    ip: IpAddr,
    last_seen: Instant,
}

/// What a server does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Keeps its address (`RSLV_UPD_NO`).
    Keep,
    /// Moves to this address (`RSLV_UPD_SRVIP_NOT_FOUND`).
    Move(IpAddr),
    /// Finds no address for it (`RSLV_UPD_NO_IP_FOUND`).
    NoAddress,
}

/// The records a name's answers gave, and the record each server of the name is attached to.
#[derive(Debug)]
pub(crate) struct Answers {
    /// In HAProxy's order: by key, a new record after those of the same key.
    records: Vec<Record>,
    /// Per server (by its index among the name's servers): the address of its record.
    attached: Vec<Option<IpAddr>>,
    /// Most records kept (those an answer of `accepted_payload_size` bytes can hold).
    max: usize,
}

/// HAProxy's key of a record: XXH32 of its data, the record type as seed.
fn key(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(a) => xxhash_rust::xxh32::xxh32(&a.octets(), 1),
        IpAddr::V6(a) => xxhash_rust::xxh32::xxh32(&a.octets(), 28),
    }
}

impl Answers {
    /// No records yet, for `servers` servers, keeping at most `max` records.
    pub(crate) fn new(servers: usize, max: usize) -> Self {
        Self {
            records: Vec::new(),
            attached: vec![None; servers],
            max: max.max(1),
        }
    }

    /// Merges a valid answer's addresses seen `now`; the records not seen for longer than
    /// `obsolete` go, and their servers with them (`resolv_check_response()`).
    pub(crate) fn merge(&mut self, ips: &[IpAddr], now: Instant, obsolete: Duration) {
        for &ip in ips {
            if let Some(r) = self.records.iter_mut().find(|r| r.ip == ip) {
                r.last_seen = now;
                continue;
            }
            if self.records.len() >= self.max {
                break;
            }
            let key = key(ip);
            let at = self.records.partition_point(|r| r.key <= key);
            self.records.insert(
                at,
                Record {
                    key,
                    ip,
                    last_seen: now,
                },
            );
        }
        let attached = &mut self.attached;
        self.records.retain(|r| {
            let keep = r.last_seen + obsolete >= now;
            if !keep {
                for a in attached.iter_mut().filter(|a| **a == Some(r.ip)) {
                    *a = None;
                }
            }
            keep
        });
    }

    /// Forgets every record (an error no server keeps them through).
    pub(crate) fn purge(&mut self) {
        self.records.clear();
        self.attached.fill(None);
    }

    /// Detaches server `index` from its record (it went into maintenance).
    pub(crate) fn detach(&mut self, index: usize) {
        if let Some(a) = self.attached.get_mut(index) {
            *a = None;
        }
    }

    /// The record server `index` (of backend `backends[index]`, now at `current`) takes.
    pub(crate) fn choose(
        &mut self,
        index: usize,
        current: Option<IpAddr>,
        opts: &ServerDns,
        backends: &[usize],
    ) -> Choice {
        if self.attached.get(index).copied().flatten().is_some() {
            return Choice::Keep;
        }
        let mut best: Option<(u8, IpAddr, bool)> = None;
        for r in &self.records {
            let mut score = 0u8;
            let preferred = matches!(
                (r.ip, opts.prefer),
                (IpAddr::V4(_), Prefer::V4) | (IpAddr::V6(_), Prefer::V6)
            );
            if preferred {
                score += 8;
            }
            if opts.nets.iter().any(|n| crate::net::in_net(r.ip, n)) {
                score += 4;
            }
            let taken = self.attached.iter().enumerate().any(|(other, a)| {
                other != index && *a == Some(r.ip) && backends.get(other) == backends.get(index)
            });
            if taken && !opts.allow_dup_ip {
                continue;
            }
            if !taken {
                score += 2;
            }
            let is_current = current == Some(r.ip);
            if is_current {
                score += 1;
            }
            if best.is_none_or(|(s, _, _)| score > s) {
                best = Some((score, r.ip, is_current));
                if score == 15 {
                    break;
                }
            }
        }
        let Some((_, ip, is_current)) = best else {
            return Choice::NoAddress;
        };
        if let Some(a) = self.attached.get_mut(index) {
            *a = Some(ip);
        }
        if is_current {
            Choice::Keep
        } else {
            Choice::Move(ip)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(prefer: Prefer) -> ServerDns {
        ServerDns {
            fqdn: "app.test".into(),
            resolvers: "dns".into(),
            prefer,
            allow_dup_ip: false,
            nets: Vec::new(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn template_servers_take_distinct_records_in_hash_order_and_the_rest_none() {
        let mut a = Answers::new(4, 100);
        let ips = [ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4")];
        a.merge(&ips, Instant::now(), Duration::ZERO);
        let mut order: Vec<IpAddr> = ips.to_vec();
        order.sort_by_key(|ip| key(*ip));
        let o = opts(Prefer::V4);
        let backends = [0, 0, 0, 0];
        let got: Vec<Choice> = (0..4).map(|i| a.choose(i, None, &o, &backends)).collect();
        assert_eq!(
            got,
            [
                Choice::Move(order[0]),
                Choice::Move(order[1]),
                Choice::Move(order[2]),
                Choice::NoAddress
            ]
        );
        // A server keeps its record while it is in the answers.
        assert_eq!(a.choose(0, Some(order[0]), &o, &backends), Choice::Keep);
        // A record that leaves frees its server, which takes what is free.
        let later = Instant::now() + Duration::from_millis(5);
        a.merge(
            &[order[1], order[2], ip("127.0.0.9")],
            later,
            Duration::ZERO,
        );
        assert_eq!(
            a.choose(0, Some(order[0]), &o, &backends),
            Choice::Move(ip("127.0.0.9"))
        );
        assert_eq!(a.choose(1, Some(order[1]), &o, &backends), Choice::Keep);
    }

    #[test]
    fn the_current_address_wins_among_equals_and_duplicates_need_allow_dup_ip() {
        let mut a = Answers::new(2, 100);
        a.merge(
            &[ip("10.0.0.1"), ip("10.0.0.2")],
            Instant::now(),
            Duration::ZERO,
        );
        let mut o = opts(Prefer::V6);
        assert_eq!(a.choose(0, Some(ip("10.0.0.2")), &o, &[0, 0]), Choice::Keep);
        let mut b = Answers::new(2, 100);
        b.merge(&[ip("10.0.0.1")], Instant::now(), Duration::ZERO);
        assert_eq!(b.choose(0, None, &o, &[0, 0]), Choice::Move(ip("10.0.0.1")));
        assert_eq!(b.choose(1, None, &o, &[0, 0]), Choice::NoAddress);
        // Servers of another backend may share it.
        assert_eq!(b.choose(1, None, &o, &[0, 1]), Choice::Move(ip("10.0.0.1")));
        o.allow_dup_ip = true;
        let mut c = Answers::new(2, 100);
        c.merge(&[ip("10.0.0.1")], Instant::now(), Duration::ZERO);
        assert_eq!(c.choose(0, None, &o, &[0, 0]), Choice::Move(ip("10.0.0.1")));
        assert_eq!(c.choose(1, None, &o, &[0, 0]), Choice::Move(ip("10.0.0.1")));
    }
}
