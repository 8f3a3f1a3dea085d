//! The JSON shapes `spoe decode` and `spoe notify` print.

use serde_json::{Value, json};
use spop::{Action, TypedData};

/// `"type"` and `"value"` of a typed value: integers as numbers, addresses
/// as text, STRING as text (with a `"hex"` field too when it is not UTF-8),
/// BINARY as lowercase hex, NULL as null.
pub(crate) fn typed_fields(v: &TypedData, out: &mut serde_json::Map<String, Value>) {
    let name = v.data_type().name().unwrap_or("RESERVED");
    out.insert("type".into(), Value::from(name));
    let value = match v {
        TypedData::Null => Value::Null,
        TypedData::Bool(b) => Value::from(*b),
        TypedData::Int32(i) => Value::from(*i),
        TypedData::Uint32(i) => Value::from(*i),
        TypedData::Int64(i) => Value::from(*i),
        TypedData::Uint64(i) => Value::from(*i),
        TypedData::Ipv4(a) => Value::from(a.to_string()),
        TypedData::Ipv6(a) => Value::from(a.to_string()),
        TypedData::Str(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::from(s),
            Err(_) => {
                out.insert("hex".into(), Value::from(hex::encode(b)));
                Value::from(String::from_utf8_lossy(b).into_owned())
            }
        },
        TypedData::Bin(b) => Value::from(hex::encode(b)),
    };
    out.insert("value".into(), value);
}

/// A name as text (lossy when it is not UTF-8).
pub(crate) fn name(b: &[u8]) -> Value {
    Value::from(String::from_utf8_lossy(b).into_owned())
}

/// One action: `{"action":"SET-VAR","scope":"SESSION","name":..,"type":..,"value":..}`.
pub(crate) fn action(a: &Action) -> Value {
    match a {
        Action::SetVar {
            scope,
            name: n,
            value,
        } => {
            let mut m = serde_json::Map::new();
            m.insert("action".into(), Value::from("SET-VAR"));
            m.insert("scope".into(), Value::from(scope.name()));
            m.insert("name".into(), name(n));
            typed_fields(value, &mut m);
            Value::Object(m)
        }
        Action::UnsetVar { scope, name: n } => {
            json!({"action": "UNSET-VAR", "scope": scope.name(), "name": name(n)})
        }
        Action::Unknown { action_type, rest } => {
            json!({"action": format!("UNKNOWN({action_type})"), "rest_hex": hex::encode(rest)})
        }
    }
}
