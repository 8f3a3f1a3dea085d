//! What HAProxy's Lua does besides answering requests, against HAProxy 2.6 (built with Lua
//! 5.3): the level of the access line (`txn:set_loglevel`), `set_var`'s `ifexist`, Lua errors
//! where operators look (the proxy's log, the gateway's metrics), `core.register_init`,
//! `core.register_task` and `lua-prepend-path`; and the SPOE deadline of a request while a
//! Lua action spins on the same worker.
//!
//! Fails (never skips) when `haproxy` is missing: `spoe-interop` panics with the install command.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests wait on real sockets and processes on the wall clock"
)]

mod gateway_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gateway_support::{AgentProc, GatewayProc, Resp, get, local, metric_sum, wait_until};
use spoe_interop::Haproxy;

/// A bounded wait for what a process writes or does.
const WAIT: Duration = Duration::from_secs(10);

const OPS_LUA: &str = r#"
-- The level of the access line, from a request header.
core.register_action("level", { "http-req" }, function(txn)
  local l = txn.sf:req_hdr("x-level")
  if l ~= "" then txn:set_loglevel(tonumber(l)) end
end)

-- set_var(name, value, ifexist): what each call returns and what it leaves.
core.register_action("ifexist", { "http-req" }, function(txn)
  local r = {}
  local function note(v) r[#r + 1] = tostring(v) end
  note(txn:set_var("txn.fresh", "t", true))
  note(txn:set_var("proc.declared", "d", true))
  note(txn:set_var("proc.undeclared", "u", true))
  note(txn:get_var("proc.undeclared"))
  note(txn:set_var("proc.later", "l"))
  note(txn:set_var("proc.later", "l2", true))
  note(txn:get_var("proc.later"))
  note(txn:unset_var("proc.later"))
  note(txn:set_var("proc.later", "l3", true))
  note(txn:get_var("proc.later"))
  note(txn:unset_var("proc.declared"))
  note(txn:set_var("proc.declared", "d2", true))
  note(txn:get_var("txn.fresh"))
  txn:set_var("txn.results", table.concat(r, ","))
end)

core.register_action("boom", { "http-req" }, function(txn)
  error("boom")
end)
"#;

fn ops_cfg(port: u16) -> String {
    format!(
        r#"global
    lua-load ops.lua
defaults
    mode http
    log stdout format short local0 debug
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-log-level silent if {{ path /silent }} || {{ path /silent-then-lua }}
    http-request set-log-level err if {{ path /err }}
    http-request lua.level
    http-request lua.ifexist if {{ path /ifexist }}
    http-request lua.boom if {{ path /boom }}
    http-request return status 200 hdr x-results "%[var(txn.results)]" hdr x-declared "%[var(proc.declared)]" if {{ path /ifexist }}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request return status 200 hdr x-path "%[path]"
"#
    )
}

/// The `<PRI>` of the access line of `GET path` in a `format short` log.
fn access_level(log: &str, path: &str) -> Option<String> {
    let needle = format!("\"GET {path} HTTP/1.1\"");
    log.lines().find(|l| l.contains(&needle)).and_then(|l| {
        l.strip_prefix('<')?
            .split_once('>')
            .map(|(p, _)| p.to_owned())
    })
}

/// The lines of `log` that say `what` (Lua's error lines).
fn lines_with<'a>(log: &'a str, what: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(what)).collect()
}

fn send(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    get(addr, path, headers).unwrap_or_else(|e| panic!("GET {path} to {addr}: {e}"))
}

