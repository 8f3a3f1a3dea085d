//! `setenv`, `presetenv`, `unsetenv`, `resetenv`: accepted and refused as `haproxy -c` 2.6
//! does, and read in order (a `"${VAR}"` after a `setenv` sees its value, one before does
//! not). What `env()` sees at run time is `spoe-cli`'s `gateway_setenv` test.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::GatewayConfig;

fn ours(config: &str, env: &[(&str, &str)]) -> Result<GatewayConfig, String> {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    GatewayConfig::parse_str(config, "haproxy.cfg", Path::new("."), Some(env))
        .map(|(c, _)| c)
        .map_err(|e| e.to_string())
}

fn with_global(lines: &str) -> String {
    format!(
        "global\n{lines}defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:8080\n    http-request return status 200\n"
    )
}

#[test]
fn accepted_and_refused_as_haproxy_does() {
    for (lines, accepted) in [
        ("    setenv A b\n", true),
        ("    setenv A b extra\n", true),
        ("    setenv A b c d\n", false),
        ("    setenv A\n", false),
        ("    presetenv A\n", false),
        ("    setenv A=B c\n", false),
        ("    unsetenv\n", false),
        ("    unsetenv A B\n", true),
        ("    unsetenv A=B\n", false),
        ("    resetenv\n", true),
        ("    resetenv PATH HOME\n", true),
    ] {
        let config = with_global(lines);
        let (hap, out) = spoe_interop::haproxy_check(&config);
        assert_eq!(hap, accepted, "haproxy on {lines:?}:\n{out}");
        let ours = ours(&config, &[]);
        assert_eq!(ours.is_ok(), accepted, "gateway on {lines:?}: {ours:?}");
    }
}

#[test]
fn lines_after_a_setenv_see_it() {
    // The bind addresses come from variables set in the file, kept from the caller's
    // environment, or dropped by `resetenv`: each line sees what the lines above it left.
    let config = "\
global
    setenv ADDR 127.0.0.1:8081
    presetenv ADDR 127.0.0.1:9999
    presetenv OTHER 127.0.0.1:8082
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend f
    bind \"${ADDR}\"
    bind \"${OTHER}\"
    bind \"${FROM_CALLER}\"
    http-request return status 200
";
    let c = ours(
        config,
        &[
            ("OTHER", "127.0.0.1:8083"),
            ("FROM_CALLER", "127.0.0.1:8084"),
        ],
    )
    .expect("accepted");
    let binds: Vec<String> = c.listeners().map(|a| a.to_string()).collect();
    assert_eq!(
        binds,
        ["127.0.0.1:8081", "127.0.0.1:8083", "127.0.0.1:8084"]
    );
    let unset = config.replace(
        "    presetenv OTHER 127.0.0.1:8082\n",
        "    presetenv OTHER 127.0.0.1:8082\n    resetenv ADDR OTHER\n",
    );
    let error = ours(&unset, &[("FROM_CALLER", "127.0.0.1:8084")]).unwrap_err();
    assert!(error.contains("haproxy.cfg:14"), "{error}");
}
