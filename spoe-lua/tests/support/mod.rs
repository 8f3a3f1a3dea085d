//! A test transaction for the Lua API (the proxy's side of it, on a plain struct), and the
//! loading of a script into a worker: what `api.rs` and the `action` benchmark share.
#![allow(dead_code)] // each user takes what it needs

use std::collections::HashMap;

use bytes::Bytes;
use http::{request, response};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe_lua::{
    ActionOutcome, LuaLoad, LuaRuntime, LuaSettings, LuaWorker, Private, Proxies, Reporting,
    TxnHost, TxnView,
};

#[derive(Debug)]
pub(crate) struct Txn {
    pub(crate) request: request::Parts,
    pub(crate) response: Option<response::Parts>,
    pub(crate) vars: HashMap<String, Sample>,
    pub(crate) private: Option<Private>,
    /// What `set_log_level` was last given.
    pub(crate) log_level: Option<Option<u8>>,
    /// The error lines written to this transaction's proxy log.
    pub(crate) errors: std::sync::Mutex<Vec<String>>,
}

impl Txn {
    pub(crate) fn get(path: &str) -> Self {
        let (mut request, ()) = http::Request::get(path).body(()).unwrap().into_parts();
        request
            .headers
            .insert("host", "example.com".parse().unwrap());
        Self {
            request,
            response: None,
            vars: HashMap::new(),
            private: None,
            log_level: None,
            errors: std::sync::Mutex::default(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.request.headers.append(name, value.parse().unwrap());
        self
    }
}

impl Fetch for Txn {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::Path => Some(Sample::str(self.request.uri.path())),
            FetchKind::Method => Some(Sample::str(self.request.method.as_str())),
            FetchKind::Src => Some(Sample::Ipv4("192.0.2.7".parse().unwrap())),
            FetchKind::ReqHdr { name: Some(n), .. } => self
                .request
                .headers
                .get_all(n.as_str())
                .iter()
                .next_back()
                .map(|v| Sample::Str(Bytes::copy_from_slice(v.as_bytes()))),
            FetchKind::Var { var, .. } => self.vars.get(&var.to_string()).cloned(),
            _ => None,
        }
    }
}

impl TxnView for Txn {
    fn var(&self, name: &str) -> Option<Sample> {
        self.vars.get(name).cloned()
    }
    fn request(&self) -> &request::Parts {
        &self.request
    }
    fn response(&self) -> Option<&response::Parts> {
        self.response.as_ref()
    }
    fn private(&self) -> Option<&Private> {
        self.private.as_ref()
    }
    fn log_error(&self, line: &str) {
        self.errors.lock().unwrap().push(line.to_owned());
    }
}

impl TxnHost for Txn {
    fn set_var(&mut self, name: &str, value: Sample, if_exists: bool) -> bool {
        if if_exists && !self.vars.contains_key(name) {
            return false;
        }
        self.vars.insert(name.to_owned(), value);
        true
    }
    fn unset_var(&mut self, name: &str) -> bool {
        self.vars.remove(name);
        true
    }
    fn request_mut(&mut self) -> &mut request::Parts {
        &mut self.request
    }
    fn response_mut(&mut self) -> Option<&mut response::Parts> {
        self.response.as_mut()
    }
    fn private_slot(&mut self) -> Option<&mut Option<Private>> {
        Some(&mut self.private)
    }
    fn set_log_level(&mut self, level: Option<u8>) -> bool {
        self.log_level = Some(level);
        true
    }
}

pub(crate) struct Loaded {
    _dir: tempfile::TempDir,
    pub(crate) runtime: LuaRuntime,
}

pub(crate) fn load_with(
    script: &str,
    tune: impl FnOnce(&mut LuaSettings),
) -> Result<Loaded, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.lua");
    std::fs::write(&path, script).unwrap();
    let mut settings = LuaSettings {
        loads: vec![LuaLoad {
            path,
            per_thread: false,
        }],
        ..LuaSettings::default()
    };
    tune(&mut settings);
    let runtime = LuaRuntime::load(settings).map_err(|e| e.to_string())?;
    Ok(Loaded { _dir: dir, runtime })
}

pub(crate) fn worker(script: &str) -> LuaWorker {
    let loaded = load_with(script, |_| {}).unwrap();
    loaded
        .runtime
        .start(1, &Proxies::default(), Reporting::default())
        .unwrap()
        .remove(0)
}

pub(crate) async fn act(w: &LuaWorker, name: &str, txn: Txn) -> (Txn, ActionOutcome) {
    w.action(name, &[], txn).await
}
