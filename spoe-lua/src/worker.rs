//! A worker's view of the configuration's Lua: the states it calls, the `lua.NAME` functions
//! resolved once, and the calls the proxy makes (actions, fetches, converters, services).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Value, Variadic};
use spoe::expr::{Sample, SampleType};
use tokio::time::Instant;

use crate::access::{HostCell, Target, TxnAccess};
use crate::applet::{BodyStream, ServiceCall, ServiceError};
use crate::error::LoadError;
use crate::exec::{self, Coroutines, Done, ExecError, Finished, Limits};
use crate::host::{ActionOutcome, TxnHost, TxnView, Verdict};
use crate::lend::{Lent, TxnPool};
use crate::registry::{Functions, ServiceMode};
use crate::report::{ErrorKind, ErrorLog, ErrorReason};
use crate::state::{self, CallLimits, with_functions};

/// A task the proxy runs on a worker for as long as the configuration is in use.
pub type LuaTask = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A worker's view of the configuration's Lua: the shared state and its own per-thread one.
/// Calls are made on the worker's event loop; the shared state is run by one worker at a time
/// (mlua's lock, held while Lua runs and released at each yield, as HAProxy's global lock).
pub struct LuaWorker {
    /// The shared state first (HAProxy looks at state 0 first), then the worker's own.
    states: Vec<WorkerState>,
    actions: HashMap<String, Callable>,
    fetches: HashMap<String, Callable>,
    converters: HashMap<String, Callable>,
    bufsize: usize,
    errors: Arc<ErrorLog>,
    tasks: Mutex<Vec<LuaTask>>,
}

/// A registered function and the state (index in `states`) it lives in.
struct Callable {
    state: usize,
    func: Function,
}

/// What a worker keeps of one state for its calls.
struct WorkerState {
    lua: Lua,
    /// HAProxy's state-id.
    id: usize,
    limits: CallLimits,
    coroutines: Arc<Coroutines>,
    /// `classes.lua`'s constructor of `TXN` objects, and its action call (`f(TXN, ...)`).
    new_txn: Function,
    run_action: Function,
    /// The `TXN` userdata of this worker's actions in this state, idle.
    txns: TxnPool,
}

impl WorkerState {
    fn new(lua: Lua) -> Result<Self, LoadError> {
        let state_err = |e: mlua::Error| LoadError::State(exec::message(&e));
        let data = state::data(&lua).map_err(state_err)?;
        let (id, limits, coroutines) = (data.id, data.limits, data.coroutines.clone());
        drop(data);
        let classes = lua
            .app_data_ref::<state::Classes>()
            .ok_or_else(|| LoadError::State("no classes in this state".to_owned()))?;
        let (new_txn, run_action) = (classes.txn.clone(), classes.action.clone());
        drop(classes);
        Ok(Self {
            lua,
            id,
            limits,
            coroutines,
            new_txn,
            run_action,
            txns: TxnPool::default(),
        })
    }
}

