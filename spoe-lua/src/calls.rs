//! Fetches and converters resolved once per call site: `txn.sf:req_hdr("x-bench")` finds
//! `req.hdr`, checks and builds its arguments the first time a script calls it with
//! `"x-bench"`; `classes.lua` keeps the index of the resolved call by argument, and the
//! following calls go straight to it (`fetch_at`), without the name lookup, the argument
//! conversion and the build that `FetchCall::new` does. Bounded: past [`CallCache::LIMIT`]
//! resolved calls per state, new call sites take the by-name path on every call.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mlua::{Function, Lua, LuaString, Value, Variadic};
use spoe::expr::{ConverterCall, FetchCall};

use crate::value;

/// The calls of one state resolved so far, by index.
#[derive(Debug, Default)]
pub(crate) struct CallCache {
    fetches: Mutex<Vec<FetchCall>>,
    converters: Mutex<Vec<ConverterCall>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends `call` when there is room; its index.
fn keep<T>(calls: &Mutex<Vec<T>>, call: T) -> Option<usize> {
    let mut calls = guard(calls);
    (calls.len() < CallCache::LIMIT).then(|| {
        calls.push(call);
        calls.len() - 1
    })
}

impl CallCache {
    /// Resolved calls kept per state and kind, at most (a script's call sites times their
    /// distinct constant arguments; `classes.lua` keeps at most 64 per fetch or converter).
    pub(crate) const LIMIT: usize = 4096;

    /// Runs `f` on the resolved fetch `id` (`None`: no such index).
    pub(crate) fn with_fetch<R>(&self, id: usize, f: impl FnOnce(&FetchCall) -> R) -> Option<R> {
        guard(&self.fetches).get(id).map(f)
    }

    /// Runs `f` on the resolved converter `id` (`None`: no such index).
    pub(crate) fn with_converter<R>(
        &self,
        id: usize,
        f: impl FnOnce(&ConverterCall) -> R,
    ) -> Option<R> {
        guard(&self.converters).get(id).map(f)
    }

    /// The functions `classes.lua` resolves call sites with: `resolve_fetch(name, args...)`
    /// and `resolve_converter(name, args...)` give the index of the resolved call, or `nil`
    /// when it does not resolve (the by-name path then reports why, on each call) or the
    /// cache is full.
    pub(crate) fn resolvers(self: &Arc<Self>, lua: &Lua) -> mlua::Result<(Function, Function)> {
        let cache = self.clone();
        let fetch = lua.create_function(move |_, (name, args): (LuaString, Variadic<Value>)| {
            let args: Vec<_> = args.iter().map(value::call_arg).collect();
            Ok(FetchCall::new(&name.to_str()?, &args)
                .ok()
                .and_then(|call| keep(&cache.fetches, call)))
        })?;
        let cache = self.clone();
        let converter =
            lua.create_function(move |_, (name, args): (LuaString, Variadic<Value>)| {
                let args: Vec<_> = args.iter().map(value::call_arg).collect();
                Ok(ConverterCall::new(&name.to_str()?, &args)
                    .ok()
                    .and_then(|call| keep(&cache.converters, call)))
            })?;
        Ok((fetch, converter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_calls_are_kept_by_index_and_bounded() {
        let lua = Lua::new();
        let cache = Arc::new(CallCache::default());
        let (fetch, converter) = cache.resolvers(&lua).unwrap();
        let id: Option<usize> = fetch.call(("req.hdr", "host")).unwrap();
        assert_eq!(id, Some(0));
        let kind = cache.with_fetch(0, |c| format!("{:?}", c.kind())).unwrap();
        assert!(kind.contains("host"), "{kind}");
        let unknown: Option<usize> = fetch.call("no.such.fetch").unwrap();
        assert_eq!(unknown, None, "an unknown fetch takes the by-name path");
        let bad: Option<usize> = fetch.call(("req.hdr", "a", "b", "c")).unwrap();
        assert_eq!(bad, None, "too many arguments take the by-name path");
        let id: Option<usize> = converter.call("lower").unwrap();
        assert_eq!(id, Some(0));
        for _ in 1..CallCache::LIMIT {
            let _: Option<usize> = converter.call("upper").unwrap();
        }
        let full: Option<usize> = converter.call("upper").unwrap();
        assert_eq!(full, None, "past the limit nothing more is kept");
        assert!(cache.with_converter(CallCache::LIMIT, |_| ()).is_none());
    }
}
