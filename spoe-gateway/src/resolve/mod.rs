//! Servers named by a host name, resolved at run time as HAProxy 2.6 does (`src/resolvers.c`,
//! `snr_*()` in `src/server.c`): the `resolvers` sections (`model`), the choice of each
//! server's address among an answer's records (`answer`), the DNS messages (`wire`, on
//! hickory-proto), and the task that asks the section's nameservers (`task`).
//!
//! ```text
//!  generation start ──> one task per (resolvers section, host name, preferred family)
//!      │                  every `timeout resolve`: A or AAAA to every nameserver (UDP),
//!      │                  `timeout retry` between tries, `resolve_retries` tries, the other
//!      │                  family once when the preferred one has no answer
//!      │                        │ valid answer              │ NX / refused / timeout / other
//!      │                        v                           v
//!      │              records merged (hold obsolete)   after `hold nx|refused|timeout|other`
//!      │              each server keeps its record,    since the last valid answer: every
//!      │              or takes the best free one       server of the name into maintenance
//!      │              (none left: maintenance)         (`RMAINT`), its address cleared
//!      v
//!  ServerRt.resolved: the address new connections go to (one lock-free read on the
//!  request path, only for servers named by a host name); kept across reloads by server
//!  name, so that a new generation starts from the last answer (as `init-addr last`).
//! ```
//!
//! Resolution runs on the runtime that accepts connections and reloads, not on the
//! workers serving traffic; it holds one query in flight per name, reads answers into a
//! buffer of `accepted_payload_size` bytes, and keeps at most as many records as fit in it.

pub(crate) mod answer;
mod model;
pub(crate) mod slot;
pub(crate) mod task;
mod wire;

pub(crate) use model::{Prefer, Resolvers, ServerDns};
