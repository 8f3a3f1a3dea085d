//! What the Rust side keeps in each Lua state (mlua's app data): its id, whether files are
//! loading, what they registered, the limits of its calls.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use mlua::Lua;

use crate::calls::CallCache;
use crate::exec::{Coroutines, Limits};
use crate::registry::Functions;
use crate::settings::LuaSettings;

/// What the Rust side keeps in each state (mlua's app data).
#[derive(Debug)]
pub(crate) struct StateData {
    /// HAProxy's state-id: 0 for the shared state, the thread number for per-thread ones.
    pub(crate) id: usize,
    /// Files are being loaded: `core.register_*` are allowed.
    pub(crate) loading: AtomicBool,
    pub(crate) functions: Mutex<Functions>,
    pub(crate) limits: CallLimits,
    /// `nbthread`, for `core.get_info()`.
    pub(crate) threads: usize,
    /// Its idle coroutines, for the next calls.
    pub(crate) coroutines: Arc<Coroutines>,
    /// The fetches and converters its scripts' call sites resolved.
    pub(crate) calls: Arc<CallCache>,
}

/// The limits of each kind of call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    pub(crate) session: Limits,
    pub(crate) service: Limits,
    pub(crate) task: Limits,
}

impl CallLimits {
    pub(crate) fn new(s: &LuaSettings) -> Self {
        let limits = |timeout| Limits {
            forced_yield: s.forced_yield,
            timeout,
        };
        Self {
            session: limits(Some(s.session_timeout)),
            service: limits(Some(s.service_timeout)),
            task: limits(s.task_timeout),
        }
    }
}

/// The pool of the state's coroutines.
pub(crate) fn coroutines(lua: &Lua) -> mlua::Result<Arc<Coroutines>> {
    Ok(data(lua)?.coroutines.clone())
}

/// The state's data.
pub(crate) fn data(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, StateData>> {
    lua.app_data_ref::<StateData>()
        .ok_or_else(|| mlua::Error::RuntimeError("not a spoe-lua state".to_owned()))
}
