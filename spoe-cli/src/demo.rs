//! The example handlers of `spoe agent --example NAME` and of the gateway's
//! quickstart (product demos, kept out of the `spoa` library; `echo` is
//! `spoa::testing::Echo`).

use std::net::IpAddr;
use std::time::Duration;

use spoa::{Actions, Handler, HandlerError, Request, TypedData, VarScope};

/// `ip-reputation`: message `check-client-ip` with argument `ip` (IPV4 or
/// IPV6) gets SET-VAR SESSION `ip_score` INT32 = [`ip_score`] of the address.
/// Other messages, and a missing or non-IP `ip`, get no action.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IpReputation;

/// The demo reputation score of an address, in 0..=100: the 32-bit FNV-1a
/// hash of its network-order bytes (4 for IPv4, 16 for IPv6), modulo 101.
/// Deterministic, and meaningless beyond demonstrations.
pub(crate) fn ip_score(ip: IpAddr) -> i32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % 101) as i32
}

impl Handler for IpReputation {
    async fn handle(&self, request: Request) -> Result<Actions, HandlerError> {
        let mut actions = Actions::new();
        let ip = request
            .message("check-client-ip")
            .and_then(|m| m.get("ip"))
            .and_then(TypedData::as_ip);
        if let Some(ip) = ip {
            actions.set_var(VarScope::Session, "ip_score", ip_score(ip));
        }
        Ok(actions)
    }
}

/// Wraps a handler and holds every answer `delay` longer, to exercise an
/// engine's `timeout processing`. The delay runs inside the handler's
/// budget: give the runtime a `handler_timeout` above it.
#[derive(Debug, Clone)]
pub(crate) struct Delayed<H> {
    inner: H,
    delay: Duration,
}

impl<H> Delayed<H> {
    /// `inner`, answering `delay` late.
    pub(crate) fn new(inner: H, delay: Duration) -> Self {
        Self { inner, delay }
    }
}

impl<H: Handler> Handler for Delayed<H> {
    async fn handle(&self, request: Request) -> Result<Actions, HandlerError> {
        let actions = self.inner.handle(request).await;
        // Even a zero sleep waits for the timer wheel's next tick (~1 ms).
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_score_is_stable_and_bounded() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(ip_score(a), ip_score(a));
        for i in 0..=255u8 {
            let s = ip_score(IpAddr::from([10, 0, 0, i]));
            assert!((0..=100).contains(&s));
        }
        // Pinned so that a change of formula is a visible decision.
        assert_eq!(ip_score("127.0.0.1".parse().unwrap()), 84);
    }
}
