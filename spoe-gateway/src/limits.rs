//! `maxconn` at its three levels, counted as HAProxy counts them (`listener_accept()` in
//! `src/listener.c`): the process (`maxconn` in `global`), each frontend (`maxconn` in a
//! frontend, `listen` or `defaults`; the global value when unset) and each listener (`bind ...
//! maxconn`; no limit of its own when unset).
//!
//! A listener accepts a connection only once every level has room for it; until then the
//! connection waits in the kernel's listen backlog (it is neither accepted nor refused), and
//! the listener resumes when a connection of a full level ends. Limits follow reloads; the
//! connections open count against the new values, as they are still there.
//!
//! Without `maxconn` in `global`, the process limit is HAProxy's automatic one: what the open
//! files limit allows at two descriptors per connection ([`automatic_maxconn`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::Notify;

use crate::model::{Frontend, GatewayConfig};

/// One level's limit and count.
#[derive(Debug, Default)]
pub(crate) struct Limit {
    /// 0: no limit at this level.
    max: AtomicUsize,
    /// Connections open (shared with the access lines' `%ac` / `%fc`).
    current: Arc<AtomicUsize>,
    /// The most connections open at once.
    peak: AtomicUsize,
    /// Woken when a connection ends, or the limit is raised.
    room: Notify,
    /// What the access lines of this frontend's connections count, made once and shared.
    counts: OnceLock<Arc<ConnCounts>>,
}

impl Limit {
    fn with_max(max: usize) -> Arc<Self> {
        let l = Arc::new(Self::default());
        l.max.store(max, Ordering::Relaxed);
        l
    }

    /// The limit (0: none).
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub(crate) fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// The counts the access lines of this frontend's connections read (`%ac`, `%fc`, and
    /// whether connections are being cut), shared by all of them.
    pub(crate) fn conn_counts(&self, process: &Self, killing: &Arc<AtomicBool>) -> Arc<ConnCounts> {
        self.counts
            .get_or_init(|| {
                Arc::new(ConnCounts {
                    process: process.current.clone(),
                    frontend: self.current.clone(),
                    killing: killing.clone(),
                })
            })
            .clone()
    }

