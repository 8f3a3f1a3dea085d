//! The service a [`SpoeLayer`](super::SpoeLayer) wraps around a handler: the request's flow
//! (`flow`), with the body under its policy between `on-client-session` and the request
//! events, and the handler between the request and the response sides.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::body::{BodyPolicy, SpoeBody, SpoeResponseBody, announced, buffer};
use super::flow;
use super::metrics::Outcome;
use super::shared::Shared;
use super::txn::SpoeVars;

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
    let (mut parts, body) = req.into_parts();
    let mut txn = flow::begin(&shared, &parts, None).await;
    let body = match shared.settings.body.unwrap_or(BodyPolicy::NotSent) {
        BodyPolicy::NotSent => SpoeBody::untouched(body),
        BodyPolicy::Buffer { max, larger, wait } => {
            match buffer(body, max, larger, wait, announced(&parts.headers)).await {
                Ok((seen, replay)) => {
                    txn.body = seen;
                    replay
                }
                Err(refused) => {
                    txn.lock().outcome = Outcome::BodyRefused;
                    return Ok(own(flow::status_only(refused.status())));
                }
            }
        }
    };
    let txn = match flow::request(txn, &parts).await {
        Ok(txn) => Arc::new(txn),
        Err((_, answer)) => return Ok(own(answer)),
    };
    parts.extensions.insert(SpoeVars(txn.clone()));
    let response = inner.call(Request::from_parts(parts, body)).await?;
    if !flow::after_handler(&txn) {
        return Ok(response.map(SpoeResponseBody::inner));
    }
    let (rparts, rbody) = response.into_parts();
    if let Some(answer) = flow::response(&txn, &rparts).await {
        return Ok(own(answer));
    }
    Ok(Response::from_parts(rparts, SpoeResponseBody::inner(rbody)))
}

/// The layer's own answer.
fn own<RB>(r: Response<Bytes>) -> Response<SpoeResponseBody<RB>> {
    r.map(SpoeResponseBody::own)
}
