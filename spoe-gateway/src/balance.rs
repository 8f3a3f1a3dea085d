//! Which server of a backend takes a request (`balance`, `backup`, `option allbackups`), and
//! which one takes its retry after a failed connect (`option redispatch`), as HAProxy 2.6
//! chooses (`src/backend.c`, `src/lb_map.c`).
//!
//! The hash algorithms (`source`, `uri`, `hdr(NAME)`) are HAProxy's `map-based` lookup with
//! the backend's `hash-type` function (`sdbm` by default) and `avalanche`: the same key picks
//! the same server as HAProxy's for the same servers up. `random` draws as HAProxy's does (the least loaded of
//! N weighted draws) from its own random numbers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::generation::BackendRt;
use crate::generation::chosen::{Choice, servers_epoch};
use crate::generation::health::takes_requests;
use crate::model::{Balance, HashFunc};
use crate::txn::Txn;

/// `f` of the balancing state of `backend` for the servers' states now.
fn with_choice<R>(backend: &BackendRt, f: impl FnOnce(&Choice) -> R) -> R {
    // Read before the states: a change stored after this read bumps the epoch past it, and
    // the next request rebuilds.
    let epoch = servers_epoch();
    // A guard, not a clone: the workers do not share a write to the `Arc`'s count.
    let kept = backend.chosen.0.load();
    if let Some(c) = &*kept
        && c.epoch == epoch
    {
        return f(c);
    }
    drop(kept);
    let candidates =
        crate::generation::health::candidates_of(&backend.servers, backend.model.all_backups);
    let hashed = matches!(
        backend.model.balance,
        Balance::Source | Balance::Uri { .. } | Balance::Hdr(_)
    );
    let map = hashed.then(|| hash_map(backend, &candidates)).flatten();
    let c = Arc::new(Choice {
        epoch,
        candidates,
        map,
    });
    backend.chosen.0.store(Some(c.clone()));
    f(&c)
}

/// Where a balanced request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// To this server (it may still wait in the server's line: a hash, `random`).
    Server(usize),
    /// Every server the algorithm could pick is full: to the backend's line.
    Queue,
}

/// What a balancing algorithm may read of a stream: the client's address, and the HTTP
/// request (`None` on a `mode tcp` connection, where `uri` and `hdr()` balance as
/// `roundrobin`, as HAProxy's `assign_server()` falls back when it has no HTTP message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) client: Option<std::net::SocketAddr>,
    pub(crate) request: Option<&'a hyper::http::request::Parts>,
}

impl<'a> Key<'a> {
    /// An HTTP transaction's.
    pub(crate) fn of(txn: &'a Txn) -> Self {
        Self {
            client: txn.conn.client,
            request: Some(&txn.request),
        }
    }
}

/// Picks a server for `txn` as [`pick_target`] (`None`: no server takes requests, or a
/// weightless map).
pub(crate) fn target_for(backend: &BackendRt, txn: &Txn) -> Option<Target> {
    pick_target(backend, Key::of(txn))
}

/// Picks a server for a stream whose balancing key is `key`, passing over the full ones of
/// a backend with queues as HAProxy's `roundrobin` and `leastconn` do (the hashes and
/// `random` pick the same server full or not: the request waits in its line).
pub(crate) fn pick_target(backend: &BackendRt, key: Key<'_>) -> Option<Target> {
    let Some(queues) = &backend.queues else {
        return pick(backend, key).map(Target::Server);
    };
    let leastconn = match backend.model.balance {
        Balance::RoundRobin => false,
        Balance::LeastConn => true,
        _ => return pick(backend, key).map(Target::Server),
    };
    with_choice(backend, |choice| {
        let all = &choice.candidates;
        if all.is_empty() {
            return None;
        }
        // Without a full server (most of the time), the candidates as they are.
        if !all.iter().any(|&i| queues.passes_over(i, leastconn)) {
            return pick_among(backend, key, choice).map(Target::Server);
        }
        let free = Choice {
            epoch: choice.epoch,
            candidates: all
                .iter()
                .copied()
                .filter(|&i| !queues.passes_over(i, leastconn))
                .collect(),
            map: None,
        };
        if free.candidates.is_empty() {
            return Some(Target::Queue);
        }
        pick_among(backend, key, &free).map(Target::Server)
    })
}

/// Picks a server for a stream whose balancing key is `key`.
pub(crate) fn pick(backend: &BackendRt, key: Key<'_>) -> Option<usize> {
    with_choice(backend, |choice| pick_among(backend, key, choice))
}

