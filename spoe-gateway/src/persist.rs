//! Which server a request must go to before balancing has its say, as HAProxy 2.6 decides
//! (`src/stream.c`): `force-persist` / `ignore-persist` (`process_switching_rules()`, once the
//! backend is known), `use-server` (`process_server_rules()`), the persistence cookie
//! (`cookie.rs`), `stick match|on` (`process_sticking_rules()`), and what
//! `stick store-request|store-response` remember once the server answered
//! (`process_store_rules()`).
//!
//! ```text
//!   backend known ── force-persist / ignore-persist ── Prst
//!   use-server ─┐ (first to choose wins: HAProxy's SF_ASSIGNED)
//!   cookie ─────┤
//!   stick match|on ─┴─> direct server (a down one only with `option persist` or force-persist)
//!   stick on|store-request ── keys kept in Pending ──┐
//!   response ── stick store-response ── keys ────────┴─> table[key].server_id = server's id
//! ```

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::generation::health::running;
use crate::generation::health::takes_requests;
use crate::generation::{BackendRt, ServerRt};
use crate::model::Balance;
use crate::server_rules::{HttpReuse, ServerRules};
use crate::sticktable::data::DataType;
use crate::sticktable::table::StickTable;
use crate::txn::Txn;

/// What `force-persist` / `ignore-persist` decided (HAProxy's `SF_FORCE_PRST`,
/// `SF_IGNORE_PRST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Prst {
    /// Neither rule held.
    #[default]
    Normal,
    /// `force-persist`: persistence may send to a server that is down.
    Force,
    /// `ignore-persist`: the persistence cookie is neither read nor written.
    Ignore,
}

/// The first `force-persist` / `ignore-persist` rule of the backend that holds.
pub(crate) fn prst(rules: &ServerRules, txn: &Txn) -> Prst {
    let acls = &rules.acls;
    rules
        .persist
        .iter()
        .find(|r| r.cond.eval(txn, acls))
        .map_or(Prst::Normal, |r| {
            if r.force { Prst::Force } else { Prst::Ignore }
        })
}

/// Whether persistence may send to server `si`: it runs, or `option persist` or
/// `force-persist` say a down one will do.
fn may_persist(be: &BackendRt, si: usize, prst: Prst) -> bool {
    running(&be.servers[si]) || be.model.persist || prst == Prst::Force
}

/// Stick-table keys a request will store once its server answers.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    keys: Vec<(Arc<StickTable>, Box<[u8]>)>,
}

/// HAProxy's `s->store[]`: at most 8 keys per stream.
const MAX_STORES: usize = 8;

impl Pending {
    fn has(&self, table: &Arc<StickTable>) -> bool {
        self.keys.iter().any(|(t, _)| Arc::ptr_eq(t, table))
    }
}

/// The server of the first `use-server` rule that holds and whose server may take the
/// request.
pub(crate) fn use_server(be: &BackendRt, txn: &Txn, prst: Prst) -> Option<usize> {
    let rules = &be.model.server_rules;
    rules
        .use_server
        .iter()
        .filter(|r| r.cond.eval(txn, &rules.acls))
        .map(|r| r.server)
        .find(|&si| may_persist(be, si, prst))
}

/// `stick match|on|store-request`, for a request `use-server` or a cookie may have sent to a
/// server (`assigned`): the server they choose, and the keys to store.
pub(crate) fn stick(
    be: &BackendRt,
    txn: &Txn,
    prst: Prst,
    assigned: Option<usize>,
) -> (Option<usize>, Pending) {
    let rules = &be.model.server_rules;
    let acls = &rules.acls;
    let mut chosen = assigned;
    let mut pending = Pending::default();
    for rule in &rules.stick_request {
        let Some(table) = txn.counters.table(&rule.table).cloned() else {
            continue;
        };
        // Only the first store of each table is kept (a fallback order of keys).
        if rule.kind.stores() && pending.has(&table) {
            continue;
        }
        let Some(key) = key_of(rule, txn, acls, &table) else {
            continue;
        };
        if rule.kind.matches()
            && let Some(entry) = table.lookup(&key)
        {
            // The entry is touched whether or not it chooses (`stktable_touch_local()`).
            let id = table.update(&entry, |v| v.get(DataType::ServerId));
            if chosen.is_none()
                && let Some(si) = id.and_then(|id| server_by_id(be, id))
                && may_persist(be, si, prst)
            {
                chosen = Some(si);
            }
        }
        if rule.kind.stores() && pending.keys.len() < MAX_STORES {
            pending.keys.push((table, key));
        }
    }
    (chosen, pending)
}

