//! The typed `spoe-agent` section and the validated values it holds.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::log::LogTarget;
use super::message::{Event, GroupConfig, MessageConfig};
use super::span::{Span, Spanned};
use crate::expr::is_var_char;

/// A variable name or prefix as SPOE options take them: non-empty, `[a-zA-Z0-9_.]` only
/// (`option var-prefix`, `option set-on-error`, `register-var-names`...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarName(String);

/// A string that is not a valid [`VarName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid variable name: only [a-zA-Z0-9_.] chars are supported")]
pub struct InvalidVarName(pub String);

impl VarName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for VarName {
    type Err = InvalidVarName;

    fn from_str(s: &str) -> Result<Self, InvalidVarName> {
        if s.is_empty() || !s.chars().all(is_var_char) {
            return Err(InvalidVarName(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<&str> for VarName {
    type Error = InvalidVarName;

    fn try_from(s: &str) -> Result<Self, InvalidVarName> {
        s.parse()
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for VarName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `max-frame-size`: between 256 and 16380 (HAProxy's `tune.bufsize` 16384 minus 4), 16380 by
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxFrameSize(u32);

/// A frame size outside [`MaxFrameSize::MIN`]..=[`MaxFrameSize::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("max-frame-size {0} is outside [256, 16380]")]
pub struct FrameSizeOutOfRange(pub u64);

impl MaxFrameSize {
    /// The smallest size SPOP allows.
    pub const MIN: u32 = spop::MIN_FRAME_SIZE;
    /// The largest size (and the default): `tune.bufsize` 16384 minus 4.
    pub const MAX: u32 = spop::HAPROXY_DEFAULT_FRAME_SIZE;

    /// The size in bytes.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for MaxFrameSize {
    fn default() -> Self {
        Self(Self::MAX)
    }
}

impl TryFrom<u64> for MaxFrameSize {
    type Error = FrameSizeOutOfRange;

    fn try_from(v: u64) -> Result<Self, FrameSizeOutOfRange> {
        match u32::try_from(v) {
            Ok(v) if (Self::MIN..=Self::MAX).contains(&v) => Ok(Self(v)),
            _ => Err(FrameSizeOutOfRange(v)),
        }
    }
}

impl fmt::Display for MaxFrameSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A `spoe-agent` section, resolved and validated. Each field's doc names the keyword.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `spoe-agent NAME`.
    pub id: String,
    /// Where the section starts.
    pub span: Span,
    /// The `[scope]` the agent was read from (`None`: outside any scope).
    pub engine: Option<String>,
    /// `use-backend NAME`: the backend of `haproxy.cfg` holding the agents' servers.
    pub use_backend: Spanned<String>,
    /// `timeout hello`: bound on the handshake. `None` when not set (HAProxy then waits
    /// forever, and warns).
    pub timeout_hello: Option<Duration>,
    /// `timeout idle`: an idle connection is closed after it. `None` when not set.
    pub timeout_idle: Option<Duration>,
    /// `timeout processing`: each message's budget. `None` when not set or set to 0 (HAProxy
    /// then has no limit, and warns).
    pub timeout_processing: Option<Duration>,
    /// Where `timeout processing` was written, if it was.
    pub timeout_processing_at: Option<Span>,
    /// `option var-prefix`: the prefix of the variables the agent sets; the agent's name by
    /// default.
    pub var_prefix: VarName,
    /// `option set-on-error`: `txn.<prefix>.<name>` gets the error code of a failed event.
    pub set_on_error: Option<VarName>,
    /// `option set-process-time`: `txn.<prefix>.<name>` gets the processing time (ms).
    pub set_process_time: Option<VarName>,
    /// `option set-total-time`: `txn.<prefix>.<name>` gets the total time (ms).
    pub set_total_time: Option<VarName>,
    /// `option continue-on-error`: keep evaluating the next messages after an error.
    pub continue_on_error: bool,
    /// `option force-set-var`: set any variable the agent names, registered or not.
    pub force_set_var: bool,
    /// `[no] option pipelining`: offered to agents; on by default.
    pub pipelining: bool,
    /// `max-frame-size`.
    pub max_frame_size: MaxFrameSize,
    /// `max-waiting-frames`: NOTIFY frames in flight per connection (20 by default).
    pub max_waiting_frames: u32,
    /// `maxconnrate`: new agent connections per second (`None`: no limit).
    pub maxconnrate: Option<u32>,
    /// `maxerrrate`: failed events per second beyond which events are skipped (`None`: no
    /// limit).
    pub maxerrrate: Option<u32>,
    /// `register-var-names`: the only names the agent may set without `force-set-var`.
    pub register_var_names: Vec<VarName>,
    /// `[no] option dontlog-normal`: log only failed events.
    pub dontlog_normal: bool,
    /// `log` lines, in order (`no log` clears the previous ones).
    pub log: Vec<LogTarget>,
    /// `messages`: the messages sent on events, in the order listed (messages without an
    /// `event` are left out, with a warning, as HAProxy does).
    pub messages: Vec<Arc<MessageConfig>>,
    /// `groups`: the groups `send-spoe-group` may send, in the order listed.
    pub groups: Vec<GroupConfig>,
}

impl AgentConfig {
    /// The messages sent on `event`, in order.
    pub fn messages_for(&self, event: Event) -> impl Iterator<Item = &Arc<MessageConfig>> {
        self.messages.iter().filter(move |m| m.event == Some(event))
    }

    /// The full names of the variables the messages (those sent on events and those of
    /// groups) read in their arguments and ACLs, sorted: what HAProxy registers from this
    /// `spoe.conf` (see [`SampleExpr::var_names`](crate::expr::SampleExpr::var_names)).
    pub fn var_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let messages = self
            .messages
            .iter()
            .chain(self.groups.iter().flat_map(|g| g.messages.iter()));
        for m in messages {
            for arg in &m.args {
                arg.expr.var_names(&mut names);
            }
            m.acls.var_names(&mut names);
        }
        names
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&GroupConfig> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// HAProxy's rule for a filter on a proxy with both sides (a `listen`): the messages of
    /// `on-backend-tcp-request` and `on-backend-http-request` are sent at the frontend's
    /// events (`on-frontend-tcp-request`, `on-frontend-http-request`), as `spoe_check()` in
    /// HAProxy 2.6's `src/flt_spoe.c` rewrites them.
    pub fn on_both_sides(&mut self) {
        for message in &mut self.messages {
            let event = match message.event {
                Some(Event::OnBackendTcpRequest) => Event::OnFrontendTcpRequest,
                Some(Event::OnBackendHttpRequest) => Event::OnFrontendHttpRequest,
                _ => continue,
            };
            Arc::make_mut(message).event = Some(event);
        }
    }

    /// The full name of a variable the engine sets: `<scope>.<var-prefix>.<name>`, for
    /// `set-on-error` and friends (scope `txn`).
    pub fn txn_var(&self, name: &VarName) -> String {
        format!("txn.{}.{}", self.var_prefix, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_names() {
        assert_eq!("a.b_1".parse::<VarName>().unwrap().as_str(), "a.b_1");
        assert!("a-b".parse::<VarName>().is_err());
        assert!("".parse::<VarName>().is_err());
        assert_eq!(
            VarName::try_from("x y").unwrap_err().to_string(),
            "'x y' is not a valid variable name: only [a-zA-Z0-9_.] chars are supported"
        );
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(MaxFrameSize::default().get(), 16380);
        assert_eq!(MaxFrameSize::try_from(256).unwrap().get(), 256);
        assert!(MaxFrameSize::try_from(255).is_err());
        assert!(MaxFrameSize::try_from(16381).is_err());
        assert!(MaxFrameSize::try_from(u64::MAX).is_err());
    }
}