/// Picks one of `choice`'s candidates for a stream whose balancing key is `key`.
fn pick_among(backend: &BackendRt, key: Key<'_>, choice: &Choice) -> Option<usize> {
    let candidates = choice.candidates.as_slice();
    let weight = |i: usize| backend.servers[i].admin.weight();
    match &backend.model.balance {
        Balance::RoundRobin => round_robin(backend, candidates),
        Balance::LeastConn => candidates.iter().copied().min_by_key(|&i| {
            (backend.servers[i].active.load(Ordering::Relaxed) as u64 * 256) / u64::from(weight(i))
        }),
        Balance::Source => {
            let client = key.client.map(|a| a.ip());
            let key = match client {
                Some(std::net::IpAddr::V4(ip)) => u32::from(ip),
                Some(std::net::IpAddr::V6(ip)) => ip
                    .octets()
                    .chunks(4)
                    .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
                    .fold(0, |h, w| h ^ w),
                None => 0,
            };
            by_hash(choice, avalanche(backend, key))
        }
        Balance::Uri { whole } => {
            let Some(request) = key.request else {
                return round_robin(backend, candidates);
            };
            let uri = request.uri.path_and_query().map_or("/", |p| p.as_str());
            let key = if *whole {
                uri
            } else {
                uri.split('?').next().unwrap_or(uri)
            };
            by_hash(choice, hash(backend, key.as_bytes()))
        }
        Balance::Hdr(name) => {
            // The first value of the header (up to a comma, trimmed); none: round robin.
            let Some(request) = key.request else {
                return round_robin(backend, candidates);
            };
            let value = request
                .headers
                .get(name.as_str())
                .map(|v| v.as_bytes())
                .map(|v| v.split(|b| *b == b',').next().unwrap_or(v).trim_ascii())
                .filter(|v| !v.is_empty());
            match value {
                Some(v) => by_hash(choice, hash(backend, v)),
                None => round_robin(backend, candidates),
            }
        }
        Balance::Random { draws } => {
            let total: u64 = candidates.iter().map(|&i| u64::from(weight(i))).sum();
            if total == 0 {
                return None;
            }
            let load = |i: usize| backend.servers[i].active.load(Ordering::Relaxed);
            (0..*draws)
                .filter_map(|_| {
                    let mut at = rand_below(total);
                    candidates.iter().copied().find(|&i| {
                        let w = u64::from(weight(i));
                        let hit = at < w;
                        at = at.saturating_sub(w);
                        hit
                    })
                })
                .min_by_key(|&i| load(i))
        }
    }
}

/// Weighted round robin over `candidates`.
fn round_robin(backend: &BackendRt, candidates: &[usize]) -> Option<usize> {
    let weight = |i: usize| u64::from(backend.servers[i].admin.weight());
    let total: u64 = candidates.iter().map(|&i| weight(i)).sum();
    if total == 0 {
        return None;
    }
    let mut at = backend.next.fetch_add(1, Ordering::Relaxed) as u64 % total;
    for &i in candidates {
        if at < weight(i) {
            return Some(i);
        }
        at -= weight(i);
    }
    None
}

