//! A Pingora reverse proxy running SPOE in its `request_filter`: the same `spoe.conf`, the
//! same engine and the same variables as HAProxy or `SpoeLayer` (it is a `SpoeLayer`, driven
//! through `SpoeLayer::request` and `SpoeLayer::response` rather than tower).
//!
//! ```text
//! cargo run --manifest-path examples/pingora/Cargo.toml -- LISTEN UPSTREAM AGENT SPOE_CONF ENGINE RULE
//! #   RULE: deny-if:VAR (403 when VAR is true) or deny-unless:VAR (429 unless VAR is true)
//! ```
//!
//! Prints `listening on LISTEN` once it serves, and `generation N` after each SIGHUP (which
//! reloads `spoe.conf`; requests in flight finish on the old one). With a failed SPOE
//! processing the request goes on (fail open) and the proxy adds `x-spoe-failure: STATUS` to
//! the response. Pingora hands its filters no connection of their own: each request gets its
//! `ConnectionFacts` (so `on-client-session` runs with each request).

use std::net::SocketAddr;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::ResponseHeader;
use pingora_proxy::{ProxyHttp, Session, http_proxy_service};
use spoe_http::{ConnectionFacts, SpoeLayer, SpoeVars};

struct SpoeProxy {
    spoe: SpoeLayer,
    upstream: SocketAddr,
    rule: Rule,
}

/// What the agents' variables decide.
enum Rule {
    DenyIf(String),
    DenyUnless(String),
}

impl Rule {
    fn parse(text: &str) -> Option<Self> {
        match text.split_once(':')? {
            ("deny-if", var) => Some(Self::DenyIf(var.to_owned())),
            ("deny-unless", var) => Some(Self::DenyUnless(var.to_owned())),
            _ => None,
        }
    }

    fn var(&self) -> &str {
        match self {
            Self::DenyIf(v) | Self::DenyUnless(v) => v,
        }
    }

    /// The status to answer, if any.
    fn refusal(&self, vars: &SpoeVars) -> Option<u16> {
        match self {
            Self::DenyIf(v) => (vars.get::<bool>(v) == Some(true)).then_some(403),
            Self::DenyUnless(v) => (vars.get::<bool>(v) != Some(true)).then_some(429),
        }
    }
}

/// What a request keeps between Pingora's phases.
#[derive(Default)]
struct Ctx {
    vars: Option<SpoeVars>,
}

fn inet(addr: Option<&PingoraAddr>) -> Option<SocketAddr> {
    addr.and_then(PingoraAddr::as_inet).copied()
}

#[async_trait]
impl ProxyHttp for SpoeProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> pingora_core::Result<bool> {
        let mut facts = ConnectionFacts::unknown();
        facts.client = inet(session.client_addr());
        facts.local = inet(session.server_addr());
        // Bodies are not sent (BodyPolicy::NotSent): the request's head is what SPOE reads.
        match self.spoe.request(session.req_header(), Some(&facts), Bytes::new()).await {
            Ok(vars) => {
                let refusal = self.rule.refusal(&vars);
                ctx.vars = Some(vars);
                if let Some(status) = refusal {
                    session.respond_error(status).await?;
                    return Ok(true);
                }
                Ok(false)
            }
            Err(answer) => {
                session.respond_error(answer.status().as_u16()).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut Ctx) -> pingora_core::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }

    async fn response_filter(
        &self,
        _: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> pingora_core::Result<()> {
        let Some(vars) = &ctx.vars else { return Ok(()) };
        // on-http-response messages, when spoe.conf has some.
        let _ = self.spoe.response(vars, upstream_response).await;
        if let Some(status) = vars.failure() {
            upstream_response.insert_header("x-spoe-failure", status.0.to_string())?;
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: LISTEN UPSTREAM AGENT SPOE_CONF ENGINE deny-if:VAR|deny-unless:VAR";
    let [listen, upstream, agent, conf, engine, rule] = &args[..] else {
        return Err(usage.into());
    };
    let rule = Rule::parse(rule).ok_or(usage)?;
    // The engine's tasks, and the reloads, run on a runtime of their own beside Pingora's.
    let runtime = tokio::runtime::Runtime::new()?;
    let spoe = runtime.block_on(async {
        SpoeLayer::builder()
            .config_file(conf, Some(engine.as_str()))
            .agent(agent.parse()?)
            .fail_open()
            .var_names([rule.var().to_owned()])
            .build()
            .map_err(Box::<dyn std::error::Error>::from)
    })?;
    let reloads = spoe.clone();
    runtime.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            match reloads.reload() {
                Ok(n) => println!("generation {n}"),
                Err(e) => println!("reload refused: {e}"),
            }
        }
    });
    let mut server = Server::new(None)?;
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        SpoeProxy {
            spoe,
            upstream: upstream.parse()?,
            rule,
        },
    );
    proxy.add_tcp(listen);
    server.add_service(proxy);
    println!("listening on {listen}");
    server.run_forever()
}
