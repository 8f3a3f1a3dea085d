//! The gateway's statistics, as HAProxy keeps them: counters per frontend,
//! backend and server ([`Counters`], HAProxy's `fe_counters`, `be_counters`
//! and server `counters`), one line of [`Field`] values per object
//! ([`Row`], what `show stat` and the stats CSV print), and the Prometheus
//! exporter's `haproxy_*` families written from those lines ([`promex`]).
//!
//! ```text
//!   request path ──Tally──> Counters (by proxy and server name, kept across reloads)
//!   health checks ────────>     │
//!                               v
//!   Generation::stats_rows ──> Row per frontend, backend, server ──> promex::render
//!                                                                 └─> CSV (Row::csv)
//! ```
//!
//! What the gateway does not have is not counted: compression, caching,
//! retries, redispatches, `tcp-request` rules, backup servers and slow
//! start are zero or empty, as they are in HAProxy without them. Backends in
//! `mode tcp` (the agents') carry no client traffic: their servers are
//! described by the `spoe_agent_*` families instead. Differences that
//! remain: the connect time is not measured apart from the response time
//! (`ctime` is 0, as in the access line), a request's bytes are counted on
//! the wire (HAProxy counts them after parsing), and a reused connection is
//! a request that opened none (hyper's pool does not say more).

mod counters;
pub mod fields;
pub mod promex;
mod rows;
mod tally;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

pub(crate) use counters::CheckReport;
pub use counters::{CheckStatus, Counters};
pub use fields::Field;
pub use rows::{EXTRA_COLUMNS, ObjType, Row, ServerState, Value, csv_document, csv_header};
pub(crate) use tally::{End, Tally};
pub(crate) use wire::Wire;

/// The counters of every object, by name: a configuration generation takes
/// those of its frontends, backends and servers when it starts, so that a
/// reload continues them (as a `show stat` after a reload of HAProxy with
/// `server-state` would, but for every counter).
#[derive(Debug, Default)]
pub struct StatsRegistry {
    frontends: Mutex<HashMap<String, Arc<Counters>>>,
    backends: Mutex<HashMap<String, Arc<Counters>>>,
    servers: Mutex<HashMap<(String, String), Arc<Counters>>>,
    /// The addresses of the servers resolved at run time, by backend and server name.
    resolved: crate::resolve::slot::Slots,
}

fn entry<K: Eq + std::hash::Hash>(map: &Mutex<HashMap<K, Arc<Counters>>>, key: K) -> Arc<Counters> {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default()
        .clone()
}

impl StatsRegistry {
    /// The counters of frontend `name`.
    pub fn frontend(&self, name: &str) -> Arc<Counters> {
        entry(&self.frontends, name.to_owned())
    }

    /// The counters of backend `name`.
    pub fn backend(&self, name: &str) -> Arc<Counters> {
        entry(&self.backends, name.to_owned())
    }

    /// The counters of server `server` of backend `backend`.
    pub fn server(&self, backend: &str, server: &str) -> Arc<Counters> {
        entry(&self.servers, (backend.to_owned(), server.to_owned()))
    }

    /// The address of server `server` of backend `backend`, resolved from `fqdn` at run
    /// time: the last answer of an earlier generation for the same name, else `initial`.
    pub(crate) fn resolved(
        &self,
        backend: &str,
        server: &str,
        fqdn: &str,
        initial: Option<std::net::IpAddr>,
    ) -> Arc<crate::resolve::slot::Slot> {
        self.resolved.get(backend, server, fqdn, initial)
    }

    /// Forgets the objects a configuration no longer has (their counters
    /// start from zero if they come back), so that names come and go
    /// without the registry growing.
    pub fn retain(&self, frontends: &[&str], backends: &[&str], servers: &[(&str, &str)]) {
        let lock = |m: &Mutex<HashMap<String, Arc<Counters>>>, keep: &[&str]| {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|k, _| keep.contains(&k.as_str()));
        };
        lock(&self.frontends, frontends);
        lock(&self.backends, backends);
        self.servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(b, s), _| servers.contains(&(b.as_str(), s.as_str())));
        self.resolved.retain(servers);
    }
}
