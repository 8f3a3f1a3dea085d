//! One HTTP transaction as the sample language sees it: the host side of
//! [`spoe::expr::Fetch`], and the variables rules and agents set.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::HeaderMap;
use hyper::{Method, Uri, Version};
use spoe::VarUpdate;
use spoe::expr::{Fetch, FetchKind, Sample, VarRef, VarScope};
use spop::TypedData;

/// Variables of one scope, by full name (`txn.demo.score`).
pub(crate) type Vars = HashMap<String, Sample>;

/// The response part of a transaction, once there is one.
#[derive(Debug, Clone)]
pub(crate) struct ResponseView {
    pub(crate) status: u16,
    /// A reason phrase a Lua script set (`res_set_status(code, reason)`).
    pub(crate) reason: Option<String>,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
}

/// A transaction being processed.
#[derive(Debug)]
pub(crate) struct Txn {
    pub(crate) client: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    /// The body `option http-buffer-request` buffered (`req.body`): at most
    /// `tune.bufsize` bytes, empty without the option.
    pub(crate) body: Bytes,
    pub(crate) response: Option<ResponseView>,
    /// `unique-id`'s parts (generation, stream id), formatted when read.
    pub(crate) unique_id: (u64, u64),
    /// `txn.`, `req.` and `res.` variables.
    pub(crate) vars: Vars,
    /// `sess.` variables, shared by the transactions of one connection.
    pub(crate) sess: Arc<Mutex<Vars>>,
    /// `proc.` variables, shared by the whole generation.
    pub(crate) proc: Arc<Mutex<Vars>>,
    /// The worker's Lua, when the configuration loads any.
    pub(crate) lua: Option<Arc<spoe_lua::LuaWorker>>,
    /// What `txn:set_priv()` stored.
    pub(crate) lua_private: Option<spoe_lua::Private>,
}

/// An agent's typed value as a sample (integers become HAProxy's signed
/// integers). NULL has no sample.
pub(crate) fn sample_of(v: &TypedData) -> Option<Sample> {
    Some(match v {
        TypedData::Null => return None,
        TypedData::Bool(b) => Sample::Bool(*b),
        TypedData::Int32(i) => Sample::Int(i64::from(*i)),
        TypedData::Uint32(i) => Sample::Int(i64::from(*i)),
        TypedData::Int64(i) => Sample::Int(*i),
        TypedData::Uint64(i) => Sample::Int(*i as i64),
        TypedData::Ipv4(a) => Sample::Ipv4(*a),
        TypedData::Ipv6(a) => Sample::Ipv6(*a),
        TypedData::Str(b) => Sample::Str(b.clone()),
        TypedData::Bin(b) => Sample::Bin(b.clone()),
    })
}

