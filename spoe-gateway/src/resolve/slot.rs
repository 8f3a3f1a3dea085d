//! The address a server named by a host name has now: written by its resolution, read by
//! every connection to it, and kept across reloads by backend and server name (a new
//! generation starts from the last answer, as HAProxy's `init-addr last` from its state file).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;

/// A server's resolved address.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The host name it holds the address of.
    fqdn: String,
    ip: ArcSwapOption<IpAddr>,
}

impl Slot {
    /// The address now (`None`: none, the server waits in maintenance).
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.ip.load().as_deref().copied()
    }

    pub(crate) fn set(&self, ip: Option<IpAddr>) {
        self.ip.store(ip.map(Arc::new));
    }
}

/// Every server's slot, by backend and server name, across generations.
#[derive(Debug, Default)]
pub(crate) struct Slots(Mutex<HashMap<(String, String), Arc<Slot>>>);

impl Slots {
    /// The slot of `backend`/`server` named `fqdn`: the one an earlier generation left (its
    /// last answer) when it was for the same name, else a new one holding `initial`.
    pub(crate) fn get(
        &self,
        backend: &str,
        server: &str,
        fqdn: &str,
        initial: Option<IpAddr>,
    ) -> Arc<Slot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (backend.to_owned(), server.to_owned());
        if let Some(slot) = map.get(&key).filter(|s| s.fqdn == fqdn) {
            return slot.clone();
        }
        let slot = Arc::new(Slot {
            fqdn: fqdn.to_owned(),
            ip: ArcSwapOption::new(initial.map(Arc::new)),
        });
        map.insert(key, slot.clone());
        slot
    }

    /// Forgets the servers a configuration no longer has.
    pub(crate) fn retain(&self, servers: &[(&str, &str)]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(b, s), _| servers.contains(&(b.as_str(), s.as_str())));
    }
}
