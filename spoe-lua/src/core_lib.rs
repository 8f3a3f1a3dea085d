//! The `core` class: logging, time, sleeping (yields), registration, tokenizing, and the
//! functions the gateway does not provide, which fail naming themselves.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mlua::{Function, Lua, Table, Value, Variadic};

use crate::exec::Done;
use crate::registry::{ActionInfo, ActionKinds, ServiceMode};
use crate::state_data::data;
use crate::value;

/// Writes a log line at HAProxy level `level` (0 emerg .. 7 debug) on the `spoe::lua` target.
pub(crate) fn log(level: i64, msg: &str) {
    match level {
        ..=3 => tracing::error!(target: "spoe::lua", "{msg}"),
        4 => tracing::warn!(target: "spoe::lua", "{msg}"),
        5 | 6 => tracing::info!(target: "spoe::lua", "{msg}"),
        _ => tracing::debug!(target: "spoe::lua", "{msg}"),
    }
}

fn unsupported(lua: &Lua, core: &Table, name: &'static str) -> mlua::Result<()> {
    let f = lua.create_function(move |_, _: Variadic<Value>| -> mlua::Result<()> {
        Err(mlua::Error::RuntimeError(format!(
            "core.{name}() is not supported by the gateway"
        )))
    })?;
    core.set(name, f)
}

fn check_loading(lua: &Lua, what: &str) -> mlua::Result<()> {
    if data(lua)?.loading.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(mlua::Error::RuntimeError(format!(
            "{what}: not available outside of body context"
        )))
    }
}

/// Records a registration; a name registered again replaces the first, with HAProxy's warning.
fn register<T>(
    lua: &Lua,
    kind: &str,
    name: &str,
    entry: T,
    pick: impl FnOnce(&mut crate::registry::Functions) -> &mut std::collections::BTreeMap<String, T>,
) -> mlua::Result<()> {
    let d = data(lua)?;
    let mut f = d
        .functions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let warning = format!("Trying to register {kind} 'lua.{name}' more than once.");
    if pick(&mut f).insert(name.to_owned(), entry).is_some() {
        log(4, &warning);
        f.warnings.push(warning);
    }
    Ok(())
}

