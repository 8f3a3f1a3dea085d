//! The typed `spoe-message` and `spoe-group` sections, and SPOE events.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::span::Span;
use crate::expr::{AclSet, Condition, DataSource, Fetch, Sample, SampleExpr};

/// The events a message can be bound to (`event NAME`), with HAProxy's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// `on-client-session`: a client connection was accepted.
    OnClientSession,
    /// `on-server-session`: a server connection is being established.
    OnServerSession,
    /// `on-frontend-tcp-request`: TCP request content in the frontend.
    OnFrontendTcpRequest,
    /// `on-backend-tcp-request`: TCP request content in the backend.
    OnBackendTcpRequest,
    /// `on-tcp-response`: TCP response content.
    OnTcpResponse,
    /// `on-frontend-http-request`: before the frontend's `http-request` rules.
    OnFrontendHttpRequest,
    /// `on-backend-http-request`: before the backend's `http-request` rules.
    OnBackendHttpRequest,
    /// `on-http-response`: before the `http-response` rules.
    OnHttpResponse,
}

/// An unknown event name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event '{0}'")]
pub struct UnknownEvent(pub String);

impl Event {
    /// Every event.
    pub const ALL: [Self; 8] = [
        Self::OnClientSession,
        Self::OnServerSession,
        Self::OnFrontendTcpRequest,
        Self::OnBackendTcpRequest,
        Self::OnTcpResponse,
        Self::OnFrontendHttpRequest,
        Self::OnBackendHttpRequest,
        Self::OnHttpResponse,
    ];

    /// HAProxy's name (`on-frontend-http-request`).
    pub fn name(self) -> &'static str {
        match self {
            Self::OnClientSession => "on-client-session",
            Self::OnServerSession => "on-server-session",
            Self::OnFrontendTcpRequest => "on-frontend-tcp-request",
            Self::OnBackendTcpRequest => "on-backend-tcp-request",
            Self::OnTcpResponse => "on-tcp-response",
            Self::OnFrontendHttpRequest => "on-frontend-http-request",
            Self::OnBackendHttpRequest => "on-backend-http-request",
            Self::OnHttpResponse => "on-http-response",
        }
    }

    /// Whether the event belongs to the response side (its `hdr()` reads response headers).
    pub fn is_response(self) -> bool {
        matches!(self, Self::OnTcpResponse | Self::OnHttpResponse)
    }

    /// Whether a fetch reading `source` has data at this event, for a filter declared in a
    /// frontend (HAProxy's `fetch_cap[]` at the event's check point).
    pub fn provides(self, source: DataSource) -> bool {
        use DataSource as D;
        match source {
            D::Internal | D::Connection => true,
            D::RequestHeaders | D::RequestContent => matches!(
                self,
                Self::OnFrontendTcpRequest
                    | Self::OnBackendTcpRequest
                    | Self::OnFrontendHttpRequest
                    | Self::OnBackendHttpRequest
                    | Self::OnServerSession
            ),
            D::Request | D::ChannelHeaders | D::Session => self != Self::OnClientSession,
            D::ResponseHeaders | D::ResponseContent | D::Response => self.is_response(),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Event {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, UnknownEvent> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEvent(s.to_owned()))
    }
}

/// One `args` entry: `name=expression`, or an unnamed expression.
#[derive(Debug, Clone)]
pub struct MessageArg {
    /// The name before `=`; empty when there is none (sent as an empty KV name).
    pub name: String,
    /// The expression.
    pub expr: SampleExpr,
}

/// A `spoe-message` section.
#[derive(Debug, Clone)]
pub struct MessageConfig {
    /// `spoe-message NAME`.
    pub name: String,
    /// Where the section starts.
    pub span: Span,
    /// `args`, in order (several `args` lines append).
    pub args: Vec<MessageArg>,
    /// `event NAME`; `None` for messages sent only through a group.
    pub event: Option<Event>,
    /// `event NAME if|unless COND`.
    pub cond: Option<Condition>,
    /// The message's ACLs (`acl` lines, predefined ACLs it uses, anonymous ones).
    pub acls: AclSet,
}

impl MessageConfig {
    /// Whether the message's condition (if any) lets it be sent for this stream.
    pub fn should_send<H: Fetch + ?Sized>(&self, host: &H) -> bool {
        self.cond.as_ref().is_none_or(|c| c.eval(host, &self.acls))
    }

    /// Evaluates the arguments: `(name, value)` pairs, `None` where HAProxy sends NULL.
    pub fn eval_args<H: Fetch + ?Sized>(&self, host: &H) -> Vec<(&str, Option<Sample>)> {
        self.args
            .iter()
            .map(|a| (a.name.as_str(), a.expr.eval(host)))
            .collect()
    }

    /// Evaluates the arguments and writes the message as [`Self::to_spop`]'s
    /// `encode` would, without building it. `false` (and nothing written)
    /// when it has more than 255 arguments, which SPOP cannot carry.
    pub fn encode_into(&self, host: &(impl Fetch + ?Sized), dst: &mut bytes::BytesMut) -> bool {
        let Ok(n) = u8::try_from(self.args.len()) else {
            return false;
        };
        spop::encode_message_head(self.name.as_bytes(), n, dst);
        for arg in &self.args {
            let value = Sample::typed_data(arg.expr.eval(host));
            spop::encode_arg(arg.name.as_bytes(), &value, dst);
        }
        true
    }

    /// The SPOP message HAProxy would send for this stream (arguments evaluated, missing
    /// values as NULL).
    pub fn to_spop(&self, host: &(impl Fetch + ?Sized)) -> spop::Message {
        let mut message = spop::Message::new(self.name.clone());
        for arg in &self.args {
            let value = arg.expr.eval(host);
            message = message.arg(arg.name.clone(), Sample::typed_data(value));
        }
        message
    }
}

/// A `spoe-group` section used by the agent.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `spoe-group NAME`.
    pub name: String,
    /// Where the section starts.
    pub span: Span,
    /// `messages`, in order.
    pub messages: Vec<Arc<MessageConfig>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_table_names_every_event() {
        let names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names, super::super::keywords::EVENTS);
    }

    #[test]
    fn event_names_round_trip() {
        for e in Event::ALL {
            assert_eq!(e.to_string().parse::<Event>(), Ok(e));
        }
        assert_eq!(
            "on-frontend-http-request".parse::<Event>(),
            Ok(Event::OnFrontendHttpRequest)
        );
        assert_eq!(
            "on-request".parse::<Event>().unwrap_err().to_string(),
            "unknown event 'on-request'"
        );
    }

    #[test]
    fn availability() {
        use DataSource as D;
        assert!(Event::OnClientSession.provides(D::Connection));
        assert!(!Event::OnClientSession.provides(D::Request));
        assert!(Event::OnFrontendHttpRequest.provides(D::RequestHeaders));
        assert!(!Event::OnFrontendHttpRequest.provides(D::ResponseHeaders));
        assert!(!Event::OnHttpResponse.provides(D::RequestHeaders));
        assert!(Event::OnHttpResponse.provides(D::Request));
        assert!(Event::OnHttpResponse.provides(D::Response));
        assert!(Event::OnServerSession.provides(D::RequestHeaders));
        assert!(!Event::OnServerSession.provides(D::Response));
    }
}
