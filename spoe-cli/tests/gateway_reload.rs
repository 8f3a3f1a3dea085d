//! `spoe gateway` reloads (SIGUSR2) under load (docs/fault-plan.md F12): no request stalls behind
//! a slow agent, no request loses its variables, a broken file keeps the running configuration,
//! kept-alive connections switch to the new generation, and old generations' agent connections
//! do not pile up.
//!
//! Timing follows the plan: coarse bounds over real sockets, with `timeout client/server 30s`
//! (100 times `timeout processing`), so a stalled request is unambiguous.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock, and spawn helpers that end with the test"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gateway_support::{
    AgentProc, Backend, Conn, GatewayProc, Resp, Signal, StopOnDrop, metric_sum, wait_until,
};

/// spoe.conf: the agent echoes `x-id` into `txn.echo.uid`; errors in `txn.echo.err`.
fn spoe_conf(processing: &str) -> String {
    spoe_interop::echo_spoe_conf("uid=req.hdr(x-id)", processing, false)
}

/// haproxy.cfg: every request goes to `backend` with the agent's echo of `x-id` (`x-uid`), the
/// SPOE error variable (`x-err`) and `x-gen: GEN` added; the backend echoes them back as
/// `echo-x-*`. `/metrics` is the gateway's own Prometheus endpoint.
fn haproxy_cfg(port: u16, agent: SocketAddr, backend: SocketAddr, gen_label: &str) -> String {
    format!(
        r#"global
    hard-stop-after 10s
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine e config spoe.conf
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request set-header x-uid "%[var(txn.echo.uid)]"
    http-request set-header x-err "%[var(txn.echo.err)]"
    http-request set-header x-gen {gen_label}
    default_backend be
backend be
    server s1 {backend}
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// What a load run saw.
struct LoadReport {
    ok: usize,
    failures: Vec<String>,
    slowest: Duration,
}

/// Runs `threads` clients sending requests back to back, each with a unique `x-id`, while `body`
/// runs. Even threads keep their connection alive (reconnecting when it closes), odd ones open
/// one connection per request. `check` judges each response. `body` gets the count of
/// successful requests so far.
fn with_load(
    addr: SocketAddr,
    threads: usize,
    check: impl Fn(&Resp, &str) -> Result<(), String> + Sync,
    body: impl FnOnce(&AtomicUsize),
) -> LoadReport {
    let stop = AtomicBool::new(false);
    let ok = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let slowest = Mutex::new(Duration::ZERO);
    thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        for t in 0..threads {
            let (stop, ok, failures, slowest, check) = (&stop, &ok, &failures, &slowest, &check);
            s.spawn(move || {
                let mut conn: Option<Conn> = None;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = format!("t{t}-{n}");
                    let started = Instant::now();
                    let result = if t % 2 == 0 {
                        let c = match &mut conn {
                            Some(c) => c,
                            None => match Conn::connect(addr) {
                                Ok(c) => conn.insert(c),
                                Err(e) => {
                                    failures.lock().unwrap().push(format!("{id}: connect: {e}"));
                                    continue;
                                }
                            },
                        };
                        let r = c.request("GET", &format!("/r/{id}"), &[("x-id", &id)], b"");
                        if !matches!(&r, Ok(resp) if resp.header("connection") != Some("close")) {
                            conn = None;
                        }
                        r
                    } else {
                        gateway_support::get(addr, &format!("/r/{id}"), &[("x-id", &id)])
                    };
                    let took = started.elapsed();
                    {
                        let mut m = slowest.lock().unwrap();
                        *m = (*m).max(took);
                    }
                    match result.map_err(|e| format!("I/O: {e}")).and_then(|r| {
                        check(&r, &id).map_err(|e| format!("{e} (status {}: {:?})", r.status, r))
                    }) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{id} after {took:?}: {e}")),
                    }
                }
            });
        }
        body(&ok);
    });
    let report = LoadReport {
        ok: ok.into_inner(),
        failures: failures.into_inner().unwrap(),
        slowest: slowest.into_inner().unwrap(),
    };
    eprintln!(
        "load: {} ok, {} failed, slowest {:?}",
        report.ok,
        report.failures.len(),
        report.slowest
    );
    report
}

