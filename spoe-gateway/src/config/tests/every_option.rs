//! `spoe check` reports every unsupported option of a `bind` or `server` line, not the first
//! only: a user sees at once all that stands between their file and the gateway. The options
//! are HAProxy 2.6's own (`haproxy -c` accepts the same file), with and without arguments, so
//! that skipping an option's arguments is checked too.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::GatewayConfig;

const CONFIG: &str = "\
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend web
    bind 127.0.0.1:8080 accept-netscaler-cip 1234 defer-accept expose-fd listeners tfo
    default_backend app
backend app
    server s1 127.0.0.1:9000 check observe layer4 tfo error-limit 5 weight 2 socks4 127.0.0.1:1080
";

/// The messages of `errors`, one per line, with their `line:col`.
fn errors_of(config: &str) -> Vec<String> {
    let Err(errors) =
        GatewayConfig::parse_str(config, "haproxy.cfg", Path::new("."), Some(BTreeMap::new()))
    else {
        panic!("the gateway accepted:\n{config}");
    };
    errors
        .errors
        .iter()
        .map(|e| {
            let text = e.to_string();
            text.split_once("] : ").map_or(text.clone(), |(at, msg)| {
                let at = at.rsplit_once("haproxy.cfg:").map_or("", |(_, a)| a);
                format!("{at} {msg}")
            })
        })
        .collect()
}

#[test]
fn every_unsupported_option_of_a_line_is_reported() {
    let (accepted, output) = spoe_interop::haproxy_check(CONFIG);
    assert!(accepted, "haproxy -c refused:\n{output}");
    assert_eq!(
        errors_of(CONFIG),
        [
            "7:25 'bind' : option 'accept-netscaler-cip' is not supported by the gateway",
            "7:64 'bind' : option 'expose-fd' is not supported by the gateway",
            "10:36 'server s1' : 'observe' is not supported by the gateway",
            "10:55 'server s1' : 'error-limit' is not supported by the gateway",
            "10:78 'server s1' : 'socks4' is not supported by the gateway",
        ]
    );
}

#[test]
fn an_unknown_word_ends_the_options_it_cannot_be_told_from() {
    let config = CONFIG
        .replace("defer-accept", "defer-accept bogus 3")
        .replace("tfo error-limit", "nonsense error-limit");
    assert!(!spoe_interop::haproxy_check(&config).0);
    let errors = errors_of(&config);
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("'bind' : unknown keyword 'bogus'")),
        "{errors:?}"
    );
    assert!(
        !errors
            .iter()
            .any(|e| e.contains("'bind' : option 'expose-fd'")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("'server s1' : unknown keyword 'nonsense'")),
        "{errors:?}"
    );
    assert!(
        !errors.iter().any(|e| e.contains("'error-limit'")),
        "{errors:?}"
    );
}
