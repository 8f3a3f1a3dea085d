//! What one `http-request lua.*` action costs inside `spoe-lua`, without the proxy around it:
//! `LuaWorker::action` on a small transaction, for the action of `bench/lua.sh` (a header read
//! through `txn.sf`, a variable set) and for an empty action (the call path alone).
//!
//! The allocator is the gateway's (jemalloc), which Lua's allocations go through too. Run with
//! `cargo bench -p spoe-lua --bench action`; the figures and what they mean live in
//! `bench/README.md` (the Lua actions section).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

// The API tests' transaction and loading.
#[path = "../tests/support/mod.rs"]
mod support;

use support::{Txn, worker};

// The gateway's allocator: Lua's allocations go through it too.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SCRIPT: &str = r#"
core.register_action("tag", { "http-req" }, function(txn)
  local who = txn.sf:req_hdr("x-bench")
  txn:set_var("txn.tag", "seen-" .. who)
end)
core.register_action("empty", { "http-req" }, function(txn) end)
"#;

fn actions(c: &mut Criterion) {
    let w = worker(SCRIPT);
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
                    let mut t = Some(Txn::get("/bench").header("x-bench", "wrk"));
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
