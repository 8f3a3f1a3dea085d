//! The fetches, by family: this file maps each [`FetchKind`] to the function that answers it,
//! and each family module holds the functions.
//!
//! | module | fetches |
//! |---|---|
//! | [`conn`] | `src`, `src_port`, `dst`, `dst_port` (and their `fc_` names), `fe_name` |
//! | [`tls`] | `ssl_fc`, `ssl_fc_sni`, `ssl_fc_has_sni`, `ssl_fc_protocol`, `ssl_fc_cipher`, `ssl_fc_alpn`, `ssl_fc_is_resumed`, `ssl_fc_has_crt`, `ssl_c_used`, `ssl_c_verify` (`ssl_c_err`, `ssl_c_ca_err`), `ssl_c_s_dn`, `ssl_c_i_dn`, `ssl_c_serial`, `ssl_c_sha1`, `ssl_c_der` |
//! | [`request`] | `method`, `path`, `pathq`, `query`, `url`, `url_ip`, `url_port`, `base`, `req.ver`, `url_param`, `req.proto_http` |
//! | [`auth`] | `http_auth_type`, `http_auth_user`, `http_auth_pass`, `http_auth_bearer` (`http_auth` and `http_auth_group` are the host's: it owns the userlists) |
//! | [`hash`] | `base32`, `base32+src`, `url32`, `url32+src` |
//! | [`body`] | `req.body`, `req.body_len`, `req.body_size`, `req.len`, `res.len`, `res.body` |
//! | [`headers`] | `req.hdr`, `req.fhdr`, `hdr`, `req.hdr_cnt`, `req.hdr_val`, `req.hdrs`, `req.hdrs_bin`, `req.hdr_names`, `req.cook`, and their `res.` twins |
//! | [`response`] | `status`, `res.ver` |
//! | [`capture`] | `capture.req.hdr`, `capture.res.hdr`, `capture.req.method`, `capture.req.uri`, `capture.req.ver`, `capture.res.ver` |
//! | [`internal`] | `unique-id`, `var`, constants |
//!
//! A fetch with no value (no such header, no response yet, no TLS) returns `None`: the
//! expression then yields nothing, sent as NULL.

use spoe::expr::{Fetch, FetchKind, Sample};

use crate::exchange::Exchange;

pub(crate) mod auth;
mod body;
mod capture;
mod conn;
mod hash;

pub use hash::full_hash;
mod headers;
mod internal;
mod request;
mod response;
mod tls;

use headers::Split;

impl Fetch for Exchange<'_> {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        one(self, kind)
    }

    fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
        all(self, kind)
    }
}

