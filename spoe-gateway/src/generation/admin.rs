//! A server's administrative state and weight, set at run time by the runtime API and the
//! stats page (HAProxy's `srv_adm_set_maint()`, `srv_adm_set_drain()`,
//! `srv_adm_set_ready()`, `server_parse_weight_change_request()`). They last as long as the
//! generation: a reload starts from the configuration, as HAProxy without a server-state
//! file does. Health checks go on while a server is in maintenance; their result counts
//! again once it is ready.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::admin_state::Admin;
use super::{BackendRt, ServerRt};

impl ServerRt {
    /// Whether load balancing may pick it now: up, ready, with a weight.
    pub(crate) fn usable(&self) -> bool {
        super::health::takes_requests(self)
    }
}

impl BackendRt {
    /// Its server called `name`.
    pub(crate) fn server(&self, name: &str) -> Option<&Arc<ServerRt>> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Whether it has a server load balancing may pick.
    pub(crate) fn usable(&self) -> bool {
        self.servers.iter().any(|s| s.usable())
    }

    /// Sets `server`'s state, recording the changes of state of the server (into or out of
    /// maintenance) and of the backend (no usable server left, or one again).
    pub(crate) fn set_admin(&self, server: &ServerRt, state: Admin) {
        let was = self.usable();
        let before = server.admin.state();
        server.admin.set_state(state);
        let after = server.admin.state();
        if (before == Admin::Maint) != (after == Admin::Maint) {
            server.counters.state_changed(after != Admin::Maint);
        }
        if state == Admin::Maint {
            // HAProxy stops the server: its health starts from zero (checks raise it again).
            server.health.store(0, Ordering::Relaxed);
        }
        self.backend_changed(was);
    }

    /// `set server B/S weight W[%]` (`set weight`): HAProxy's messages for what it refuses.
    pub(crate) fn set_weight(&self, server: &ServerRt, text: &str) -> Result<(), &'static str> {
        if text.is_empty() {
            return Err("Require <weight> or <weight%>.\n");
        }
        let digits = text
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
            .map_or(text.len(), |(i, _)| i);
        let (number, rest) = text.split_at(digits);
        let Ok(w) = number.parse::<i64>() else {
            return Err("Empty weight string empty or preceded by garbage");
        };
        let w = match rest {
            "%" if w < 0 => return Err("Relative weight must be positive.\n"),
            "%" => (i64::from(server.model.weight) * w.min(25600) / 100).min(256),
            _ if !(0..=256).contains(&w) => {
                return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
            }
            "" => w,
            _ => return Err("Trailing garbage in weight string"),
        };
        let was = self.usable();
        server.admin.set_weight(u32::try_from(w).unwrap_or(0));
        self.backend_changed(was);
        Ok(())
    }

    fn backend_changed(&self, was: bool) {
        let now = self.usable();
        if now != was {
            self.counters.state_changed(now);
            if !now {
                let name = &self.model.name;
                tracing::error!(backend = %name, "backend '{name}' has no server available!");
            }
        }
    }
}

impl super::Generation {
    /// The statistics id (`iid`, HAProxy's proxy `uuid`) of the first frontend: HAProxy
    /// numbers its proxies in the file's order, and each `resolvers` section has one (the
    /// gateway counts them before the frontends, where real files write them), then the
    /// backends after the frontends.
    pub(crate) fn first_proxy_id(&self) -> usize {
        self.config.global.resolvers.len() + 1
    }

    /// The HTTP backend called `name`, or whose statistics id (`iid`) is `#N`.
    pub(crate) fn backend_by_ref(&self, name: &str) -> Option<&BackendRt> {
        if let Some(id) = name.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
            let index = id.checked_sub(self.first_proxy_id() + self.frontends.len())?;
            let b = self.config.backends.get(index)?;
            return self.backends.get(&b.name);
        }
        self.backends.get(name)
    }
}
