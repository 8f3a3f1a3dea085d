//! `Server::with_workers`: the connections `serve` accepts run on worker
//! threads, one runtime each, in turn; each connection stays on its thread,
//! and a graceful stop drains them there.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets on the wall clock, and spawn helpers that end with the test"
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use spoa::testing::{Engine, RunningAgent, haproxy_hello};
use spoa::{Actions, Config, HandlerError, Message, Request, Server, TypedData, VarScope, Workers};

/// Answers with the name of the thread the handler ran on.
async fn thread_name(_: Request) -> Result<Actions, HandlerError> {
    let name = std::thread::current().name().unwrap_or_default().to_owned();
    let mut a = Actions::new();
    a.set_var(VarScope::Transaction, "thread", TypedData::string(name));
    Ok(a)
}

fn thread_of(actions: &Actions) -> String {
    actions
        .as_slice()
        .iter()
        .find_map(|a| match a {
            spoa::Action::SetVar { value, .. } => value.as_str().map(str::to_owned),
            _ => None,
        })
        .expect("the handler's variable")
}

#[tokio::test]
async fn connections_are_served_on_the_workers_in_turn() {
    let workers = Arc::new(Workers::spawn(2).unwrap());
    assert_eq!(workers.len(), 2);
    let server = Server::new(thread_name, Config::default())
        .unwrap()
        .with_workers(workers);
    let agent = RunningAgent::start(&server).await.unwrap();
    let mut threads = BTreeSet::new();
    let mut engines = Vec::new();
    for _ in 0..4 {
        let mut engine = Engine::dial(agent.addr()).await.unwrap();
        engine.handshake(haproxy_hello()).await.unwrap();
        let first = thread_of(&engine.notify(vec![Message::new("m")]).await.unwrap());
        // Every message of a connection on the same thread.
        for _ in 0..3 {
            let again = thread_of(&engine.notify(vec![Message::new("m")]).await.unwrap());
            assert_eq!(again, first);
        }
        threads.insert(first);
        engines.push(engine);
    }
    assert_eq!(
        threads,
        BTreeSet::from(["spoa-worker-0".to_owned(), "spoa-worker-1".to_owned()])
    );
    // A graceful stop reaches the connections on the workers: AGENT-DISCONNECT 0 each.
    let stopping = tokio::spawn(agent.stop());
    for mut engine in engines {
        engine
            .expect_disconnect(spoa::Status::NORMAL)
            .await
            .unwrap();
    }
    stopping.await.unwrap().unwrap();
}
