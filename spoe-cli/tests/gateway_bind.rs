//! Differential test of the `bind` options real files use: `name`, `v4v6`, `v6only`. The same
//! `haproxy.cfg` run by HAProxy 2.6 and by `spoe gateway -f`, on an IPv4-mapped loopback
//! address (`[::ffff:127.0.0.1]`, loopback only): with `v4v6` (and a `name`) both listen there
//! and IPv4 clients reach them; with `v6only` such an address cannot be bound, and both stop
//! at start saying so. Fails (never skips) without `haproxy`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use gateway_support::{GatewayProc, SPOE, get, local, run_to_exit};
use spoe_interop::{Haproxy, PortTaken, claim_port, haproxy_path};

fn haproxy_cfg(port: u16, options: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\nfrontend fe\n    bind [::ffff:127.0.0.1]:{port} {options}\n    \
         http-request return status 200 hdr x-dst \"%[dst]\"\n"
    )
}

#[test]
fn v4v6_and_name_listen_on_a_mapped_address() {
    let options = "name web v4v6";
    let (_haproxy, hap_port) = Haproxy::start_on_port(|port| haproxy_cfg(port, options), &[]);
    let mapped = |port| SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port));
    let (_gateway, gw_addr) =
        GatewayProc::start_listening_on(|port| haproxy_cfg(port, options), &[], mapped);
    let hap = get(local(hap_port), "/", &[]).expect("haproxy answers");
    let gw = get(gw_addr, "/", &[]).expect("gateway answers");
    assert_eq!(hap.status, 200);
    assert_eq!(gw.status, hap.status);
    assert_eq!(gw.header("x-dst"), hap.header("x-dst"));
}

#[test]
fn v6only_on_a_mapped_address_stops_both() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    let ((hap, hap_out, gw, gw_out), _) = claim_port(|port| {
        std::fs::write(&cfg, haproxy_cfg(port, "v6only")).unwrap();
        let (hap, hap_out) = run_to_exit(
            Command::new(haproxy_path())
                .args(["-W", "-db", "-f"])
                .arg(&cfg),
        );
        let (gw, gw_out) = run_to_exit(Command::new(SPOE).args(["gateway", "-f"]).arg(&cfg));
        if hap_out.contains("Address already in use") || gw_out.contains("in use") {
            return Err(PortTaken);
        }
        Ok((hap, hap_out, gw, gw_out))
    });
    assert_eq!(hap, Some(1), "{hap_out}");
    assert!(hap_out.contains("cannot bind socket"), "{hap_out}");
    assert!(gw.is_some_and(|c| c != 0), "{gw:?} {gw_out}");
    assert!(
        gw_out.contains("cannot bind [::ffff:127.0.0.1]"),
        "{gw_out}"
    );
}
