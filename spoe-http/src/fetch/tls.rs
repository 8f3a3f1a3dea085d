//! TLS fetches (`ssl_fc*`, `ssl_c_*`), read from the connection's
//! [`TlsFacts`](crate::TlsFacts). A connection without TLS has no value for any of them but
//! `ssl_fc`, which is false.

use spoe::expr::Sample;

use crate::exchange::Exchange;
use crate::tls::TlsFacts;

fn facts<'a>(x: &Exchange<'a>) -> Option<&'a TlsFacts> {
    x.connection()?.tls.as_deref()
}

/// `ssl_fc`: whether the client connection uses TLS.
pub(super) fn ssl_fc(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Bool(facts(x).is_some()))
}

/// `ssl_fc_sni`: the server name the client sent.
pub(super) fn ssl_fc_sni(x: &Exchange<'_>) -> Option<Sample> {
    facts(x)?.sni.as_deref().map(Sample::from)
}
