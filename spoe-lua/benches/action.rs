//! What one `http-request lua.*` action costs inside `spoe-lua`, without the proxy around it:
//! `LuaWorker::action` on a small transaction, for the action of `bench/lua.sh` (a header read
//! through `txn.sf`, a variable set) and for an empty action (the call path alone).
//!
//! The allocator is the gateway's (jemalloc), which Lua's allocations go through too. Run with
//! `cargo bench -p spoe-lua --bench action`; the figures and what they mean live in
//! `bench/README.md` (the Lua actions section).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{request, response};
use spoe::expr::{Fetch, FetchKind, Sample};
use spoe_lua::{LuaLoad, LuaRuntime, LuaSettings, LuaWorker, Proxies, Reporting, TxnHost, TxnView};
use tokio::time::Instant;

// The gateway's allocator: Lua's allocations go through it too.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug)]
struct Txn {
    request: request::Parts,
    vars: HashMap<String, Sample>,
}

impl Fetch for Txn {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        match kind {
            FetchKind::ReqHdr { name: Some(n), .. } => self
                .request
                .headers
                .get_all(n.as_str())
                .iter()
                .next_back()
                .map(|v| Sample::Str(Bytes::copy_from_slice(v.as_bytes()))),
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
        None
    }
}

impl TxnHost for Txn {
    fn set_var(&mut self, name: &str, value: Sample, _if_exists: bool) -> bool {
        match self.vars.get_mut(name) {
            Some(v) => *v = value,
            None => {
                self.vars.insert(name.to_owned(), value);
            }
        }
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
        None
    }
}

const SCRIPT: &str = r#"
core.register_action("tag", { "http-req" }, function(txn)
  local who = txn.sf:req_hdr("x-bench")
  txn:set_var("txn.tag", "seen-" .. who)
end)
core.register_action("empty", { "http-req" }, function(txn) end)
"#;

fn worker(dir: &std::path::Path) -> LuaWorker {
    let path = dir.join("bench.lua");
    std::fs::write(&path, SCRIPT).expect("write the script");
    let settings = LuaSettings {
        loads: vec![LuaLoad {
            path,
            per_thread: false,
        }],
        ..LuaSettings::default()
    };
    let runtime = LuaRuntime::load(settings).expect("load the script");
    runtime
        .start(1, &Proxies::default(), Reporting::default())
        .expect("start")
        .remove(0)
}

fn txn() -> Txn {
    let (mut request, ()) = http::Request::get("/bench")
        .body(())
        .expect("request")
        .into_parts();
    request
        .headers
        .insert("x-bench", "wrk".parse().expect("value"));
    Txn {
        request,
        vars: HashMap::new(),
    }
}

fn actions(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let w = worker(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("lua_action");
    g.measurement_time(Duration::from_secs(3));
    for name in ["tag", "empty"] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut t = Some(txn());
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (back, outcome) = w.action(name, &[], t.take().expect("txn")).await;
                        black_box(outcome);
                        t = Some(back);
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, actions);
criterion_main!(benches);