impl std::fmt::Debug for LuaWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaWorker")
            .field(
                "states",
                &self.states.iter().map(|s| s.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The functions of `pick` in each state, the first state's winning.
fn resolve(
    states: &[WorkerState],
    pick: impl Fn(&Functions) -> Vec<(String, Function)>,
) -> HashMap<String, Callable> {
    let mut out = HashMap::new();
    for (i, st) in states.iter().enumerate() {
        for (name, func) in with_functions(&st.lua, &pick).unwrap_or_default() {
            out.entry(name).or_insert(Callable { state: i, func });
        }
    }
    out
}

impl LuaWorker {
    /// The worker for `shared` (state 0) and its own per-thread state, once the files are
    /// loaded and the init functions ran.
    pub(crate) fn new(
        shared: Option<Lua>,
        own: Option<Lua>,
        bufsize: usize,
        errors: Arc<ErrorLog>,
        tasks: Vec<LuaTask>,
    ) -> Result<Self, LoadError> {
        let states = shared
            .into_iter()
            .chain(own)
            .map(WorkerState::new)
            .collect::<Result<Vec<_>, _>>()?;
        let named = |m: &std::collections::BTreeMap<String, Function>| {
            m.iter().map(|(n, f)| (n.clone(), f.clone())).collect()
        };
        Ok(Self {
            actions: resolve(&states, |f| {
                f.actions
                    .iter()
                    .map(|(n, (_, func))| (n.clone(), func.clone()))
                    .collect()
            }),
            fetches: resolve(&states, |f| named(&f.fetches)),
            converters: resolve(&states, |f| named(&f.converters)),
            states,
            bufsize,
            errors,
            tasks: Mutex::new(tasks),
        })
    }

    /// The tasks (`core.register_task`) this worker runs; taken once.
    pub fn take_tasks(&self) -> Vec<LuaTask> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn report(
        &self,
        kind: ErrorKind,
        name: &str,
        e: &ExecError,
        state_id: usize,
        txn: Option<&dyn TxnView>,
    ) {
        let what = match kind {
            ErrorKind::Action => "Lua function",
            ErrorKind::Fetch => "Lua sample-fetch",
            ErrorKind::Converter => "Lua converter",
            ErrorKind::Service => "Lua applet http",
            ErrorKind::Task => "Lua task",
        };
        let line = format!("{what} '{name}': {}", e.describe(state_id));
        self.errors.report(kind, ErrorReason::of(e), &line, txn);
    }

    /// [`report`](Self::report) for an action, whose transaction is lent in `cell`.
    fn report_action(&self, name: &str, e: &ExecError, state_id: usize, cell: &HostCell) {
        let mut e = Some(e);
        cell.with(&mut |host| {
            if let Some(e) = e.take() {
                self.report(
                    ErrorKind::Action,
                    name,
                    e,
                    state_id,
                    host.map(|h| &*h as &dyn TxnView),
                );
            }
        });
    }

    /// Runs the action `lua.NAME` with the rule's arguments on the transaction `host`, and
    /// gives it back with what the action decided. A failing action is logged and the rules
    /// go on (HAProxy's `ACT_RET_CONT`); `act.YIELD` runs it again, at most until
    /// `tune.lua.session-timeout` has passed.
    pub async fn action<H: TxnHost + 'static>(
        &self,
        name: &str,
        args: &[String],
        host: H,
    ) -> (H, ActionOutcome) {
        let Some(Callable { state, func }) = self.actions.get(name) else {
            let line = format!("Lua action '{name}': no such action");
            self.errors.report(
                ErrorKind::Action,
                ErrorReason::Other,
                &line,
                Some(&host as &dyn TxnView),
            );
            return (host, ActionOutcome::CONTINUE);
        };
        let st = &self.states[*state];
        let lent = match st.txns.take::<H>(&st.lua) {
            Ok(lent) => lent,
            Err(e) => {
                let e = exec::classify(e, false);
                self.report(ErrorKind::Action, name, &e, st.id, Some(&host));
                return (host, ActionOutcome::CONTINUE);
            }
        };
        lent.put(host);
        let limits = st.limits.session;
        // Read at the first `act.YIELD` (most actions return without one): the session
        // timeout of the yielding loop counts from there.
        let mut started = None;
        let outcome = loop {
            let outcome = self.call_action(st, func, name, args, &lent, limits).await;
            if outcome.verdict != Verdict::Yield
                || limits
                    .timeout
                    .is_some_and(|t| started.get_or_insert_with(Instant::now).elapsed() >= t)
            {
                break outcome;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let host = lent
            .take()
            .unwrap_or_else(|| unreachable!("only the caller takes the transaction back"));
        st.txns.give_back(lent);
        (host, outcome)
    }

    async fn call_action<H: TxnHost + 'static>(
        &self,
        st: &WorkerState,
        func: &Function,
        name: &str,
        args: &[String],
        lent: &Lent<H>,
        limits: Limits,
    ) -> ActionOutcome {
        let result = match st.coroutines.take(&st.lua, &st.run_action, limits) {
            Ok(co) => {
                let args: Variadic<&str> = args.iter().map(String::as_str).collect();
                let result = match co.run((lent.ud(), func, args)) {
                    Ok(run) => run.await,
                    Err(e) => Err(e),
                };
                st.coroutines.give_back(co);
                result
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Finished::Returned(values)) => ActionOutcome {
                verdict: values.iter().last().map_or(Verdict::Continue, verdict_of),
                reply: None,
            },
            Ok(Finished::Done(Done::Txn(reply))) => ActionOutcome {
                verdict: Verdict::Terminate,
                reply,
            },
            Ok(Finished::Done(Done::Core(v))) => ActionOutcome {
                verdict: match v {
                    Some(Sample::Int(i)) => Verdict::from_code(i),
                    _ => Verdict::Continue,
                },
                reply: None,
            },
            Err(e) => {
                self.report_action(name, &e, st.id, &lent.cell());
                ActionOutcome::CONTINUE
            }
        }
    }

    /// The Lua fetch `lua.NAME(args)` on `txn`; `None` when it fails (logged) or returns
    /// nothing. Runs to its end: it cannot yield (HAProxy refuses it too).
    pub fn fetch(&self, name: &str, args: &[String], txn: &dyn TxnView) -> Option<Sample> {
        let Callable { state, func } = self.fetches.get(name)?;
        let st = &self.states[*state];
        let result = st.lua.scope(|scope| {
            let access =
                scope.create_userdata(TxnAccess::new(&st.lua, Target::View(txn), false)?)?;
            let t: Value = st.new_txn.call(access)?;
            let call_args = with_args(&st.lua, t, args)?;
            Ok(exec::run_sync(
                &st.lua,
                &st.coroutines,
                func,
                call_args,
                st.limits.session,
            ))
        });
        self.sample_result(ErrorKind::Fetch, name, st.id, result, txn)
    }

    /// The Lua converter `lua.NAME(args)` on `input` (given to Lua as a string, the
    /// converters' input type) in transaction `txn` (where a failure is logged); `None` when
    /// it fails or returns nothing.
    pub fn convert(
        &self,
        name: &str,
        args: &[String],
        input: Sample,
        txn: &dyn TxnView,
    ) -> Option<Sample> {
        let Callable { state, func } = self.converters.get(name)?;
        let st = &self.states[*state];
        let input = input.cast(SampleType::Str)?;
        let result = crate::value::to_lua(&st.lua, Some(input))
            .and_then(|first| with_args(&st.lua, first, args))
            .map(|call_args| {
                exec::run_sync(&st.lua, &st.coroutines, func, call_args, st.limits.session)
            });
        self.sample_result(ErrorKind::Converter, name, st.id, result, txn)
    }

    fn sample_result(
        &self,
        kind: ErrorKind,
        name: &str,
        state_id: usize,
        result: mlua::Result<Result<Finished, ExecError>>,
        txn: &dyn TxnView,
    ) -> Option<Sample> {
        match result.map_err(|e| exec::classify(e, false)).and_then(|r| r) {
            // An empty stack fails the fetch; `nil` is a boolean false, as hlua_lua2smp() has it.
            Ok(Finished::Returned(values)) => values.iter().last().map(crate::value::from_lua),
            Ok(Finished::Done(Done::Core(v))) => Some(v.unwrap_or(Sample::Bool(false))),
            Ok(Finished::Done(Done::Txn(_))) => None,
            Err(e) => {
                self.report(kind, name, &e, state_id, Some(txn));
                None
            }
        }
    }

    /// Starts the HTTP service `lua.NAME` for the request of `host`, whose body is `body`.
    pub fn service<H: TxnHost + 'static>(
        &self,
        name: &str,
        host: H,
        body: BodyStream,
    ) -> Result<ServiceCall<H>, ServiceError> {
        let fail = |reason: String| ServiceError {
            name: name.to_owned(),
            reason,
            cause: ErrorReason::Other,
        };
        // Services are looked up when called: HAProxy's state 0 first.
        let found = self.states.iter().find_map(|st| {
            with_functions(&st.lua, |f| {
                f.services
                    .get(name)
                    .filter(|(mode, _)| *mode == ServiceMode::Http)
                    .map(|(_, func)| func.clone())
            })
            .flatten()
            .map(|func| (st, func))
        });
        let Some((st, func)) = found else {
            return Err(fail("no such HTTP service".to_owned()));
        };
        ServiceCall::start(
            &st.lua,
            &func,
            name,
            host,
            body,
            st.limits.service,
            self.bufsize,
        )
        .map_err(|e| fail(exec::message(&e)))
    }

    /// Reports a service failure the proxy saw (counted and logged like the others); `log`
    /// writes a line to the log of the proxy running the service.
    pub fn report_service_error(&self, e: &ServiceError, log: &dyn Fn(&str)) {
        self.errors
            .report_to(ErrorKind::Service, e.cause, &e.to_string(), Some(log));
    }
}

/// `first`, then the rule's string arguments: what a registered function is called with.
fn with_args(lua: &Lua, first: Value, args: &[String]) -> mlua::Result<MultiValue> {
    let mut values = Vec::with_capacity(args.len() + 1);
    values.push(first);
    for a in args {
        values.push(Value::String(lua.create_string(a)?));
    }
    Ok(MultiValue::from_vec(values))
}

/// `lua_tointeger()` of an action's returned value.
fn verdict_of(v: &Value) -> Verdict {
    match v {
        Value::Integer(i) => Verdict::from_code(*i),
        Value::Number(n) if n.fract() == 0.0 => Verdict::from_code(*n as i64),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map_or(Verdict::Continue, Verdict::from_code),
        _ => Verdict::Continue,
    }
}