    /// The most connections open at once since the start.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn set_max(&self, max: usize) {
        if self.max.swap(max, Ordering::Relaxed) != max {
            self.room.notify_waiters();
        }
    }

    fn has_room(&self) -> bool {
        let max = self.max();
        max == 0 || self.current() < max
    }

    /// Counts one more connection if there is room.
    fn try_take(&self) -> bool {
        let max = self.max();
        let taken = self
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (max == 0 || n < max).then_some(n + 1)
            });
        match taken {
            Ok(n) => {
                self.peak.fetch_max(n + 1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    fn release(&self) {
        self.current.fetch_sub(1, Ordering::AcqRel);
        self.room.notify_waiters();
    }
}

/// The levels a connection counts at: its listener, its frontend, the process.
#[derive(Debug, Clone)]
pub(crate) struct Levels {
    pub(crate) listener: Arc<Limit>,
    pub(crate) frontend: Arc<Limit>,
    pub(crate) process: Arc<Limit>,
}

impl Levels {
    fn all(&self) -> [&Arc<Limit>; 3] {
        [&self.listener, &self.frontend, &self.process]
    }
}

/// A connection's place at each level, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slots(pub(crate) Levels);

impl Drop for Slots {
    fn drop(&mut self) {
        for l in self.0.all() {
            l.release();
        }
    }
}

/// Takes a place at every level at once, or at none when one is full.
pub(crate) fn take(levels: &Levels) -> Option<Slots> {
    let all = levels.all();
    let mut taken = 0;
    while taken < all.len() && all[taken].try_take() {
        taken += 1;
    }
    if taken == all.len() {
        return Some(Slots(levels.clone()));
    }
    for l in &all[..taken] {
        l.release();
    }
    None
}

/// Resolves once every level has room (without taking it: a listener waiting for its next
/// client holds no place another listener could use).
pub(crate) async fn room(levels: &Levels) {
    let all = levels.all();
    loop {
        let mut waits: Vec<_> = all.iter().map(|l| Box::pin(l.room.notified())).collect();
        for w in &mut waits {
            w.as_mut().enable();
        }
        if all.iter().all(|l| l.has_room()) {
            return;
        }
        // Woken when any level frees a place (or changes its limit), then all are checked again.
        futures_util::future::select_all(waits).await;
    }
}

/// Every level's limit, kept across reloads (keyed by frontend name and listener address).
#[derive(Debug, Default)]
pub(crate) struct ConnLimits {
    process: Arc<Limit>,
    frontends: Mutex<HashMap<String, Arc<Limit>>>,
    listeners: Mutex<HashMap<SocketAddr, Arc<Limit>>>,
}

impl ConnLimits {
    /// The limits `config` sets (at start, and again on each reload), for a process of
    /// `threads` workers.
    pub(crate) fn configure(&self, config: &GatewayConfig, threads: usize) {
        let global = global_maxconn(config, threads);
        self.process.set_max(global);
        let mut frontends = self
            .frontends
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for f in &config.frontends {
            let max = f.maxconn.unwrap_or(global);
            match frontends.get(&f.name) {
                Some(l) => l.set_max(max),
                None => {
                    frontends.insert(f.name.clone(), Limit::with_max(max));
                }
            }
        }
        // A frontend gone from the configuration is forgotten once its connections ended.
        frontends
            .retain(|name, l| l.current() > 0 || config.frontends.iter().any(|f| &f.name == name));
    }

    /// The process's limit.
    pub(crate) fn process(&self) -> &Arc<Limit> {
        &self.process
    }

    /// The limit of the frontend called `name` (no limit of its own if unknown).
    pub(crate) fn frontend(&self, name: &str) -> Arc<Limit> {
        self.frontends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The limit of the listener bound to `addr`, set to `max` (0: none).
    pub(crate) fn listener(&self, addr: SocketAddr, max: usize) -> Arc<Limit> {
        let l = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(addr)
            .or_default()
            .clone();
        l.set_max(max);
        l
    }
}

/// The process's `maxconn`: `global`'s, or the automatic one.
fn global_maxconn(config: &GatewayConfig, threads: usize) -> usize {
    config.global.maxconn.unwrap_or_else(|| {
        let mut n = automatic_maxconn(config.listeners().count(), threads);
        // `fd-hard-limit` bounds the files the automatic `maxconn` counts on.
        if let Some(cap) = config.global.process.files.hard_limit {
            let cap = usize::try_from(cap).unwrap_or(usize::MAX);
            n = n.min(ideal_maxconn(cap, config.listeners().count(), threads));
        }
        n
    })
}

/// The load at which `backend`'s servers reach their `maxconn` (their `minconn` below it):
/// its `fullconn`, else 10% of the `maxconn` of every frontend whose `default_backend` or
/// static `use_backend` names it (each frontend's own, else the process's, counted once per
/// frontend), at least 1, as HAProxy 2.6 computes it (`proxy.c`).
pub(crate) fn fullconn(
    config: &GatewayConfig,
    backend: &crate::model::Backend,
    threads: usize,
) -> usize {
    if let Some(n) = backend.fullconn {
        return n;
    }
    let global = global_maxconn(config, threads);
    let total: usize = config
        .frontends
        .iter()
        .filter(|f| {
            f.default_backend.as_deref() == Some(backend.name.as_str())
                || f.use_backends
                    .iter()
                    .any(|u| u.format.is_none() && u.backend == backend.name)
        })
        .map(|f| f.maxconn.unwrap_or(global))
        .fold(0, usize::saturating_add);
    (total.saturating_add(9) / 10).max(1)
}

/// The listen backlog of the socket bound to `addr` (HAProxy's `listener_backlog()` without a
/// `backlog` keyword): its `bind ... maxconn`, else its frontend's `maxconn` (the global one
/// when unset). The kernel caps it at `net.core.somaxconn`.
pub(crate) fn backlog(config: &GatewayConfig, addr: SocketAddr, threads: usize) -> u32 {
    let frontend = config.frontends.iter().find(|f| f.binds.contains(&addr));
    let own = frontend.map_or(0, |f| listener_max(f, addr));
    let max = Some(own)
        .filter(|n| *n > 0)
        .or_else(|| frontend.and_then(|f| f.maxconn))
        .unwrap_or_else(|| global_maxconn(config, threads));
    u32::try_from(max).unwrap_or(u32::MAX)
}

/// The limit of `frontend`'s listener bound to `addr` (`bind ... maxconn`; 0: none).
pub(crate) fn listener_max(frontend: &Frontend, addr: SocketAddr) -> usize {
    frontend
        .bind_maxconn
        .iter()
        .find(|(a, _)| *a == addr)
        .map_or(0, |(_, n)| *n)
}

/// HAProxy 2.6's `maxconn` when `global` sets none (`compute_ideal_maxconn()`), for `listeners`
/// listeners and `threads` threads: from the open files limit (the `spoe` command raises the
/// soft one to the hard one at start, as HAProxy does), what listeners, threads and standard
/// streams use aside, two descriptors per connection (the client's and the server's); at least
/// 100. With 20,000 files, 2 threads and a listener: 9,990 (HAProxy 2.6.12 says 9,991).
pub fn automatic_maxconn(listeners: usize, threads: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let files = limit.current.unwrap_or(1 << 20).min(1 << 24);
    ideal_maxconn(
        usize::try_from(files).unwrap_or(usize::MAX),
        listeners,
        threads,
    )
}

fn ideal_maxconn(files: usize, listeners: usize, threads: usize) -> usize {
    // Standard streams and the few files HAProxy holds (12), and per thread its poller and
    // its wake-up pipe (3).
    let reserved = 12 + listeners + 3 * threads;
    (files.saturating_sub(reserved) / 2).max(100)
}

/// Raises the open files soft limit to the hard limit (HAProxy adjusts `ulimit-n` to what its
/// `maxconn` needs the same way); returns the limit in effect.
pub fn raise_open_files_limit() -> u64 {
    raise_files_to(None)
}

/// The soft limit raised to the hard one, never above `cap`; the limit in effect.
fn raise_files_to(cap: Option<u64>) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let wanted = match (limit.maximum, cap) {
        (Some(max), Some(cap)) => Some(max.min(cap)),
        (None, cap) => cap,
        (max, None) => max,
    };
    if limit.current != wanted {
        limit.current = wanted;
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// Sets the open files limit as `global` says, as HAProxy 2.6's `main()` does: `ulimit-n N`
/// asks for N (the hard limit raised to it if needed and allowed), never above
/// `fd-hard-limit`; without `ulimit-n`, the soft limit goes up to the hard one (HAProxy
/// computes what its `maxconn` needs and gets as much), capped likewise. When N cannot be
/// had, `strict-limits` (HAProxy 2.6's default) refuses to start: `Err` with HAProxy's alert;
/// else the limit goes as high as allowed: `Ok(Some(warning))`.
pub fn apply_open_files_limit(config: &GatewayConfig) -> Result<Option<String>, String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let files = &config.global.process.files;
    let Some(wanted) = files.ulimit_n else {
        raise_files_to(files.hard_limit);
        return Ok(None);
    };
    let boot = getrlimit(Resource::Nofile);
    // As HAProxy 2.6.12: the hard limit is not raised, even as root.
    let asked = Rlimit {
        current: Some(wanted),
        maximum: boot.maximum,
    };
    let over_cap = files.hard_limit.is_some_and(|cap| wanted > cap);
    if !over_cap && setrlimit(Resource::Nofile, asked).is_ok() {
        return Ok(None);
    }
    let capped = |n: Option<u64>| match (n, files.hard_limit) {
        (Some(n), Some(cap)) => n.min(cap),
        (Some(n), None) => n,
        (None, cap) => cap.unwrap_or(u64::MAX),
    };
    let now = getrlimit(Resource::Nofile);
    if files.strict {
        return Err(format!(
            "Cannot raise FD limit to {wanted}, limit is {}.",
            capped(now.current)
        ));
    }
    let got = raise_files_to(files.hard_limit);
    let got = capped(Some(got));
    Ok(Some(format!(
        "Cannot raise FD limit to {wanted}, limit is {got}."
    )))
}

/// Connections open now: the process's (`%ac`) and the frontend's (`%fc`);
/// and whether the gateway is closing them by force (a stop past
/// `hard-stop-after`): a request cut then ends as `K` (killed), not as the
/// client's doing.
///
/// One per frontend, shared by its connections' access lines (the counters are
/// `maxconn`'s).
#[derive(Debug, Default)]
pub(crate) struct ConnCounts {
    pub(crate) process: Arc<AtomicUsize>,
    pub(crate) frontend: Arc<AtomicUsize>,
    pub(crate) killing: Arc<AtomicBool>,
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "each spawned acquire's JoinHandle is awaited by its test"
)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// What an accept loop does: wait for room, then take it.
    async fn acquire(levels: Levels) -> Slots {
        loop {
            room(&levels).await;
            if let Some(s) = take(&levels) {
                return s;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_waits_until_every_level_has_room() {
        let process = Limit::with_max(3);
        let frontend = Limit::with_max(2);
        let levels = || Levels {
            listener: Limit::with_max(0),
            frontend: frontend.clone(),
            process: process.clone(),
        };
        let other = || Levels {
            frontend: Limit::with_max(0),
            ..levels()
        };
        let a = acquire(levels()).await;
        let b = acquire(levels()).await;
        // The frontend is full: the third waits, holding nothing.
        let third = tokio::spawn(acquire(levels()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!third.is_finished());
        assert_eq!((process.current(), frontend.current()), (2, 2));
        // Another frontend still has the process's last place.
        let c = take(&other()).expect("room");
        assert!(take(&other()).is_none(), "the process is full");
        assert_eq!((process.current(), frontend.current()), (3, 2));
        // A place at the frontend is not enough while the process is full.
        drop(a);
        let d = take(&other()).expect("the place a left");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!third.is_finished());
        assert_eq!((process.current(), frontend.current()), (3, 1));
        drop(c);
        let _third = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("room at every level")
            .unwrap();
        assert_eq!((process.current(), frontend.current()), (3, 2));
        assert_eq!((process.peak(), frontend.peak()), (3, 2));
        drop((b, d));
        assert_eq!((process.current(), frontend.current()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn raising_a_limit_lets_a_waiting_connection_in() {
        let frontend = Limit::with_max(1);
        let levels = || Levels {
            listener: Limit::with_max(0),
            frontend: frontend.clone(),
            process: Limit::with_max(0),
        };
        let _a = acquire(levels()).await;
        let second = tokio::spawn(acquire(levels()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!second.is_finished());
        frontend.set_max(2);
        let _second = tokio::time::timeout(Duration::from_secs(1), second)
            .await
            .expect("the raised limit has room")
            .unwrap();
        // Lowered below what is open: nothing is closed, nothing new gets in.
        frontend.set_max(1);
        assert!(take(&levels()).is_none());
        assert_eq!(frontend.current(), 2);
    }

    #[test]
    fn the_automatic_limit_is_haproxys() {
        assert_eq!(ideal_maxconn(20_000, 1, 2), 9_990);
        assert_eq!(ideal_maxconn(1024, 1, 1), 504);
        assert_eq!(ideal_maxconn(50, 1, 8), 100);
    }
}
