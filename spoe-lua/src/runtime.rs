//! The loaded Lua of one configuration: the shared state (`lua-load`), the per-thread states
//! (`lua-load-per-thread`), what they registered, and the calls the proxy makes into them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Value};
use spoe::expr::{Sample, SampleType};
use tokio::time::Instant;

use crate::access::{HostCell, Target, TxnAccess, lock};
use crate::applet::{BodyStream, ServiceCall, ServiceError};
use crate::error::LoadError;
use crate::exec::{self, Done, ExecError, Finished, Limits};
use crate::host::{ActionOutcome, TxnHost, TxnView, Verdict};
use crate::registry::{Functions, Registered, ServiceMode};
use crate::report::{ErrorKind, ErrorLog, ErrorReason, Reporting};
use crate::settings::LuaSettings;
use crate::state::{self, Classes};

/// A task the proxy runs on a worker for as long as the configuration is in use.
pub type LuaTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The proxies of the configuration, as `core.frontends` / `core.backends` list them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// Frontend names.
    pub frontends: Vec<String>,
    /// Backend names, each with its servers' names.
    pub backends: Vec<(String, Vec<String>)>,
}

/// The Lua of one configuration, loaded: built when the configuration is parsed (the files'
/// bodies run then, as in HAProxy), started once per worker when the configuration is used.
#[derive(Debug, Clone)]
pub struct LuaRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: LuaSettings,
    /// State 0: every `lua-load` file, shared by every worker.
    shared: Option<Lua>,
    /// Thread 1's state for `lua-load-per-thread` files (the others are made at start).
    thread1: Option<Lua>,
    registered: Registered,
    warnings: Vec<String>,
}

/// Each state's share of `tune.lua.maxmem`.
fn maxmem_share(settings: &LuaSettings) -> Option<usize> {
    let shared = settings.loads.iter().any(|l| !l.per_thread);
    let per_thread = settings.loads.iter().any(|l| l.per_thread);
    let states = usize::from(shared)
        + if per_thread {
            settings.threads.max(1)
        } else {
            0
        };
    settings.maxmem.map(|m| m.div_ceil(states.max(1)))
}

fn with_functions<R>(lua: &Lua, f: impl FnOnce(&Functions) -> R) -> Option<R> {
    let data = state::data(lua).ok()?;
    let guard = data
        .functions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Some(f(&guard))
}

/// Loads the per-thread files into a new state for `thread`.
fn per_thread_state(settings: &LuaSettings, thread: usize) -> Result<Lua, LoadError> {
    let lua = state::new_state(settings, thread, thread, maxmem_share(settings))?;
    for load in settings.loads.iter().filter(|l| l.per_thread) {
        state::load_file(&lua, &load.path)?;
    }
    Ok(lua)
}

