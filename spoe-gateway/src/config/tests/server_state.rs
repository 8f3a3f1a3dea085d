//! Server state files beside HAProxy 2.6 (`haproxy -c`): naming a file (`server-state-file`,
//! `server-state-base`, `server-state-file-name`) and `load-server-state-from-file none` are
//! accepted by both and change nothing; loading one (`global`, `local`) is accepted by HAProxy
//! and an error naming it here; a bad mode is refused by both with HAProxy's message.

use super::haproxy_agrees::{ours, with_defaults};

/// A state file naming a server (in HAProxy's `show servers state` format, version 1).
const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n";

fn config(load: &str) -> String {
    with_defaults(&format!(
        "frontend f
    bind 127.0.0.1:8080
    default_backend b
backend b
    load-server-state-from-file {load}
    server-state-file-name use-backend-name
    server s1 127.0.0.1:8081
"
    ))
    .replace(
        "defaults\n",
        "global\n    server-state-base .\n    server-state-file servers.state\ndefaults\n",
    )
}

fn haproxy(config: &str) -> (bool, String) {
    spoe_interop::haproxy_check_with_files(config, &[("servers.state", STATE)])
}

#[test]
fn naming_a_state_file_is_accepted_as_by_haproxy() {
    let config = config("none");
    let (accepted, output) = haproxy(&config);
    assert!(accepted, "haproxy:\n{output}");
    if let Err(e) = ours(&config) {
        panic!("the gateway refused:\n{e}\n--- config ---\n{config}");
    }
}

#[test]
fn loading_a_state_file_is_an_error_naming_it() {
    for how in ["global", "local"] {
        let config = config(how);
        let (accepted, output) = haproxy(&config);
        assert!(accepted, "haproxy:\n{output}");
        let err = ours(&config).expect_err("the gateway accepted a state file to load");
        assert!(
            err.contains(&format!(
                "'load-server-state-from-file {how}' is not supported by the gateway"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_bad_mode_is_refused_with_haproxys_message() {
    let config = config("bogus");
    let (accepted, output) = haproxy(&config);
    assert!(!accepted, "haproxy accepted:\n{output}");
    let wanted = "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got 'bogus'";
    assert!(output.contains(wanted), "{output}");
    let err = ours(&config).expect_err("the gateway accepted a bad mode");
    assert!(err.contains(wanted), "{err}");
}