fn start(
    processing: &str,
    agent_args: &[&str],
) -> (AgentProc, Backend, GatewayProc, SocketAddr, u16) {
    let agent = AgentProc::echo(agent_args);
    let backend = Backend::start("be");
    let (gw, addr) = GatewayProc::start_on_port(
        |port| haproxy_cfg(port, agent.addr, backend.addr, "one"),
        &[("spoe.conf", &spoe_conf(processing))],
    );
    (agent, backend, gw, addr, addr.port())
}

/// Sends SIGUSR2 `times` times, one every `every`, then waits `settle`.
fn reload_repeatedly(gw: &GatewayProc, times: usize, every: Duration, settle: Duration) {
    for _ in 0..times {
        // Not a barrier: reloads are spaced while the load runs; the checks count requests,
        // not time.
        thread::sleep(every);
        gw.signal(Signal::USR2);
    }
    // Not a barrier: load keeps running for a while after the last reload.
    thread::sleep(settle);
}

/// The gateway logged `signals` reloads (within 5 s) and every request of `report` passed.
fn assert_reloaded_without_failures(gw: &GatewayProc, signals: usize, report: &LoadReport) {
    assert!(
        wait_until(Duration::from_secs(5), || gw.reloads() >= signals),
        "{} of {signals} reloads logged:\n{}",
        gw.reloads(),
        gw.log()
    );
    assert!(
        report.failures.is_empty(),
        "{} ok, {} failed: {:#?}",
        report.ok,
        report.failures.len(),
        &report.failures[..report.failures.len().min(10)]
    );
}

/// (a) The agent answers after 1 s, `timeout processing` is 300 ms, and the gateway is reloaded
/// every 0.5 s for 3 s under 8 clients. Every request succeeds with the processing-timeout error
/// (1) and none is slower than the processing timeout plus a margin: HAProxy 2.6's reload with
/// in-flight SPOE messages made such requests wait for the 50 s stream timeout.
#[test]
fn reloads_under_a_slow_agent_never_stall_a_request() {
    let (_agent, _backend, gw, addr, _) = start("300ms", &["--delay", "1s"]);
    let signals = 6;
    let report = with_load(
        addr,
        8,
        |r, _| match (r.status, r.header("echo-x-err")) {
            (200, Some("1")) => Ok(()),
            _ => Err("want 200 with x-err 1 (processing timeout)".into()),
        },
        |_| {
            reload_repeatedly(
                &gw,
                signals,
                Duration::from_millis(500),
                Duration::from_millis(300),
            )
        },
    );
    assert_reloaded_without_failures(&gw, signals, &report);
    // Correctness only (each request got its processing-timeout verdict, checked above); how
    // many fit in the window depends on the machine.
    assert!(report.ok > 0, "no request was sent");
}

/// (b) With an agent that answers within budget, requests sent across 10 reloads all carry their
/// own echoed variable and no SPOE error.
#[test]
fn reloads_with_a_fast_agent_keep_every_requests_variables() {
    let (_agent, backend, gw, addr, _) = start("2s", &[]);
    let signals = 10;
    let report = with_load(
        addr,
        4,
        |r, id| {
            if r.status != 200 {
                return Err("status".into());
            }
            if r.header("echo-x-uid") != Some(id) {
                return Err(format!("echoed uid {:?}", r.header("echo-x-uid")));
            }
            if r.header("echo-x-err") != Some("") {
                return Err(format!("SPOE error {:?}", r.header("echo-x-err")));
            }
            Ok(())
        },
        |_| {
            reload_repeatedly(
                &gw,
                signals,
                Duration::from_millis(250),
                Duration::from_millis(250),
            )
        },
    );
    assert_reloaded_without_failures(&gw, signals, &report);
    assert!(report.ok > 0, "no request was sent");
    assert_eq!(backend.count(), report.ok);
}

