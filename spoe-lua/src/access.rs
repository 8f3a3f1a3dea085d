//! The userdata behind a `TXN` object (its `[0]`): the transaction, owned by the call for
//! actions and services, borrowed for sample fetches, absent for converters. The Lua classes
//! (`lua/classes.lua`) call its methods.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use mlua::{Lua, Table, UserData, UserDataMethods, Value, Variadic};
use spoe::expr::{ConverterCall, FetchCall, Sample};

use crate::calls::CallCache;
use crate::core_lib;
use crate::exec::Done;
use crate::host::{Private, Reply, TxnHost, TxnView};
use crate::value;

/// A transaction lent to a Lua call; the call's caller takes it back when the call ends, and
/// a script that kept the object then finds it empty.
pub(crate) trait Slot: Send + Sync {
    fn with(&self, f: &mut dyn FnMut(Option<&mut dyn TxnHost>));
}

impl<H: TxnHost + 'static> Slot for Mutex<Option<H>> {
    fn with(&self, f: &mut dyn FnMut(Option<&mut dyn TxnHost>)) {
        let mut guard = lock(self);
        f(guard.as_mut().map(|h| h as &mut dyn TxnHost));
    }
}

pub(crate) type HostCell = Arc<dyn Slot>;

pub(crate) fn lock<H>(cell: &Mutex<Option<H>>) -> MutexGuard<'_, Option<H>> {
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on the lent transaction (an error when it was taken back).
fn with_slot<R>(
    slot: &dyn Slot,
    f: impl FnOnce(&mut dyn TxnHost) -> mlua::Result<R>,
) -> mlua::Result<R> {
    let mut f = Some(f);
    let mut out = None;
    slot.with(&mut |host| {
        out = Some(match (host, f.take()) {
            (Some(h), Some(f)) => f(h),
            _ => Err(gone()),
        });
    });
    out.unwrap_or_else(|| Err(gone()))
}

/// What a `TXN` object reaches.
pub(crate) enum Target<'a> {
    /// An action's or a service's transaction.
    Host(HostCell),
    /// A sample fetch's transaction: read-only.
    View(&'a dyn TxnView),
}

pub(crate) struct TxnAccess<'a> {
    pub(crate) target: Target<'a>,
    /// `txn:done()` ends the transaction (actions); elsewhere it only ends the call.
    pub(crate) terminates: bool,
    /// The fetches and converters its state resolved (`fetch_at`, `convert_at`).
    pub(crate) calls: Arc<CallCache>,
}

impl std::fmt::Debug for TxnAccess<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxnAccess")
    }
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

fn gone() -> mlua::Error {
    err("the transaction of this object has ended")
}

