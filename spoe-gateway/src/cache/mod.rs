//! HAProxy 2.6's small object cache (`src/cache.c`): `cache NAME` sections, `http-request
//! cache-use NAME`, `http-response cache-store NAME` and the `filter cache` form.
//!
//! The core is sans-IO and unit-tested: what a request and a response allow
//! ([`policy`]), the secondary key of `Vary` ([`vary`]), the bounded store with its eviction
//! order ([`store`]). The rule hooks of `crate::proxy` call [`serve`], which builds a hit's
//! response and copies a stored response's body as it streams to the client.
//!
//! As HAProxy:
//! - `cache-use` looks the request up (GET or HEAD, HTTP/1.1 or later, no `Authorization`,
//!   no `Cache-Control: no-cache|max-age|max-stale|min-fresh`, no lone `Pragma: no-cache`); a
//!   fresh entry answers instead of a server (the access line's server is `<CACHE>`), with an
//!   `Age` header, as a `304` when `If-None-Match` or `If-Modified-Since` says the client
//!   has it, without a body to a HEAD.
//! - `cache-store` keeps a `200` to a GET the same transaction looked up with `cache-use`,
//!   when its headers allow it (`Cache-Control`, `Pragma`, `Expires`, a validator, `Vary` on
//!   `Accept-Encoding` and `Referer` only with `process-vary on`, `Age`) and when it fits
//!   `max-object-size`; its freshness is the response's (`s-maxage`, `max-age`, `Expires`)
//!   bounded by the section's `max-age`. A successful unsafe request (POST, PUT, DELETE...)
//!   drops the entry of its URI.
//! - Memory is bounded by `total-max-size`, counted in HAProxy's blocks of 1024 bytes; a new
//!   object evicts the least recently used ones.
//!
//! Differences: an object is keyed by its URI text itself rather than by its SHA-1 (`show
//! cache` prints the SHA-1's first word as HAProxy does, with made-up addresses and sizes
//! within a few bytes of HAProxy's); a `304` to an HTTP/1 client carries no `Content-Length`
//! (hyper drops it; HAProxy keeps the stored one); a hit is not compressed by `compression`
//! (HAProxy passes it through its compression filter); an object being served stays in memory
//! until served even once evicted (HAProxy keeps its blocks out of reach meanwhile). A reload
//! starts with empty caches, as HAProxy's new process does.

pub(crate) mod decl;
pub(crate) mod policy;
pub(crate) mod serve;
pub(crate) mod store;
pub(crate) mod vary;
