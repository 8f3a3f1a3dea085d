//! With the `axum` feature: [`SpoeVars`] and [`SpoeGroups`] as extractors, and axum's
//! `ConnectInfo` as the connection's facts (`into_make_service_with_connect_info::<ConnectionFacts>()`
//! gives the layer the client and local addresses, once per connection).

use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::serve::IncomingStream;
use http::StatusCode;
use http::request::Parts;

use super::txn::{SpoeGroups, SpoeVars};
use crate::conn::ConnectionFacts;

/// What a handler gets when no `SpoeLayer` runs in front of it.
const NO_LAYER: (StatusCode, &str) = (
    StatusCode::INTERNAL_SERVER_ERROR,
    "SpoeLayer does not run in front of this handler",
);

impl<S: Send + Sync> FromRequestParts<S> for SpoeVars {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(NO_LAYER)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SpoeGroups {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SpoeVars>()
            .map(Self::from)
            .ok_or(NO_LAYER)
    }
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for ConnectionFacts {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        let client = *stream.remote_addr();
        match stream.io().local_addr() {
            Ok(local) => Self::tcp(client, local),
            Err(_) => {
                let mut facts = Self::unknown();
                facts.client = Some(client);
                facts
            }
        }
    }
}

/// The connection's facts from axum's `ConnectInfo`: ours, or the client's address alone
/// (`into_make_service_with_connect_info::<SocketAddr>()`; then each request is its own
/// session).
pub(super) fn connection(extensions: &http::Extensions) -> Option<ConnectionFacts> {
    if let Some(ConnectInfo(c)) = extensions.get::<ConnectInfo<ConnectionFacts>>() {
        return Some(c.clone());
    }
    let ConnectInfo(client) = extensions.get::<ConnectInfo<SocketAddr>>()?;
    let mut facts = ConnectionFacts::unknown();
    facts.client = Some(*client);
    Some(facts)
}
