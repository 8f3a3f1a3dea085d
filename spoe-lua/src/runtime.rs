//! The loaded Lua of one configuration: the shared state (`lua-load`), the per-thread states
//! (`lua-load-per-thread`), what they registered, and the calls the proxy makes into them.

use std::sync::Arc;

use mlua::{Function, Lua};

use crate::error::LoadError;
use crate::exec;
use crate::registry::{Functions, Registered};
use crate::report::{ErrorKind, ErrorLog, ErrorReason, Reporting};
use crate::settings::LuaSettings;
use crate::state::{self, state_id, with_functions};
use crate::worker::{LuaTask, LuaWorker};

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
            let state_err = |e: mlua::Error| LoadError::State(exec::message(&e));
            let limits = state::data(lua).map_err(state_err)?.limits.session;
            let pool = state::coroutines(lua).map_err(state_err)?;
            for init in inits {
                exec::run_sync(lua, &pool, &init, (), limits).map_err(|e| LoadError::Runtime {
                    path: "init".into(),
                    message: e.describe(state_id(lua)),
                })?;
            }
        }
        own.into_iter()
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
                LuaWorker::new(
                    inner.shared.clone(),
                    own,
                    inner.settings.bufsize,
                    errors.clone(),
                    tasks,
                )
            })
            .collect()
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
        let (Ok(limits), Ok(pool)) = (
            state::data(&lua).map(|d| d.limits.task),
            state::coroutines(&lua),
        ) else {
            return;
        };
        if let Err(e) = exec::run_async(&lua, &pool, &func, (), limits).await {
            let line = format!("Lua task: {}", e.describe(state_id(&lua)));
            errors.report(ErrorKind::Task, ErrorReason::of(&e), &line, None);
        }
    })
}
