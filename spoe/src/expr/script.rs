//! `lua.NAME` fetches and converters: keywords a configuration's Lua files register
//! (`core.register_fetches`, `core.register_converters`), known only once those files ran.
//!
//! HAProxy adds them to its keyword tables while it parses `global`, before the proxies that
//! use them. Here the host that loaded the files installs their names for the time it parses
//! the rest ([`with_script_names`]); expressions then accept `lua.NAME(args...)` as HAProxy
//! declares them: up to 12 string arguments, a string result (an input string for
//! converters). Evaluation goes to the host: [`Fetch::fetch`](super::Fetch::fetch) with
//! [`FetchKind::Lua`](super::FetchKind::Lua), and [`Fetch::lua_convert`](super::Fetch::lua_convert).

use std::cell::RefCell;

use super::args::{ArgType, ArgValue};

/// The `lua.NAME` keywords registered (names without the `lua.` prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptNames {
    /// Sample fetches.
    pub fetches: Vec<String>,
    /// Converters.
    pub converters: Vec<String>,
}

thread_local! {
    static NAMES: RefCell<Option<ScriptNames>> = const { RefCell::new(None) };
}

/// Runs `parse` with `names` known to the expression parser on this thread (and restores
/// what was known before, also if `parse` panics).
pub fn with_script_names<R>(names: &ScriptNames, parse: impl FnOnce() -> R) -> R {
    struct Restore(Option<ScriptNames>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            NAMES.with(|n| *n.borrow_mut() = previous);
        }
    }
    let previous = NAMES.with(|n| n.borrow_mut().replace(names.clone()));
    let _restore = Restore(previous);
    parse()
}

/// HAProxy's `ARG12(0, STR, ...)` of Lua keywords.
pub(crate) const SCRIPT_ARGS: &[ArgType] = &[ArgType::Str; 12];

/// The string arguments of a `lua.NAME(...)` keyword.
pub(crate) fn script_args(args: &[ArgValue]) -> Vec<String> {
    args.iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// The registered name of `lua.NAME` when `keyword` is a registered fetch.
pub(crate) fn script_fetch(keyword: &str) -> Option<&str> {
    let name = keyword.strip_prefix("lua.")?;
    NAMES
        .with(|n| {
            n.borrow()
                .as_ref()
                .is_some_and(|n| n.fetches.iter().any(|f| f == name))
        })
        .then_some(name)
}

/// The registered name of `lua.NAME` when `keyword` is a registered converter.
pub(crate) fn script_converter(keyword: &str) -> Option<&str> {
    let name = keyword.strip_prefix("lua.")?;
    NAMES
        .with(|n| {
            n.borrow()
                .as_ref()
                .is_some_and(|n| n.converters.iter().any(|c| c == name))
        })
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::Span;
    use crate::config::reader::Word;
    use crate::expr::{Fetch, FetchKind, Sample, SampleExpr};

    struct Host;

    impl Fetch for Host {
        fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
            match kind {
                FetchKind::Lua { name, args } => {
                    Some(Sample::str(format!("{name}:{}", args.join("+"))))
                }
                _ => None,
            }
        }

        fn lua_convert(&self, name: &str, args: &[String], input: Sample) -> Option<Sample> {
            let text = String::from_utf8_lossy(input.as_bytes()?).into_owned();
            Some(Sample::str(format!("{name}({text},{})", args.join(","))))
        }
    }

    fn parse(text: &str) -> Result<SampleExpr, String> {
        let word = Word::synthetic(text, Span::new(Arc::from(Path::new("t.cfg")), 1, 1));
        SampleExpr::parse(&word).map_err(|e| e.kind.to_string())
    }

    #[test]
    fn lua_keywords_exist_only_when_registered() {
        assert_eq!(
            parse("lua.hello").unwrap_err(),
            "unknown fetch method 'lua.hello'"
        );
        let names = ScriptNames {
            fetches: vec!["hello".into()],
            converters: vec!["wrap".into()],
        };
        let expr = with_script_names(&names, || parse("lua.hello(a,b),lua.wrap(x),upper")).unwrap();
        assert_eq!(expr.eval(&Host), Some(Sample::str("WRAP(HELLO:A+B,X)")));
        assert!(with_script_names(&names, || parse("lua.other")).is_err());
        // The names are known only inside the scope.
        assert!(parse("lua.hello").is_err());
    }
}