/// A sample as text, the way log-format strings print it.
pub(crate) fn sample_text(s: &Sample) -> String {
    match s {
        Sample::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Sample::Int(i) => i.to_string(),
        Sample::Ipv4(a) => a.to_string(),
        Sample::Ipv6(a) => a.to_string(),
        Sample::Str(b) | Sample::Bin(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn scope_of(name: &str) -> Option<VarScope> {
    match name.split('.').next()? {
        "proc" => Some(VarScope::Proc),
        "sess" => Some(VarScope::Sess),
        "txn" => Some(VarScope::Txn),
        "req" => Some(VarScope::Req),
        "res" => Some(VarScope::Res),
        _ => None,
    }
}

fn lock(m: &Mutex<Vars>) -> std::sync::MutexGuard<'_, Vars> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The method as a sample: a standard one without a copy.
fn method_sample(method: &Method) -> Sample {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().find(|m| **m == method.as_str()) {
        Some(m) => Sample::Str(Bytes::from_static(m.as_bytes())),
        None => Sample::str(method.as_str()),
    }
}

/// The values of header `name` (of every header when `None`) in order, split on commas when
/// `split`, trimmed. Borrowed: a fetch copies only the value it keeps.
fn values<'h>(
    headers: &'h HeaderMap,
    name: &Option<String>,
    split: bool,
) -> impl Iterator<Item = &'h [u8]> + use<'h> {
    let named = name.as_deref().map(|n| headers.get_all(n).iter());
    let every = name.is_none().then(|| headers.iter().map(|(_, v)| v));
    named
        .into_iter()
        .flatten()
        .chain(every.into_iter().flatten())
        .flat_map(move |v| v.as_bytes().split(move |&c| split && c == b','))
        .map(trim)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// HAProxy's occurrence: 1 the first, -1 (or none) the last, -2 the one before.
fn pick<'h>(mut values: impl Iterator<Item = &'h [u8]>, occ: Option<i64>) -> Option<Bytes> {
    let chosen = match occ {
        None | Some(-1) => values.last(),
        Some(o) if o > 0 => values.nth(usize::try_from(o - 1).ok()?),
        Some(o) => {
            let all: Vec<&[u8]> = values.collect();
            let back = usize::try_from(o.checked_neg()?).ok()?;
            all.len()
                .checked_sub(back)
                .and_then(|i| all.get(i).copied())
        }
    };
    chosen.map(Bytes::copy_from_slice)
}

/// Every value, copied (the fetches that return them all).
fn copies<'h>(values: impl Iterator<Item = &'h [u8]>) -> Vec<Sample> {
    values
        .map(|v| Sample::Str(Bytes::copy_from_slice(v)))
        .collect()
}

fn headers_text(headers: &HeaderMap) -> Bytes {
    let mut b = BytesMut::new();
    for (k, v) in headers {
        b.put_slice(k.as_str().as_bytes());
        b.put_slice(b": ");
        b.put_slice(v.as_bytes());
        b.put_slice(b"\r\n");
    }
    b.put_slice(b"\r\n");
    b.freeze()
}

/// HAProxy's binary header block: `<str:name><str:value>`... then two empty
/// strings, each string a varint length and its bytes.
fn headers_bin(headers: &HeaderMap) -> Bytes {
    let mut b = BytesMut::new();
    for (k, v) in headers {
        spop::varint::encode(k.as_str().len() as u64, &mut b);
        b.put_slice(k.as_str().as_bytes());
        spop::varint::encode(v.as_bytes().len() as u64, &mut b);
        b.put_slice(v.as_bytes());
    }
    b.put_slice(&[0, 0]);
    b.freeze()
}

fn ip(addr: SocketAddr) -> Sample {
    match addr {
        SocketAddr::V4(a) => Sample::Ipv4(*a.ip()),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => Sample::Ipv4(v4),
            None => Sample::Ipv6(*a.ip()),
        },
    }
}

fn version_text(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2.0",
        Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}

impl Txn {
    /// The value of variable `name` (full name), if set.
    pub(crate) fn var(&self, name: &str) -> Option<Sample> {
        match scope_of(name)? {
            VarScope::Sess => lock(&self.sess).get(name).cloned(),
            VarScope::Proc => lock(&self.proc).get(name).cloned(),
            _ => self.vars.get(name).cloned(),
        }
    }

    /// Sets (or with `None`, unsets) variable `name`.
    pub(crate) fn set_var(&mut self, name: &str, value: Option<Sample>) {
        match value {
            Some(v) => self.insert_var(name.to_owned(), v),
            None => self.remove_var(name),
        }
    }

    /// Sets variable `name`, which becomes the key (no copy of the name).
    fn insert_var(&mut self, name: String, value: Sample) {
        if let Some(scope) = scope_of(&name) {
            self.in_scope(scope, |vars| {
                vars.insert(name, value);
            });
        }
    }

    fn remove_var(&mut self, name: &str) {
        if let Some(scope) = scope_of(name) {
            self.in_scope(scope, |vars| {
                vars.remove(name);
            });
        }
    }

    fn in_scope(&mut self, scope: VarScope, f: impl FnOnce(&mut Vars)) {
        match scope {
            VarScope::Sess => f(&mut lock(&self.sess)),
            VarScope::Proc => f(&mut lock(&self.proc)),
            _ => f(&mut self.vars),
        }
    }

    /// Applies what an agent (or the engine) decided. Takes the updates: the
    /// names of the variables set become their keys.
    pub(crate) fn apply(&mut self, updates: Vec<VarUpdate>) {
        // One allocation for the transaction's table instead of one per growth.
        self.vars.reserve(updates.len());
        for u in updates {
            match u {
                VarUpdate::Set { name, value } => match sample_of(&value) {
                    Some(v) => self.insert_var(name, v),
                    None => self.remove_var(&name),
                },
                VarUpdate::Unset { name } => self.remove_var(&name),
            }
        }
    }