/// The value of `kind` (the last occurrence for header fetches without one: HAProxy's rule
/// outside ACLs).
fn one(x: &Exchange<'_>, kind: &FetchKind) -> Option<Sample> {
    use FetchKind as K;
    let req = &x.request.headers;
    match kind {
        K::Src => conn::src(x),
        K::SrcPort => conn::src_port(x),
        K::Dst => conn::dst(x),
        K::DstPort => conn::dst_port(x),
        K::FcSrc => conn::fc_src(x),
        K::FcSrcPort => conn::fc_src_port(x),
        K::FcDst => conn::fc_dst(x),
        K::FcDstPort => conn::fc_dst_port(x),
        K::FcRcvdProxy => conn::fc_rcvd_proxy(x),
        K::FcPpAuthority => conn::fc_pp_tlv(x, false),
        K::FcPpUniqueId => conn::fc_pp_tlv(x, true),
        K::FeName => conn::fe_name(x),
        K::HttpAuthType => auth::auth_type(x),
        K::HttpAuthUser => auth::auth_user(x),
        K::HttpAuthPass => auth::auth_pass(x),
        K::HttpAuthBearer { header } => auth::auth_bearer(x, header.as_deref()),

        K::SslFc => tls::ssl_fc(x),
        K::SslFcSni => tls::ssl_fc_sni(x),
        K::SslFcHasSni => tls::ssl_fc_has_sni(x),
        K::SslFcProtocol => tls::ssl_fc_protocol(x),
        K::SslFcCipher => tls::ssl_fc_cipher(x),
        K::SslFcAlpn => tls::ssl_fc_alpn(x),
        K::SslFcIsResumed => tls::ssl_fc_is_resumed(x),
        K::SslFcHasCrt => tls::ssl_fc_has_crt(x),
        K::SslCUsed => tls::ssl_c_used(x),
        K::SslCVerify => tls::ssl_c_verify(x),
        K::SslCSDn {
            entry,
            occ,
            rfc2253,
        } => tls::ssl_c_dn(x, tls::Dn::Subject, entry.as_deref(), *occ, *rfc2253),
        K::SslCIDn {
            entry,
            occ,
            rfc2253,
        } => tls::ssl_c_dn(x, tls::Dn::Issuer, entry.as_deref(), *occ, *rfc2253),
        K::SslCSerial => tls::ssl_c_serial(x),
        K::SslCSha1 => tls::ssl_c_sha1(x),
        K::SslCDer => tls::ssl_c_der(x),

        K::Method => request::method(x),
        K::Path => request::path(x),
        K::Query => request::query(x),
        K::Url => request::url(x),
        K::Base => request::base(x),
        K::PathQ => request::pathq(x),
        K::UrlIp => request::url_ip(x),
        K::UrlPort => request::url_port(x),
        K::Base32 => hash::base32(x),
        K::Base32Src => hash::base32_src(x),
        K::Url32 => hash::url32(x),
        K::Url32Src => hash::url32_src(x),
        K::ReqVer => request::req_ver(x),
        K::UrlParam { name, delim } => request::url_param(x, name.as_deref(), delim.as_deref()),
        K::ReqProtoHttp => request::req_proto_http(x),

        K::ReqBody => body::req_body(x),
        K::ReqBodyLen | K::ReqLen => body::req_body_len(x),
        K::ReqBodySize => body::req_body_size(x),
        K::ResLen => body::res_len(x),
        K::ResBody => body::res_body(x),

        K::ReqHdrs => headers::text(req),
        K::ReqHdrsBin => headers::binary(req),
        K::ReqHdrNames { delim } => headers::names(req, delim.as_deref()),
        K::ReqHdr { name, occ } => headers::value(req, name, *occ, Split::Commas),
        K::ReqFhdr { name, occ } => headers::value(req, name, *occ, Split::Never),
        K::Hdr { name, occ } => headers::value(channel(x), name, *occ, Split::Commas),
        K::ReqHdrCnt { name } => headers::count(req, name),
        K::ReqHdrVal { name, occ } => headers::int(req, name, *occ),
        K::ReqHdrIp { name, occ } => headers::ip(req, name, *occ),
        K::ReqCook { name } => headers::cookie(req, name.as_deref()),

        K::Status => response::status(x),
        K::ResVer => response::res_ver(x),
        K::ResHdrs => headers::text(&x.response?.headers),
        K::ResHdrsBin => headers::binary(&x.response?.headers),
        K::ResHdr { name, occ } => headers::value(&x.response?.headers, name, *occ, Split::Commas),
        K::ResFhdr { name, occ } => headers::value(&x.response?.headers, name, *occ, Split::Never),
        K::ResHdrCnt { name } => headers::count(&x.response?.headers, name),
        K::ResHdrVal { name, occ } => headers::int(&x.response?.headers, name, *occ),

        K::CaptureReqHdr(idx) => capture::req_hdr(x, *idx),
        K::CaptureResHdr(idx) => capture::res_hdr(x, *idx),
        K::CaptureReqMethod => capture::req_method(x),
        K::CaptureReqUri => capture::req_uri(x),
        K::CaptureReqVer => capture::req_ver(x),
        K::CaptureResVer => capture::res_ver(x),

        K::UniqueId => internal::unique_id(x),
        K::Var { var, .. } => internal::var(x, var),
        K::Const(s) => Some(s.clone()),
        // `env()` is evaluated by `spoe` itself; a fetch `spoe` learnt after this crate has no
        // value here, and the tests of this crate name it.
        _ => None,
    }
}

/// Every value of `kind`, as an ACL iterates over them: each header value (or cookie) in
/// order for the multi-valued fetches, else the one value.
fn all(x: &Exchange<'_>, kind: &FetchKind) -> Vec<Sample> {
    use FetchKind as K;
    let req = &x.request.headers;
    let res = x.response.map(|r| &r.headers);
    match kind {
        K::ReqHdr { name, occ: None } => headers::values_all(req, name, Split::Commas),
        K::ReqFhdr { name, occ: None } => headers::values_all(req, name, Split::Never),
        K::Hdr { name, occ: None } => headers::values_all(channel(x), name, Split::Commas),
        K::ReqHdrVal { name, occ: None } => headers::ints_all(req, name),
        K::ReqHdrIp { name, occ: None } => headers::ips_all(req, name),
        K::ReqCook { name } => headers::cookies_all(req, name.as_deref()),
        K::ResHdr { name, occ: None } => {
            res.map_or_else(Vec::new, |h| headers::values_all(h, name, Split::Commas))
        }
        K::ResFhdr { name, occ: None } => {
            res.map_or_else(Vec::new, |h| headers::values_all(h, name, Split::Never))
        }
        K::ResHdrVal { name, occ: None } => {
            res.map_or_else(Vec::new, |h| headers::ints_all(h, name))
        }
        _ => one(x, kind).into_iter().collect(),
    }
}

/// The headers of the channel being analysed (`hdr()`): the response's at a response event.
fn channel<'a>(x: &Exchange<'a>) -> &'a http::HeaderMap {
    x.response.map_or(&x.request.headers, |r| &r.headers)
}
