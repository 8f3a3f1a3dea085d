//! Conversions between HAProxy samples and Lua values, as `hlua_smp2lua()`,
//! `hlua_smp2lua_str()`, `hlua_lua2smp()` and `hlua_lua2arg()` do them.

use bytes::Bytes;
use mlua::{Lua, Value};
use spoe::expr::{CallArg, Sample};

/// A sample as Lua sees it (`txn.f`, `txn:get_var`): booleans and integers are integers,
/// addresses their text, strings and binaries strings.
pub(crate) fn to_lua(lua: &Lua, sample: Option<Sample>) -> mlua::Result<Value> {
    Ok(match sample {
        None => Value::Nil,
        Some(Sample::Bool(b)) => Value::Integer(i64::from(b)),
        Some(Sample::Int(i)) => Value::Integer(i),
        Some(Sample::Ipv4(a)) => Value::String(lua.create_string(a.to_string())?),
        Some(Sample::Ipv6(a)) => Value::String(lua.create_string(a.to_string())?),
        Some(Sample::Str(b) | Sample::Bin(b)) => Value::String(lua.create_string(&b)?),
    })
}

/// A sample as a string (`txn.sf`, `txn.sc`): the empty string when there is none.
pub(crate) fn to_lua_string(lua: &Lua, sample: Option<Sample>) -> mlua::Result<Value> {
    let bytes: Bytes = match sample {
        None => Bytes::new(),
        Some(Sample::Bool(b)) => Bytes::from(u8::from(b).to_string()),
        Some(Sample::Int(i)) => Bytes::from(i.to_string()),
        Some(Sample::Ipv4(a)) => Bytes::from(a.to_string()),
        Some(Sample::Ipv6(a)) => Bytes::from(a.to_string()),
        Some(Sample::Str(b) | Sample::Bin(b)) => b,
    };
    Ok(Value::String(lua.create_string(&bytes)?))
}

/// A Lua value as a sample (`txn:set_var`, what Lua fetches and converters return): numbers
/// are integers (a non-integral float is 0, as `lua_tointeger()` gives), booleans booleans,
/// strings strings, anything else `false`.
pub(crate) fn from_lua(value: &Value) -> Sample {
    match value {
        Value::Integer(i) => Sample::Int(*i),
        Value::Number(n) => Sample::Int(float_to_int(*n)),
        Value::Boolean(b) => Sample::Bool(*b),
        Value::String(s) => Sample::Str(Bytes::copy_from_slice(&s.as_bytes())),
        _ => Sample::Bool(false),
    }
}

/// A Lua value as a fetch or converter argument: numbers and booleans integers, strings
/// strings, anything else 0.
pub(crate) fn call_arg(value: &Value) -> CallArg {
    match value {
        Value::Integer(i) => CallArg::Int(*i),
        Value::Number(n) => CallArg::Int(float_to_int(*n)),
        Value::Boolean(b) => CallArg::Int(i64::from(*b)),
        Value::String(s) => CallArg::Str(s.to_string_lossy()),
        _ => CallArg::Int(0),
    }
}

/// `lua_tointeger()` on a float: its value when it is integral and fits, else 0.
fn float_to_int(n: f64) -> i64 {
    if n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        n as i64
    } else {
        0
    }
}

/// Bytes of a Lua string or number (`lua_tolstring()`): what header values and bodies take.
pub(crate) fn lua_bytes(value: &Value) -> Option<Bytes> {
    match value {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Some(Bytes::from(i.to_string())),
        Value::Number(n) => Some(Bytes::from(format_number(*n))),
        _ => None,
    }
}

/// Lua 5.3's `%.14g` for floats (`1.5`, `1e+20`, `2.0`).
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.1}")
    } else {
        let s = format!("{n}");
        if s.len() > 16 { format!("{n:e}") } else { s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_as_haproxy_gives_them_to_lua() {
        let lua = Lua::new();
        assert_eq!(
            to_lua(&lua, Some(Sample::Bool(true))).unwrap(),
            Value::Integer(1)
        );
        assert_eq!(to_lua(&lua, None).unwrap(), Value::Nil);
        let v = to_lua(&lua, Some(Sample::Ipv4("10.0.0.1".parse().unwrap()))).unwrap();
        assert_eq!(v.as_string().unwrap().to_str().unwrap(), "10.0.0.1");
        let v = to_lua_string(&lua, None).unwrap();
        assert_eq!(v.as_string().unwrap().to_str().unwrap(), "");
        let v = to_lua_string(&lua, Some(Sample::Int(-3))).unwrap();
        assert_eq!(v.as_string().unwrap().to_str().unwrap(), "-3");
    }

    #[test]
    fn lua_values_as_samples() {
        let lua = Lua::new();
        assert_eq!(from_lua(&Value::Number(2.0)), Sample::Int(2));
        assert_eq!(from_lua(&Value::Number(2.5)), Sample::Int(0));
        assert_eq!(from_lua(&Value::Nil), Sample::Bool(false));
        let s = Value::String(lua.create_string("x").unwrap());
        assert_eq!(from_lua(&s), Sample::str("x"));
        assert_eq!(call_arg(&Value::Boolean(true)), CallArg::Int(1));
        assert_eq!(lua_bytes(&Value::Number(1.5)).unwrap(), "1.5");
        assert_eq!(lua_bytes(&Value::Number(2.0)).unwrap(), "2.0");
    }
}
