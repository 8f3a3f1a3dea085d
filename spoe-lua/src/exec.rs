//! Running Lua with bounded cost, as `hlua_ctx_resume()` does: every call runs in a coroutine
//! with a count hook that fires every `tune.lua.forced-yield` instructions (coroutines are
//! kept per state and reused once their call returned, hook included). Where the
//! coroutine may yield (actions, services, tasks) the hook yields, and the worker's event loop
//! serves other requests before resuming it; everywhere the hook checks the Lua time spent
//! against the context's timeout (`tune.lua.session-timeout`...), which counts only the time
//! Lua runs, not its sleeps.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use mlua::thread::{AsyncThread, ThreadStatus};
use mlua::{Function, HookTriggers, IntoLuaMulti, Lua, MultiValue, Thread, VmState};
use spoe::expr::Sample;
use tokio::time::Instant;

use crate::host::Reply;

/// The budget of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Instructions between two hook calls (`tune.lua.forced-yield`).
    pub(crate) forced_yield: u32,
    /// Lua run time allowed (`tune.lua.session-timeout`...); `None`: unlimited.
    pub(crate) timeout: Option<Duration>,
}

/// Why a call did not return normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecError {
    /// A Lua error: the message (`file.lua:3: boom`).
    Runtime(String),
    /// The call ran longer than its timeout.
    Timeout,
    /// The state's memory limit (`tune.lua.maxmem`) was reached.
    NoMem,
    /// The function yielded (`core.msleep`, `core.yield`...) where it cannot.
    Yield,
}

impl ExecError {
    /// The end of HAProxy's log line for this failure, after `Lua function 'NAME': `.
    pub(crate) fn describe(&self, state_id: usize) -> String {
        match self {
            Self::Runtime(msg) => format!("[state-id {state_id}] runtime error: {msg}"),
            Self::Timeout => "execution timeout".to_owned(),
            Self::NoMem => "out of memory error".to_owned(),
            Self::Yield => {
                "yield functions like core.tcp() or core.sleep() are not allowed".to_owned()
            }
        }
    }
}

/// How a call ended without an error.
#[derive(Debug)]
pub(crate) enum Finished {
    /// The function returned these values.
    Returned(MultiValue),
    /// `core.done(value)` or `txn:done(reply)` ended it early.
    Done(Done),
}

/// `core.done()` / `txn:done()`: raised as an error so that it unwinds the whole call (HAProxy
/// does the same with `lua_error()` and its `HLUA_EXIT` flag).
#[derive(Debug, Clone)]
pub(crate) enum Done {
    /// `core.done(value)`: the value, as a sample.
    Core(Option<Sample>),
    /// `txn:done([reply])`: the reply to send, if any.
    Txn(Option<Reply>),
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("execution stopped by done()")
    }
}

impl std::error::Error for Done {}

/// Lua run time of one call: the time inside resumes, not between them. One per pooled
/// coroutine (its hook holds it), started again for each call.
///
/// The first resume of a call reads the clock only when it must: when the hook first fires
/// (every `tune.lua.forced-yield` instructions) or when the resume yields. Most calls return
/// within their first resume without either, and read no clock at all; what a first resume
/// runs before the hook first fires (fewer than `forced-yield` instructions) is not counted.
#[derive(Debug)]
struct Clock {
    /// The call's timeout in nanoseconds; `u64::MAX`: none.
    timeout: AtomicU64,
    /// Nanoseconds spent in finished resumes.
    spent: AtomicU64,
    /// When the current resume started, as nanoseconds since `origin`; [`Clock::UNREAD`]
    /// while a first resume has not read the clock yet.
    resumed_at: AtomicU64,
    origin: Instant,
    timed_out: AtomicBool,
    /// The hook asked for the current yield.
    hook_yield: AtomicBool,
}

impl Clock {
    /// `resumed_at` of a first resume that has not read the clock yet.
    const UNREAD: u64 = u64::MAX;

