//! `global`'s Lua directives (`lua-load`, `lua-load-per-thread`, `lua-prepend-path`,
//! `tune.lua.*`), the loading of the files once `global` is read (their bodies run then, as
//! in HAProxy, so that the proxies can use what they registered), and the `lua.NAME` rules.

use std::path::Path;

use spoe::config::Span;
use spoe::config::reader::{Line, Word};
use spoe_lua::{LuaLoad, LuaRuntime, LuaSettings, PrependPath, Registered, ServiceMode};

use super::diag::Diag;
use super::logformat::Phase;
use crate::model::HttpAction;

/// The `global` directives [`LuaGlobal::line`] reads (for the README's keyword table).
pub(super) const KEYWORDS: &[&str] = &[
    "lua-load",
    "lua-load-per-thread",
    "lua-prepend-path",
    "tune.lua.forced-yield",
    "tune.lua.maxmem",
    "tune.lua.service-timeout",
    "tune.lua.session-timeout",
    "tune.lua.task-timeout",
];

/// The Lua part of `global`, while it is read.
#[derive(Debug, Default)]
pub(super) struct LuaGlobal {
    pub(super) settings: LuaSettings,
    /// The first `lua-load*` line: where a loading error is reported.
    first_load: Option<Span>,
    /// Loaded (or failed): the files run once.
    loaded: Option<Option<LuaRuntime>>,
}

impl LuaGlobal {
    /// Handles `line` when it is a Lua directive of `global`; false when it is not one.
    pub(super) fn line(&mut self, line: &Line, base_dir: &Path, diag: &mut Diag) -> bool {
        let kw = line.keyword();
        let arg = |i: usize| line.arg(i).map(Word::as_str);
        let missing = |diag: &mut Diag, what: &str| {
            diag.error_msg(
                line.span().clone(),
                format!("'{kw}' expects {what} as parameter."),
            );
        };
        match kw {
            "lua-load" | "lua-load-per-thread" => {
                let Some(file) = arg(1) else {
                    missing(diag, "a file");
                    return true;
                };
                self.first_load.get_or_insert_with(|| line.span().clone());
                self.settings.loads.push(LuaLoad {
                    path: base_dir.join(file),
                    per_thread: kw == "lua-load-per-thread",
                });
            }
            "lua-prepend-path" => {
                let Some(path) = arg(1) else {
                    missing(diag, "a path");
                    return true;
                };
                let cpath = match arg(2) {
                    None | Some("path") => false,
                    Some("cpath") => true,
                    Some(other) => {
                        diag.error_msg(
                            line.span().clone(),
                            format!(
                                "'{kw}': '{other}' is not a path type: 'path' or 'cpath' expected."
                            ),
                        );
                        return true;
                    }
                };
                self.settings.prepend_paths.push(PrependPath {
                    path: path.to_owned(),
                    cpath,
                });
            }
            "tune.lua.forced-yield" => match arg(1).and_then(|a| a.parse::<u32>().ok()) {
                Some(n) if n > 0 => self.settings.forced_yield = n,
                _ => missing(diag, "an integer"),
            },
            "tune.lua.maxmem" => match arg(1).and_then(|a| a.parse::<usize>().ok()) {
                // In megabytes; 0 is unlimited.
                Some(0) => self.settings.maxmem = None,
                Some(mb) => self.settings.maxmem = Some(mb.saturating_mul(1024 * 1024)),
                None => missing(diag, "an integer"),
            },
            "tune.lua.session-timeout" | "tune.lua.service-timeout" | "tune.lua.task-timeout" => {
                let Some(d) = arg(1).and_then(|a| spoe::duration::parse_timer(a).ok()) else {
                    missing(diag, "a timeout");
                    return true;
                };
                let d = d.duration();
                match kw {
                    "tune.lua.session-timeout" => self.settings.session_timeout = d,
                    "tune.lua.service-timeout" => self.settings.service_timeout = d,
                    _ => self.settings.task_timeout = (!d.is_zero()).then_some(d),
                }
            }
            _ => return false,
        }
        true
    }