fn gen_of(r: &Resp) -> Option<&str> {
    r.header("echo-x-gen")
}

/// (c) A reload with a broken file is refused with HAProxy's `parsing [file:line:col]` message and
/// the running configuration keeps serving, on kept-alive and new connections. Fixing the file and
/// reloading again switches to the new configuration, also for the next request of a connection
/// kept alive across both reloads.
#[test]
fn a_broken_reload_keeps_the_old_config_and_a_fixed_one_switches_even_kept_alive_connections() {
    let (agent, backend, gw, addr, port) = start("2s", &[]);
    let mut kept = Conn::connect(addr).unwrap();
    let get_kept = |kept: &mut Conn| {
        let r = kept
            .request("GET", "/kept", &[("x-id", "k")], b"")
            .expect("request on the kept-alive connection");
        assert_eq!(r.status, 200, "{r:?}");
        r
    };
    assert_eq!(gen_of(&get_kept(&mut kept)), Some("one"));

    gw.write(
        "haproxy.cfg",
        "frontend fe\n    mode http\n    bind 127.0.0.1:notaport\n    no-such-keyword here\n",
    );
    gw.signal(Signal::USR2);
    assert!(
        wait_until(Duration::from_secs(5), || gw
            .log()
            .contains("parsing [haproxy.cfg:")),
        "no `parsing [haproxy.cfg:...` error logged after a broken reload:\n{}",
        gw.log()
    );
    assert_eq!(gw.reloads(), 0, "{}", gw.log());
    assert_eq!(gen_of(&get_kept(&mut kept)), Some("one"));
    let r = gateway_support::get(addr, "/new", &[]).unwrap();
    assert_eq!((r.status, gen_of(&r)), (200, Some("one")), "{r:?}");

    gw.write(
        "haproxy.cfg",
        &haproxy_cfg(port, agent.addr, backend.addr, "two"),
    );
    gw.reload();
    let r = gateway_support::get(addr, "/new", &[]).unwrap();
    assert_eq!((r.status, gen_of(&r)), (200, Some("two")), "{r:?}");
    let r = get_kept(&mut kept);
    assert_eq!(
        gen_of(&r),
        Some("two"),
        "the next request of a kept-alive connection uses the new generation: {r:?}"
    );
    assert_eq!(r.header("echo-x-uid"), Some("k"), "{r:?}");
}

