//! HAProxy's Lua API, so that the Lua scripts written for HAProxy 2.6 run unchanged next to
//! the gateway's rules and SPOE filters.
//!
//! ```text
//!   global: lua-load F / lua-load-per-thread F / tune.lua.*  ──> LuaSettings
//!   LuaRuntime::load(settings)      files' bodies run: core.register_* ──> Registered (lua.NAME)
//!   LuaRuntime::start(workers, ..)  per-thread states, init functions ──> one LuaWorker per worker
//!   LuaWorker::action(name, args, txn)   http-request / http-response lua.NAME   (async)
//!   LuaWorker::fetch / convert            lua.NAME in expressions                 (runs to its end)
//!   LuaWorker::service(name, txn, body)   http-request use-service lua.NAME      (streams)
//! ```
//!
//! The proxy lends its transaction through [`TxnView`] / [`TxnHost`]: fetches and converters
//! go through `spoe`'s expression language on that transaction (`txn.f:req_hdr("host")` is the
//! same code as `req.hdr(host)` in a rule), variables through its variable store.
//!
//! **Lua 5.3.** Debian's HAProxy 2.6 links Lua 5.3.6, built with `LUA_COMPAT_5_2`: scripts
//! written for it see 5.3's integer division and `table.unpack` (no global `unpack`), `bit32`
//! and `math.pow`. mlua's vendored 5.3 is built without that compatibility flag, so `bit32` and
//! the deprecated math functions are provided by this crate in Lua (`lua/compat.lua`). Lua 5.4
//! would change integer-to-string and `__lt`/`__le` semantics those scripts rely on.
//!
//! **Bounded cost.** Every call runs in a coroutine with a count hook every
//! `tune.lua.forced-yield` instructions: in actions, services and tasks the hook yields to the
//! worker's event loop (other requests go on), and everywhere it enforces the call's timeout
//! (`tune.lua.session-timeout`, `service-timeout`, `task-timeout`), counted in Lua run time
//! only. Coroutines are kept per state, hook included, and reused once their call returned;
//! an action's `TXN` userdata is kept too, lent each transaction in turn, while every call gets
//! its own `TXN` object. `core.msleep`/`core.sleep`/`core.yield` are tokio sleeps and yields. `tune.lua.maxmem`
//! caps each state's memory (mlua's limit).
//!
//! **Failures are visible.** Every failure of a call is counted by kind and reason in the
//! host's [`ErrorCounts`] ([`LuaRuntime::start`] takes them, with [`Reporting`]) and written in
//! HAProxy's words (`Lua function 'NAME': execution timeout.`) to stderr and to the log of the
//! transaction's proxy ([`TxnView::log_error`]), or the global log for tasks: at most one line
//! per message per second, with the count of those left out.
//!
//! Does not do: `core.tcp`, `core.httpclient`, filters, CLI commands, TCP services and actions,
//! `Channel`, `Regex`, `StickTable`, the `debug` library, map and ACL updates at run time,
//! `act:wake_time`; each of these fails naming itself rather than doing nothing.

#![warn(missing_docs)]

mod access;
mod applet;
mod calls;
mod core_lib;
mod debug_lib;
mod error;
mod exec;
pub mod host;
mod lend;
mod map;
mod registry;
mod report;
mod runtime;
mod settings;
mod state;
mod state_data;
mod value;
mod worker;

pub use applet::{BodyStream, ServiceCall, ServiceError, ServiceHead};
pub use error::LoadError;
pub use host::{ActionOutcome, Private, ReasonPhrase, Reply, TxnHost, TxnView, Verdict};
pub use registry::{ActionInfo, ActionKinds, Registered, ServiceMode};
pub use report::{ErrorCounts, ErrorKind, ErrorReason, GlobalLog, Reporting};
pub use runtime::{LuaRuntime, Proxies};
pub use settings::{LuaLoad, LuaSettings, PrependPath};
pub use worker::{LuaTask, LuaWorker};
