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