/// The key's hash by the backend's `hash-type` (HAProxy's `gen_hash()`, then `full_hash()`
/// with `avalanche`).
fn hash(backend: &BackendRt, key: &[u8]) -> u32 {
    let h = match backend.model.hash_type.func {
        HashFunc::Sdbm => sdbm(key),
        HashFunc::Djb2 => key.iter().fold(5381u32, |h, &c| {
            (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
        }),
        HashFunc::Wt6 => wt6(key),
        HashFunc::Crc32 => !key.iter().fold(!0u32, |mut h, &c| {
            h ^= u32::from(c);
            for _ in 0..8 {
                h = (h >> 1) ^ if h & 1 == 1 { 0xedb8_8320 } else { 0 };
            }
            h
        }),
    };
    avalanche(backend, h)
}

/// `avalanche`: HAProxy's `full_hash()`, else `h`.
fn avalanche(backend: &BackendRt, h: u32) -> u32 {
    if !backend.model.hash_type.avalanche {
        return h;
    }
    spoe_http::full_hash(h)
}

/// HAProxy's `hash_wt6()`.
fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965a_u32, 0x5ca6_953a_u32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// HAProxy's `hash_sdbm()`.
fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// A random number below `n` (> 0), from the thread's fast generator.
fn rand_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // std's RandomState seeds each hasher from a per-thread random key: good enough to
    // spread requests, with no dependency.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

/// The server of hash `key` in `choice`'s map (`None`: no candidate has a weight).
fn by_hash(choice: &Choice, key: u32) -> Option<usize> {
    let map = choice.map.as_deref()?;
    map.get(usize::try_from(key).ok()? % map.len()).copied()
}

/// HAProxy's map of a hash-balanced backend (`recalc_server_map()`): each candidate as many
/// times as its weight divided by the weights' greatest common divisor, spread by their
/// scores, first declared first; the key's server is at `key % length`. `None` when no
/// candidate has a weight.
fn hash_map(backend: &BackendRt, candidates: &[usize]) -> Option<Vec<usize>> {
    let weights: Vec<u64> = candidates
        .iter()
        .map(|&i| u64::from(backend.servers[i].admin.weight()))
        .collect();
    map_of(candidates, &weights)
}

/// [`hash_map`] for `candidates` of these `weights` (one each).
fn map_of(candidates: &[usize], weights: &[u64]) -> Option<Vec<usize>> {
    let gcd = weights
        .iter()
        .copied()
        .filter(|w| *w > 0)
        .fold(0, |a, b| if a == 0 { b } else { gcd(a, b) });
    if gcd == 0 {
        return None;
    }
    if let [only] = candidates {
        return Some(vec![*only]);
    }
    let eweights: Vec<i64> = weights
        .iter()
        .map(|w| i64::try_from(w / gcd).unwrap_or(i64::MAX))
        .collect();
    let total: i64 = eweights.iter().sum();
    let mut scores = vec![0i64; candidates.len()];
    let mut map = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best: Option<(usize, i64)> = None;
        for (k, score) in scores.iter_mut().enumerate() {
            if eweights[k] == 0 {
                continue;
            }
            *score += eweights[k];
            let v = (*score + total) / total;
            if best.is_none_or(|(_, max)| v > max) {
                best = Some((k, v));
            }
        }
        let (k, _) = best?;
        scores[k] -= total;
        map.push(candidates[k]);
    }
    Some(map)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Whether a failed connect's retry goes to another server at once: a round robin with
/// several active servers up (HAProxy's `BE_LB_KIND_RR` with `srv_act > 1`).
pub(crate) fn spreads(backend: &BackendRt) -> bool {
    backend.model.balance == Balance::RoundRobin
        && backend
            .servers
            .iter()
            .filter(|s| !s.model.probe.backup && takes_requests(s))
            .count()
            > 1
}

/// The server of retry number `conn_retries` after a failed connect to server `si`:
/// another one (`option redispatch`) when the server is down, when the retry is due by the
/// option's interval (the last one by default), or when the balancing [`spreads`] and no
/// persistence cookie chose the server (`direct`); the same one otherwise (HAProxy's
/// `stream_choose_redispatch()`).
pub(crate) fn retry_server(
    backend: &BackendRt,
    si: usize,
    conn_retries: u32,
    direct: bool,
    txn: &Txn,
) -> usize {
    retry_server_for(backend, si, conn_retries, direct, Key::of(txn))
}

/// [`retry_server`] for a stream whose balancing key is `key`.
pub(crate) fn retry_server_for(
    backend: &BackendRt,
    si: usize,
    conn_retries: u32,
    direct: bool,
    key: Key<'_>,
) -> usize {
    let retry = backend.model.retry;
    let Some(interval) = retry.redispatch else {
        return si;
    };
    let n = i64::from(conn_retries);
    let due = if interval > 0 {
        n % i64::from(interval) == 0
    } else {
        let every = i64::from(retry.retries) + 1 + i64::from(interval);
        every > 0 && n % every == 0
    };
    let down = !takes_requests(&backend.servers[si]);
    if !(down || due || (!direct && spreads(backend))) {
        return si;
    }
    // As HAProxy's balancing, avoid the server that failed when another one is up.
    match pick(backend, key) {
        Some(next) if next == si => pick(backend, key).unwrap_or(si),
        Some(next) => next,
        None => si,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server of slot `target` as HAProxy's `recalc_server_map()` fills it, slot by slot
    /// (what each request computed before the map was kept).
    fn slot_of(candidates: &[usize], weights: &[u64], target: i64) -> Option<usize> {
        let gcd = weights
            .iter()
            .copied()
            .filter(|w| *w > 0)
            .fold(0, |a, b| if a == 0 { b } else { gcd(a, b) });
        if gcd == 0 {
            return None;
        }
        let eweights: Vec<i64> = weights.iter().map(|w| (w / gcd) as i64).collect();
        let total: i64 = eweights.iter().sum();
        let mut scores = vec![0i64; candidates.len()];
        for slot in 0..=target % total {
            let mut best: Option<(usize, i64)> = None;
            for (k, score) in scores.iter_mut().enumerate() {
                if eweights[k] == 0 {
                    continue;
                }
                *score += eweights[k];
                let v = (*score + total) / total;
                if best.is_none_or(|(_, max)| v > max) {
                    best = Some((k, v));
                }
            }
            let (k, _) = best?;
            scores[k] -= total;
            if slot == target % total {
                return Some(candidates[k]);
            }
        }
        None
    }

    #[test]
    fn the_kept_map_is_the_one_haproxy_fills_slot_by_slot() {
        let cases: [(&[usize], &[u64]); 6] = [
            (&[0, 1], &[1, 1]),
            (&[0, 2, 5], &[1, 2, 3]),
            (&[1, 3, 4, 7], &[10, 20, 30, 256]),
            (&[0, 1, 2], &[4, 0, 6]),
            (&[3], &[7]),
            (&[0, 1, 2, 3, 4], &[256, 255, 1, 128, 64]),
        ];
        for (candidates, weights) in cases {
            let map = map_of(candidates, weights).expect("a weighted candidate");
            for key in [0u32, 1, 2, 3, 17, 255, 256, 703, 1000, 65_537, u32::MAX] {
                let kept = map[key as usize % map.len()];
                let filled = slot_of(candidates, weights, i64::from(key));
                assert_eq!(Some(kept), filled, "{candidates:?} {weights:?} key {key}");
            }
        }
        assert_eq!(map_of(&[0, 1], &[0, 0]), None);
    }
}
