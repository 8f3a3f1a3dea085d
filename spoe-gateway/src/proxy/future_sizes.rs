//! The sizes of the request's futures. Each `.await` of a future built by value moves the whole
//! of it (its largest state, used or not) into the future awaiting it, and `Box::pin` copies it
//! once more: on the request's path these moves were a third of the gateway's instructions per
//! request (bench/README.md, issue 21). The sizes are printed (`cargo test -p spoe-gateway --lib
//! future_sizes -- --nocapture`) and the answers without `http-after-response` rules, which
//! every request rule's answer awaits, are held to a ready value's size; the response and the
//! pending access line, moved through every level, to a few words more than a bare response.

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
        ("handle_txn", returned5(handle_txn)),
        ("Ctx::run_event", returned4(Ctx::run_event)),
        ("Ctx::request_rules", returned5(Ctx::request_rules)),
        ("Ctx::answer", returned3(Ctx::answer)),
        ("Ctx::answer_flow", returned3(Ctx::answer_flow)),
        ("Ctx::lua_service", returned6(Ctx::lua_service)),
        ("forward", returned7(forward)),
        ("Txn", size_of::<Txn>()),
        ("Access", size_of::<Access>()),
        ("Response", size_of::<Response<Logged<Body>>>()),
        ("Pending", size_of::<Pending>()),
    ];
    for (name, size) in sizes {
        println!("{name}: {size} bytes");
    }
    // A ready answer and a pointer to the boxed rules: no more than the answer and a word
    // or two. Inline, these futures held an agent's round trip (1.5 KiB in a debug build).
    let ready = |n: usize| n <= size_of::<Flow>() + 2 * size_of::<usize>();
    assert!(ready(returned3(Ctx::answer_flow)), "{sizes:?}");
    assert!(ready(returned3(Ctx::answer)), "{sizes:?}");
    // The response and the pending line carry the access line by pointer: they are moved at
    // each level of the request's futures and into hyper, and the line inline (700 bytes in a
    // release build) was copied each time.
    let word = size_of::<usize>();
    assert!(
        size_of::<Logged<Body>>() <= size_of::<Body>() + 4 * word,
        "{sizes:?}"
    );
    assert!(
        size_of::<Response<Logged<Body>>>() <= size_of::<Response<Body>>() + 4 * word,
        "{sizes:?}"
    );
    assert!(size_of::<Pending>() <= 3 * word, "{sizes:?}");
}
