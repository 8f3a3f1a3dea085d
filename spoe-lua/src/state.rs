//! One Lua state as HAProxy prepares it: the standard libraries (Debian's 5.3 compatibility
//! functions included), `core`, `act`, `Map` and the classes, the memory limit, the module
//! paths; and the loading of files into it (the body context).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::{Function, Lua, Table};

use crate::error::LoadError;
use crate::exec;
use crate::registry::Functions;
use crate::settings::LuaSettings;
pub(crate) use crate::state_data::{CallLimits, StateData, coroutines, data};

const COMPAT: &str = include_str!("lua/compat.lua");
const CLASSES: &str = include_str!("lua/classes.lua");

/// The constructors `classes.lua` returns.
#[derive(Debug)]
pub(crate) struct Classes {
    pub(crate) txn: Function,
    /// An action's call: `action(userdata, f, args...)` calls `f(TXN, args...)`.
    pub(crate) action: Function,
    pub(crate) applet: Function,
}

fn state_err(e: mlua::Error) -> LoadError {
    LoadError::State(exec::message(&e))
}

/// A new state with HAProxy's environment. `id` is the state-id, `thread` what `core.thread`
/// says, `maxmem` this state's share of `tune.lua.maxmem`.
pub(crate) fn new_state(
    settings: &LuaSettings,
    id: usize,
    thread: usize,
    maxmem: Option<usize>,
) -> Result<Lua, LoadError> {
    let lua = Lua::new();
    let calls = std::sync::Arc::new(crate::calls::CallCache::default());
    lua.set_app_data(StateData {
        id,
        loading: AtomicBool::new(true),
        functions: Mutex::new(Functions::default()),
        limits: CallLimits::new(settings),
        threads: settings.threads,
        coroutines: std::sync::Arc::new(exec::Coroutines::new(settings.forced_yield)),
        calls: calls.clone(),
    });
    lua.load(COMPAT)
        .set_name("=compat")
        .exec()
        .map_err(state_err)?;
    prepend_paths(&lua, settings).map_err(state_err)?;
    crate::core_lib::install(&lua, thread).map_err(state_err)?;
    crate::debug_lib::install(&lua).map_err(state_err)?;
    crate::map::install(&lua).map_err(state_err)?;
    let fetches: Vec<&str> = spoe::expr::supported_fetches().collect();
    let converters: Vec<&str> = spoe::expr::supported_converters().collect();
    let (resolve_fetch, resolve_converter) = calls.resolvers(&lua).map_err(state_err)?;
    let classes: Table = lua
        .load(CLASSES)
        .set_name("=classes")
        .call((fetches, converters, resolve_fetch, resolve_converter))
        .map_err(state_err)?;
    lua.set_app_data(Classes {
        txn: classes.get("txn").map_err(state_err)?,
        action: classes.get("action").map_err(state_err)?,
        applet: classes.get("applet").map_err(state_err)?,
    });
    // Set last: building the environment above takes memory the scripts must not pay for.
    if let Some(limit) = maxmem {
        lua.set_memory_limit(limit).map_err(state_err)?;
    }
    Ok(lua)
}

/// `f` on what the files of `lua` registered; `None` when it is not a state of this crate.
pub(crate) fn with_functions<R>(lua: &Lua, f: impl FnOnce(&Functions) -> R) -> Option<R> {
    let data = data(lua).ok()?;
    let guard = data
        .functions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(f(&guard))
}

/// HAProxy's state-id of `lua`.
pub(crate) fn state_id(lua: &Lua) -> usize {
    data(lua).map_or(0, |d| d.id)
}

fn prepend_paths(lua: &Lua, settings: &LuaSettings) -> mlua::Result<()> {
    let package: Table = lua.globals().get("package")?;
    for p in &settings.prepend_paths {
        let key = if p.cpath { "cpath" } else { "path" };
        let current: String = package.get(key)?;
        package.set(key, format!("{};{current}", p.path))?;
    }
    Ok(())
}

/// Loads and runs `path` in `lua` (HAProxy's `hlua_load_state()`).
pub(crate) fn load_file(lua: &Lua, path: &Path) -> Result<(), LoadError> {
    let source = std::fs::read(path).map_err(|e| LoadError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let func = lua
        .load(source)
        .set_name(format!("@{}", path.display()))
        .into_function()
        .map_err(|e| LoadError::Syntax {
            path: path.to_owned(),
            message: exec::message(&e),
        })?;
    let limits = data(lua).map_err(state_err)?.limits.session;
    let pool = coroutines(lua).map_err(state_err)?;
    exec::run_sync(lua, &pool, &func, (), limits).map_err(|e| LoadError::Runtime {
        path: path.to_owned(),
        message: match e {
            exec::ExecError::Runtime(m) => m,
            other => other.describe(0),
        },
    })?;
    Ok(())
}

/// Ends the body context: `core.register_*` are refused from now on.
pub(crate) fn end_loading(lua: &Lua) {
    if let Ok(d) = data(lua) {
        d.loading.store(false, Ordering::Relaxed);
    }
}
