//! The unit tests written in each example (`#[cfg(test)] mod tests`, through
//! `spoa::testing`), run here: examples stay plain binaries, so that
//! `cargo test` also builds them for `examples_haproxy.rs`, which runs them
//! as processes behind HAProxy.

#[allow(
    dead_code,
    reason = "main and its helpers run as the example binary, not here"
)]
#[path = "../examples/block_list.rs"]
mod block_list;

#[allow(
    dead_code,
    reason = "main and its helpers run as the example binary, not here"
)]
#[path = "../examples/bot_blocker.rs"]
mod bot_blocker;

#[allow(
    dead_code,
    reason = "main and its helpers run as the example binary, not here"
)]
#[path = "../examples/rate_limit.rs"]
mod rate_limit;
