//! Addresses on the command line, one spelling for every command: `HOST:PORT`
//! with host names resolved (as HAProxy resolves `server` addresses at
//! start-up), or `unix@PATH` / `unix:PATH` ([`Addr`]).

use std::net::SocketAddr;

use spop_io::Addr;

/// `--agent`: `HOST:PORT` or `unix@PATH` (`unix:PATH` too).
pub(crate) fn agent(s: &str) -> Result<Addr, String> {
    s.parse().map_err(|e| format!("agent address {e}"))
}

/// `--listen` of `spoe agent`: `HOST:PORT` or `unix:PATH` (`unix@PATH` too).
pub(crate) fn listen(s: &str) -> Result<Addr, String> {
    s.parse().map_err(|e| format!("listen address {e}"))
}

/// A TCP-only `--listen` (the gateway's quickstart).
pub(crate) fn tcp(s: &str) -> Result<SocketAddr, String> {
    match listen(s)? {
        Addr::Tcp(a) => Ok(a),
        Addr::Unix(_) => Err(format!(
            "listen address {s:?}: expected HOST:PORT (the quickstart listens on TCP)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_option() {
        let e = agent("localhost").unwrap_err();
        assert!(
            e.starts_with("agent address \"localhost\": expected HOST:PORT"),
            "{e}"
        );
        let e = listen("127.0.0.1:70000").unwrap_err();
        assert!(e.contains("port out of range"), "{e}");
        assert!(tcp("unix@/run/a.sock").is_err());
        assert_eq!(
            tcp("localhost:0").unwrap(),
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
    }
}
