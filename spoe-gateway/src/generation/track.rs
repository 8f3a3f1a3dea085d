//! `server ... track [BACKEND/]SERVER`: a server whose state follows another's, as HAProxy's
//! `srv_set_stopped()`/`srv_set_running()`/`srv_set_stopping()` pass a change on to the
//! servers tracking the one that changed (and to theirs), each logged "via" the server it
//! tracks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::health::{self, Plan};
use super::{BackendRt, ServerRt};
use crate::stats::Counters;

/// A server that follows a checked one (directly or through others).
#[derive(Debug)]
pub(crate) struct Tracker {
    plan: Arc<Plan>,
    server: Arc<ServerRt>,
    siblings: Vec<Arc<ServerRt>>,
    backend_counters: Arc<Counters>,
    /// `BACKEND/SERVER`: the one it tracks.
    via: String,
}

/// The servers following `backend/server`, each after the one it tracks.
pub(crate) fn trackers(
    backends: &HashMap<String, BackendRt>,
    backend: &str,
    server: &str,
) -> Vec<Tracker> {
    let mut out = Vec::new();
    let mut todo = vec![(backend.to_owned(), server.to_owned())];
    // Configurations with loops are refused; the bound only guards the walk.
    let bound: usize = backends.values().map(|b| b.servers.len()).sum();
    while let Some((tb, ts)) = todo.pop() {
        for be in backends.values() {
            for s in &be.servers {
                let follows = s
                    .model
                    .track
                    .as_ref()
                    .is_some_and(|t| t.backend == tb && t.server == ts);
                if follows && out.len() < bound {
                    out.push(Tracker {
                        plan: be.plan.clone(),
                        server: s.clone(),
                        siblings: be.servers.clone(),
                        backend_counters: be.counters.clone(),
                        via: format!("{tb}/{ts}"),
                    });
                    todo.push((be.model.name.clone(), s.name.clone()));
                }
            }
        }
    }
    out
}

/// Gives every tracker the state `source` now has, saying so for each that changes.
pub(crate) fn follow(trackers: &[Tracker], source: &ServerRt) {
    let up = source.up.load(Ordering::Relaxed);
    let stopping = source.stopping.load(Ordering::Relaxed);
    for t in trackers {
        let s = &t.server;
        let backend_was_up = health::usable(&t.siblings);
        let was_up = s.up.swap(up, Ordering::Relaxed);
        let was_stopping = s.stopping.swap(stopping, Ordering::Relaxed);
        if was_up == up && was_stopping == stopping {
            continue;
        }
        crate::generation::chosen::servers_changed();
        if was_up != up {
            s.counters.state_changed(up);
        }
        health::log_change(
            &t.plan,
            s,
            &format!(" via {}", t.via),
            &t.siblings,
            was_stopping,
        );
        if was_up != up {
            // After the line, whose "sessions active" counts them, as HAProxy's.
            health::cut_sessions_on_change(s, &t.siblings, up);
        }
        health::backend_changed(&t.plan, &t.siblings, &t.backend_counters, backend_was_up);
    }
}
