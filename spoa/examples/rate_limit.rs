//! A rate limiter that holds across agent processes: a token bucket per
//! client address, kept in Redis, so that every agent behind HAProxy's
//! backend takes from the same bucket. HAProxy asks `rate-limit` with the
//! client's address; the agent answers `txn.<prefix>.allowed` (BOOL) and
//! `txn.<prefix>.remaining` (INT64, tokens left).
//!
//! ```text
//! cargo run -p spoa --example rate_limit -- 127.0.0.1:12345 redis://127.0.0.1:6379 10 1
//! #                                         LISTEN          REDIS_URL              CAPACITY REFILL/s
//! ```
//!
//! Redis is the only state: run as many agents as you like. The bucket is
//! taken in one Lua script (read, refill, take, write, expire), so two
//! agents never both spend the last token, and the clock is Redis's (`TIME`),
//! so agents on hosts with skewed clocks agree.
//!
//! When Redis cannot answer (down, slow past the handler's budget), the
//! handler returns an error: never a silent allow. The runtime logs it and
//! answers through its error path; HAProxy must fail closed:
//!
//! <!-- config: example-rate-limit spoe.conf -->
//! ```text
//! [rl]
//! spoe-agent rl-agent
//!     messages rate-limit
//!     option var-prefix rl
//!     timeout hello 2s
//!     timeout idle 30s
//!     timeout processing 500ms
//!     use-backend agents
//! spoe-message rate-limit
//!     args ip=src
//!     event on-frontend-http-request
//! ```
//!
//! and in haproxy.cfg's frontend: `filter spoe engine rl config spoe.conf`,
//! `http-request deny deny_status 429 unless { var(txn.rl.allowed) -m bool }`
//! (no answer, an error or a timeout leave `allowed` unset: denied). The
//! runtime's error path also sets `txn.rl.error` when a handler fails
//! (see `spoa::Config`): deny on it, or log it, to tell "over the limit"
//! from "could not decide".

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use spoa::{Actions, Addr, Config, Handler, HandlerError, Listener, Request, Server, VarScope};

/// One take from a client's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    allowed: bool,
    /// Whole tokens left after this take.
    remaining: i64,
}

/// Where the buckets live: Redis in production, memory in unit tests.
trait Buckets: Send + Sync + 'static {
    /// Takes one token from `client`'s bucket, if there is one.
    fn take(&self, client: IpAddr) -> impl Future<Output = Result<Decision, HandlerError>> + Send;
}

/// Refill, take and write back atomically, on Redis's clock. Tokens are
/// fractional (refill is continuous); an idle bucket expires once it would be
/// full again.
const TOKEN_BUCKET_LUA: &str = r"
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(capacity, tokens + (now - at) * per_ms) end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
local ttl = 60000
if per_ms > 0 then ttl = math.ceil((capacity - tokens) / per_ms) + 1000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, math.floor(tokens)}
";

/// Token buckets in Redis, shared by every agent that uses the same server.
struct RedisBuckets {
    redis: redis::aio::ConnectionManager,
    script: redis::Script,
    capacity: u32,
    refill_per_sec: f64,
}

impl RedisBuckets {
    async fn connect(url: &str, capacity: u32, refill_per_sec: f64) -> Result<Self, HandlerError> {
        let client = redis::Client::open(url)?;
        // A reconnecting connection: after Redis comes back, so do the answers.
        let redis = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .map_err(|_| format!("connecting to Redis at {url}: no answer within 5s"))??;
        Ok(Self {
            redis,
            script: redis::Script::new(TOKEN_BUCKET_LUA),
            capacity,
            refill_per_sec,
        })
    }
}

impl Buckets for RedisBuckets {
    async fn take(&self, client: IpAddr) -> Result<Decision, HandlerError> {
        let mut conn = self.redis.clone();
        let (allowed, remaining): (i64, i64) = self
            .script
            .key(format!("spoa:rate_limit:{client}"))
            .arg(self.capacity)
            .arg(self.refill_per_sec)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| format!("Redis token bucket for {client}: {e}"))?;
        Ok(Decision {
            allowed: allowed == 1,
            remaining,
        })
    }
}

/// The handler: a struct holding its state behind an `Arc`, shared by every
/// connection the runtime serves.
struct RateLimit<B> {
    buckets: Arc<B>,
}

impl<B: Buckets> Handler for RateLimit<B> {
    async fn handle(&self, req: Request) -> Result<Actions, HandlerError> {
        let mut actions = Actions::new();
        let Some(msg) = req.message("rate-limit") else {
            return Ok(actions);
        };
        let client: IpAddr = msg.get_as("ip")?;
        // Within the budget, so that a slow Redis is this handler's error,
        // with its cause, rather than the runtime's overrun.
        let decision = tokio::time::timeout(req.remaining(), self.buckets.take(client))
            .await
            .map_err(|_| {
                format!("Redis did not answer for {client} within the handler's budget")
            })??;
        actions
            .set_var(VarScope::Transaction, "allowed", decision.allowed)
            .set_var(VarScope::Transaction, "remaining", decision.remaining);
        Ok(actions)
    }
}

