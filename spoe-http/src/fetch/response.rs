//! Response status-line fetches: `status`, `res.ver`. The response's headers are read by
//! [`super::headers`].

use spoe::expr::Sample;

use super::request::version_text;
use crate::exchange::Exchange;

/// `status`: the response's status code.
pub(super) fn status(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::Int(i64::from(x.response?.status.as_u16())))
}

/// `res.ver`: `1.1`, `2.0`.
pub(super) fn res_ver(x: &Exchange<'_>) -> Option<Sample> {
    Some(Sample::str(version_text(x.response?.version)))
}
