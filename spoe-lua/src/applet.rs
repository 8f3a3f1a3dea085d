//! HTTP services (`core.register_service(name, "http", f)`, `http-request use-service
//! lua.NAME`): the `AppletHTTP` object, and the call the proxy drives to get the response
//! head and then its body, chunk by chunk. The body is produced as the client reads it: a
//! script that sends more than `tune.bufsize` ahead waits for the client.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use mlua::{Lua, UserData, UserDataMethods, UserDataRef, Value};

use crate::access::{HostCell, Target, TxnAccess, add_shared_methods, headers_table};
use crate::exec::{ExecError, Finished};
use crate::host::TxnHost;
use crate::report::ErrorReason;
use crate::value;

/// A request body as a service reads it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// The response head a service started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHead {
    /// The status.
    pub status: u16,
    /// The reason phrase, when the script gave one.
    pub reason: Option<String>,
    /// The headers, in order (`transfer-encoding` left out: the proxy frames the body).
    pub headers: Vec<(String, String)>,
}

/// Why a service did not complete its response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Lua applet http '{name}': {reason}")]
pub struct ServiceError {
    /// The service.
    pub name: String,
    /// What went wrong, in HAProxy's words.
    pub reason: String,
    /// What went wrong, as counted.
    pub cause: ErrorReason,
}

#[derive(Default)]
struct Io {
    status: u16,
    reason: Option<String>,
    headers: Vec<(String, String)>,
    started: bool,
    out: VecDeque<Bytes>,
    out_len: usize,
    limit: usize,
    input: Option<BodyStream>,
    input_buf: BytesMut,
    input_done: bool,
}

type Shared = Arc<Mutex<Io>>;

fn io(shared: &Shared) -> std::sync::MutexGuard<'_, Io> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct AppletAccess {
    txn: TxnAccess<'static>,
    io: Shared,
}

impl AppletAccess {
    fn txn(&self) -> &TxnAccess<'static> {
        &self.txn
    }
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// Reads more of the request body into the buffer; false at its end.
async fn fill(shared: &Shared) -> bool {
    let Some(mut input) = io(shared).input.take() else {
        return false;
    };
    let next = input.next().await;
    let mut io = io(shared);
    io.input = Some(input);
    match next {
        Some(chunk) => {
            io.input_buf.extend_from_slice(&chunk);
            true
        }
        None => {
            io.input_done = true;
            io.input = None;
            false
        }
    }
}

impl UserData for AppletAccess {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        add_shared_methods!(methods, Self::txn);
        methods.add_method(
            "set_status",
            |_, this, (code, reason): (i64, Option<String>)| {
                let code = u16::try_from(code)
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| err(format!("'set_status': invalid status code {code}")))?;
                let mut io = io(&this.io);
                io.status = code;
                io.reason = reason;
                Ok(())
            },
        );
        methods.add_method(
            "add_header",
            |_, this, (name, v): (mlua::LuaString, Value)| {
                let v = value::lua_bytes(&v)
                    .ok_or_else(|| err("'add_header': value must be a string"))?;
                io(&this.io).headers.push((
                    name.to_string_lossy().to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
                Ok(())
            },
        );
        methods.add_method("start_response", |_, this, ()| {
            io(&this.io).started = true;
            Ok(())
        });
        methods.add_async_method(
            "send",
            |_, this: UserDataRef<Self>, msg: Value| async move {
                let msg = value::lua_bytes(&msg)
                    .ok_or_else(|| err("'send': message must be a string"))?;
                let shared = this.io.clone();
                {
                    let mut io = io(&shared);
                    if !io.started {
                        return Err(err("'send': the response is not started (start_response)"));
                    }
                    io.out_len += msg.len();
                    io.out.push_back(msg);
                }
                // Wait until the proxy took enough of it (it drains `out` between two polls).
                std::future::poll_fn(|_| {
                    let io = io(&shared);
                    if io.out_len > io.limit {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                })
                .await;
                Ok(())
            },
        );
        methods.add_async_method(
            "receive",
            |lua, this: UserDataRef<Self>, size: Option<i64>| async move {
                let shared = this.io.clone();
                let want = size.and_then(|s| usize::try_from(s).ok());
                loop {
                    let have = io(&shared).input_buf.len();
                    if want.is_some_and(|w| have >= w) || (want.is_none() && io(&shared).input_done)
                    {
                        break;
                    }
                    if !fill(&shared).await {
                        break;
                    }
                }
                let mut io = io(&shared);
                let n = want.map_or(io.input_buf.len(), |w| w.min(io.input_buf.len()));
                let out = io.input_buf.split_to(n);
                lua.create_string(&out)
            },
        );
        methods.add_async_method("getline", |lua, this: UserDataRef<Self>, ()| async move {
            let shared = this.io.clone();
            loop {
                if io(&shared).input_buf.contains(&b'\n') || !fill(&shared).await {
                    break;
                }
            }
            let mut io = io(&shared);
            let n = io
                .input_buf
                .iter()
                .position(|&c| c == b'\n')
                .map_or(io.input_buf.len(), |p| p + 1);
            let out = io.input_buf.split_to(n);
            lua.create_string(&out)
        });
    }
}

/// The script of a service, running.
type ScriptRun = Pin<Box<dyn Future<Output = Result<Finished, ExecError>> + Send>>;

/// A running service: first [`head`](Self::head), then [`chunk`](Self::chunk) until `None`.
pub struct ServiceCall<H> {
    name: String,
    state_id: usize,
    fut: Option<ScriptRun>,
    result: Option<Result<(), ExecError>>,
    io: Shared,
    host: Arc<Mutex<Option<H>>>,
}

impl<H> std::fmt::Debug for ServiceCall<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCall")
            .field("name", &self.name)
            .finish()
    }
}