#[tokio::main]
async fn main() -> Result<(), HandlerError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let addr: Addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:12345".into())
        .parse()?;
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let capacity: u32 = args.next().map_or(Ok(10), |s| s.parse())?;
    let refill_per_sec: f64 = args.next().map_or(Ok(1.0), |s| s.parse())?;

    let buckets = RedisBuckets::connect(&url, capacity, refill_per_sec).await?;
    let mut config = Config::default();
    // Below the engine's `timeout processing` (500ms above).
    config.handler_timeout = Duration::from_millis(400);
    let server = Server::new(
        RateLimit {
            buckets: Arc::new(buckets),
        },
        config,
    )?;
    let listener = Listener::bind(&addr).await?;
    println!("rate_limit: listening on {}", listener.local_addr()?);
    // Prometheus metrics (METRICS_ADDR, 127.0.0.1:9100 by default), until the agent stops.
    let metrics = server
        .serve_metrics(
            std::env::var("METRICS_ADDR")
                .as_deref()
                .unwrap_or("127.0.0.1:9100"),
        )
        .await?;
    println!(
        "rate_limit: metrics on http://{}/metrics",
        metrics.local_addr()
    );
    tracing::info!(%url, capacity, refill_per_sec, "token buckets in Redis");
    server.serve_until_signal(listener).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::Ipv4Addr;
    use std::sync::Mutex;

    use spoa::testing::{Engine, call};
    use spoa::{Message, TypedData};

    use super::*;

    /// Buckets in memory, without refill.
    #[derive(Default)]
    struct MemoryBuckets {
        capacity: i64,
        spent: Mutex<HashMap<IpAddr, i64>>,
    }

    impl Buckets for MemoryBuckets {
        async fn take(&self, client: IpAddr) -> Result<Decision, HandlerError> {
            let mut spent = self.spent.lock().unwrap();
            let n = spent.entry(client).or_default();
            let allowed = *n < self.capacity;
            if allowed {
                *n += 1;
            }
            Ok(Decision {
                allowed,
                remaining: self.capacity - *n,
            })
        }
    }

    /// Redis down.
    struct Unreachable;

    impl Buckets for Unreachable {
        async fn take(&self, _client: IpAddr) -> Result<Decision, HandlerError> {
            Err("Redis token bucket: Connection refused (os error 111)".into())
        }
    }

    fn request(ip: Ipv4Addr) -> Request {
        Request::builder()
            .message(Message::new("rate-limit").arg("ip", ip))
            .build()
    }

    fn allowed(actions: &Actions) -> Option<&TypedData> {
        actions.var(VarScope::Transaction, "allowed")
    }

    #[tokio::test]
    async fn each_client_gets_its_own_bucket_of_capacity_tokens() {
        let handler = RateLimit {
            buckets: Arc::new(MemoryBuckets {
                capacity: 2,
                ..Default::default()
            }),
        };
        let a = Ipv4Addr::new(192, 0, 2, 1);
        let b = Ipv4Addr::new(192, 0, 2, 2);
        let mut seen = Vec::new();
        for ip in [a, a, a, b] {
            let actions = call(&handler, request(ip)).await.unwrap();
            seen.push(allowed(&actions).cloned());
        }
        let t = Some(TypedData::Bool(true));
        let f = Some(TypedData::Bool(false));
        assert_eq!(seen, vec![t.clone(), t.clone(), f, t]);
    }

    #[tokio::test]
    async fn redis_down_is_an_error_never_an_allow() {
        let handler = RateLimit {
            buckets: Arc::new(Unreachable),
        };
        let err = call(&handler, request(Ipv4Addr::LOCALHOST))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Connection refused"), "{err}");
        // Behind the runtime: whatever its error path sends, it never says allowed.
        let server = Server::new(handler, Config::default()).unwrap();
        let mut engine = Engine::connect(&server).await.unwrap();
        let actions = engine
            .notify(vec![
                Message::new("rate-limit").arg("ip", Ipv4Addr::LOCALHOST),
            ])
            .await
            .unwrap();
        assert_eq!(allowed(&actions), None, "{actions:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_store_is_the_handlers_error_within_its_budget() {
        struct Slow;
        impl Buckets for Slow {
            async fn take(&self, _client: IpAddr) -> Result<Decision, HandlerError> {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(Decision {
                    allowed: true,
                    remaining: 0,
                })
            }
        }
        let handler = RateLimit {
            buckets: Arc::new(Slow),
        };
        let req = Request::builder()
            .message(Message::new("rate-limit").arg("ip", Ipv4Addr::LOCALHOST))
            .budget(Duration::from_millis(100))
            .build();
        // Not through testing::call, whose own budget check would answer
        // first: the handler's timeout is what is tested.
        let err = handler.handle(req).await.unwrap_err();
        assert!(
            err.to_string().contains("within the handler's budget"),
            "{err}"
        );
    }
}