    fn new() -> Arc<Self> {
        Arc::new(Self {
            timeout: AtomicU64::new(u64::MAX),
            spent: AtomicU64::new(0),
            resumed_at: AtomicU64::new(0),
            origin: Instant::now(),
            timed_out: AtomicBool::new(false),
            hook_yield: AtomicBool::new(false),
        })
    }

    /// Starts a call with `timeout`.
    fn start(&self, timeout: Option<Duration>) {
        let nanos = timeout.map_or(u64::MAX, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
        });
        self.timeout.store(nanos, Ordering::Relaxed);
        self.spent.store(0, Ordering::Relaxed);
        self.timed_out.store(false, Ordering::Relaxed);
        self.hook_yield.store(false, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A resume starts; the first one of a call reads the clock later, if at all.
    fn resume(&self, first: bool) {
        self.hook_yield.store(false, Ordering::Relaxed);
        let at = if first { Self::UNREAD } else { self.now() };
        self.resumed_at.store(at, Ordering::Relaxed);
    }

    /// When the current resume started (now, for a first resume that had not read it).
    fn resumed_at(&self, now: u64) -> u64 {
        match self.resumed_at.load(Ordering::Relaxed) {
            Self::UNREAD => {
                self.resumed_at.store(now, Ordering::Relaxed);
                now
            }
            at => at,
        }
    }

    /// A resume yielded: its time is added to the call's.
    fn pause(&self) {
        let now = self.now();
        let ran = now.saturating_sub(self.resumed_at(now));
        self.spent.fetch_add(ran, Ordering::Relaxed);
    }

    /// Whether the run time, the current resume included, is over the timeout.
    fn over(&self, in_resume: bool) -> bool {
        let limit = self.timeout.load(Ordering::Relaxed);
        if limit == u64::MAX {
            return false;
        }
        let mut spent = self.spent.load(Ordering::Relaxed);
        if in_resume {
            let now = self.now();
            spent += now.saturating_sub(self.resumed_at(now));
        }
        let over = spent >= limit;
        if over {
            self.timed_out.store(true, Ordering::Relaxed);
        }
        over
    }
}

/// A coroutine and the count hook set on it once (HAProxy sets its hook at each resume; with
/// mlua a hook costs a userdata and a registry entry, so a coroutine keeps its own for all
/// the calls it runs).
#[derive(Debug)]
pub(crate) struct Coroutine {
    thread: Thread,
    clock: Arc<Clock>,
    forced_yield: u32,
}

impl Coroutine {
    fn new(lua: &Lua, func: &Function, forced_yield: u32) -> mlua::Result<Self> {
        let thread = lua.create_thread(func.clone())?;
        let clock = Clock::new();
        let hook_clock = clock.clone();
        thread.set_hook(
            HookTriggers::new().every_nth_instruction(forced_yield.max(1)),
            move |_, _| {
                // Past the timeout, yield first (the runner then stops the call: a pcall in
                // the script cannot catch that); a hook that fires again in the same resume
                // could not yield (inside a C call or a metamethod), so it raises the error
                // there.
                if hook_clock.over(true) && hook_clock.hook_yield.swap(true, Ordering::Relaxed) {
                    return Err(mlua::Error::RuntimeError("execution timeout".to_owned()));
                }
                // mlua ignores the yield where the coroutine cannot yield.
                hook_clock.hook_yield.store(true, Ordering::Relaxed);
                Ok(VmState::Yield)
            },
        )?;
        Ok(Self {
            thread,
            clock,
            forced_yield,
        })
    }

    /// Whether the call it ran returned: only then can it run another one (Lua 5.3 cannot
    /// reset a coroutine that failed or is suspended).
    fn finished(&self) -> bool {
        self.thread.status() == ThreadStatus::Finished
    }