/// `txn:set_loglevel(n)` writes the access line where HAProxy 2.6 writes it (HAProxy 2.6
/// stores n where its log code reads n + 1: level n - 1, and 0 leaves the default); a level
/// out of 0..7 is an error that leaves the line as it was; `set-log-level silent` writes no
/// line. `set_var(..., true)` sets what
/// HAProxy sets. A failing action's line goes to the frontend's log at `err`, and the
/// gateway counts it in `spoe_lua_errors_total`.
#[test]
fn log_levels_ifexist_and_errors_match_haproxy() {
    let files = [("ops.lua", OPS_LUA)];
    let (haproxy, hap_port) = Haproxy::start_on_port(ops_cfg, &files);
    let (gateway, gw_addr) = GatewayProc::start_on_port(ops_cfg, &files);
    let levels = ["", "0", "1", "4", "6", "7", "8", "-1"];
    for addr in [local(hap_port), gw_addr] {
        for l in levels {
            let resp = send(addr, &format!("/level{l}"), &[("x-level", l)]);
            assert_eq!(resp.status, 200, "GET /level{l} to {addr}");
        }
    }
    for addr in [local(hap_port), gw_addr] {
        send(addr, "/silent", &[]);
        send(addr, "/err", &[]);
        send(addr, "/silent-then-lua", &[("x-level", "7")]);
    }
    let hap_ifexist = send(local(hap_port), "/ifexist", &[]);
    let gw_ifexist = send(gw_addr, "/ifexist", &[]);
    for _ in 0..5 {
        assert_eq!(send(local(hap_port), "/boom", &[]).status, 200);
        assert_eq!(send(gw_addr, "/boom", &[]).status, 200);
    }
    // Every line is written once the last request's line is.
    let both_logged = wait_until(WAIT, || {
        access_level(&haproxy.log(), "/boom").is_some()
            && access_level(&gateway.out(), "/boom").is_some()
    });
    let (hap_log, gw_log) = (haproxy.log(), gateway.out());
    assert!(both_logged, "haproxy:\n{hap_log}\ngateway:\n{gw_log}");

    for l in levels {
        let path = format!("/level{l}");
        let hap = access_level(&hap_log, &path);
        assert!(
            hap.is_some(),
            "no access line for {path} from haproxy:\n{hap_log}"
        );
        assert_eq!(
            access_level(&gw_log, &path),
            hap,
            "the level of {path}'s line; haproxy:\n{hap_log}\ngateway:\n{gw_log}"
        );
    }
    // `set-log-level`: `silent` writes no line; a later Lua level brings it back.
    for path in ["/silent", "/err", "/silent-then-lua"] {
        assert_eq!(
            access_level(&gw_log, path),
            access_level(&hap_log, path),
            "the level of {path}'s line; haproxy:\n{hap_log}\ngateway:\n{gw_log}"
        );
    }
    assert_eq!(access_level(&gw_log, "/silent"), None);
    assert_eq!(access_level(&gw_log, "/err").as_deref(), Some("3"));
    assert_eq!(
        access_level(&gw_log, "/silent-then-lua").as_deref(),
        Some("6")
    );
    // HAProxy 2.6's off-by-one, which the gateway reproduces.
    assert_eq!(access_level(&gw_log, "/level4").as_deref(), Some("3"));
    assert_eq!(access_level(&gw_log, "/level0").as_deref(), Some("6"));

    let results = |r: &Resp| r.header("x-results").map(str::to_owned);
    assert_eq!(
        results(&gw_ifexist),
        results(&hap_ifexist),
        "set_var(.., true)"
    );
    assert_eq!(
        results(&gw_ifexist).as_deref(),
        Some("true,true,false,nil,true,true,l2,true,false,nil,true,true,t")
    );
    assert_eq!(
        gw_ifexist.header("x-declared"),
        hap_ifexist.header("x-declared")
    );

    // The error line, in the frontend's log at `err`: the same words up to Lua's message.
    let wanted = "<3>Lua function 'boom': [state-id 0] runtime error: ops.lua:";
    let hap_lines = lines_with(&hap_log, wanted);
    let gw_lines = lines_with(&gw_log, wanted);
    assert_eq!(hap_lines.len(), 5, "haproxy writes every one:\n{hap_log}");
    assert!(
        hap_lines[0].contains(": boom"),
        "haproxy's line: {}",
        hap_lines[0]
    );
    assert!(
        !gw_lines.is_empty(),
        "no error line from the gateway:\n{gw_log}"
    );
    assert!(
        gw_lines[0].contains(": boom"),
        "gateway's line: {}",
        gw_lines[0]
    );
    // The gateway writes one per second at most; the count says how many there were.
    assert!(gw_lines.len() <= 5, "{gw_log}");
    let bad_levels = lines_with(&gw_log, "Bad log level. It must be between 0 and 7").len();
    assert!((1..=2).contains(&bad_levels), "8 and -1:\n{gw_log}");

    let metrics = send(gw_addr, "/metrics", &[]);
    let text = String::from_utf8_lossy(&metrics.body);
    assert_eq!(
        metric_sum(
            &text,
            "spoe_lua_errors_total",
            r#"kind="action",reason="runtime""#
        ),
        7.0,
        "5 errors and 2 bad levels:\n{text}"
    );
    assert_eq!(
        metric_sum(&text, "spoe_lua_errors_total", ""),
        7.0,
        "{text}"
    );
}

const STATE_LUA: &str = r#"
local greeting = require("greeting")

