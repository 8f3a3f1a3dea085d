//! One request through a layer, whatever serves it (the tower service, or a host such as
//! Pingora through [`SpoeLayer::request`](super::SpoeLayer::request)), in HAProxy's order:
//! `on-client-session` (once per connection), the request events, the failure mode and the
//! request hook; after the handler, `on-http-response` and the response hook. The outcome is
//! counted once, when the request's state is dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode, request, response};
use spoe::StreamState;
use spoe::config::Event;

use super::decide::{FailureMode, Verdict};
use super::metrics::Outcome;
use super::shared::Shared;
use super::txn::{TxnMut, TxnState, What};
use crate::conn::ConnectionFacts;
use crate::vars::Vars;

/// The connection's facts: the [`ConnectionFacts`] extension, or with the `axum` feature
/// axum's `ConnectInfo`.
fn connection(extensions: &http::Extensions) -> Option<ConnectionFacts> {
    if let Some(c) = extensions.get::<ConnectionFacts>() {
        return Some(c.clone());
    }
    #[cfg(feature = "axum")]
    if let Some(c) = super::axum::connection(extensions) {
        return Some(c);
    }
    None
}

/// A response of the layer's own, with no body.
pub(crate) fn status_only(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// A copy of the head without its extensions (what later events read).
fn copy_head(p: &request::Parts) -> request::Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = p.method.clone();
    head.uri = p.uri.clone();
    head.version = p.version;
    head.headers = p.headers.clone();
    head
}

/// Starts a request on the current generation and runs `on-client-session` if it is the
/// connection's first (each request's, without the connection's facts). The connection is
/// `conn`, else the head's extensions'.
pub(crate) async fn begin(
    shared: &Arc<Shared>,
    parts: &request::Parts,
    conn: Option<&ConnectionFacts>,
) -> TxnState {
    let generation = shared.current.load_full();
    let conn = conn.cloned().or_else(|| connection(&parts.extensions));
    let vars = Vars::new(
        conn.as_ref().map(|c| c.session_vars().clone()),
        Some(shared.proc_vars.clone()),
    );
    let txn = TxnState {
        shared: shared.clone(),
        generation,
        head: None,
        body: Bytes::new(),
        unique_id: shared.settings.unique_id.as_ref().and_then(|f| f(parts)),
        state: Mutex::new(TxnMut {
            vars,
            stream: StreamState {
                sid: shared.next_sid.fetch_add(1, Ordering::Relaxed),
                ..StreamState::default()
            },
            failure: None,
            outcome: Outcome::Passed,
        }),
        conn,
    };
    if txn.generation.client_session && txn.conn.as_ref().is_none_or(ConnectionFacts::start_session)
    {
        txn.run(What::Event(Event::OnClientSession), parts, None)
            .await;
    }
    txn
}

/// The failure mode and a hook's decision: the layer's answer, if it answers.
fn decide(
    txn: &TxnState,
    request: &request::Parts,
    response: Option<&response::Parts>,
) -> Option<Response<Bytes>> {
    let settings = &txn.shared.settings;
    let mut st = txn.lock();
    if st.failure.is_some()
        && let FailureMode::Closed(status) = settings.failure
    {
        st.outcome = Outcome::FailedClosed;
        return Some(status_only(status));
    }
    let hook = if response.is_some() {
        settings.on_response.as_ref()
    } else {
        settings.on_request.as_ref()
    }?;
    let verdict = Verdict {
        request,
        response,
        vars: &st.vars,
        failure: st.failure,
    };
    let answer = hook(&verdict)?;
    st.outcome = Outcome::Denied;
    Some(answer)
}

/// The request events, the failure mode and the request hook (after the body, which the
/// caller put in `txn.body`); then keeps a copy of the head if something runs after the
/// handler. `Err`: the layer's answer.
pub(crate) async fn request(
    mut txn: TxnState,
    parts: &request::Parts,
) -> Result<TxnState, (TxnState, Response<Bytes>)> {
    let generation = txn.generation.clone();
    if generation.frontend_request {
        txn.run(What::Event(Event::OnFrontendHttpRequest), parts, None)
            .await;
    }
    if generation.backend_request {
        txn.run(What::Event(Event::OnBackendHttpRequest), parts, None)
            .await;
    }
    if let Some(answer) = decide(&txn, parts, None) {
        return Err((txn, answer));
    }
    if generation.keeps_head {
        txn.head = Some(copy_head(parts));
    }
    Ok(txn)
}

/// Whether anything runs after the handler.
pub(crate) fn after_handler(txn: &TxnState) -> bool {
    txn.head.is_some() && (txn.generation.response || txn.shared.settings.on_response.is_some())
}

/// `on-http-response`, the failure mode and the response hook. `Some`: the layer's answer in
/// place of the handler's response.
pub(crate) async fn response(txn: &TxnState, rparts: &response::Parts) -> Option<Response<Bytes>> {
    let head = txn.head.as_ref()?;
    if txn.generation.response {
        txn.run(What::Event(Event::OnHttpResponse), head, Some(rparts))
            .await;
    }
    decide(txn, head, Some(rparts))
}
