//! The part of Lua's `debug` library that HAProxy's scripts use.
//!
//! HAProxy opens every standard library, `debug` included; mlua's safe constructor leaves
//! `debug` out (its full form can break the sandbox, and loading it needs `unsafe`, which this
//! workspace forbids). Real scripts read it for one thing: where they are. CrowdSec's HAProxy
//! bouncer finds its own directory with `debug.getinfo(1, "S").source` before it loads its
//! modules, and error handlers call `debug.traceback`. This table answers those two from the
//! interpreter's own stack, with the fields Lua 5.3's `getinfo` gives for `S` and `l`; the rest
//! of `debug` (hooks, locals, upvalues, registry) stays absent, as an error names it when a
//! script calls it.

use mlua::{Function, Lua, Table, Value, Variadic};

/// Sets the global `debug` with `getinfo` and `traceback`.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let debug = lua.create_table()?;
    debug.set("getinfo", lua.create_function(getinfo)?)?;
    debug.set("traceback", lua.create_function(traceback)?)?;
    lua.globals().set("debug", debug)
}

/// `debug.getinfo([thread,] f, [what])`: `f` a stack level (1 is the caller) or a function.
/// A thread argument is not supported (`nil`, as for a level past the stack's top).
fn getinfo(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Option<Table>> {
    let info = lua.create_table()?;
    match args.first() {
        Some(Value::Integer(level)) => {
            let Ok(level) = usize::try_from(*level) else {
                return Ok(None);
            };
            // Level 0 of the interpreter's stack is this function, as in Lua's own `getinfo`.
            let found = lua.inspect_stack(level, |d| {
                let s = d.source();
                (
                    s.source.map(|c| c.into_owned()),
                    s.short_src.map(|c| c.into_owned()),
                    s.line_defined,
                    s.last_line_defined,
                    s.what,
                    d.current_line(),
                )
            });
            let Some((source, short_src, defined, last, what, line)) = found else {
                return Ok(None);
            };
            fill(&info, source, short_src, defined, last, what)?;
            info.set("currentline", line.map_or(-1, |l| l as i64))?;
        }
        Some(Value::Number(level)) if level.fract() == 0.0 => {
            let mut again = args.clone();
            again[0] = Value::Integer(*level as i64);
            return getinfo(lua, again);
        }
        Some(Value::Function(f)) => {
            let i = Function::info(f);
            fill(
                &info,
                i.source,
                i.short_src,
                i.line_defined,
                i.last_line_defined,
                i.what,
            )?;
            info.set("currentline", -1)?;
            info.set("func", f.clone())?;
        }
        _ => return Ok(None),
    }
    Ok(Some(info))
}

fn fill(
    info: &Table,
    source: Option<String>,
    short_src: Option<String>,
    defined: Option<usize>,
    last: Option<usize>,
    what: &str,
) -> mlua::Result<()> {
    info.set("source", source.unwrap_or_else(|| "=?".to_owned()))?;
    info.set("short_src", short_src.unwrap_or_else(|| "?".to_owned()))?;
    info.set("linedefined", defined.map_or(-1, |l| l as i64))?;
    info.set("lastlinedefined", last.map_or(-1, |l| l as i64))?;
    info.set("what", what)
}

/// `debug.traceback([msg])`: the message followed by the Lua frames' places, as Lua writes
/// them (`\n\tfile:line: in ...` per frame).
fn traceback(lua: &Lua, msg: Option<Value>) -> mlua::Result<Value> {
    let text = match msg {
        // Lua returns a non-string message untouched.
        Some(Value::String(s)) => s.to_str()?.to_owned(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => return Ok(other),
    };
    let mut out = text;
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str("stack traceback:");
    let mut level = 1;
    while let Some(frame) = lua.inspect_stack(level, |d| {
        let s = d.source();
        let place = s
            .short_src
            .map_or_else(|| "?".to_owned(), |c| c.into_owned());
        match d.current_line() {
            Some(line) => format!("\n\t{place}:{line}: in function <{place}>"),
            None => format!("\n\t[C]: in {}", s.what),
        }
    }) {
        out.push_str(&frame);
        level += 1;
    }
    Ok(Value::String(lua.create_string(&out)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_finds_its_own_file_as_crowdsecs_bouncer_does() {
        let lua = Lua::new();
        install(&lua).unwrap();
        let dir: String = lua
            .load(
                r#"
                local info = debug.getinfo(1, "S")
                local source = info.source
                if source:sub(1, 1) == "@" then return source:sub(2):match("(.*/)") end
                return "./"
                "#,
            )
            .set_name("@/usr/lib/bouncer/lua/crowdsec.lua")
            .eval()
            .unwrap();
        assert_eq!(dir, "/usr/lib/bouncer/lua/");
        let line: i64 = lua
            .load("\n\nreturn debug.getinfo(1, 'l').currentline")
            .eval()
            .unwrap();
        assert_eq!(line, 3);
        let none: Value = lua.load("return debug.getinfo(50)").eval().unwrap();
        assert!(none.is_nil());
        let tb: String = lua
            .load("return debug.traceback('boom')")
            .set_name("@x.lua")
            .eval()
            .unwrap();
        assert!(tb.starts_with("boom\nstack traceback:\n\tx.lua:1:"), "{tb}");
    }
}
