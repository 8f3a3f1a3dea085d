//! Access-line formats: `log-format`, and `option httplog`, `option httplog clf` and `option
//! tcplog` as the presets HAProxy 2.6 defines them (`default_http_log_format`,
//! `clf_http_log_format`, `default_tcp_log_format` in `src/log.c`), rendered as
//! `sess_build_logline()` renders them.
//!
//! What the gateway cannot know is refused when the format is read, naming the variable: `%U`
//! (bytes from the client), `%bi`/`%bp` (the source address of the server connection),
//! `%sslc`/`%sslv`. `%Th` and `%Ti` are 0 (no handshake or idle time is measured apart from
//! the request's), so `%Tq` is `%TR` and `%Tt` is `%Ta`. Dates are UTC (`%Tl`, `%trl` say
//! `+0000`). `%[EXPR]` may read what HAProxy keeps until the line is written (variables, the
//! connection; not headers, an error as in HAProxy; `status` has no value then, as in
//! HAProxy); it is evaluated when the response head is sent, with the transaction's variables
//! of that moment; a request refused before its head has none (`-`). `%ID` of a request
//! that never reached a backend (`http-request return`, `deny`) is built from the request as
//! it was; HAProxy builds it only when it writes the line, when the request's headers are gone
//! (`%[req.hdr(host)]` in `unique-id-format` then says `-` in HAProxy's line).

mod format;
mod nodes;
mod parse;
mod render;

pub(crate) use format::LineFormat;
pub(crate) use render::{Facts, Line};

/// `option httplog`.
pub(crate) const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`.
pub(crate) const HTTPLOG_CLF: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// `option tcplog`.
pub(crate) const TCPLOG: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

#[cfg(test)]
mod tests;