impl<'a> TxnAccess<'a> {
    /// The access to `target` from a call in `lua`.
    pub(crate) fn new(lua: &Lua, target: Target<'a>, terminates: bool) -> mlua::Result<Self> {
        Ok(Self {
            target,
            terminates,
            calls: crate::state_data::data(lua)?.calls.clone(),
        })
    }

    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&dyn TxnView) -> mlua::Result<R>,
    ) -> mlua::Result<R> {
        match &self.target {
            Target::Host(cell) => with_slot(&**cell, |h| f(h)),
            Target::View(v) => f(*v),
        }
    }

    pub(crate) fn write<R>(
        &self,
        what: &str,
        f: impl FnOnce(&mut dyn TxnHost) -> mlua::Result<R>,
    ) -> mlua::Result<R> {
        match &self.target {
            Target::Host(cell) => with_slot(&**cell, f),
            Target::View(_) => Err(err(format!(
                "'{what}' cannot change the transaction from a sample fetch in the gateway"
            ))),
        }
    }

    pub(crate) fn fetch(
        &self,
        lua: &Lua,
        name: &str,
        as_str: bool,
        args: &[Value],
    ) -> mlua::Result<Value> {
        let args: Vec<_> = args.iter().map(value::call_arg).collect();
        let call = FetchCall::new(name, &args).map_err(err)?;
        let sample = self.read(|v| Ok(call.eval(v)))?;
        convert_out(lua, sample, as_str)
    }

    /// The fetch its state resolved as `id` (`calls.rs`).
    pub(crate) fn fetch_at(&self, lua: &Lua, id: usize, as_str: bool) -> mlua::Result<Value> {
        let sample = self.read(|v| {
            self.calls
                .with_fetch(id, |call| call.eval(v))
                .ok_or_else(|| err(format!("no resolved fetch {id}")))
        })?;
        convert_out(lua, sample, as_str)
    }

    /// The converter its state resolved as `id` (`calls.rs`), on `input`.
    pub(crate) fn convert_at(
        &self,
        lua: &Lua,
        id: usize,
        as_str: bool,
        input: &Value,
    ) -> mlua::Result<Value> {
        let input = value::from_lua(input);
        let sample = self.read(|v| {
            self.calls
                .with_converter(id, |call| call.apply(input, v))
                .ok_or_else(|| err(format!("no resolved converter {id}")))
        })?;
        convert_out(lua, sample, as_str)
    }

    pub(crate) fn convert(
        &self,
        lua: &Lua,
        name: &str,
        as_str: bool,
        input: &Value,
        args: &[Value],
    ) -> mlua::Result<Value> {
        let args: Vec<_> = args.iter().map(value::call_arg).collect();
        let call = ConverterCall::new(name, &args).map_err(err)?;
        let input = value::from_lua(input);
        let sample = self.read(|v| Ok(call.apply(input, v)))?;
        convert_out(lua, sample, as_str)
    }
}

fn convert_out(lua: &Lua, sample: Option<Sample>, as_str: bool) -> mlua::Result<Value> {
    if as_str {
        value::to_lua_string(lua, sample)
    } else {
        value::to_lua(lua, sample)
    }
}

/// `req_get_headers()`: `{name = {[0] = first, [1] = second...}}`, names in lower case.
pub(crate) fn headers_table(lua: &Lua, headers: &HeaderMap) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for name in headers.keys() {
        let values = lua.create_table()?;
        for (i, v) in headers.get_all(name).iter().enumerate() {
            values.raw_set(i as i64, lua.create_string(v.as_bytes())?)?;
        }
        t.raw_set(name.as_str(), values)?;
    }
    Ok(t)
}

fn header_name(name: &[u8]) -> mlua::Result<HeaderName> {
    HeaderName::from_bytes(name).map_err(|_| {
        err(format!(
            "invalid header name '{}'",
            String::from_utf8_lossy(name)
        ))
    })
}

fn header_value(value: &Value) -> mlua::Result<HeaderValue> {
    let bytes = value::lua_bytes(value).ok_or_else(|| err("header value must be a string"))?;
    HeaderValue::from_maybe_shared(bytes).map_err(|_| err("invalid header value"))
}

/// `req_rep_header()`: each value of `name` that `regex` matches becomes `replace`, with
/// `\1`... standing for the groups.
fn replace_values(
    headers: &mut HeaderMap,
    name: &HeaderName,
    regex: &str,
    replace: &str,
) -> mlua::Result<()> {
    let re = regex::bytes::Regex::new(regex)
        .map_err(|e| err(format!("invalid regex '{regex}': {e}")))?;
    let template = spoe::expr::haproxy_replacement(replace);
    let old: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    headers.remove(name);
    for v in old {
        let new = match re.captures(v.as_bytes()) {
            Some(caps) => {
                let mut out = Vec::new();
                caps.expand(template.as_bytes(), &mut out);
                HeaderValue::from_maybe_shared(Bytes::from(out)).unwrap_or(v)
            }
            None => v,
        };
        headers.append(name.clone(), new);
    }
    Ok(())
}