    /// Runs `func(args)` as a future: its yields (forced ones, `core.msleep`, `core.yield`)
    /// give the worker back to its other tasks. Dropping the future abandons the call (and
    /// the coroutine cannot be reused).
    pub(crate) fn run<'a>(
        &'a self,
        args: impl IntoLuaMulti,
    ) -> Result<impl Future<Output = Result<Finished, ExecError>> + Send + 'a, ExecError> {
        let fut = self
            .thread
            .clone()
            .into_async::<MultiValue>(args)
            .map_err(|e| classify(e, false))?;
        Ok(Timed {
            fut,
            clock: &self.clock,
            first: true,
        })
    }
}

/// Idle coroutines of one state, with their hooks: a call takes one and gives it back when
/// it returned. At most [`Coroutines::IDLE`] wait; more are dropped (the GC frees them).
#[derive(Debug)]
pub(crate) struct Coroutines {
    forced_yield: u32,
    idle: Mutex<Vec<Coroutine>>,
}

impl Coroutines {
    /// The idle coroutines kept, at most: the calls a worker usually has suspended at once.
    const IDLE: usize = 64;

    pub(crate) fn new(forced_yield: u32) -> Self {
        Self {
            forced_yield,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Coroutine>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A coroutine ready to call `func` within `limits`: an idle one when there is one.
    pub(crate) fn take(
        &self,
        lua: &Lua,
        func: &Function,
        limits: Limits,
    ) -> Result<Coroutine, ExecError> {
        let reused = match limits.forced_yield == self.forced_yield {
            true => self.idle().pop(),
            false => None,
        };
        let co = match reused {
            Some(co) => {
                co.thread
                    .reset(func.clone())
                    .map_err(|e| classify(e, false))?;
                co
            }
            None => {
                Coroutine::new(lua, func, limits.forced_yield).map_err(|e| classify(e, false))?
            }
        };
        co.clock.start(limits.timeout);
        Ok(co)
    }

    /// Keeps `co` for another call if the last one returned and there is room.
    pub(crate) fn give_back(&self, co: Coroutine) {
        if co.forced_yield == self.forced_yield && co.finished() {
            let mut idle = self.idle();
            if idle.len() < Self::IDLE {
                idle.push(co);
            }
        }
    }
}

/// Runs `func` to its end without yielding to the caller (fetches, converters, the body and
/// init contexts). Forced yields resume at once after the timeout check; a yield the script
/// asks for is an error, as in HAProxy.
pub(crate) fn run_sync(
    lua: &Lua,
    pool: &Coroutines,
    func: &Function,
    args: impl IntoLuaMulti,
    limits: Limits,
) -> Result<Finished, ExecError> {
    let co = pool.take(lua, func, limits)?;
    let result = run_sync_on(&co, args);
    pool.give_back(co);
    result
}

fn run_sync_on(co: &Coroutine, args: impl IntoLuaMulti) -> Result<Finished, ExecError> {
    let (thread, clock) = (&co.thread, &co.clock);
    clock.resume(true);
    let mut result = thread.resume::<MultiValue>(args);
    loop {
        let values = match result {
            Ok(v) => v,
            Err(e) => return classify_done(e, clock.timed_out.load(Ordering::Relaxed)),
        };
        if thread.status() != ThreadStatus::Resumable {
            return Ok(Finished::Returned(values));
        }
        if !clock.hook_yield.load(Ordering::Relaxed) {
            return Err(ExecError::Yield);
        }
        clock.pause();
        if clock.over(false) {
            return Err(ExecError::Timeout);
        }
        clock.resume(false);
        result = thread.resume::<MultiValue>(());
    }
}

/// Runs `func` as a future on one of `pool`'s coroutines: its yields (forced ones,
/// `core.msleep`, `core.yield`) give the worker back to its other tasks. Dropping the future
/// abandons the call.
pub(crate) async fn run_async(
    lua: &Lua,
    pool: &Coroutines,
    func: &Function,
    args: impl IntoLuaMulti,
    limits: Limits,
) -> Result<Finished, ExecError> {
    let co = pool.take(lua, func, limits)?;
    let result = co.run(args)?.await;
    pool.give_back(co);
    result
}

struct Timed<'a> {
    fut: AsyncThread<MultiValue>,
    clock: &'a Clock,
    /// Not polled yet.
    first: bool,
}

impl Future for Timed<'_> {
    type Output = Result<Finished, ExecError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.clock.resume(std::mem::take(&mut self.first));
        let polled = Pin::new(&mut self.fut).poll(cx);
        if polled.is_pending() {
            self.clock.pause();
        }
        match polled {
            Poll::Ready(Ok(values)) => Poll::Ready(Ok(Finished::Returned(values))),
            Poll::Ready(Err(e)) => Poll::Ready(classify_done(
                e,
                self.clock.timed_out.load(Ordering::Relaxed),
            )),
            // HAProxy checks the run time at every yield too: a script that catches the hook's
            // error with pcall still stops.
            Poll::Pending if self.clock.over(false) => Poll::Ready(Err(ExecError::Timeout)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn classify_done(e: mlua::Error, timed_out: bool) -> Result<Finished, ExecError> {
    match find_done(&e) {
        Some(done) => Ok(Finished::Done(done)),
        None => Err(classify(e, timed_out)),
    }
}

/// The `done()` an error carries, through the callback errors wrapping it.
fn find_done(e: &mlua::Error) -> Option<Done> {
    match e {
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Done>().cloned(),
        mlua::Error::CallbackError { cause, .. } => find_done(cause),
        mlua::Error::WithContext { cause, .. } => find_done(cause),
        _ => None,
    }
}

pub(crate) fn classify(e: mlua::Error, timed_out: bool) -> ExecError {
    if timed_out {
        return ExecError::Timeout;
    }
    match e {
        mlua::Error::MemoryError(_) => ExecError::NoMem,
        e => ExecError::Runtime(message(&e)),
    }
}

/// The message of an error, without mlua's prefixes and tracebacks.
pub(crate) fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m
            .split_once("\nstack traceback:")
            .map_or(m.as_str(), |(head, _)| head)
            .to_owned(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => message(cause),
        mlua::Error::WithContext { cause, .. } => message(cause),
        mlua::Error::ExternalError(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(timeout_ms: u64) -> Limits {
        Limits {
            forced_yield: 1000,
            timeout: Some(Duration::from_millis(timeout_ms)),
        }
    }

    fn pool() -> Coroutines {
        Coroutines::new(1000)
    }

    fn func(lua: &Lua, code: &str) -> Function {
        lua.load(code).into_function().unwrap()
    }

    #[test]
    fn a_sync_call_returns_and_errors_name_the_line() {
        let lua = Lua::new();
        let f = func(&lua, "return 1 + 2");
        match run_sync(&lua, &pool(), &f, (), limits(1000)).unwrap() {
            Finished::Returned(v) => assert_eq!(v.into_vec(), vec![mlua::Value::Integer(3)]),
            other => panic!("{other:?}"),
        }
        let f = lua
            .load("local x = nil\nreturn x.y")
            .set_name("@boom.lua")
            .into_function()
            .unwrap();
        let e = run_sync(&lua, &pool(), &f, (), limits(1000)).unwrap_err();
        assert_eq!(
            e,
            ExecError::Runtime("boom.lua:2: attempt to index a nil value (local 'x')".into())
        );
        assert_eq!(
            e.describe(0),
            "[state-id 0] runtime error: boom.lua:2: attempt to index a nil value (local 'x')"
        );
    }

    #[test]
    fn an_endless_loop_stops_at_the_timeout_even_under_pcall() {
        let lua = Lua::new();
        let f = func(&lua, "while true do end");
        assert_eq!(
            run_sync(&lua, &pool(), &f, (), limits(50)).unwrap_err(),
            ExecError::Timeout
        );
        let f = func(
            &lua,
            "while true do pcall(function() for i=1,1e9 do end end) end",
        );
        assert_eq!(
            run_sync(&lua, &pool(), &f, (), limits(50)).unwrap_err(),
            ExecError::Timeout
        );
    }

    #[test]
    fn a_script_yield_is_refused_in_sync_contexts() {
        let lua = Lua::new();
        let f = func(&lua, "coroutine.yield(1)");
        assert_eq!(
            run_sync(&lua, &pool(), &f, (), limits(1000)).unwrap_err(),
            ExecError::Yield
        );
    }

    #[tokio::test]
    async fn an_async_endless_loop_yields_to_other_tasks_then_times_out() {
        let lua = Lua::new();
        let f = func(&lua, "while true do end");
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let ticker = async move {
            loop {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        };
        let pool = pool();
        let result = tokio::select! {
            r = run_async(&lua, &pool, &f, (), limits(100)) => r,
            () = ticker => unreachable!(),
        };
        assert_eq!(result.unwrap_err(), ExecError::Timeout);
        assert!(ticks.load(Ordering::Relaxed) > 10, "the loop never yielded");
    }

    #[test]
    fn returned_calls_give_their_coroutine_back_and_the_next_call_starts_afresh() {
        let lua = Lua::new();
        let pool = pool();
        let quick = func(&lua, "return 1");
        let co = pool.take(&lua, &quick, limits(1000)).unwrap();
        let first = co.thread.to_pointer();
        // Spent time of a call does not carry over to the next one.
        co.clock.spent.store(u64::MAX / 2, Ordering::Relaxed);
        run_sync_on(&co, ()).unwrap();
        pool.give_back(co);
        let co = pool.take(&lua, &quick, limits(1000)).unwrap();
        assert_eq!(
            co.thread.to_pointer(),
            first,
            "the idle coroutine is reused"
        );
        assert_eq!(co.clock.spent.load(Ordering::Relaxed), 0);
        assert!(!co.clock.over(false));
        run_sync_on(&co, ()).unwrap();
        pool.give_back(co);
        assert_eq!(pool.idle().len(), 1);
        // A call that failed or timed out keeps its coroutine out of the pool.
        let boom = func(&lua, "error('boom')");
        assert!(matches!(
            run_sync(&lua, &pool, &boom, (), limits(1000)),
            Err(ExecError::Runtime(_))
        ));
        let spin = func(&lua, "while true do end");
        assert_eq!(
            run_sync(&lua, &pool, &spin, (), limits(20)).unwrap_err(),
            ExecError::Timeout
        );
        assert_eq!(
            pool.idle().len(),
            0,
            "the failed calls' coroutines are dropped"
        );
        assert!(matches!(
            run_sync(&lua, &pool, &quick, (), limits(1000)),
            Ok(Finished::Returned(_))
        ));
        assert_eq!(pool.idle().len(), 1);
    }

    #[test]
    fn memory_errors_are_classified() {
        let lua = Lua::new();
        lua.set_memory_limit(2 * 1024 * 1024).unwrap();
        let f = func(&lua, "local t = {} for i = 1, 1e8 do t[i] = i end");
        assert_eq!(
            run_sync(&lua, &pool(), &f, (), limits(5000)).unwrap_err(),
            ExecError::NoMem
        );
    }

    #[test]
    fn done_unwinds_the_call() {
        let lua = Lua::new();
        let done = lua
            .create_function(|_, v: i64| -> mlua::Result<()> {
                Err(mlua::Error::external(Done::Core(Some(Sample::Int(v)))))
            })
            .unwrap();
        lua.globals().set("done", done).unwrap();
        let f = func(&lua, "local function f() done(7) end f() return 1");
        match run_sync(&lua, &pool(), &f, (), limits(1000)).unwrap() {
            Finished::Done(Done::Core(Some(Sample::Int(7)))) => {}
            other => panic!("{other:?}"),
        }
    }
}
