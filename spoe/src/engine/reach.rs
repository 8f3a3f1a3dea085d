//! Whether each agent server answers, as every engine of one agent sees it
//! (the gateway runs one engine per worker thread, all with the same
//! settings): shared, so that a change is logged once, not once per engine.

use std::sync::{Mutex, PoisonError};

/// The agent servers' states that the log reports: whether a connection
/// could be made (handshake included) and what `option spop-check` says.
/// One is made with the settings ([`crate::EngineSettings::new`]) and shared
/// by every engine started from copies of them.
#[derive(Debug, Default)]
pub struct Reachability {
    servers: Mutex<Vec<View>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct View {
    /// Whether the last connection attempt got through its handshake
    /// (`None`: none was made yet).
    connects: Option<bool>,
    /// What the health check last concluded (`None`: no conclusion yet).
    healthy: Option<bool>,
}

impl Reachability {
    fn update(&self, server: usize, f: impl FnOnce(&mut View) -> bool) -> bool {
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if servers.len() <= server {
            servers.resize(server + 1, View::default());
        }
        servers.get_mut(server).is_some_and(f)
    }

    /// A connection to `server` got through its handshake (`ok`) or failed.
    /// True when this changes what was known: a first failure, or a success
    /// after failures (a first success is not news).
    pub(crate) fn connected(&self, server: usize, ok: bool) -> bool {
        self.update(server, |v| {
            let changed = match v.connects {
                None => !ok,
                Some(was) => was != ok,
            };
            v.connects = Some(ok);
            changed
        })
    }

    /// The health check concluded that `server` is up or down. True when
    /// this changes what was known (servers start up).
    pub(crate) fn checked(&self, server: usize, up: bool) -> bool {
        self.update(server, |v| {
            let changed = v.healthy.unwrap_or(true) != up;
            v.healthy = Some(up);
            changed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_news_once_whoever_sees_it() {
        let r = Reachability::default();
        assert!(!r.connected(0, true), "a first success is not news");
        assert!(r.connected(0, false));
        assert!(
            !r.connected(0, false),
            "the same failure seen by another engine"
        );
        assert!(r.connected(0, true));
        assert!(r.connected(3, false), "servers are independent");
        assert!(!r.checked(1, true));
        assert!(r.checked(1, false));
        assert!(!r.checked(1, false));
        assert!(r.checked(1, true));
    }
}
