//! The service a [`SpoeLayer`](super::SpoeLayer) wraps around a handler, and what it does
//! with each request, in HAProxy's order: `on-client-session` (once per connection), the
//! body (its policy), `on-frontend-http-request` and `on-backend-http-request`, the failure
//! mode and the request hook, the handler, `on-http-response` and the response hook.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, request};
use http_body::Body;
use spoe::StreamState;
use spoe::config::Event;
use tower_service::Service;

use super::Shared;
use super::body::{BodyPolicy, SpoeBody, SpoeResponseBody, announced, buffer};
use super::decide::{FailureMode, Verdict};
use super::metrics::Outcome;
use super::txn::{SpoeVars, TxnMut, TxnState, What};
use crate::conn::ConnectionFacts;
use crate::vars::Vars;

/// A handler behind a [`SpoeLayer`](super::SpoeLayer).
#[derive(Debug, Clone)]
pub struct SpoeService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

/// The future of one request.
pub type SpoeFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, RB> Service<Request<B>> for SpoeService<S>
where
    S: Service<Request<SpoeBody<B>>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    RB: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<SpoeResponseBody<RB>>;
    type Error = S::Error;
    type Future = SpoeFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was made ready serves this request (tower's rule).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(handle(self.shared.clone(), inner, req))
    }
}

/// The layer's own answer.
fn own<RB>(r: Response<Bytes>) -> Response<SpoeResponseBody<RB>> {
    r.map(SpoeResponseBody::own)
}

fn status_only<RB>(status: StatusCode) -> Response<SpoeResponseBody<RB>> {
    let mut r = Response::new(SpoeResponseBody::own(Bytes::new()));
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

async fn handle<S, B, RB>(
    shared: Arc<Shared>,
    mut inner: S,
    req: Request<B>,
) -> Result<Response<SpoeResponseBody<RB>>, S::Error>
where
    S: Service<Request<SpoeBody<B>>, Response = Response<RB>>,
    B: Body<Data = Bytes> + Unpin,
    RB: Body<Data = Bytes>,
{
    let settings = &shared.settings;
    let metrics = &shared.metrics;
    let generation = shared.current.load_full();
    let (mut parts, body) = req.into_parts();
    let conn = connection(&parts.extensions);
    let vars = Vars::new(
        conn.as_ref().map(|c| c.session_vars().clone()),
        Some(shared.proc_vars.clone()),
    );
    let mut txn = TxnState {
        generation: generation.clone(),
        head: None,
        body: Bytes::new(),
        unique_id: settings.unique_id.as_ref().and_then(|f| f(&parts)),
        // On-client-session runs once per connection, as in HAProxy; without the
        // connection's facts, with each request.
        state: Mutex::new(TxnMut {
            vars,
            stream: StreamState {
                sid: shared.next_sid.fetch_add(1, Ordering::Relaxed),
                ..StreamState::default()
            },
            failure: None,
        }),
        conn,
    };
    if generation.client_session && txn.conn.as_ref().is_none_or(ConnectionFacts::start_session) {
        txn.run(What::Event(Event::OnClientSession), &parts, None)
            .await;
    }
    let body = match settings.body.unwrap_or(BodyPolicy::NotSent) {
        BodyPolicy::NotSent => SpoeBody::untouched(body),
        BodyPolicy::Buffer { max, larger, wait } => {
            match buffer(body, max, larger, wait, announced(&parts.headers)).await {
                Ok((seen, replay)) => {
                    txn.body = seen;
                    replay
                }
                Err(refused) => {
                    metrics.outcome(Outcome::BodyRefused);
                    return Ok(status_only(refused.status()));
                }
            }
        }
    };
    if generation.frontend_request {
        txn.run(What::Event(Event::OnFrontendHttpRequest), &parts, None)
            .await;
    }
    if generation.backend_request {
        txn.run(What::Event(Event::OnBackendHttpRequest), &parts, None)
            .await;
    }
    let failure = txn.lock().failure;
    if failure.is_some()
        && let FailureMode::Closed(status) = settings.failure
    {
        metrics.outcome(Outcome::FailedClosed);
        return Ok(status_only(status));
    }
    if let Some(decide) = &settings.on_request {
        let st = txn.lock();
        let verdict = Verdict {
            request: &parts,
            response: None,
            vars: &st.vars,
            failure,
        };
        if let Some(r) = decide(&verdict) {
            drop(st);
            metrics.outcome(Outcome::Denied);
            return Ok(own(r));
        }
    }
    if generation.keeps_head {
        txn.head = Some(copy_head(&parts));
    }
    let txn = Arc::new(txn);
    parts.extensions.insert(SpoeVars(txn.clone()));
    let response = inner.call(Request::from_parts(parts, body)).await?;
    let Some(head) = txn
        .head
        .as_ref()
        .filter(|_| generation.response || settings.on_response.is_some())
    else {
        metrics.outcome(if failure.is_some() {
            Outcome::FailedOpen
        } else {
            Outcome::Passed
        });
        return Ok(response.map(SpoeResponseBody::inner));
    };
    let (rparts, rbody) = response.into_parts();
    if generation.response {
        txn.run(What::Event(Event::OnHttpResponse), head, Some(&rparts))
            .await;
    }
    let failure = txn.lock().failure;
    if failure.is_some()
        && let FailureMode::Closed(status) = settings.failure
    {
        metrics.outcome(Outcome::FailedClosed);
        return Ok(status_only(status));
    }
    if let Some(decide) = &settings.on_response {
        let st = txn.lock();
        let verdict = Verdict {
            request: head,
            response: Some(&rparts),
            vars: &st.vars,
            failure,
        };
        if let Some(r) = decide(&verdict) {
            drop(st);
            metrics.outcome(Outcome::Denied);
            return Ok(own(r));
        }
    }
    metrics.outcome(if failure.is_some() {
        Outcome::FailedOpen
    } else {
        Outcome::Passed
    });
    Ok(Response::from_parts(rparts, SpoeResponseBody::inner(rbody)))
}