    /// Runs the files (once): what they registered is then known to the proxies' rules and
    /// expressions. A failure is reported on the first `lua-load*` line.
    pub(super) fn load(
        &mut self,
        threads: usize,
        bufsize: usize,
        diag: &mut Diag,
    ) -> Option<&LuaRuntime> {
        if self.loaded.is_none() {
            let runtime = if self.settings.is_empty() {
                None
            } else {
                self.settings.threads = threads;
                self.settings.bufsize = bufsize;
                match LuaRuntime::load(self.settings.clone()) {
                    Ok(rt) => {
                        for w in rt.warnings() {
                            if let Some(span) = &self.first_load {
                                diag.warn_msg(span.clone(), w.clone());
                            }
                        }
                        Some(rt)
                    }
                    Err(e) => {
                        if let Some(span) = &self.first_load {
                            diag.error_msg(span.clone(), e.to_string());
                        }
                        None
                    }
                }
            };
            self.loaded = Some(runtime);
        }
        self.loaded.as_ref().and_then(Option::as_ref)
    }

    /// What the loaded files registered (once loaded).
    pub(super) fn registered(&self) -> Option<&Registered> {
        self.loaded
            .as_ref()
            .and_then(Option::as_ref)
            .map(LuaRuntime::registered)
    }

    /// The loaded runtime (after [`load`](Self::load)).
    pub(super) fn take(&mut self) -> Option<LuaRuntime> {
        self.loaded.take().flatten()
    }
}

/// The names expressions may use as `lua.NAME`.
pub(super) fn script_names(registered: &Registered) -> spoe::expr::ScriptNames {
    spoe::expr::ScriptNames {
        fetches: registered.fetches.clone(),
        converters: registered.converters.clone(),
    }
}

/// `http-request lua.NAME [args...]` / `http-response lua.NAME [args...]`: the action, and how
/// many of `args` it takes. Err: HAProxy's complaint.
pub(super) fn action(
    registered: Option<&Registered>,
    phase: Phase,
    keyword: &str,
    args: &[Word],
) -> Result<(HttpAction, usize), String> {
    let name = keyword.strip_prefix("lua.").unwrap_or(keyword);
    let info = registered.and_then(|r| r.actions.get(name));
    let allowed = info.is_some_and(|i| match phase {
        Phase::Request => i.kinds.http_req,
        Phase::Response => i.kinds.http_res,
    });
    let Some(info) = info.filter(|_| allowed) else {
        let rules = match phase {
            Phase::Request => "http-request",
            Phase::Response => "http-response",
        };
        return Err(format!(
            "'{rules}' : unknown action '{keyword}' (no Lua action of that name registered for '{}')",
            if phase == Phase::Request {
                "http-req"
            } else {
                "http-res"
            }
        ));
    };
    if args.len() < info.nargs
        || args[..info.nargs]
            .iter()
            .any(|w| matches!(w.as_str(), "if" | "unless"))
    {
        return Err(format!("'{keyword}' : expect {} arguments", info.nargs));
    }
    let args = args[..info.nargs]
        .iter()
        .map(|w| w.as_str().to_owned())
        .collect();
    Ok((
        HttpAction::Lua {
            name: name.to_owned(),
            args,
        },
        info.nargs,
    ))
}

/// `use-service lua.NAME`. Err: HAProxy's complaint.
pub(super) fn service(
    registered: Option<&Registered>,
    keyword: &str,
) -> Result<HttpAction, String> {
    let name = keyword.strip_prefix("lua.").unwrap_or(keyword);
    match registered.and_then(|r| r.services.get(name)) {
        Some(ServiceMode::Http) => Ok(HttpAction::LuaService {
            name: name.to_owned(),
        }),
        Some(ServiceMode::Tcp) => Err(format!(
            "service '{keyword}' is a TCP service: the gateway has no TCP frontends"
        )),
        None => Err(format!(
            "'http-request use-service' : unknown service '{keyword}' (no Lua service of that \
             name registered)"
        )),
    }
}