/// (d) Ten reloads with traffic: each generation opens its own agent connections, and the old
/// generations' are closed by their drain (idle ones at once with HAPROXY-DISCONNECT, busy ones
/// after their last ACK). Shortly after the traffic stops, well before `timeout idle` (30 s), the
/// agent holds only the current generation's connections (at most one per concurrent client,
/// here 2) and the gateway has one generation left.
#[test]
fn agent_connections_do_not_pile_up_across_reloads() {
    let (agent, _backend, gw, addr, _) = start("2s", &[]);
    let reloads = 10;
    let mut most_open = 0f64;
    let report = with_load(
        addr,
        2,
        |r, id| match (r.status, r.header("echo-x-uid")) {
            (200, Some(uid)) if uid == id => Ok(()),
            _ => Err("want 200 with the echoed id".into()),
        },
        |ok| {
            // Every generation, the first included, serves requests before the next reload, so
            // every one connects to the agent.
            let traffic = || {
                let before = ok.load(Ordering::Relaxed);
                assert!(
                    wait_until(Duration::from_secs(5), || ok.load(Ordering::Relaxed)
                        >= before + 10),
                    "no traffic within 5 s"
                );
            };
            traffic();
            for _ in 0..reloads {
                gw.reload();
                traffic();
                most_open = most_open.max(agent.metric("spoa_connections", ""));
            }
        },
    );
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report.ok > 0, "no request was sent");

    // Sampled after each reload, once the new generation has served requests: its connections
    // (up to 2) plus the previous generation's that were busy at the swap and close after their
    // last ACK (up to 2). Without the drain this would grow by up to 2 per reload.
    assert!(
        most_open <= 4.0,
        "up to {most_open} agent connections open right after a reload"
    );
    let accepted = agent.metric("spoa_connections_accepted_total", "");
    assert!(
        accepted > f64::from(reloads),
        "each generation connects on its own: {accepted} connections accepted over {reloads} \
         reloads"
    );
    let gateway_generations = || {
        let r = gateway_support::get(addr, "/metrics", &[]).expect("GET /metrics");
        metric_sum(
            &String::from_utf8_lossy(&r.body),
            "spoe_config_generations",
            "",
        )
    };
    let settled = wait_until(Duration::from_secs(3), || {
        agent.metric("spoa_connections", "") <= 2.0 && gateway_generations() == 1.0
    });
    eprintln!(
        "after {reloads} reloads: agent accepted {accepted}, open {} (at most {most_open} \
         right after a reload)",
        agent.metric("spoa_connections", "")
    );
    assert!(
        settled,
        "3 s after {reloads} reloads: the agent still has {} connections open ({accepted} \
         accepted), the gateway {} generations alive\n{}",
        agent.metric("spoa_connections", ""),
        gateway_generations(),
        gw.log()
    );
}

/// Refused reloads logged so far: the ERROR line the gateway writes once per refused reload.
fn refused_reloads(gw: &GatewayProc) -> usize {
    gw.log()
        .lines()
        .filter(|l| l.contains("reload failed, still running the previous configuration"))
        .count()
}

/// (e) issue 11 §1: a reload into an empty file, then (SIGHUP) into a truncated one whose frontend
/// lost its `bind` line, would leave no listener. Both are refused like any broken reload: one
/// ERROR line each naming the reason (HAProxy's "will not start (no listener)"), no second WARN
/// line, and the running configuration keeps serving kept-alive and new connections.
#[test]
fn a_reload_into_a_file_without_listener_is_refused_once_and_keeps_serving() {
    let (_agent, _backend, gw, addr, _) = start("2s", &[]);
    let mut kept = Conn::connect(addr).unwrap();
    let mut get_kept = || {
        let r = kept
            .request("GET", "/kept", &[("x-id", "k")], b"")
            .expect("request on the kept-alive connection");
        assert_eq!((r.status, gen_of(&r)), (200, Some("one")), "{r:?}");
    };
    get_kept();
    let truncated = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    \
                     timeout server 30s\nfrontend fe\n";
    for (n, (contents, signal)) in [("", Signal::USR2), (truncated, Signal::HUP)]
        .into_iter()
        .enumerate()
    {
        gw.write("haproxy.cfg", contents);
        gw.signal(signal);
        assert!(
            wait_until(Duration::from_secs(5), || refused_reloads(&gw) > n),
            "reload {} into a file without listener not refused at ERROR within 5 s:\n{}",
            n + 1,
            gw.log()
        );
        get_kept();
        let r = gateway_support::get(addr, "/new", &[]).unwrap();
        assert_eq!((r.status, gen_of(&r)), (200, Some("one")), "{r:?}");
    }
    let log = gw.log();
    assert_eq!(
        refused_reloads(&gw),
        2,
        "one ERROR line per refused reload:\n{log}"
    );
    assert_eq!(
        log.matches("will not start (no listener)").count(),
        2,
        "each refusal says why:\n{log}"
    );
    assert!(
        log.lines()
            .filter(|l| l.contains("reload failed"))
            .all(|l| l.contains("ERROR")),
        "{log}"
    );
    assert!(!log.contains("reload refused"), "logged twice:\n{log}");
    assert_eq!(gw.reloads(), 0, "{log}");
}
