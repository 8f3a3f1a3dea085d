//! Fetches and converters called by name with argument values, not configuration text: how
//! HAProxy's Lua API reaches them (`txn.f:req_hdr("host")`, `txn.c:lower(s)`), through the same
//! tables and the same [`Fetch`] host as the configuration's expressions.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::args::{ArgType, ArgValue, parse_mask4, parse_mask6};
use super::converter::{build_converter, converter_def};
use super::fetch::{Fetch, FetchKind, build_fetch, fetch_def};
use super::haproxy_names::{HAPROXY_CONVERTERS, HAPROXY_FETCHES};
use super::sample::{Sample, SampleType, read_int64};
use super::sample_expr::ConverterStep;

/// An argument given as a value (a Lua integer or string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallArg {
    /// An integer (Lua numbers and booleans, as HAProxy's `hlua_lua2arg()` takes them).
    Int(i64),
    /// A string.
    Str(String),
}

/// A fetch resolved by name, ready to be evaluated on a host.
#[derive(Debug, Clone)]
pub struct FetchCall {
    kind: FetchKind,
}

impl FetchCall {
    /// The fetch `name` (`req.hdr`) with `args`, checked as HAProxy checks the arguments of a
    /// Lua call (`hlua_lua2arg_check()`): too many or too few, or a value of the wrong type, is
    /// an error naming the fetch.
    pub fn new(name: &str, args: &[CallArg]) -> Result<Self, String> {
        let Some(def) = fetch_def(name) else {
            return Err(unknown("fetch", name, HAPROXY_FETCHES.contains(&name)));
        };
        let values = typed_args("fetch", name, def.args, def.min, args)?;
        let kind = build_fetch(name, &values).map_err(|e| format!("fetch '{name}': {e}"))?;
        Ok(Self { kind })
    }

    /// The fetch.
    pub fn kind(&self) -> &FetchKind {
        &self.kind
    }

    /// Its value on `host` (constants without asking it); `None` when the fetch fails.
    pub fn eval<H: Fetch + ?Sized>(&self, host: &H) -> Option<Sample> {
        match &self.kind {
            FetchKind::Const(s) => Some(s.clone()),
            FetchKind::Env { name } => std::env::var_os(name)
                .map(|v| Sample::Str(bytes::Bytes::from(v.into_encoded_bytes()))),
            FetchKind::Var { default, .. } => host
                .fetch(&self.kind)
                .or_else(|| default.as_ref().map(|d| Sample::str(d.clone()))),
            kind => host.fetch(kind),
        }
    }
}

/// A converter resolved by name.
#[derive(Debug, Clone)]
pub struct ConverterCall {
    step: ConverterStep,
}

impl ConverterCall {
    /// The converter `name` with `args`, checked like [`FetchCall::new`].
    pub fn new(name: &str, args: &[CallArg]) -> Result<Self, String> {
        let Some(def) = converter_def(name) else {
            return Err(unknown(
                "converter",
                name,
                HAPROXY_CONVERTERS.contains(&name),
            ));
        };
        let values = typed_args("converter", name, def.args, def.min, args)?;
        let converter =
            build_converter(name, &values).map_err(|e| format!("converter '{name}': {e}"))?;
        Ok(Self {
            step: ConverterStep {
                name: name.to_owned(),
                converter,
                input: def.input,
                output: def.output,
            },
        })
    }

    /// The type the converter takes (its input is cast to it first).
    pub fn input_type(&self) -> SampleType {
        self.step.input
    }

    /// Applies the converter to `input`; `None` when HAProxy's converter fails. `host` answers
    /// the variables some converters read.
    pub fn apply<H: Fetch + ?Sized>(&self, input: Sample, host: &H) -> Option<Sample> {
        self.step.converter.apply(input, self.step.input, host)
    }
}

/// Every fetch name this implementation evaluates, in HAProxy's table order.
pub fn supported_fetches() -> impl Iterator<Item = &'static str> {
    HAPROXY_FETCHES
        .iter()
        .copied()
        .filter(|n| fetch_def(n).is_some())
}

/// Every converter name this implementation evaluates.
pub fn supported_converters() -> impl Iterator<Item = &'static str> {
    HAPROXY_CONVERTERS
        .iter()
        .copied()
        .filter(|n| converter_def(n).is_some())
}

fn unknown(what: &str, name: &str, haproxy_has_it: bool) -> String {
    if haproxy_has_it {
        format!("{what} '{name}' is not supported by this engine (HAProxy has it)")
    } else {
        format!("unknown {what} '{name}'")
    }
}

