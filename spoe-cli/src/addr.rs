//! Addresses on the command line: `HOST:PORT` with host names resolved (as
//! HAProxy resolves `server` addresses at start-up), or a Unix socket.

use std::net::{SocketAddr, ToSocketAddrs};

use spoa::ListenAddr;
use spoe::AgentAddr;

/// Resolves `HOST:PORT`. An IP literal is taken as is; a name takes its first
/// IPv4 address when it has one (`localhost` is then 127.0.0.1, where agents
/// usually listen), else its first address.
fn resolve(s: &str, what: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    if let Some((host, port)) = s.rsplit_once(':')
        && !host.is_empty()
        && port.parse::<u16>().is_err()
        && port.parse::<u64>().is_ok()
    {
        return Err(format!(
            "{what} {s:?}: port {port} out of range: a port is 1 to 65535 (0: any free port, to listen)"
        ));
    }
    if s.rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!(
            "{what} {s:?}: expected HOST:PORT (such as localhost:12345 or 127.0.0.1:12345) or unix@PATH"
        ));
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("{what} {s:?}: cannot resolve the host name: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{what} {s:?}: the host name resolves to no address"))
}

fn unix_path(s: &str) -> Option<&str> {
    s.strip_prefix("unix@").or_else(|| s.strip_prefix("unix:"))
}

/// `--agent`: `HOST:PORT` or `unix@PATH` (`unix:PATH` too).
pub(crate) fn agent(s: &str) -> Result<AgentAddr, String> {
    match unix_path(s) {
        Some("") => Err(format!(
            "agent address {s:?}: the unix socket path is empty"
        )),
        Some(p) => Ok(AgentAddr::Unix(p.into())),
        None => resolve(s, "agent address").map(AgentAddr::Tcp),
    }
}

/// `--listen` of `spoe agent`: `HOST:PORT` or `unix@PATH` (`unix:PATH` too).
pub(crate) fn listen(s: &str) -> Result<ListenAddr, String> {
    match unix_path(s) {
        Some("") => Err(format!(
            "listen address {s:?}: the unix socket path is empty"
        )),
        Some(p) => Ok(ListenAddr::Unix(p.into())),
        None => resolve(s, "listen address").map(ListenAddr::Tcp),
    }
}

/// The conformance kit's spelling of an agent address.
pub(crate) fn target(a: &AgentAddr) -> spoe_conformance::Target {
    match a {
        AgentAddr::Tcp(a) => spoe_conformance::Target::Tcp(*a),
        AgentAddr::Unix(p) => spoe_conformance::Target::Unix(p.clone()),
    }
}

/// A TCP-only `--listen` (the gateway's quickstart).
pub(crate) fn tcp(s: &str) -> Result<SocketAddr, String> {
    resolve(s, "listen address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_resolve_and_literals_stay() {
        assert_eq!(
            agent("localhost:12345").unwrap(),
            AgentAddr::Tcp("127.0.0.1:12345".parse().unwrap())
        );
        assert_eq!(
            listen("localhost:0").unwrap(),
            ListenAddr::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            agent("[::1]:80").unwrap(),
            AgentAddr::Tcp("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            agent("unix@/run/a.sock").unwrap(),
            AgentAddr::Unix("/run/a.sock".into())
        );
        assert_eq!(
            listen("unix:/run/a.sock").unwrap(),
            ListenAddr::Unix("/run/a.sock".into())
        );
    }

    #[test]
    fn bad_addresses_say_what_is_expected() {
        let e = agent("localhost").unwrap_err();
        assert!(e.contains("expected HOST:PORT"), "{e}");
        let e = agent("localhost:notaport").unwrap_err();
        assert!(e.contains("expected HOST:PORT"), "{e}");
        for addr in ["127.0.0.1:99999", "localhost:65536", "[::1]:70000"] {
            let e = agent(addr).unwrap_err();
            assert!(e.contains("out of range"), "{addr}: {e}");
            assert!(!e.contains("expected HOST:PORT"), "{addr}: {e}");
        }
        assert!(agent("unix@").is_err());
    }
}
