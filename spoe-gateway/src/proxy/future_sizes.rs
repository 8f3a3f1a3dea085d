//! The sizes of the request's futures. Each `.await` of a future built by value moves the whole
//! of it (its largest state, used or not) into the future awaiting it, and `Box::pin` copies it
//! once more: on the request's path these moves were a third of the gateway's instructions per
//! request (bench/README.md, issue 21). The sizes are printed (`cargo test -p spoe-gateway --lib
//! future_sizes -- --nocapture`) and the answers without `http-after-response` rules, which
//! every request rule's answer awaits, are held to a ready value's size.

use std::mem::size_of;

use super::*;

/// The size of what `f` returns, without calling it (one helper per arity).
fn returned3<A, B, C, R>(_: impl FnOnce(A, B, C) -> R) -> usize {
    size_of::<R>()
}
fn returned4<A, B, C, D, R>(_: impl FnOnce(A, B, C, D) -> R) -> usize {
    size_of::<R>()
}
fn returned5<A, B, C, D, E, R>(_: impl FnOnce(A, B, C, D, E) -> R) -> usize {
    size_of::<R>()
}
fn returned6<A, B, C, D, E, F, R>(_: impl FnOnce(A, B, C, D, E, F) -> R) -> usize {
    size_of::<R>()
}
fn returned7<A, B, C, D, E, F, G, R>(_: impl FnOnce(A, B, C, D, E, F, G) -> R) -> usize {
    size_of::<R>()
}

#[test]
fn request_futures_sizes() {
    let sizes = [
        ("handle", returned4(handle)),
        ("handle_in_frontend", returned4(handle_in_frontend)),
        ("handle_txn", returned5(handle_txn)),
        ("Ctx::run_event", returned4(Ctx::run_event)),
        ("Ctx::request_rules", returned5(Ctx::request_rules)),
        ("Ctx::answer", returned3(Ctx::answer)),
        ("Ctx::answer_flow", returned3(Ctx::answer_flow)),
        ("Ctx::lua_service", returned6(Ctx::lua_service)),
        ("forward", returned7(forward)),
        ("Txn", size_of::<Txn>()),
        ("Access", size_of::<Access>()),
    ];
    for (name, size) in sizes {
        println!("{name}: {size} bytes");
    }
    // A ready answer and a pointer to the boxed rules: no more than the answer and a word
    // or two. Inline, these futures held an agent's round trip (1.5 KiB in a debug build).
    let ready = |n: usize| n <= size_of::<Flow>() + 2 * size_of::<usize>();
    assert!(ready(returned3(Ctx::answer_flow)), "{sizes:?}");
    assert!(ready(returned3(Ctx::answer)), "{sizes:?}");
}
