//! The Lua API against a test transaction: what scripts read and change, what actions decide,
//! services, fetches and converters, and the bounds on what a script may cost.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use spoe::expr::Sample;
use spoe_lua::{
    ActionOutcome, ErrorKind, ErrorReason, LuaLoad, LuaRuntime, LuaSettings, Proxies, Reply,
    Reporting, Verdict,
};

mod support;

use support::{Txn, act, load_with, worker};

#[tokio::test]
async fn an_action_reads_and_changes_the_transaction() {
    let w = worker(
        r#"
        core.register_action("edit", { "http-req" }, function(txn)
            local hdrs = txn.http:req_get_headers()
            txn:set_var("txn.host", hdrs["host"][0])
            txn:set_var("txn.n", #hdrs["x-multi"] + 1)
            txn:set_var("req.path", txn.f:path())
            txn:set_var("txn.lower", txn.c:lower("ABC"))
            txn:set_var("txn.src", txn.sf:src())
            txn:set_var("txn.missing", tostring(txn.f:req_hdr("nope")))
            txn:set_var("txn.via_var", txn:get_var("txn.score") + 1)
            txn.http:req_set_header("x-set", "1")
            txn.http:req_add_header("x-multi", "c")
            txn.http:req_del_header("x-del")
            txn.http:req_set_path("/new")
            txn.http:req_set_query("a=1")
            txn.http:req_set_method("POST")
            txn:set_priv({ kept = "yes" })
        end)
        core.register_action("priv", { "http-req" }, function(txn)
            txn:set_var("txn.priv", txn:get_priv().kept)
        end)
        "#,
    );
    let mut txn = Txn::get("/old?x=1")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .header("x-del", "gone");
    txn.vars.insert("txn.score".into(), Sample::Int(41));
    let (txn, outcome) = act(&w, "edit", txn).await;
    assert_eq!(outcome, ActionOutcome::CONTINUE);
    let var = |n: &str| txn.vars.get(n).cloned();
    assert_eq!(var("txn.host"), Some(Sample::str("example.com")));
    assert_eq!(var("txn.n"), Some(Sample::Int(2)));
    assert_eq!(var("req.path"), Some(Sample::str("/old")));
    assert_eq!(var("txn.lower"), Some(Sample::str("abc")));
    assert_eq!(var("txn.src"), Some(Sample::str("192.0.2.7")));
    assert_eq!(var("txn.missing"), Some(Sample::str("nil")));
    assert_eq!(var("txn.via_var"), Some(Sample::Int(42)));
    assert_eq!(txn.request.headers["x-set"], "1");
    assert_eq!(txn.request.headers.get_all("x-multi").iter().count(), 3);
    assert!(txn.request.headers.get("x-del").is_none());
    assert_eq!(txn.request.uri, "/new?a=1");
    assert_eq!(txn.request.method, Method::POST);
    let (txn, _) = act(&w, "priv", txn).await;
    assert_eq!(txn.vars.get("txn.priv"), Some(&Sample::str("yes")));
}

#[tokio::test]
async fn verdicts_replies_and_failures() {
    let w = worker(
        r#"
        core.register_action("deny", { "http-req" }, function(txn) return act.DENY end)
        core.register_action("ban", { "http-req" }, function(txn)
            local reply = txn:reply({ status = 403, body = "banned " .. txn.f:path() })
            reply:add_header("content-type", "text/plain")
            reply:add_header("content-length", "999")
            txn:done(reply)
            error("not reached")
        end)
        core.register_action("boom", { "http-req" }, function(txn)
            txn:set_var("txn.before", 1)
            local t = nil
            return t.field
        end)
        core.register_action("spin", { "http-req" }, function(txn) while true do end end)
        "#,
    );
    assert_eq!(
        act(&w, "deny", Txn::get("/")).await.1.verdict,
        Verdict::Deny
    );
    let (_, outcome) = act(&w, "ban", Txn::get("/p")).await;
    assert_eq!(outcome.verdict, Verdict::Terminate);
    assert_eq!(
        outcome.reply,
        Some(Reply {
            status: 403,
            reason: None,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from_static(b"banned /p"),
        })
    );
    let (txn, outcome) = act(&w, "boom", Txn::get("/")).await;
    assert_eq!(outcome, ActionOutcome::CONTINUE);
    assert_eq!(txn.vars.get("txn.before"), Some(&Sample::Int(1)));
}

/// Actions reuse their coroutines and `TXN` userdata from one call to the next: an object a
/// script keeps reaches nothing in later calls (neither their transaction nor its own), and a
/// call that failed, timed out or was abandoned leaves nothing behind for the next ones.
#[tokio::test]
async fn kept_objects_reach_no_later_transaction_and_failures_leave_nothing_behind() {
    let w = worker(
        r#"
        local kept
        core.register_action("keep", { "http-req" }, function(txn) kept = txn end)
        core.register_action("use_kept", { "http-req" }, function(txn)
            local tries = {
                function() return kept:get_var("txn.secret") end,
                function() return kept.sf:req_hdr("x-secret") end,
                function() return kept.http:req_get_headers() end,
                function() kept:set_var("txn.secret", "overwritten") end,
                function() kept:done() end,
            }
            for i, try in ipairs(tries) do
                local ok, err = pcall(try)
                txn:set_var("txn.try" .. i, ok and "reached" or tostring(err))
            end
            txn:set_var("txn.own", txn.sf:req_hdr("x-secret"))
        end)
        core.register_action("boom", { "http-req" }, function(txn) error("boom") end)
        core.register_action("nap", { "http-req" }, function(txn)
            core.msleep(1000)
            txn:set_var("txn.woke", 1)
        end)
        core.register_action("count", { "http-req" }, function(txn)
            txn:set_var("txn.count", (txn:get_var("txn.count") or 0) + 1)
        end)
        "#,
    );
    let (_, outcome) = act(&w, "keep", Txn::get("/first")).await;
    assert_eq!(outcome, ActionOutcome::CONTINUE);
    let mut txn = Txn::get("/second").header("x-secret", "s3cret");
    txn.vars.insert("txn.secret".into(), Sample::str("s3cret"));
    let (txn, _) = act(&w, "use_kept", txn).await;
    for i in 1..=5 {
        let got = txn.vars.get(&format!("txn.try{i}")).cloned();
        let Some(Sample::Str(text)) = got else {
            panic!("try {i}: {got:?}");
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        assert!(
            text.ends_with("the transaction of this object has ended"),
            "try {i}: {text}"
        );
    }
    assert_eq!(txn.vars.get("txn.secret"), Some(&Sample::str("s3cret")));
    assert_eq!(txn.vars.get("txn.own"), Some(&Sample::str("s3cret")));

    // A failed call, then an abandoned one (suspended in core.msleep), then calls that work.
    assert_eq!(
        act(&w, "boom", Txn::get("/")).await.1,
        ActionOutcome::CONTINUE
    );
    let abandoned = tokio::time::timeout(Duration::from_millis(20), act(&w, "nap", Txn::get("/")));
    assert!(abandoned.await.is_err(), "the nap should still be running");
    let mut txn = Txn::get("/");
    for _ in 0..3 {
        txn = act(&w, "count", txn).await.0;
    }
    assert_eq!(txn.vars.get("txn.count"), Some(&Sample::Int(3)));
    assert!(!txn.vars.contains_key("txn.woke"));
}

#[tokio::test]
async fn an_endless_action_yields_to_other_requests_and_stops_at_the_session_timeout() {
    let loaded = load_with(
        r#"core.register_action("spin", { "http-req" }, function(txn) while true do end end)"#,
        |s| {
            s.session_timeout = Duration::from_millis(200);
            s.forced_yield = 1000;
        },
    )
    .unwrap();
    let reporting = Reporting::default();
    let w = loaded
        .runtime
        .start(1, &Proxies::default(), reporting.clone())
        .unwrap()
        .remove(0);
    let other = async {
        // Another request on the same worker: it must run while the script loops.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        "served"
    };
    let (outcome, served) = tokio::join!(act(&w, "spin", Txn::get("/")), other);
    assert_eq!(served, "served");
    assert_eq!(outcome.1, ActionOutcome::CONTINUE);
    assert_eq!(
        reporting
            .counts
            .get(ErrorKind::Action, ErrorReason::Timeout),
        1
    );
    assert_eq!(reporting.counts.total(), 1);
}

#[tokio::test(start_paused = true)]
async fn msleep_yields_without_blocking() {
    let w = worker(
        r#"core.register_action("nap", { "http-req" }, function(txn)
            core.msleep(5000)
            txn:set_var("txn.woke", 1)
        end)"#,
    );
    let started = tokio::time::Instant::now();
    let (txn, _) = act(&w, "nap", Txn::get("/")).await;
    assert_eq!(txn.vars.get("txn.woke"), Some(&Sample::Int(1)));
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[test]
fn memory_is_capped() {
    let loaded = load_with(
        r#"core.register_fetches("hog", function(txn)
            local t = {}
            for i = 1, 1e8 do t[i] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" .. i end
            return "never"
        end)"#,
        |s| s.maxmem = Some(8 << 20),
    )
    .unwrap();
    let reporting = Reporting::default();
    let w = loaded
        .runtime
        .start(1, &Proxies::default(), reporting.clone())
        .unwrap()
        .remove(0);
    assert_eq!(w.fetch("hog", &[], &Txn::get("/")), None);
    assert_eq!(
        reporting.counts.get(ErrorKind::Fetch, ErrorReason::Memory),
        1
    );
}

/// Fetch and converter call sites are resolved once (`calls.rs`): later calls answer from the
/// transaction they run on, with other arguments resolve apart, and calls that are not kept
/// (a table argument) or do not resolve (too many arguments) answer or fail on every call as
/// they did the first time.
#[tokio::test]
async fn call_sites_resolve_once_and_answer_from_each_transaction() {
    let w = worker(
        r#"
        core.register_action("sites", { "http-req" }, function(txn)
            local seen = {}
            for i = 1, 3 do
                seen[#seen + 1] = txn.sf:req_hdr("x-a") .. "/" .. txn.sf:req_hdr("x-b")
                    .. "/" .. txn.f:path() .. "/" .. txn.sf:req_hdr("x-none")
                    .. "/" .. txn.c:ltrim("xxv", "x") .. "/" .. txn.sc:add(40, 2)
                    .. "/" .. txn.c:field("a,b,c", 2, ",")
                    .. "/" .. txn.sc:add(40, 2.0) .. "/" .. txn.sc:add(40, 2.5)
            end
            txn:set_var("txn.seen", table.concat(seen, " "))
            local errors = {}
            for i = 1, 2 do
                for _, f in ipairs({
                    function() return txn.f:req_hdr(true) end,
                    function() return txn.f:req_hdr({}) end,
                    function() return txn.f:path("x") end,
                    function() return txn.f:path(nil) end,
                }) do
                    local ok, e = pcall(f)
                    errors[#errors + 1] = tostring(ok) .. ":" .. tostring(e)
                end
            end
            txn:set_var("txn.errors", table.concat(errors, "|"))
        end)
        "#,
    );
    for (path, a, b) in [("/one", "1", "2"), ("/two", "3", "4")] {
        let txn = Txn::get(path).header("x-a", a).header("x-b", b);
        let (txn, outcome) = act(&w, "sites", txn).await;
        assert_eq!(outcome, ActionOutcome::CONTINUE);
        // 2.0 finds the site of 2 (the same call); 2.5 takes the by-name path (0, as
        // lua_tointeger gives).
        let once = format!("{a}/{b}/{path}//v/42/b/42/40");
        let seen = txn.vars.get("txn.seen").cloned();
        assert_eq!(seen, Some(Sample::str([once.as_str(); 3].join(" "))));
        let Some(Sample::Str(errors)) = txn.vars.get("txn.errors") else {
            panic!("no errors recorded: {:?}", txn.vars);
        };
        let errors = String::from_utf8_lossy(errors);
        let errors: Vec<&str> = errors.split('|').collect();
        assert_eq!(errors.len(), 8, "{errors:?}");
        assert_eq!(errors[..4], errors[4..], "the same failures on every call");
        assert!(errors[0].starts_with("true:") && errors[1].starts_with("true:"));
        // `path("x")` and `path(nil)` are calls with one argument, unlike `path()`.
        for e in &errors[2..4] {
            assert!(
                e.starts_with("false:")
                    && e.contains("fetch 'path' takes at most 0 arguments, got 1"),
                "{errors:?}"
            );
        }
    }
}

#[test]
fn fetches_and_converters() {
    let w = worker(
        r#"
        core.register_fetches("greet", function(txn, who) return "hello " .. who .. " on " .. txn.f:path() end)
        core.register_fetches("nothing", function(txn) return nil end)
        core.register_fetches("empty", function(txn) end)
        core.register_fetches("number", function(txn) return 7 end)
        core.register_converters("rev", function(s, sep) return s:reverse() .. (sep or "") end)
        core.register_fetches("writer", function(txn) txn:set_var("txn.x", 1) return "no" end)
        "#,
    );
    let txn = Txn::get("/p");
    assert_eq!(
        w.fetch("greet", &["you".into()], &txn),
        Some(Sample::str("hello you on /p"))
    );
    assert_eq!(w.fetch("nothing", &[], &txn), Some(Sample::Bool(false)));
    assert_eq!(w.fetch("empty", &[], &txn), None);
    assert_eq!(w.fetch("number", &[], &txn), Some(Sample::Int(7)));
    assert_eq!(
        w.convert("rev", &["!".into()], Sample::str("abc"), &txn),
        Some(Sample::str("cba!"))
    );
    assert_eq!(
        w.convert("rev", &[], Sample::Int(12), &txn),
        Some(Sample::str("21"))
    );
    // A fetch may not change the transaction in the gateway: it fails, loudly.
    assert_eq!(w.fetch("writer", &[], &txn), None);
}

#[tokio::test]
async fn an_http_service_streams_its_response() {
    let w = worker(
        r#"
        core.register_service("json", "http", function(applet)
            local body = applet:receive()
            local resp = '{"method":"' .. applet.method .. '","path":"' .. applet.path ..
                '","qs":"' .. applet.qs .. '","host":"' .. applet.headers["host"][0] ..
                '","body":"' .. body .. '"}'
            applet:set_status(201)
            applet:add_header("content-type", "application/json")
            applet:set_var("txn.served", 1)
            applet:start_response()
            applet:send(resp:sub(1, 10))
            applet:send(resp:sub(11))
        end)
        core.register_service("broken", "http", function(applet) error("no") end)
        core.register_service("silent", "http", function(applet) end)
        "#,
    );
    let body: spoe_lua::BodyStream = Box::pin(futures_util::stream::iter(vec![
        Bytes::from_static(b"ab"),
        Bytes::from_static(b"cd"),
    ]));
    let mut call = w.service("json", Txn::get("/api?x=1"), body).unwrap();
    let head = call.head().await.unwrap();
    assert_eq!(head.status, 201);
    assert_eq!(
        head.headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );
    let mut got = Vec::new();
    while let Some(chunk) = call.chunk().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(
        String::from_utf8(got).unwrap(),
        r#"{"method":"GET","path":"/api","qs":"x=1","host":"example.com","body":"abcd"}"#
    );
    let txn = call.into_host().unwrap();
    assert_eq!(txn.vars.get("txn.served"), Some(&Sample::Int(1)));
    let empty = || -> spoe_lua::BodyStream { Box::pin(futures_util::stream::empty()) };
    let e = w
        .service("broken", Txn::get("/"), empty())
        .unwrap()
        .head()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("runtime error"), "{e}");
    assert!(
        w.service("silent", Txn::get("/"), empty())
            .unwrap()
            .head()
            .await
            .is_err()
    );
}

#[test]
fn haproxy_environment() {
    let w = worker(
        r#"
        core.register_fetches("env", function(txn)
            return table.concat({
                _VERSION, type(bit32), tostring(bit32.band(0xff, 0x0f)), tostring(bit32.bnot(0)),
                tostring(math.pow(2, 10)), tostring(7 // 2), tostring(core.thread),
                type(unpack), table.concat(core.tokenize("a,b,,c", ",", true), "|"),
                tostring(core.backends.be.servers.s1.name), tostring(act.DENY),
            }, " ")
        end)
        "#,
    );
    assert_eq!(
        w.fetch("env", &[], &Txn::get("/")),
        None,
        "a backend the configuration does not have: the fetch fails"
    );
    let loaded = load_with(
        r#"core.register_fetches("env", function(txn)
            return table.concat({
                _VERSION, type(bit32), tostring(bit32.band(0xff, 0x0f)), tostring(bit32.bnot(0)),
                tostring(math.pow(2, 10)), tostring(7 // 2), tostring(core.thread),
                type(unpack), table.concat(core.tokenize("a,b,,c", ",", true), "|"),
                tostring(core.backends.be.servers.s1.name), tostring(act.DENY),
            }, " ")
        end)"#,
        |_| {},
    )
    .unwrap();
    let proxies = Proxies {
        frontends: vec!["fe".into()],
        backends: vec![("be".into(), vec!["s1".into()])],
    };
    let w = loaded
        .runtime
        .start(1, &proxies, Reporting::default())
        .unwrap()
        .remove(0);
    assert_eq!(
        w.fetch("env", &[], &Txn::get("/")),
        Some(Sample::str(
            "Lua 5.3 table 15 4294967295 1024.0 3 0 nil a|b|c s1 5"
        ))
    );
}

#[test]
fn load_errors_are_haproxys() {
    let e = load_with("this is not lua", |_| {}).err().unwrap();
    assert!(e.starts_with("error in Lua file '"), "{e}");
    let e = load_with("error('at load')", |_| {}).err().unwrap();
    assert!(e.starts_with("Lua runtime error: "), "{e}");
    assert!(e.ends_with("script.lua:1: at load"), "{e}");
    let e = load_with(
        "core.register_action('x', {'tcp-foo'}, function() end)",
        |_| {},
    )
    .err()
    .unwrap();
    assert!(e.contains("'tcp-foo' is unknown"), "{e}");
    let missing = LuaRuntime::load(LuaSettings {
        loads: vec![LuaLoad {
            path: PathBuf::from("/nonexistent/x.lua"),
            per_thread: false,
        }],
        ..LuaSettings::default()
    });
    assert!(missing.is_err());
}

#[test]
fn per_thread_states_are_separate_and_shared_state_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared.lua");
    let per = dir.path().join("per.lua");
    std::fs::write(
        &shared,
        r#"local n = 0
        core.register_fetches("shared_count", function() n = n + 1 return n end)"#,
    )
    .unwrap();
    std::fs::write(
        &per,
        r#"local n = 0
        core.register_fetches("own_count", function() n = n + 1 return core.thread * 100 + n end)"#,
    )
    .unwrap();
    let runtime = LuaRuntime::load(LuaSettings {
        loads: vec![
            LuaLoad {
                path: shared,
                per_thread: false,
            },
            LuaLoad {
                path: per,
                per_thread: true,
            },
        ],
        threads: 2,
        ..LuaSettings::default()
    })
    .unwrap();
    let workers = runtime
        .start(2, &Proxies::default(), Reporting::default())
        .unwrap();
    let txn = Txn::get("/");
    assert_eq!(
        workers[0].fetch("shared_count", &[], &txn),
        Some(Sample::Int(1))
    );
    assert_eq!(
        workers[1].fetch("shared_count", &[], &txn),
        Some(Sample::Int(2))
    );
    assert_eq!(
        workers[0].fetch("own_count", &[], &txn),
        Some(Sample::Int(101))
    );
    assert_eq!(
        workers[1].fetch("own_count", &[], &txn),
        Some(Sample::Int(201))
    );
    assert_eq!(
        workers[1].fetch("own_count", &[], &txn),
        Some(Sample::Int(202))
    );
}

#[tokio::test]
async fn set_loglevel_follows_haproxy_2_6_and_errors_reach_the_transactions_log() {
    let w = worker(
        r#"core.register_action("lvl", { "http-req" }, function(txn)
            txn:set_loglevel(tonumber(txn.sf:req_hdr("x-level")))
        end)"#,
    );
    let level = |l: &str| {
        let w = &w;
        let l = l.to_owned();
        async move { act(w, "lvl", Txn::get("/").header("x-level", &l)).await.0 }
    };
    // HAProxy 2.6 stores the level where its log code reads level + 1.
    assert_eq!(level("4").await.log_level, Some(Some(3)));
    assert_eq!(level("7").await.log_level, Some(Some(6)));
    assert_eq!(level("0").await.log_level, Some(None));
    let refused = level("8").await;
    assert_eq!(refused.log_level, None);
    let lines = refused.errors.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("Lua function 'lvl': [state-id 0] runtime error: ")
            && lines[0].contains("bad argument #1 to 'set_loglevel' (Bad log level.")
            && lines[0].ends_with('.'),
        "{lines:?}"
    );
}