    fn var_ref(&self, v: &VarRef) -> Option<Sample> {
        with_full_name(v, |name| self.var(name))
    }
}

/// Calls `f` with `scope.name`. Names of variables that can be set are at
/// most [`spoe::vars::MAX_VAR_NAME`] bytes (HAProxy's limit), so the name is
/// built on the stack: reading a variable allocates nothing.
pub(crate) fn with_full_name<R>(v: &VarRef, f: impl FnOnce(&str) -> R) -> R {
    let scope = v.scope.name().as_bytes();
    let name = v.name.as_bytes();
    let len = scope.len() + 1 + name.len();
    let mut buf = [0u8; spoe::vars::MAX_VAR_NAME];
    let Some(out) = buf.get_mut(..len) else {
        return f(&format!("{}.{}", v.scope.name(), v.name));
    };
    let (head, tail) = out.split_at_mut(scope.len());
    head.copy_from_slice(scope);
    if let Some((dot, rest)) = tail.split_first_mut() {
        *dot = b'.';
        rest.copy_from_slice(name);
    }
    // Both parts are UTF-8 (and ASCII, as parsed).
    f(std::str::from_utf8(out).unwrap_or_default())
}

impl Fetch for Txn {
    fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
        let resp = self.response.as_ref();
        Some(match kind {
            FetchKind::Src => ip(self.client),
            FetchKind::SrcPort => Sample::Int(i64::from(self.client.port())),
            FetchKind::Dst => ip(self.local),
            FetchKind::DstPort => Sample::Int(i64::from(self.local.port())),
            FetchKind::SslFc => Sample::Bool(false),
            FetchKind::Method => method_sample(&self.method),
            FetchKind::Path => Sample::str(self.uri.path()),
            FetchKind::Query => Sample::str(self.uri.query()?),
            FetchKind::Url => Sample::str(self.uri.to_string()),
            FetchKind::Base => {
                let host = self
                    .headers
                    .get("host")
                    .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
                Sample::str(format!("{}{}", host.unwrap_or_default(), self.uri.path()))
            }
            FetchKind::ReqVer => Sample::str(version_text(self.version)),
            FetchKind::ReqHdrs => Sample::Str(headers_text(&self.headers)),
            FetchKind::ReqHdrsBin => Sample::Bin(headers_bin(&self.headers)),
            FetchKind::ReqHdr { name, occ } => {
                Sample::Str(pick(values(&self.headers, name, true), *occ)?)
            }
            FetchKind::ReqFhdr { name, occ } => {
                Sample::Str(pick(values(&self.headers, name, false), *occ)?)
            }
            FetchKind::Hdr { name, occ } => {
                let h = resp.map_or(&self.headers, |r| &r.headers);
                Sample::Str(pick(values(h, name, true), *occ)?)
            }
            FetchKind::ReqHdrCnt { name } => {
                Sample::Int(values(&self.headers, name, true).count() as i64)
            }
            FetchKind::ReqHdrVal { name, occ } => {
                let v = pick(values(&self.headers, name, true), *occ)?;
                Sample::Int(std::str::from_utf8(&v).ok()?.trim().parse().ok()?)
            }
            // What `option http-buffer-request` buffered (nothing without it).
            FetchKind::ReqLen | FetchKind::ReqBodyLen => Sample::Int(self.body.len() as i64),
            // The advertised length: Content-Length, else what is buffered.
            FetchKind::ReqBodySize => Sample::Int(
                self.headers
                    .get(hyper::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.trim().parse::<i64>().ok())
                    .unwrap_or(self.body.len() as i64),
            ),
            FetchKind::ReqBody => Sample::Bin(self.body.clone()),
            FetchKind::ReqProtoHttp => Sample::Bool(true),
            FetchKind::Status => Sample::Int(i64::from(resp?.status)),
            FetchKind::ResVer => Sample::str(version_text(resp?.version)),
            FetchKind::ResHdrs => Sample::Str(headers_text(&resp?.headers)),
            FetchKind::ResHdrsBin => Sample::Bin(headers_bin(&resp?.headers)),
            FetchKind::ResHdr { name, occ } => {
                Sample::Str(pick(values(&resp?.headers, name, true), *occ)?)
            }
            FetchKind::ResFhdr { name, occ } => {
                Sample::Str(pick(values(&resp?.headers, name, false), *occ)?)
            }
            FetchKind::ResHdrCnt { name } => {
                Sample::Int(values(&resp?.headers, name, true).count() as i64)
            }
            FetchKind::UniqueId => {
                let (generation, sid) = self.unique_id;
                Sample::str(format!("{generation:x}-{sid:x}"))
            }
            FetchKind::Var { var, .. } => self.var_ref(var)?,
            FetchKind::Lua { name, args } => self.lua.as_ref()?.fetch(name, args, self)?,
            FetchKind::Const(s) => s.clone(),
            _ => return None,
        })
    }

    fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
        self.lua.as_ref()?.convert(name, args, input)
    }

    fn fetch_all(&self, kind: &FetchKind) -> Vec<Sample> {
        let resp = self.response.as_ref();
        match kind {
            FetchKind::ReqHdr { name, occ: None } => copies(values(&self.headers, name, true)),
            FetchKind::ReqFhdr { name, occ: None } => copies(values(&self.headers, name, false)),
            FetchKind::Hdr { name, occ: None } => copies(values(
                resp.map_or(&self.headers, |r| &r.headers),
                name,
                true,
            )),
            FetchKind::ResHdr { name, occ: None } => {
                resp.map_or_else(Vec::new, |r| copies(values(&r.headers, name, true)))
            }
            _ => self.fetch(kind).into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn occurrences_follow_haproxy() {
        let v: [&[u8]; 3] = [b"a", b"b", b"c"];
        let pick = |occ| pick(v.into_iter(), occ);
        assert_eq!(pick(None).as_deref(), Some(&b"c"[..]));
        assert_eq!(pick(Some(-1)).as_deref(), Some(&b"c"[..]));
        assert_eq!(pick(Some(1)).as_deref(), Some(&b"a"[..]));
        assert_eq!(pick(Some(3)).as_deref(), Some(&b"c"[..]));
        assert_eq!(pick(Some(-2)).as_deref(), Some(&b"b"[..]));
        assert_eq!(pick(Some(-3)).as_deref(), Some(&b"a"[..]));
        assert_eq!(pick(Some(4)), None);
        assert_eq!(pick(Some(-4)), None);
        assert_eq!(pick(Some(0)), None);
    }

    #[test]
    fn values_split_trim_and_keep_order() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static(" 1, 2 "));
        h.append("x-b", HeaderValue::from_static("3"));
        h.append("x-a", HeaderValue::from_static("4,"));
        let got = |name: Option<&str>, split| {
            values(&h, &name.map(str::to_owned), split)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(got(Some("x-a"), true), ["1", "2", "4", ""]);
        assert_eq!(got(Some("X-A"), false), ["1, 2", "4,"]);
        assert_eq!(got(None, false), ["1, 2", "4,", "3"]);
        assert!(got(Some("x-none"), true).is_empty());
        assert!(got(Some("not a header name"), true).is_empty());
    }

    #[test]
    fn binary_header_block() {
        let mut h = HeaderMap::new();
        h.insert("x", "yz".parse().unwrap());
        assert_eq!(&headers_bin(&h)[..], &[1, b'x', 2, b'y', b'z', 0, 0]);
        assert_eq!(&headers_text(&h)[..], b"x: yz\r\n\r\n");
    }

    #[test]
    fn full_variable_names_at_any_length() {
        let full = |text: &str| {
            let v = VarRef::parse(text).unwrap();
            with_full_name(&v, str::to_owned)
        };
        assert_eq!(full("txn.bench.err"), "txn.bench.err");
        let at_limit = format!("txn.{}", "a".repeat(59));
        assert_eq!(at_limit.len(), spoe::vars::MAX_VAR_NAME);
        assert_eq!(full(&at_limit), at_limit);
        let longer = format!("proc.{}", "b".repeat(80));
        assert_eq!(full(&longer), longer);
    }
}
