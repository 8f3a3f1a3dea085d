//! The run-time resolution of a generation's servers named by a host name with `resolvers`
//! (`crate::resolve`): one task per section, name and preferred family, on the runtime that
//! starts the generation (not the workers); dropping the generation ends them.

use std::collections::BTreeMap;

use super::{BackendRt, ServerRt};
use crate::model::GatewayConfig;
use crate::resolve::task::{Member, Requester};

impl Requester for ServerRt {
    fn resolution_maint(&self) -> bool {
        self.admin.resolution_maint()
    }

    fn set_resolution_maint(&self, on: bool) {
        let before = self.admin.state();
        self.admin.set_resolution_maint(on);
        if on {
            // As any maintenance, HAProxy stops the server: its health starts from zero.
            self.health.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let after = self.admin.state();
        if before != after {
            self.counters.state_changed(after != super::Admin::Maint);
        }
    }
}

/// Starts the resolutions of `backends`' servers into `tasks`.
pub(super) fn start(
    config: &GatewayConfig,
    backends: &std::collections::HashMap<String, BackendRt>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    // By section, name (case-insensitive, as DNS) and family, in the file's order.
    let mut groups: BTreeMap<(usize, String, bool), Vec<Member>> = BTreeMap::new();
    for (b_index, b) in config.backends.iter().enumerate() {
        let Some(rt) = backends.get(&b.name) else {
            continue;
        };
        for server in &rt.servers {
            let (Some(dns), Some(slot)) = (&server.model.dns, &server.resolved) else {
                continue;
            };
            let Some(section) = config
                .global
                .resolvers
                .iter()
                .position(|r| r.name == dns.resolvers)
            else {
                continue;
            };
            let key = (
                section,
                dns.fqdn.to_ascii_lowercase(),
                dns.prefer == crate::resolve::Prefer::V4,
            );
            groups.entry(key).or_default().push(Member {
                label: format!("{}/{}", b.name, server.name),
                server: server.clone(),
                slot: slot.clone(),
                dns: dns.clone(),
                backend: b_index,
            });
        }
    }
    for ((section, _, _), members) in groups {
        let section = config.global.resolvers[section].clone();
        tasks.spawn(crate::resolve::task::run(section, members));
    }
}