/// The key a `stick` rule reads, when its condition holds and its pattern converts to the
/// table's type.
fn key_of(
    rule: &crate::server_rules::StickRule,
    txn: &Txn,
    acls: &spoe::expr::AclSet,
    table: &StickTable,
) -> Option<Box<[u8]>> {
    if !rule.cond.as_ref().is_none_or(|c| c.eval(txn, acls)) {
        return None;
    }
    table.key_type().key(&rule.pattern.eval(txn)?)
}

/// The server whose id (`id`, or its place) is `id`, as the table stores it.
fn server_by_id(be: &BackendRt, id: u64) -> Option<usize> {
    let id = u32::try_from(id as u32 as i32).ok()?;
    be.servers.iter().position(|s| s.model.choice.id == id)
}

/// `stick store-response`, then every key kept: each entry now names server `si` (unless it
/// is `non-stick`).
pub(crate) fn on_response(be: &BackendRt, txn: &Txn, mut pending: Pending, si: usize) {
    let rules = &be.model.server_rules;
    let acls = &rules.acls;
    let from_request = pending.keys.len();
    for rule in &rules.stick_response {
        let Some(table) = txn.counters.table(&rule.table).cloned() else {
            continue;
        };
        if pending.keys[from_request..]
            .iter()
            .any(|(t, _)| Arc::ptr_eq(t, &table))
        {
            continue;
        }
        let Some(key) = key_of(rule, txn, acls, &table) else {
            continue;
        };
        if pending.keys.len() < MAX_STORES {
            pending.keys.push((table, key));
        }
    }
    let server = &be.servers[si];
    if server.model.choice.non_stick {
        return;
    }
    for (table, key) in pending.keys {
        if let Some(entry) = table.get_or_create(key) {
            table.update(&entry, |v| {
                v.set(DataType::ServerId, u64::from(server.model.choice.id));
            });
            table.release(&entry);
        }
    }
}

/// `http-send-name-header NAME`: the header says the server's name, whatever the client sent
/// in it (HAProxy's `http_send_name_header()`, again after a redispatch).
pub(crate) fn send_name(
    headers: &mut hyper::HeaderMap,
    name: &hyper::header::HeaderName,
    server: &str,
) {
    if let Ok(value) = hyper::header::HeaderValue::from_str(server) {
        headers.insert(name.clone(), value);
    }
}

/// The server a client connection's latest request went to (HAProxy's session server list,
/// which `option prefer-last-server` reads).
#[derive(Debug, Default)]
pub(crate) struct LastServer(Mutex<Option<Weak<ServerRt>>>);

impl LastServer {
    /// The request went to `server`.
    pub(crate) fn remember(&self, server: &Arc<ServerRt>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(server));
    }
}

/// `option prefer-last-server`: the server of the connection's previous request, when it is
/// one of `be`'s, still takes requests, and the balancing is not a hash (HAProxy's
/// `assign_server()`). As HAProxy 2.6, only with `http-reuse never`: with the other modes its
/// HTTP/1 server connections are not the session's, and there is no last server to prefer.
pub(crate) fn prefer_last(be: &BackendRt, last: &LastServer) -> Option<usize> {
    let rules = &be.model.server_rules;
    if !rules.prefer_last
        || rules.reuse != HttpReuse::Never
        || !matches!(be.model.balance, Balance::RoundRobin | Balance::LeastConn)
    {
        return None;
    }
    let last = last
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()?;
    let si = be
        .servers
        .iter()
        .position(|s| std::ptr::eq(Arc::as_ptr(s), last.as_ptr()))?;
    takes_requests(&be.servers[si]).then_some(si)
}
