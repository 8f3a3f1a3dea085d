//! What the files registered with `core.register_*`: the `lua.NAME` keywords the
//! configuration may use, and the functions behind them.

use std::collections::BTreeMap;

use mlua::Function;

/// Where an action may be used (`core.register_action`'s second argument).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionKinds {
    /// `http-req`: `http-request lua.NAME`.
    pub http_req: bool,
    /// `http-res`: `http-response lua.NAME`.
    pub http_res: bool,
    /// `tcp-req`: `tcp-request content lua.NAME` (no TCP rules in the gateway).
    pub tcp_req: bool,
    /// `tcp-res`: `tcp-response content lua.NAME`.
    pub tcp_res: bool,
}

/// A registered action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    /// Where it may be used.
    pub kinds: ActionKinds,
    /// How many arguments the rule must give (`nb_args`).
    pub nargs: usize,
}

/// `core.register_service`'s mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceMode {
    /// `http`: an `AppletHTTP`, for `http-request use-service lua.NAME`.
    Http,
    /// `tcp`: an `AppletTCP` (no TCP frontends in the gateway).
    Tcp,
}

/// The names registered by every loaded file: what the configuration may refer to as
/// `lua.NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    /// Actions.
    pub actions: BTreeMap<String, ActionInfo>,
    /// Services.
    pub services: BTreeMap<String, ServiceMode>,
    /// Sample fetches.
    pub fetches: Vec<String>,
    /// Converters.
    pub converters: Vec<String>,
}

impl Registered {
    /// Whether `lua.NAME` is a registered fetch.
    pub fn has_fetch(&self, name: &str) -> bool {
        self.fetches.iter().any(|f| f == name)
    }

    /// Whether `lua.NAME` is a registered converter.
    pub fn has_converter(&self, name: &str) -> bool {
        self.converters.iter().any(|c| c == name)
    }
}

/// The functions registered in one state.
#[derive(Debug, Default)]
pub(crate) struct Functions {
    pub(crate) actions: BTreeMap<String, (ActionInfo, Function)>,
    pub(crate) services: BTreeMap<String, (ServiceMode, Function)>,
    pub(crate) fetches: BTreeMap<String, Function>,
    pub(crate) converters: BTreeMap<String, Function>,
    pub(crate) inits: Vec<Function>,
    pub(crate) tasks: Vec<Function>,
    /// Names registered more than once (HAProxy 2.6 warns, and the last one wins).
    pub(crate) warnings: Vec<String>,
}

impl Functions {
    /// The names, without the functions.
    pub(crate) fn names(&self) -> Registered {
        Registered {
            actions: self
                .actions
                .iter()
                .map(|(n, (info, _))| (n.clone(), *info))
                .collect(),
            services: self
                .services
                .iter()
                .map(|(n, (mode, _))| (n.clone(), *mode))
                .collect(),
            fetches: self.fetches.keys().cloned().collect(),
            converters: self.converters.keys().cloned().collect(),
        }
    }
}
