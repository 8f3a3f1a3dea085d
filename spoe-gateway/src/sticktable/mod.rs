//! Stick tables (`stick-table`, `track-sc0..2`, `sc_*`/`src_*`/`table_*` fetches,
//! `sc-inc-gpc0`...), as HAProxy 2.6 keeps them: process-wide tables of keys (client
//! addresses, strings...) with counters and rates, shared by every worker thread.
//!
//! ```text
//!   config: stick-table ── decl::StickTableDecl ──> tables::Tables (one per generation;
//!                                                    a `peers` section carries them on reload)
//!   request: track-sc0 src ── track::StreamCounters::track ──> table::StickTable::get_or_create
//!            │                  (conn_cur+1, conn_cnt, conn_rate, http_req_cnt, http_req_rate)
//!            ├─ deny, 4xx, 5xx ── http_err_*, http_fail_*
//!            ├─ sc_http_req_rate(0) ── track::StreamCounters::fetch
//!            └─ end of the stream ── conn_cur-1, the entry may expire again
//!   runtime API: show table / clear table ── show
//! ```
//!
//! - [`freq`]: HAProxy's rate counters (a sliding window of one period).
//! - [`data`]: the data types a table stores and one entry's values.
//! - [`key`]: key types and the conversion of samples to keys.
//! - [`table`]: one table in locked shards, bounded by `size`, with expiry and eviction.
//! - [`track`]: a stream's stick counters and the fetches.
//! - [`show`]: `show table`, `clear table`.

pub(crate) mod data;
pub(crate) mod decl;
pub(crate) mod freq;
pub(crate) mod key;
pub(crate) mod show;
pub(crate) mod table;
pub(crate) mod tables;
pub(crate) mod track;
