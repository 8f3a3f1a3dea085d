//! `server ... track [BACKEND/]SERVER` checked once every section is read, as HAProxy's
//! `srv_apply_track()`: the backend and the server exist, the server tracked is checked (or
//! tracks another one), and no chain loops back.

use super::diag::Diag;
use super::grammar::Kind;
use super::lower::Proxy;
use crate::model::{Server, Track};

/// Reports every `track` that HAProxy would refuse.
pub(super) fn check_tracks(proxies: &[Proxy], diag: &mut Diag) {
    let backend = |name: &str| {
        proxies
            .iter()
            .find(|p| p.name == name && matches!(p.kind, Kind::Backend | Kind::Listen))
    };
    let server = |track: &Track| -> Option<&Server> {
        backend(&track.backend)?
            .servers
            .iter()
            .map(|(s, _)| s)
            .find(|s| s.name == track.server)
    };
    for p in proxies {
        for (s, span) in &p.servers {
            let Some(track) = &s.track else {
                continue;
            };
            let label = format!("server {}", s.name);
            let Some(bk) = backend(&track.backend) else {
                diag.error_msg(
                    span.clone(),
                    format!(
                        "'{label}' : unable to find required proxy '{}' for tracking",
                        track.backend
                    ),
                );
                continue;
            };
            let Some(target) = server(track) else {
                diag.error_msg(
                    span.clone(),
                    format!(
                        "'{label}' : unable to find required server '{}' for tracking",
                        track.server
                    ),
                );
                continue;
            };
            if !target.check && target.track.is_none() {
                diag.error_msg(
                    span.clone(),
                    format!(
                        "'{label}' : unable to use {}/{} for tracking as it does not have any check nor agent enabled",
                        bk.name, target.name
                    ),
                );
                continue;
            }
            // Follow the chain: it must not come back to this server.
            let total: usize = proxies.iter().map(|p| p.servers.len()).sum();
            let mut next = Some((bk.name.as_str(), target));
            for _ in 0..=total {
                let Some((b, t)) = next else {
                    break;
                };
                if b == p.name && t.name == s.name {
                    diag.error_msg(
                        span.clone(),
                        format!(
                            "'{label}' : unable to track {}/{} as it belongs to a tracking chain looping back to {b}/{}",
                            bk.name, target.name, t.name
                        ),
                    );
                    break;
                }
                next = t
                    .track
                    .as_ref()
                    .and_then(|tr| server(tr).map(|x| (tr.backend.as_str(), x)));
            }
            if bk.name != p.name && bk.checks.disable_on_404 != p.checks.disable_on_404 {
                diag.error_msg(
                    span.clone(),
                    format!(
                        "'{label}' : unable to use {}/{} for tracking: disable-on-404 option inconsistency",
                        bk.name, target.name
                    ),
                );
            }
        }
    }
}
