//! The keyword tables of spoe.conf sections, for the parser and for "did
//! you mean" hints. A leaf: it imports nothing of the crate, so that the
//! error types can name keywords without importing the parser back.

/// The keywords of a `spoe-agent` section.
pub(crate) const AGENT_KEYWORDS: &[&str] = &[
    "use-backend",
    "messages",
    "groups",
    "timeout",
    "option",
    "maxconnrate",
    "maxerrrate",
    "max-frame-size",
    "max-waiting-frames",
    "register-var-names",
    "log",
];

/// The keywords of a `spoe-message` section.
pub(crate) const MESSAGE_KEYWORDS: &[&str] = &["args", "acl", "event"];

/// The `option` names of a `spoe-agent` section (for "did you mean").
pub(crate) const AGENT_OPTIONS: &[&str] = &[
    "pipelining",
    "async",
    "send-frag-payload",
    "dontlog-normal",
    "var-prefix",
    "set-on-error",
    "set-process-time",
    "set-total-time",
    "force-set-var",
    "continue-on-error",
];

/// The `event` names of a `spoe-message` section (for "did you mean"), in `Event::ALL`'s order.
pub(crate) const EVENTS: &[&str] = &[
    "on-client-session",
    "on-server-session",
    "on-frontend-tcp-request",
    "on-backend-tcp-request",
    "on-tcp-response",
    "on-frontend-http-request",
    "on-backend-http-request",
    "on-http-response",
];

/// Where each keyword of `spoe.conf` is read once parsed: `(keyword, [(Type.field, file)])`,
/// files relative to the workspace (the gateway reads some: it splits the agents' limits among
/// its workers); no field for a keyword accepted and ignored with a warning. A test checks that
/// every keyword of the tables above has its row, each field exists, and each file reads it.
#[cfg(test)]
pub(crate) const CONSUMED: &[(&str, &[(&str, &str)])] = &[
    (
        "use-backend",
        &[(
            "AgentConfig.use_backend",
            "spoe-gateway/src/generation/mod.rs",
        )],
    ),
    (
        "messages",
        &[("AgentConfig.messages", "spoe/src/config/agent.rs")],
    ),
    ("groups", &[("AgentConfig.groups", "spoe/src/filter.rs")]),
    (
        "timeout hello",
        &[("AgentConfig.timeout_hello", "spoe/src/filter.rs")],
    ),
    (
        "timeout idle",
        &[("AgentConfig.timeout_idle", "spoe/src/filter.rs")],
    ),
    (
        "timeout processing",
        &[("AgentConfig.timeout_processing", "spoe/src/filter.rs")],
    ),
    (
        "maxconnrate",
        &[("AgentConfig.maxconnrate", "spoe/src/filter.rs")],
    ),
    (
        "maxerrrate",
        &[("AgentConfig.maxerrrate", "spoe/src/filter.rs")],
    ),
    (
        "max-frame-size",
        &[("AgentConfig.max_frame_size", "spoe/src/filter.rs")],
    ),
    (
        "max-waiting-frames",
        &[("AgentConfig.max_waiting_frames", "spoe/src/filter.rs")],
    ),
    (
        "register-var-names",
        &[(
            "AgentConfig.register_var_names",
            "spoe-gateway/src/generation/mod.rs",
        )],
    ),
    ("log", &[("AgentConfig.log", "spoe/src/filter.rs")]),
    (
        "option pipelining",
        &[("AgentConfig.pipelining", "spoe/src/filter.rs")],
    ),
    ("option async", &[]),
    ("option send-frag-payload", &[]),
    (
        "option dontlog-normal",
        &[("AgentConfig.dontlog_normal", "spoe/src/filter.rs")],
    ),
    (
        "option var-prefix",
        &[("AgentConfig.var_prefix", "spoe/src/vars.rs")],
    ),
    (
        "option set-on-error",
        &[("AgentConfig.set_on_error", "spoe/src/vars.rs")],
    ),
    (
        "option set-process-time",
        &[("AgentConfig.set_process_time", "spoe/src/vars.rs")],
    ),
    (
        "option set-total-time",
        &[("AgentConfig.set_total_time", "spoe/src/vars.rs")],
    ),
    (
        "option force-set-var",
        &[("AgentConfig.force_set_var", "spoe/src/vars.rs")],
    ),
    (
        "option continue-on-error",
        &[("AgentConfig.continue_on_error", "spoe/src/filter.rs")],
    ),
    (
        "args",
        &[("MessageConfig.args", "spoe/src/config/message.rs")],
    ),
    (
        "acl",
        &[("MessageConfig.acls", "spoe/src/config/message.rs")],
    ),
    (
        "event",
        &[
            ("MessageConfig.event", "spoe/src/config/agent.rs"),
            ("MessageConfig.cond", "spoe/src/config/message.rs"),
        ],
    ),
    (
        "spoe-group messages",
        &[("GroupConfig.messages", "spoe/src/filter.rs")],
    ),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{AGENT_KEYWORDS, AGENT_OPTIONS, CONSUMED, MESSAGE_KEYWORDS};

    fn source(file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every keyword of `spoe.conf` is read once parsed, or is one of those accepted with a
    /// warning (`option async`, `option send-frag-payload`: see `directives.rs`).
    #[test]
    fn every_keyword_is_read_or_ignored_with_a_warning() {
        let mut keywords: Vec<String> = AGENT_KEYWORDS
            .iter()
            .filter(|k| !matches!(**k, "timeout" | "option"))
            .map(|k| (*k).to_owned())
            .collect();
        keywords.extend(AGENT_OPTIONS.iter().map(|o| format!("option {o}")));
        keywords.extend(["hello", "idle", "processing"].map(|t| format!("timeout {t}")));
        keywords.extend(MESSAGE_KEYWORDS.iter().map(|k| (*k).to_owned()));
        keywords.push("spoe-group messages".to_owned());
        let rows: Vec<&str> = CONSUMED.iter().map(|(k, _)| *k).collect();
        let mut failures = Vec::new();
        for k in &keywords {
            if !rows.contains(&k.as_str()) {
                failures.push(format!("'{k}' has no row in CONSUMED"));
            }
        }
        for (keyword, reads) in CONSUMED {
            if !keywords.iter().any(|k| k == keyword) {
                failures.push(format!("'{keyword}' is no keyword"));
            }
            if reads.is_empty() {
                let text = format!(
                    "spoe-agent a\n    {keyword}\n    use-backend b\n    timeout hello 1s\n    timeout idle 1s\n    timeout processing 1s\n"
                );
                let warned = crate::config::SpoeConfig::parse_str(&text, "t.conf", None).is_ok_and(
                    |(_, w)| {
                        w.iter()
                            .any(|w| w.to_string().contains("is accepted and ignored"))
                    },
                );
                if !warned {
                    failures.push(format!("'{keyword}' is read by nothing and not ignored"));
                }
            }
            for (field, file) in *reads {
                let (ty, name) = field.split_once('.').expect("Type.field");
                let defs =
                    source("spoe/src/config/agent.rs") + &source("spoe/src/config/message.rs");
                let start = defs
                    .find(&format!("pub struct {ty} {{"))
                    .unwrap_or_else(|| panic!("no type {ty}"));
                let body = &defs[start..start + defs[start..].find("\n}").unwrap_or(0)];
                if !body.contains(&format!("pub {name}: ")) {
                    failures.push(format!("'{keyword}': {ty} has no field {name}"));
                }
                if !source(file).contains(&format!(".{name}")) {
                    failures.push(format!("'{keyword}': {file} does not read {field}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