fn typed_args(
    what: &str,
    name: &str,
    spec: &[ArgType],
    min: usize,
    args: &[CallArg],
) -> Result<Vec<ArgValue>, String> {
    if args.len() > spec.len() {
        return Err(format!(
            "{what} '{name}' takes at most {} arguments, got {}",
            spec.len(),
            args.len()
        ));
    }
    if args.len() < min {
        return Err(format!(
            "{what} '{name}' needs at least {min} arguments, got {}",
            args.len()
        ));
    }
    args.iter()
        .zip(spec)
        .enumerate()
        .map(|(i, (arg, ty))| {
            typed(arg, *ty).ok_or_else(|| {
                format!(
                    "{what} '{name}': argument {} is not of type '{}'",
                    i + 1,
                    ty.name()
                )
            })
        })
        .collect()
}

fn typed(arg: &CallArg, ty: ArgType) -> Option<ArgValue> {
    let text = match arg {
        CallArg::Int(i) if ty == ArgType::Int => return Some(ArgValue::Int(*i)),
        CallArg::Int(i) => i.to_string(),
        CallArg::Str(s) => s.clone(),
    };
    Some(match ty {
        ArgType::Int => {
            let (value, used) = read_int64(text.as_bytes());
            if used == 0 || used != text.len() {
                return None;
            }
            ArgValue::Int(value)
        }
        ArgType::Str => ArgValue::Str(text),
        ArgType::Ipv4 => ArgValue::Ipv4(text.parse::<Ipv4Addr>().ok()?),
        ArgType::Ipv6 => ArgValue::Ipv6(text.parse::<Ipv6Addr>().ok()?),
        ArgType::Mask4 => ArgValue::Ipv4(parse_mask4(&text)?),
        ArgType::Mask6 => ArgValue::Ipv6(parse_mask6(&text)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::VarScope;

    struct Host;

    impl Fetch for Host {
        fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
            match kind {
                FetchKind::ReqHdr { name: Some(n), occ } if n == "host" => {
                    Some(Sample::str(format!("h{}", occ.unwrap_or(0))))
                }
                FetchKind::Var { var, .. } if var.scope == VarScope::Txn && var.name() == "n" => {
                    Some(Sample::Int(3))
                }
                _ => None,
            }
        }
    }

    #[test]
    fn fetches_by_name_and_values() {
        let f = |n: &str, a: &[CallArg]| FetchCall::new(n, a).map(|c| c.eval(&Host));
        assert_eq!(
            f("req.hdr", &[CallArg::Str("host".into())]),
            Ok(Some(Sample::str("h0")))
        );
        assert_eq!(
            f("req.hdr", &[CallArg::Str("host".into()), CallArg::Int(2)]),
            Ok(Some(Sample::str("h2")))
        );
        assert_eq!(
            f(
                "req.hdr",
                &[CallArg::Str("host".into()), CallArg::Str("2".into())]
            ),
            Ok(Some(Sample::str("h2")))
        );
        assert_eq!(f("str", &[CallArg::Int(7)]), Ok(Some(Sample::str("7"))));
        assert_eq!(f("path", &[]), Ok(None));
        assert_eq!(
            f(
                "req.hdr",
                &[CallArg::Str("a".into()), CallArg::Str("x".into())]
            )
            .unwrap_err(),
            "fetch 'req.hdr': argument 2 is not of type 'sint'"
        );
        assert_eq!(
            f("int", &[]).unwrap_err(),
            "fetch 'int' needs at least 1 arguments, got 0"
        );
        assert_eq!(f("nope", &[]).unwrap_err(), "unknown fetch 'nope'");
        assert!(
            f("ssl_c_notafter", &[])
                .unwrap_err()
                .contains("HAProxy has it")
        );
    }

    #[test]
    fn converters_by_name() {
        let c = ConverterCall::new("lower", &[]).unwrap();
        assert_eq!(c.apply(Sample::str("AbC"), &Host), Some(Sample::str("abc")));
        let add = ConverterCall::new("add", &[CallArg::Str("txn.n".into())]).unwrap();
        assert_eq!(add.apply(Sample::Int(4), &Host), Some(Sample::Int(7)));
        let add = ConverterCall::new("add", &[CallArg::Int(2)]).unwrap();
        assert_eq!(add.apply(Sample::str("40"), &Host), Some(Sample::Int(42)));
        assert_eq!(add.input_type(), SampleType::Int);
        assert!(ConverterCall::new("field", &[CallArg::Int(1)]).is_err());
    }

    #[test]
    fn supported_names_are_known() {
        assert!(supported_fetches().any(|n| n == "req.hdr"));
        assert!(supported_converters().any(|n| n == "base64"));
        assert!(supported_fetches().all(|n| fetch_def(n).is_some()));
    }
}