impl<H: TxnHost + 'static> ServiceCall<H> {
    pub(crate) fn start(
        lua: &Lua,
        func: &mlua::Function,
        name: &str,
        host: H,
        body: BodyStream,
        limits: crate::exec::Limits,
        bufsize: usize,
    ) -> mlua::Result<Self> {
        let state_id = crate::state::data(lua)?.id;
        let fields = applet_fields(lua, &host)?;
        let cell = Arc::new(Mutex::new(Some(host)));
        let shared = Arc::new(Mutex::new(Io {
            status: 200,
            limit: bufsize.max(1),
            input: Some(body),
            ..Io::default()
        }));
        let access = lua.create_userdata(AppletAccess {
            txn: TxnAccess::new(lua, Target::Host(cell.clone() as HostCell), false)?,
            io: shared.clone(),
        })?;
        let classes = lua
            .app_data_ref::<crate::state::Classes>()
            .ok_or_else(|| err("no classes"))?;
        let applet: Value = classes.applet.call((access, fields))?;
        let pool = crate::state::coroutines(lua)?;
        let (lua, func) = (lua.clone(), func.clone());
        let fut = async move { crate::exec::run_async(&lua, &pool, &func, applet, limits).await };
        Ok(Self {
            name: name.to_owned(),
            state_id,
            fut: Some(Box::pin(fut)),
            result: None,
            io: shared,
            host: cell,
        })
    }

    fn error(&self, e: &ExecError) -> ServiceError {
        let reason = match e {
            ExecError::Yield => "yield not allowed".to_owned(),
            e => e.describe(self.state_id),
        };
        ServiceError {
            name: self.name.clone(),
            reason,
            cause: ErrorReason::of(e),
        }
    }

    /// Runs the script until it starts the response (or ends).
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(());
        };
        match fut.as_mut().poll(cx) {
            Poll::Ready(r) => {
                self.fut = None;
                self.result = Some(r.map(|_| ()));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The response head, once the script called `start_response()`. An error (the script
    /// failed, timed out, or ended without starting a response) means HAProxy's 500.
    pub async fn head(&mut self) -> Result<ServiceHead, ServiceError> {
        std::future::poll_fn(|cx| {
            if io(&self.io).started {
                return Poll::Ready(());
            }
            self.poll_run(cx)
        })
        .await;
        let io = io(&self.io);
        if !io.started {
            return Err(match &self.result {
                Some(Err(e)) => self.error(e),
                _ => ServiceError {
                    name: self.name.clone(),
                    reason: "the service ended without starting a response".to_owned(),
                    cause: ErrorReason::Other,
                },
            });
        }
        Ok(ServiceHead {
            status: io.status,
            reason: io.reason.clone(),
            headers: io
                .headers
                .iter()
                .filter(|(n, _)| n != "transfer-encoding")
                .cloned()
                .collect(),
        })
    }

    /// The next piece of the body; `None` at its end; an error when the script failed after
    /// the head was sent (the proxy then cuts the response, as HAProxy does).
    pub async fn chunk(&mut self) -> Option<Result<Bytes, ServiceError>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// [`chunk`](Self::chunk), as a poll (for a response body type).
    pub fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, ServiceError>>> {
        if let Some(c) = self.pop() {
            return Poll::Ready(Some(Ok(c)));
        }
        match self.poll_run(cx) {
            Poll::Pending => match self.pop() {
                Some(c) => Poll::Ready(Some(Ok(c))),
                None => Poll::Pending,
            },
            Poll::Ready(()) => {
                if let Some(c) = self.pop() {
                    return Poll::Ready(Some(Ok(c)));
                }
                match self.result.take() {
                    Some(Err(e)) => Poll::Ready(Some(Err(self.error(&e)))),
                    _ => Poll::Ready(None),
                }
            }
        }
    }

    fn pop(&self) -> Option<Bytes> {
        let mut io = io(&self.io);
        let c = io.out.pop_front()?;
        io.out_len -= c.len();
        Some(c)
    }

    /// Takes the transaction back while the script is not running (between two polls), to
    /// run the response rules on the head as HAProxy does; [`put_host`](Self::put_host) lends
    /// it again. A script that touches it meanwhile fails, naming it.
    pub fn take_host(&mut self) -> Option<H> {
        crate::access::lock(&self.host).take()
    }

    /// Lends the transaction to the script again.
    pub fn put_host(&mut self, host: H) {
        *crate::access::lock(&self.host) = Some(host);
    }

    /// The transaction, once the service ended (its variables, for the log line).
    pub fn into_host(self) -> Option<H> {
        drop(self.fut);
        crate::access::lock(&self.host).take()
    }
}

/// The fields of an `AppletHTTP`: method, version, path, qs, length, headers.
fn applet_fields(lua: &Lua, host: &dyn TxnHost) -> mlua::Result<mlua::Table> {
    let req = host.request();
    let t = lua.create_table()?;
    t.set("method", req.method.as_str())?;
    let version = match req.version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2.0",
        _ => "1.1",
    };
    t.set("version", version)?;
    t.set("path", req.uri.path())?;
    t.set("qs", req.uri.query().unwrap_or(""))?;
    let length = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<i64>().ok())
        .unwrap_or(0);
    t.set("length", length)?;
    t.set("headers", headers_table(lua, &req.headers)?)?;
    Ok(t)
}