fn edit_headers(headers: &mut HeaderMap, op: &str, args: &[Value]) -> mlua::Result<()> {
    let name = args
        .first()
        .and_then(value::lua_bytes)
        .ok_or_else(|| err("header name must be a string"))?;
    let name = header_name(&name)?;
    match op {
        "add" => {
            headers.append(name, header_value(args.get(1).unwrap_or(&Value::Nil))?);
        }
        "set" => {
            let v = header_value(args.get(1).unwrap_or(&Value::Nil))?;
            headers.remove(&name);
            headers.insert(name, v);
        }
        "del" => {
            headers.remove(&name);
        }
        "rep" => {
            let text = |i: usize| {
                args.get(i)
                    .and_then(value::lua_bytes)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| err("'rep_header' expects a regex and a replacement"))
            };
            replace_values(headers, &name, &text(1)?, &text(2)?)?;
        }
        other => return Err(err(format!("unknown header operation '{other}'"))),
    }
    Ok(())
}

/// The new target after `req_set_path` / `req_set_query` / `req_set_uri`, as HAProxy rewrites
/// the start line; `None` when it is not a valid target.
fn rewrite_uri(uri: &Uri, what: &str, new: &str) -> Option<Uri> {
    let path = uri.path();
    let query = uri.query();
    let path_and_query = match what {
        "uri" => return new.parse().ok(),
        "path" => match query {
            Some(q) => format!("{new}?{q}"),
            None => new.to_owned(),
        },
        // `http_replace_req_query()`: an existing `?` stays; none is added for an empty query.
        "query" => match (
            uri.path_and_query()
                .is_some_and(|pq| pq.as_str().contains('?')),
            new.is_empty(),
        ) {
            (true, _) => format!("{path}?{new}"),
            (false, true) => path.to_owned(),
            (false, false) => format!("{path}?{new}"),
        },
        _ => return None,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// A reply table (`txn:reply()` or a plain table) as a [`Reply`]; fields of the wrong type
/// are skipped, as `hlua_txn_forward_reply()` skips them.
pub(crate) fn reply_from(table: &Table) -> mlua::Result<Reply> {
    let mut reply = Reply::default();
    if let Value::Integer(_) | Value::Number(_) = table.get::<Value>("status")? {
        let status: i64 = table.get("status")?;
        reply.status = u16::try_from(status).unwrap_or(500);
    }
    if let Value::String(r) = table.get::<Value>("reason")? {
        reply.reason = Some(r.to_string_lossy());
    }
    if let Value::String(b) = table.get::<Value>("body")? {
        reply.body = Bytes::copy_from_slice(&b.as_bytes());
    }
    if let Value::Table(headers) = table.get::<Value>("headers")? {
        for pair in headers.pairs::<Value, Value>() {
            let (name, values) = pair?;
            let (Some(name), Value::Table(values)) = (value::lua_bytes(&name), values) else {
                continue;
            };
            let name = String::from_utf8_lossy(&name).into_owned();
            // The length is computed again: HAProxy always skips the script's.
            if name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            for v in values.sequence_values::<Value>() {
                if let Some(v) = value::lua_bytes(&v?) {
                    reply
                        .headers
                        .push((name.clone(), String::from_utf8_lossy(&v).into_owned()));
                }
            }
        }
    }
    Ok(reply)
}

/// `f` on the text of `s`: borrowed from Lua when it is UTF-8 (variable names always are),
/// else with its invalid bytes replaced.
pub(crate) fn with_str<R>(s: &mlua::LuaString, f: impl FnOnce(&str) -> R) -> R {
    match s.to_str() {
        Ok(text) => f(&text),
        Err(_) => f(&s.to_string_lossy()),
    }
}

/// `get_priv()` / `set_priv()`, on any transaction access.
pub(crate) fn get_priv(lua: &Lua, access: &TxnAccess<'_>) -> mlua::Result<Value> {
    access.read(|v| match v.private() {
        Some(Private(key)) => Ok(lua.registry_value::<Value>(key).unwrap_or(Value::Nil)),
        None => Ok(Value::Nil),
    })
}

pub(crate) fn set_priv(lua: &Lua, access: &TxnAccess<'_>, data: Value) -> mlua::Result<()> {
    let key = lua.create_registry_value(data)?;
    access.write("set_priv", |h| match h.private_slot() {
        Some(slot) => {
            *slot = Some(Private(key));
            Ok(())
        }
        None => Err(err("set_priv: this transaction keeps no private data")),
    })
}

/// Adds the methods `TXN` and `AppletHTTP` share (variables, fetches, converters, private
/// data) to a userdata type; `$access` gives its [`TxnAccess`]. A macro, not a generic
/// function: mlua wants `'static` closures, and a generic one would name the borrowed type.
/// The arguments of `convert(name, as_string, input, args...)`.
pub(crate) type ConvertCall = (mlua::LuaString, bool, Value, Variadic<Value>);

macro_rules! add_shared_methods {
    ($methods:expr, $access:expr) => {{
        use mlua::{Value, Variadic};
        use $crate::access::{ConvertCall, get_priv, set_priv, with_str};
        use $crate::value;
        $methods.add_method(
            "fetch",
            |lua, this, (name, as_str, args): (mlua::LuaString, bool, Variadic<Value>)| {
                $access(this).fetch(lua, &name.to_str()?, as_str, &args)
            },
        );
        $methods.add_method("convert", |lua, this, call: ConvertCall| {
            let (name, as_str, input, args) = call;
            $access(this).convert(lua, &name.to_str()?, as_str, &input, &args)
        });
        $methods.add_method("fetch_at", |lua, this, (id, as_str): (usize, bool)| {
            $access(this).fetch_at(lua, id, as_str)
        });
        $methods.add_method(
            "convert_at",
            |lua, this, (id, as_str, input): (usize, bool, Value)| {
                $access(this).convert_at(lua, id, as_str, &input)
            },
        );
        $methods.add_method("get_var", |lua, this, name: mlua::LuaString| {
            let sample = with_str(&name, |name| $access(this).read(|v| Ok(v.var(name))))?;
            value::to_lua(lua, sample)
        });
        $methods.add_method(
            "set_var",
            |_, this, (name, value, if_exists): (mlua::LuaString, Value, Option<Value>)| {
                let sample = value::from_lua(&value);
                let if_exists =
                    if_exists.is_some_and(|v| v.as_boolean() != Some(false) && !v.is_nil());
                with_str(&name, |name| {
                    $access(this).write("set_var", |h| Ok(h.set_var(name, sample, if_exists)))
                })
            },
        );
        $methods.add_method("unset_var", |_, this, name: mlua::LuaString| {
            with_str(&name, |name| {
                $access(this).write("unset_var", |h| Ok(h.unset_var(name)))
            })
        });
        $methods.add_method("get_priv", |lua, this, ()| get_priv(lua, $access(this)));
        $methods.add_method("set_priv", |lua, this, data: Value| {
            set_priv(lua, $access(this), data)
        });
    }};
}
pub(crate) use add_shared_methods;

impl UserData for TxnAccess<'_> {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        add_shared_methods!(methods, std::convert::identity);
        methods.add_method("headers", |lua, this, which: String| {
            this.read(|v| match which.as_str() {
                "res" => match v.response() {
                    Some(r) => headers_table(lua, &r.headers),
                    None => lua.create_table(),
                },
                _ => headers_table(lua, &v.request().headers),
            })
        });
        methods.add_method(
            "header",
            |_, this, (which, op, args): (String, String, Variadic<Value>)| {
                this.write("header", |h| {
                    let headers = if which == "res" {
                        h.response_mut().map(|r| &mut r.headers)
                    } else {
                        Some(&mut h.request_mut().headers)
                    };
                    match headers {
                        Some(headers) => edit_headers(headers, &op, &args).map(|()| true),
                        None => Ok(false),
                    }
                })
            },
        );
        methods.add_method(
            "set_request",
            |_, this, (what, new): (String, mlua::LuaString)| {
                let new = new.to_string_lossy();
                this.write("req_set", |h| {
                    let req = h.request_mut();
                    if what == "method" {
                        return Ok(match Method::from_bytes(new.as_bytes()) {
                            Ok(m) => {
                                req.method = m;
                                true
                            }
                            Err(_) => false,
                        });
                    }
                    Ok(match rewrite_uri(&req.uri, &what, &new) {
                        Some(uri) => {
                            req.uri = uri;
                            true
                        }
                        None => false,
                    })
                })
            },
        );
        methods.add_method(
            "set_status",
            |_, this, (status, reason): (i64, Option<String>)| {
                this.write("res_set_status", |h| {
                    let Some(res) = h.response_mut() else {
                        return Ok(false);
                    };
                    let Some(code) = u16::try_from(status)
                        .ok()
                        .and_then(|s| http::StatusCode::from_u16(s).ok())
                    else {
                        return Err(err(format!("invalid status code {status}")));
                    };
                    res.status = code;
                    match reason {
                        Some(r) => {
                            res.extensions.insert(crate::host::ReasonPhrase(r));
                        }
                        None => {
                            res.extensions.remove::<crate::host::ReasonPhrase>();
                        }
                    }
                    Ok(true)
                })
            },
        );
        methods.add_method("log", |_, _, (level, msg): (i64, mlua::LuaString)| {
            core_lib::log(level, &msg.to_string_lossy());
            Ok(())
        });
        // HAProxy 2.6 stores the level as given where its log code reads it as `level + 1`:
        // `set_loglevel(n)` writes the access line at level n - 1, and 0 leaves it as it was
        // (shown by gateway_lua_ops.rs against HAProxy 2.6.12; HAProxy 3.0 fixed it).
        methods.add_method("set_loglevel", |_, this, level: i64| {
            let level = u8::try_from(level).ok().filter(|l| *l <= 7).ok_or_else(|| {
                err("bad argument #1 to 'set_loglevel' (Bad log level. It must be between 0 and 7)")
            })?;
            this.write("set_loglevel", |h| {
                if h.set_log_level(level.checked_sub(1)) {
                    Ok(())
                } else {
                    Err(err("txn:set_loglevel() is not supported by this host"))
                }
            })
        });
        methods.add_method(
            "done",
            |_, this, reply: Option<Table>| -> mlua::Result<()> {
                let done = if this.terminates {
                    Done::Txn(reply.as_ref().map(reply_from).transpose()?)
                } else {
                    Done::Core(None)
                };
                Err(mlua::Error::external(done))
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_rewrites_follow_haproxy() {
        let u: Uri = "/a/b?x=1".parse().unwrap();
        assert_eq!(rewrite_uri(&u, "path", "/c").unwrap(), "/c?x=1");
        assert_eq!(rewrite_uri(&u, "query", "y=2").unwrap(), "/a/b?y=2");
        assert_eq!(rewrite_uri(&u, "query", "").unwrap(), "/a/b?");
        let plain: Uri = "/a".parse().unwrap();
        assert_eq!(rewrite_uri(&plain, "query", "").unwrap(), "/a");
        assert_eq!(rewrite_uri(&plain, "query", "q").unwrap(), "/a?q");
        assert_eq!(rewrite_uri(&u, "uri", "/z?k").unwrap(), "/z?k");
        assert!(rewrite_uri(&u, "path", "/bad path").is_none());
        let abs: Uri = "http://h/a?x".parse().unwrap();
        assert_eq!(rewrite_uri(&abs, "path", "/b").unwrap(), "http://h/b?x");
    }

    #[test]
    fn header_edits() {
        let lua = Lua::new();
        let s = |t: &str| Value::String(lua.create_string(t).unwrap());
        let mut h = HeaderMap::new();
        edit_headers(&mut h, "add", &[s("X-A"), s("1")]).unwrap();
        edit_headers(&mut h, "add", &[s("x-a"), s("2")]).unwrap();
        assert_eq!(h.get_all("x-a").iter().count(), 2);
        edit_headers(&mut h, "rep", &[s("x-a"), s("^(\\d)$"), s("n\\1")]).unwrap();
        let all: Vec<_> = h
            .get_all("x-a")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, ["n1", "n2"]);
        edit_headers(&mut h, "set", &[s("x-a"), Value::Integer(3)]).unwrap();
        assert_eq!(h.get_all("x-a").iter().count(), 1);
        edit_headers(&mut h, "del", &[s("x-a")]).unwrap();
        assert!(h.is_empty());
        assert!(edit_headers(&mut h, "add", &[s("bad name"), s("v")]).is_err());
    }
}