local order = {}
local inits = 0
core.register_init(function()
  inits = inits + 1
  order[#order + 1] = "init"
end)

local task_state = "not yet"
core.register_task(function()
  order[#order + 1] = "task"
  core.msleep(10)
  task_state = greeting.hello("task")
end)

core.register_service("state", "http", function(applet)
  local body = "inits=" .. inits .. " order=" .. table.concat(order, ",") ..
    " task=" .. task_state .. " module=" .. greeting.hello("service")
  applet:set_status(200)
  applet:add_header("content-type", "text/plain")
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end)
"#;

/// A module found only through `lua-prepend-path` (`require("greeting")` looks for
/// `./mods_greeting.lua` there; Lua's own path has no such pattern).
const GREETING_LUA: &str = r#"
local M = {}
function M.hello(who) return "hello-" .. who end
return M
"#;

fn state_cfg(port: u16) -> String {
    format!(
        r#"global
    lua-prepend-path ./mods_?.lua
    lua-load state.lua
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request use-service lua.state
"#
    )
}

/// The init function runs once, before any request; the task runs, yields, and leaves state
/// the service reads; `require` finds a module through `lua-prepend-path`. Both proxies
/// answer the same.
#[test]
fn init_task_and_prepend_path_match_haproxy() {
    let files = [
        ("state.lua", STATE_LUA),
        ("mods_greeting.lua", GREETING_LUA),
    ];
    let (_haproxy, hap_port) = Haproxy::start_on_port(state_cfg, &files);
    let (_gateway, gw_addr) = GatewayProc::start_on_port(state_cfg, &files);
    let done = "inits=1 order=init,task task=hello-task module=hello-service";
    for addr in [local(hap_port), gw_addr] {
        // The task runs beside the traffic: wait until it has set its state.
        let mut last = String::new();
        let ran = wait_until(WAIT, || {
            let r = send(addr, "/", &[]);
            last = String::from_utf8_lossy(&r.body).into_owned();
            r.status == 200 && last == done
        });
        assert!(ran, "{addr} answers {last:?}, expected {done:?}");
        // The init function ran once only, whatever the requests since.
        let again = send(addr, "/", &[]);
        assert_eq!(String::from_utf8_lossy(&again.body), done);
    }
}

const SPIN_LUA: &str = r#"
core.register_action("spin", { "http-req" }, function(txn)
  core.Info("spinning")
  while true do end
end)
"#;

const SLOW_SPOE: &str = "\
[slow]
spoe-agent slow-agent
    messages check
    option var-prefix slow
    option set-on-error err
    option set-process-time ptime
    timeout hello 2s
    timeout idle 30s
    timeout processing 300ms
    use-backend agents
spoe-message check
    args p=path
    event on-frontend-http-request if { path /spoe }
";

fn spin_cfg(port: u16, agent: SocketAddr) -> String {
    format!(
        r#"global
    nbthread 1
    lua-load spin.lua
    tune.lua.forced-yield 1000
    tune.lua.session-timeout 2s
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    filter spoe engine slow config spoe.conf
    http-request lua.spin if {{ path /spin }}
    http-request return status 200 hdr x-err "%[var(txn.slow.err)]" hdr x-ptime "%[var(txn.slow.ptime)]"
backend agents
    mode tcp
    server a {agent}
"#
    )
}

/// An SPOE message in flight while a Lua action loops on the same (single) worker: the
/// message's `timeout processing` fires at its deadline, not when the script lets go. The
/// script runs for 2 s of Lua time; the agent holds its answer for 10 s; the message's
/// deadline is 300 ms. The assertions are on what happened (the timeout, while the script
/// still ran), with an order of magnitude of margin, never on speed.
#[test]
fn the_spoe_deadline_holds_while_lua_spins_on_the_same_worker() {
    let agent = AgentProc::echo(&["--delay", "10s"]);
    let files = [("spin.lua", SPIN_LUA), ("spoe.conf", SLOW_SPOE)];
    let (gateway, addr) = GatewayProc::start_on_port(|port| spin_cfg(port, agent.addr), &files);
    let spin_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Its answer comes after the script's timeout; only the order of events is checked.
        s.spawn(|| {
            let _ = get(addr, "/spin", &[]);
            spin_done.store(true, Ordering::SeqCst);
        });
        assert!(
            wait_until(WAIT, || gateway.log().contains("spinning")),
            "the action never started:\n{}",
            gateway.log()
        );
        let r = send(addr, "/spoe", &[]);
        let spinning = !spin_done.load(Ordering::SeqCst);
        assert_eq!(r.status, 200);
        let ptime: u64 = r
            .header("x-ptime")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no processing time: {r:?}\n{}", gateway.log()));
        assert!(
            r.header("x-err").is_some_and(|e| !e.is_empty() && e != "0"),
            "the message did not time out: {r:?}"
        );
        assert!(
            (300..2000).contains(&ptime),
            "processing took {ptime} ms for a 300 ms deadline: {r:?}"
        );
        assert!(
            spinning,
            "the script ended before the message's deadline fired"
        );
        assert!(
            wait_until(WAIT, || gateway
                .log()
                .contains("Lua function 'spin': execution timeout")),
            "the script was never stopped:\n{}",
            gateway.log()
        );
    });
}
