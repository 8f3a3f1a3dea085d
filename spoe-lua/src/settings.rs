//! The `global` directives that configure Lua, as HAProxy 2.6 defines them.

use std::path::PathBuf;
use std::time::Duration;

/// `lua-load FILE` or `lua-load-per-thread FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaLoad {
    /// The file.
    pub path: PathBuf,
    /// `lua-load-per-thread`: one copy per worker thread (`core.thread` is 1, 2...), instead
    /// of one state every worker shares (`core.thread` is 0), run by one thread at a time.
    pub per_thread: bool,
}

/// `lua-prepend-path PATH [path|cpath]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrependPath {
    /// The pattern (`/usr/share/lua/?.lua`).
    pub path: String,
    /// `cpath` (native modules) rather than `path`.
    pub cpath: bool,
}

/// Everything `global` says about Lua.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaSettings {
    /// `lua-load` and `lua-load-per-thread`, in order.
    pub loads: Vec<LuaLoad>,
    /// `lua-prepend-path`, in order (the last one is searched first).
    pub prepend_paths: Vec<PrependPath>,
    /// `tune.lua.forced-yield` (10000): instructions between two forced yields.
    pub forced_yield: u32,
    /// `tune.lua.session-timeout` (4 s): Lua run time of one action, fetch or converter call.
    /// Also bounds the files' bodies and init functions, which HAProxy leaves unbounded.
    pub session_timeout: Duration,
    /// `tune.lua.service-timeout` (4 s): Lua run time of one service call.
    pub service_timeout: Duration,
    /// `tune.lua.task-timeout` (none): Lua run time of one task.
    pub task_timeout: Option<Duration>,
    /// `tune.lua.maxmem` in bytes (none): memory all Lua states of the process may use. It is
    /// split evenly among the states (the shared one and one per worker for
    /// `lua-load-per-thread`), each capped by mlua's memory limit.
    pub maxmem: Option<usize>,
    /// `tune.bufsize`: how much a service may send before it waits for the client to read.
    pub bufsize: usize,
    /// Worker threads (`nbthread`): how many per-thread states there will be.
    pub threads: usize,
}

impl Default for LuaSettings {
    fn default() -> Self {
        Self {
            loads: Vec::new(),
            prepend_paths: Vec::new(),
            forced_yield: 10_000,
            session_timeout: Duration::from_secs(4),
            service_timeout: Duration::from_secs(4),
            task_timeout: None,
            maxmem: None,
            bufsize: 16384,
            threads: 1,
        }
    }
}

impl LuaSettings {
    /// Whether any file is loaded (nothing Lua runs otherwise).
    pub fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }
}