impl LuaRuntime {
    /// Creates the states and runs the files' bodies (`lua-load` into the shared state,
    /// `lua-load-per-thread` into thread 1's), in order: what HAProxy does while it parses
    /// `global`. The names they register are then known to the configuration.
    pub fn load(settings: LuaSettings) -> Result<Self, LoadError> {
        let share = maxmem_share(&settings);
        let shared = if settings.loads.iter().any(|l| !l.per_thread) {
            let lua = state::new_state(&settings, 0, 0, share)?;
            for load in settings.loads.iter().filter(|l| !l.per_thread) {
                state::load_file(&lua, &load.path)?;
            }
            Some(lua)
        } else {
            None
        };
        let thread1 = if settings.loads.iter().any(|l| l.per_thread) {
            Some(per_thread_state(&settings, 1)?)
        } else {
            None
        };
        let mut registered = Registered::default();
        let mut warnings = Vec::new();
        for lua in shared.iter().chain(thread1.iter()) {
            with_functions(lua, |f| {
                let names = f.names();
                registered.actions.extend(names.actions);
                registered.services.extend(names.services);
                registered.fetches.extend(names.fetches);
                registered.converters.extend(names.converters);
                warnings.extend(f.warnings.iter().cloned());
            });
        }
        registered.fetches.sort();
        registered.fetches.dedup();
        registered.converters.sort();
        registered.converters.dedup();
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                shared,
                thread1,
                registered,
                warnings,
            }),
        })
    }

    /// The `lua.NAME` keywords the files registered.
    pub fn registered(&self) -> &Registered {
        &self.inner.registered
    }

    /// The variable names the files spell out (`"txn.cs.remediation"`): names the
    /// configuration uses, so that agents may set them without `force-set-var`. Names a script
    /// builds at run time are not seen.
    pub fn var_names(&self) -> Vec<String> {
        let re = regex::Regex::new(r#"["']((?:proc|sess|txn|req|res)\.[A-Za-z0-9_.]+)["']"#);
        let Ok(re) = re else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .inner
            .settings
            .loads
            .iter()
            .filter_map(|l| std::fs::read_to_string(&l.path).ok())
            .flat_map(|text| {
                re.captures_iter(&text)
                    .map(|c| c[1].to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// HAProxy's warnings of loading (a name registered twice).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// The settings it was loaded with.
    pub fn settings(&self) -> &LuaSettings {
        &self.inner.settings
    }

    /// Starts the configuration's Lua for `workers` worker threads: the other threads'
    /// per-thread states (loaded in thread order, each registering the same names as thread
    /// 1's), the proxies' tables, then the init functions (HAProxy's post-init). Returns one
    /// [`LuaWorker`] per worker; each holds the tasks to run on it. Failures from then on are
    /// counted and logged through `reporting`.
    pub fn start(
        &self,
        workers: usize,
        proxies: &Proxies,
        reporting: Reporting,
    ) -> Result<Vec<LuaWorker>, LoadError> {
        let inner = &self.inner;
        let errors = Arc::new(ErrorLog::new(reporting));
        let mut own: Vec<Option<Lua>> = vec![inner.thread1.clone()];
        for thread in 2..=workers.max(1) {
            own.push(match &inner.thread1 {
                Some(_) => {
                    let lua = per_thread_state(&inner.settings, thread)?;
                    let names = with_functions(&lua, Functions::names).unwrap_or_default();
                    if let Some(name) = differs(&names, &inner.registered) {
                        return Err(LoadError::ThreadsDiffer { thread, name });
                    }
                    Some(lua)
                }
                None => None,
            });
        }
        for lua in inner.shared.iter().chain(own.iter().flatten()) {
            set_proxies(lua, proxies).map_err(|e| LoadError::State(exec::message(&e)))?;
            state::end_loading(lua);
            let inits = with_functions(lua, |f| f.inits.clone()).unwrap_or_default();
            let limits = state::data(lua)
                .map_err(|e| LoadError::State(exec::message(&e)))?
                .limits
                .session;
            for init in inits {
                exec::run_sync(lua, &init, (), limits).map_err(|e| LoadError::Runtime {
                    path: "init".into(),
                    message: e.describe(state_id(lua)),
                })?;
            }
        }
        Ok(own
            .into_iter()
            .enumerate()
            .map(|(i, own)| {
                let mut tasks = Vec::new();
                // The shared state's tasks run once, on the first worker.
                let lua_states = (i == 0)
                    .then_some(inner.shared.as_ref())
                    .flatten()
                    .into_iter()
                    .chain(own.as_ref());
                for lua in lua_states {
                    for f in with_functions(lua, |f| f.tasks.clone()).unwrap_or_default() {
                        tasks.push(task(lua.clone(), f, errors.clone()));
                    }
                }
                LuaWorker {
                    shared: inner.shared.clone(),
                    own,
                    bufsize: inner.settings.bufsize,
                    errors: errors.clone(),
                    tasks: Mutex::new(tasks),
                }
            })
            .collect())
    }
}

fn differs(names: &Registered, first: &Registered) -> Option<String> {
    let mine = names
        .actions
        .keys()
        .chain(names.services.keys())
        .chain(&names.fetches)
        .chain(&names.converters);
    mine.into_iter()
        .find(|n| {
            !first.actions.contains_key(*n)
                && !first.services.contains_key(*n)
                && !first.has_fetch(n)
                && !first.has_converter(n)
        })
        .cloned()
}

fn state_id(lua: &Lua) -> usize {
    state::data(lua).map_or(0, |d| d.id)
}

fn set_proxies(lua: &Lua, proxies: &Proxies) -> mlua::Result<()> {
    let core: mlua::Table = lua.globals().get("core")?;
    let (all, fe, be) = (
        lua.create_table()?,
        lua.create_table()?,
        lua.create_table()?,
    );
    for name in &proxies.frontends {
        let p = lua.create_table()?;
        p.set("name", name.as_str())?;
        p.set("servers", lua.create_table()?)?;
        fe.set(name.as_str(), p.clone())?;
        all.set(name.as_str(), p)?;
    }
    for (name, servers) in &proxies.backends {
        let p = lua.create_table()?;
        p.set("name", name.as_str())?;
        let s = lua.create_table()?;
        for server in servers {
            let t = lua.create_table()?;
            t.set("name", server.as_str())?;
            s.set(server.as_str(), t)?;
        }
        p.set("servers", s)?;
        be.set(name.as_str(), p.clone())?;
        all.set(name.as_str(), p)?;
    }
    core.set("proxies", all)?;
    core.set("frontends", fe)?;
    core.set("backends", be)
}

fn task(lua: Lua, func: Function, errors: Arc<ErrorLog>) -> LuaTask {
    Box::pin(async move {
        let limits = match state::data(&lua) {
            Ok(d) => d.limits.task,
            Err(_) => return,
        };
        if let Err(e) = exec::run_async(&lua, &func, (), limits).await {
            let line = format!("Lua task: {}", e.describe(state_id(&lua)));
            errors.report(ErrorKind::Task, ErrorReason::of(&e), &line, None);
        }
    })
}

/// A worker's view of the configuration's Lua: the shared state and its own per-thread one.
/// Calls are made on the worker's event loop; the shared state is run by one worker at a time
/// (mlua's lock, held while Lua runs and released at each yield, as HAProxy's global lock).
pub struct LuaWorker {
    shared: Option<Lua>,
    own: Option<Lua>,
    bufsize: usize,
    errors: Arc<ErrorLog>,
    tasks: Mutex<Vec<LuaTask>>,
}

impl std::fmt::Debug for LuaWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaWorker")
            .field("shared", &self.shared.is_some())
            .field("own", &self.own.is_some())
            .finish_non_exhaustive()
    }
}

impl LuaWorker {
    /// The tasks (`core.register_task`) this worker runs; taken once.
    pub fn take_tasks(&self) -> Vec<LuaTask> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The state and function registered as `name`: the shared state's first, as HAProxy
    /// looks at state 0 first.
    fn find<T: Clone>(&self, pick: impl Fn(&Functions) -> Option<T>) -> Option<(&Lua, T)> {
        self.shared
            .iter()
            .chain(self.own.iter())
            .find_map(|lua| with_functions(lua, &pick).flatten().map(|t| (lua, t)))
    }

    fn report(
        &self,
        kind: ErrorKind,
        name: &str,
        e: &ExecError,
        lua: &Lua,
        txn: Option<&dyn TxnView>,
    ) {
        let what = match kind {
            ErrorKind::Action => "Lua function",
            ErrorKind::Fetch => "Lua sample-fetch",
            ErrorKind::Converter => "Lua converter",
            ErrorKind::Service => "Lua applet http",
            ErrorKind::Task => "Lua task",
        };
        let line = format!("{what} '{name}': {}", e.describe(state_id(lua)));
        self.errors.report(kind, ErrorReason::of(e), &line, txn);
    }

    /// [`report`](Self::report) for an action, whose transaction is lent in `cell`.
    fn report_action(&self, name: &str, e: &ExecError, lua: &Lua, cell: &HostCell) {
        let mut e = Some(e);
        cell.with(&mut |host| {
            if let Some(e) = e.take() {
                self.report(
                    ErrorKind::Action,
                    name,
                    e,
                    lua,
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
        let Some((lua, func)) = self.find(|f| f.actions.get(name).map(|(_, func)| func.clone()))
        else {
            let line = format!("Lua action '{name}': no such action");
            self.errors.report(
                ErrorKind::Action,
                ErrorReason::Other,
                &line,
                Some(&host as &dyn TxnView),
            );
            return (host, ActionOutcome::CONTINUE);
        };
        let cell = Arc::new(Mutex::new(Some(host)));
        let limits = state::data(lua).map_or(
            Limits {
                forced_yield: 10_000,
                timeout: Some(Duration::from_secs(4)),
            },
            |d| d.limits.session,
        );
        let started = Instant::now();
        let outcome = loop {
            let outcome = self
                .call_action(lua, &func, name, args, cell.clone() as HostCell, limits)
                .await;
            if outcome.verdict != Verdict::Yield
                || limits.timeout.is_some_and(|t| started.elapsed() >= t)
            {
                break outcome;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let host = lock(&cell)
            .take()
            .unwrap_or_else(|| unreachable!("only the caller takes the transaction back"));
        (host, outcome)
    }

    async fn call_action(
        &self,
        lua: &Lua,
        func: &Function,
        name: &str,
        args: &[String],
        cell: HostCell,
        limits: Limits,
    ) -> ActionOutcome {
        let txn = match make_txn(
            lua,
            TxnAccess {
                target: Target::Host(cell.clone()),
                terminates: true,
            },
        ) {
            Ok(t) => t,
            Err(e) => {
                self.report_action(name, &exec::classify(e, false), lua, &cell);
                return ActionOutcome::CONTINUE;
            }
        };
        let call_args = match with_args(lua, txn, args) {
            Ok(a) => a,
            Err(e) => {
                self.report_action(name, &exec::classify(e, false), lua, &cell);
                return ActionOutcome::CONTINUE;
            }
        };
        match exec::run_async(lua, func, call_args, limits).await {
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
                self.report_action(name, &e, lua, &cell);
                ActionOutcome::CONTINUE
            }
        }
    }

    /// The Lua fetch `lua.NAME(args)` on `txn`; `None` when it fails (logged) or returns
    /// nothing. Runs to its end: it cannot yield (HAProxy refuses it too).
    pub fn fetch(&self, name: &str, args: &[String], txn: &dyn TxnView) -> Option<Sample> {
        let (lua, func) = self.find(|f| f.fetches.get(name).cloned())?;
        let limits = state::data(lua).ok()?.limits.session;
        let result = lua.scope(|scope| {
            let access = scope.create_userdata(TxnAccess {
                target: Target::View(txn),
                terminates: false,
            })?;
            let t: Value = classes(lua)?.txn.call(access)?;
            Ok(exec::run_sync(lua, &func, with_args(lua, t, args)?, limits))
        });
        self.sample_result(ErrorKind::Fetch, name, lua, result, txn)
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
        let (lua, func) = self.find(|f| f.converters.get(name).cloned())?;
        let limits = state::data(lua).ok()?.limits.session;
        let input = input.cast(SampleType::Str)?;
        let result = crate::value::to_lua(lua, Some(input))
            .and_then(|first| with_args(lua, first, args))
            .map(|call_args| exec::run_sync(lua, &func, call_args, limits));
        self.sample_result(ErrorKind::Converter, name, lua, result, txn)
    }

    fn sample_result(
        &self,
        kind: ErrorKind,
        name: &str,
        lua: &Lua,
        result: mlua::Result<Result<Finished, ExecError>>,
        txn: &dyn TxnView,
    ) -> Option<Sample> {
        match result.map_err(|e| exec::classify(e, false)).and_then(|r| r) {
            // An empty stack fails the fetch; `nil` is a boolean false, as hlua_lua2smp() has it.
            Ok(Finished::Returned(values)) => values.iter().last().map(crate::value::from_lua),
            Ok(Finished::Done(Done::Core(v))) => Some(v.unwrap_or(Sample::Bool(false))),
            Ok(Finished::Done(Done::Txn(_))) => None,
            Err(e) => {
                self.report(kind, name, &e, lua, Some(txn));
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
        let Some((lua, func)) = self.find(|f| {
            f.services
                .get(name)
                .filter(|(mode, _)| *mode == ServiceMode::Http)
                .map(|(_, func)| func.clone())
        }) else {
            return Err(fail("no such HTTP service".to_owned()));
        };
        let limits = state::data(lua)
            .map_err(|e| fail(exec::message(&e)))?
            .limits
            .service;
        ServiceCall::start(lua, &func, name, host, body, limits, self.bufsize)
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

fn classes(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, Classes>> {
    lua.app_data_ref::<Classes>()
        .ok_or_else(|| mlua::Error::RuntimeError("no classes in this state".to_owned()))
}

fn make_txn(lua: &Lua, access: TxnAccess<'static>) -> mlua::Result<Value> {
    let ud = lua.create_userdata(access)?;
    classes(lua)?.txn.call(ud)
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