pub(crate) fn install(lua: &Lua, thread: usize) -> mlua::Result<()> {
    let core = lua.create_table()?;
    for (i, name) in [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ]
    .iter()
    .enumerate()
    {
        core.set(*name, i as i64)?;
    }
    core.set("thread", thread as i64)?;

    core.set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
            log(level, &msg.to_string_lossy());
            Ok(())
        })?,
    )?;
    for (name, level) in [("Debug", 7), ("Info", 6), ("Warning", 4), ("Alert", 1)] {
        core.set(
            name,
            lua.create_function(move |_, msg: mlua::LuaString| {
                log(level, &msg.to_string_lossy());
                Ok(())
            })?,
        )?;
    }

    core.set(
        "now",
        lua.create_function(|lua, ()| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let t = lua.create_table()?;
            t.set("sec", now.as_secs() as i64)?;
            t.set("usec", i64::from(now.subsec_micros()))?;
            Ok(t)
        })?,
    )?;
    core.set(
        "msleep",
        lua.create_async_function(|_, ms: i64| async move {
            tokio::time::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(0))).await;
            Ok(())
        })?,
    )?;
    core.set(
        "sleep",
        lua.create_async_function(|_, s: i64| async move {
            tokio::time::sleep(Duration::from_secs(u64::try_from(s).unwrap_or(0))).await;
            Ok(())
        })?,
    )?;
    core.set(
        "yield",
        lua.create_async_function(|_, ()| async move {
            tokio::task::yield_now().await;
            Ok(())
        })?,
    )?;
    core.set(
        "done",
        lua.create_function(|_, v: Value| -> mlua::Result<()> {
            let sample = (!v.is_nil()).then(|| value::from_lua(&v));
            Err(mlua::Error::external(Done::Core(sample)))
        })?,
    )?;
    core.set(
        "tokenize",
        lua.create_function(
            |lua, (s, seps, noblank): (mlua::LuaString, mlua::LuaString, Option<bool>)| {
                let seps = seps.as_bytes().to_vec();
                let parts = s.as_bytes().to_vec();
                let out = lua.create_table()?;
                let mut n = 0;
                for part in parts.split(|c| seps.contains(c)) {
                    if noblank.unwrap_or(false) && part.is_empty() {
                        continue;
                    }
                    n += 1;
                    out.raw_set(n, lua.create_string(part)?)?;
                }
                Ok(out)
            },
        )?,
    )?;
    core.set(
        "get_info",
        lua.create_function(|lua, ()| {
            let t = lua.create_table()?;
            t.set("Name", "spoe-gateway")?;
            t.set("Version", env!("CARGO_PKG_VERSION"))?;
            t.set("Pid", i64::from(std::process::id()))?;
            t.set("Nbthread", data(lua)?.threads as i64)?;
            Ok(t)
        })?,
    )?;

    core.set(
        "register_action",
        lua.create_function(
            |lua, (name, kinds, func, nargs): (String, Table, Function, Option<i64>)| {
                check_loading(lua, "register_action")?;
                let mut k = ActionKinds::default();
                for kind in kinds.sequence_values::<String>() {
                    match kind?.as_str() {
                        "http-req" => k.http_req = true,
                        "http-res" => k.http_res = true,
                        "tcp-req" => k.tcp_req = true,
                        "tcp-res" => k.tcp_res = true,
                        other => {
                            return Err(mlua::Error::RuntimeError(format!(
                                "Lua action environment '{other}' is unknown. 'tcp-req', \
                                 'tcp-res', 'http-req' or 'http-res' values are expected."
                            )));
                        }
                    }
                }
                let info = ActionInfo {
                    kinds: k,
                    nargs: usize::try_from(nargs.unwrap_or(0)).unwrap_or(0),
                };
                register(lua, "action", &name, (info, func), |f| &mut f.actions)
            },
        )?,
    )?;
    core.set(
        "register_service",
        lua.create_function(|lua, (name, mode, func): (String, String, Function)| {
            check_loading(lua, "register_service")?;
            let mode = match mode.as_str() {
                "http" => ServiceMode::Http,
                "tcp" => ServiceMode::Tcp,
                _ => {
                    return Err(mlua::Error::RuntimeError(format!(
                        "Lua service environment '{mode}' is unknown. 'tcp' or 'http' are expected."
                    )));
                }
            };
            register(lua, "service", &name, (mode, func), |f| &mut f.services)
        })?,
    )?;
    core.set(
        "register_fetches",
        lua.create_function(|lua, (name, func): (String, Function)| {
            check_loading(lua, "register_fetches")?;
            register(lua, "sample-fetch", &name, func, |f| &mut f.fetches)
        })?,
    )?;
    core.set(
        "register_converters",
        lua.create_function(|lua, (name, func): (String, Function)| {
            check_loading(lua, "register_converters")?;
            register(lua, "converter", &name, func, |f| &mut f.converters)
        })?,
    )?;
    core.set(
        "register_init",
        lua.create_function(|lua, func: Function| {
            check_loading(lua, "register_init")?;
            let d = data(lua)?;
            d.functions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .inits
                .push(func);
            Ok(())
        })?,
    )?;
    core.set(
        "register_task",
        lua.create_function(|lua, func: Function| {
            let d = data(lua)?;
            if !d.loading.load(Ordering::Relaxed) {
                // HAProxy starts such a task at once; the gateway's tasks are all known when
                // the configuration starts, so that each has an owner that ends it.
                return Err(mlua::Error::RuntimeError(
                    "core.register_task() outside of the body and init contexts is not \
                     supported by the gateway"
                        .to_owned(),
                ));
            }
            d.functions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .tasks
                .push(func);
            Ok(())
        })?,
    )?;
    for name in [
        "register_filter",
        "register_cli",
        "set_nice",
        "tcp",
        "httpclient",
        "add_acl",
        "del_acl",
        "set_map",
        "del_map",
        "parse_addr",
        "match_addr",
        "http_date",
        "imf_date",
        "rfc850_date",
        "asctime_date",
    ] {
        unsupported(lua, &core, name)?;
    }
    // Filled when the configuration's proxies are known (`Runtime::start`).
    core.set("proxies", lua.create_table()?)?;
    core.set("frontends", lua.create_table()?)?;
    core.set("backends", lua.create_table()?)?;
    lua.globals().set("core", core)?;

    let act = lua.create_table()?;
    for (i, name) in [
        "CONTINUE", "STOP", "YIELD", "ERROR", "DONE", "DENY", "ABORT", "INVALID",
    ]
    .iter()
    .enumerate()
    {
        act.set(*name, i as i64)?;
    }
    act.set(
        "wake_time",
        lua.create_function(|_, _: Variadic<Value>| -> mlua::Result<()> {
            Err(mlua::Error::RuntimeError(
                "act:wake_time() is not supported by the gateway".to_owned(),
            ))
        })?,
    )?;
    lua.globals().set("act", act)?;
    Ok(())
}
